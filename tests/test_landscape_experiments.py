"""The notes' experiments (landscape.experiments; Malgouyres 2024, the random-kernel slides):
the streamed rank decides as the dense float64 SVD does on real data, Gaussian inputs reach the
rescaling and softmax bounds, dead neurons are named, the runs and the commands write what they
promise."""

import json
import warnings

import numpy as np
import pytest

import autodiff as ad
import landscape
import nn
from landscape import experiments as E
from landscape.experiments_cli import main
from nn import functional as F


def _trained(arch, data, epochs, seed=0, n=150):
    model = nn.MLP(arch, generator=ad.random.Generator(seed))
    if epochs:
        train = nn.data.TensorDataset(data.tensors[0][:n], data.tensors[1][:n])
        loader = nn.data.DataLoader(train, batch_size=32, shuffle=True, generator=ad.random.Generator(seed))
        nn.fit(
            model, F.cross_entropy, nn.optim.SGD(model.parameters(), lr=0.3), loader, epochs, progress=False
        )
    return model


def _ranks(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return [landscape.functional_dimension(model, X, method=m) for m in ("svd", "stream", "gram")]


def _barely_alive(model, X, level):
    """Move the bias of neuron 0 of the last hidden layer so that it fires on one input only,
    with pre-activation ``level`` times its spread: singular values ~level appear in J (the
    hard case for a Gram matrix: below its resolution, above NumPy's threshold)."""
    hidden = X
    linears = model.linears
    with ad.no_grad():
        for layer in linears[:-2]:
            hidden = ad.relu(layer(hidden))
        z = (hidden @ linears[-2].weight.T).numpy()[:, 0]
        spread = z.max() - z.min()
        linears[-2].bias[0] = float(-z.max() + level * spread)
    return model


def _cases():
    """(name, arch hidden widths, epochs, points, inputs from the training part?, level of a
    barely-alive neuron or None) on real data."""
    return [
        ("digits", [8, 8], 0, 30, False, None),
        ("digits", [8, 8], 20, 30, True, None),
        ("digits", [8, 8], 20, 30, False, 1e-11),  # sigma ~5e-13 sigma_max, 3x NumPy's threshold
        ("digits", [16, 16, 16], 0, 30, False, 1e-11),  # sigma ~7e-14 sigma_max, 5x below it
        ("digits", [4, 4, 4], 40, 60, False, None),
        ("digits28", [6, 6], 0, 12, False, None),
        ("digits28", [6, 6], 20, 12, True, None),
        ("mnist1d", [16, 16, 16], 20, 30, False, None),
        ("mnist1d", [8, 8], 40, 30, False, 1e-10),
        ("mnist1d", [8, 8], 40, 60, True, None),
    ]


@pytest.mark.cpu_only  # training ten networks is the cost; the strict device runs the tests below
@pytest.mark.parametrize("block", [512, 16])
def test_stream_rank_is_the_dense_svd_rank_on_real_data(block, monkeypatch):
    """Acceptance: trained and untrained networks on digits, digits28 and MNIST-1D, the decided
    rank equals NumPy's rule on the dense float64 SVD, small gaps included (a barely-alive
    neuron puts singular values near the threshold, above and below it); the Gram matrix alone
    (method="gram") gets some of them wrong.  With blocks of 16 columns, J J^T or J^T J (k x k,
    k = 120 to 600) is past one block: only the window below the Gram matrix's resolution is
    recomputed from J, its basis from the eigenvectors (spectrum=True) or from subspace
    iteration on the Cholesky factor (spectrum=False: the path taken at the largest scale)."""
    monkeypatch.setattr(landscape._blocked, "NB", block)
    pytest.importorskip("sklearn")
    pytest.importorskip("mnist1d")
    sets = {
        "digits": nn.data.digits()[0],
        "digits28": nn.data.digits28()[0],
        "mnist1d": nn.data.mnist1d(42)[0],
    }
    gaps, gram_misses = [], 0
    for name, hidden, epochs, points, seen, level in _cases():
        data = sets[name]
        model = _trained([data.tensors[0].shape[1], *hidden, 10], data, epochs)
        X = data.tensors[0][:points] if seen else data.tensors[0][400 : 400 + points]
        if level is not None:
            _barely_alive(model, X, level)
        svd, stream, gram = _ranks(model, X)
        assert stream.rank == svd.rank, (name, hidden, epochs, svd.rank, stream.rank, svd.gap)
        assert stream.tol == pytest.approx(svd.tol, rel=1e-8)
        assert "recomputed from J" in stream.rule and stream.method == "stream"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lean = landscape.functional_dimension(model, X, method="stream", spectrum=False)
        assert lean.rank == svd.rank and lean.tol == pytest.approx(svd.tol, rel=1e-8)
        gaps.append(svd.gap)
        gram_misses += gram.rank != svd.rank
    assert min(gaps) < 1e4  # the smallest gaps a clear decision has (the floor is ~1e-16 sigma_max)
    assert gram_misses >= 1  # the Gram route alone gets some of them wrong


def test_stream_keeps_the_spectrum_and_refines_only_small_values():
    """The singular values agree with the SVD's (large ones to ~1e-12 relative), the small
    ones are recomputed from J (not squared-noise), and J's shape is reported."""
    model = nn.MLP([6, 5, 4, 3], generator=ad.random.Generator(3))
    X = ad.random.Generator(4).randn(60, 6)
    svd, stream, _ = _ranks(model, X)
    a, b = svd.singular_values, stream.singular_values
    assert stream.shape == svd.shape == (180, 74) and a.shape == b.shape
    assert np.allclose(a[: svd.rank], b[: svd.rank], rtol=1e-10)
    assert np.all(b[svd.rank :] < svd.tol)


@pytest.mark.parametrize("route", ["tridiagonal", "eigh"])
@pytest.mark.parametrize("arch, n", [([5, 40, 3], 200), ([4, 60, 2], 100)])
def test_stream_at_scale_refines_only_the_window(arch, n, route, monkeypatch):
    """Past one block (k > NB): the rank with or without the spectrum equals the dense SVD's; the
    rescaling null directions, ~1e-16 sigma_max, come back far below tol (the leakage of kept
    directions into the window is corrected), by either route to the spectrum (the tridiagonal
    form with the window's vectors alone, or ``eigh`` where SciPy or NumPy arrays are missing);
    spectrum=False gives the block's values (Ritz values: upper bounds, exact at the bottom), NaN
    above them, and refuses a tol above the block."""
    monkeypatch.setattr(landscape._blocked, "NB", 8)
    if route == "eigh":
        monkeypatch.setattr(landscape.jacobian, "_tridiagonal_route", lambda gram: False)
    else:
        pytest.importorskip("scipy")
    model = nn.MLP(arch, generator=ad.random.Generator(3))
    X = ad.random.Generator(4).randn(n, arch[0])
    svd, full, _ = _ranks(model, X)
    lean = landscape.functional_dimension(model, X, method="stream", spectrum=False)
    assert full.rank == lean.rank == svd.rank and lean.tol == pytest.approx(svd.tol, rel=1e-8)
    for fd in (full, lean):
        assert np.nanmax(fd.singular_values[fd.rank :], initial=0) < 0.05 * svd.tol
    known = ~np.isnan(lean.singular_values)
    assert 0 < known[1:].sum() < known.size - 1 and np.all(known[np.argmax(known[1:]) + 1 :])
    small, exact = lean.singular_values[known][1:], svd.singular_values[-known[1:].sum() :]
    assert np.all(small >= exact * (1 - 1e-12) - 0.01 * svd.tol)  # upper bounds, up to rounding
    assert small[-1] == pytest.approx(exact[-1], rel=1e-6, abs=svd.tol)
    with pytest.raises(ValueError, match="spectrum=True"):
        landscape.functional_dimension(
            model, X, method="stream", spectrum=False, tol=lean.singular_values[0] / 2
        )


@pytest.mark.parametrize("coupled", [False, True])
def test_products_with_j_need_no_j(coupled):
    """J V and J^T U by forward and reverse passes carrying a batch of directions equal the dense
    J's products, in chunks of directions; a model whose output on an example depends on the
    others (here: adds half the batch mean) is called per example, in chunks of examples, as J is."""
    from landscape.jacobian import _Products, _space, _values

    class Mix(nn.Module):
        def forward(self, x):
            return x + 0.5 * ad.mean(x, axis=0, keepdims=True)

    model = nn.MLP([4, 6, 3], generator=ad.random.Generator(0))
    model = nn.Sequential(*list(model)[:1], Mix(), *list(model)[1:]) if coupled else model
    X = ad.random.Generator(1).randn(7, 4)
    jac = landscape.param_jacobian(model, X).data
    space = _space("test", model)
    product = _Products(space, X, _values(space, None, np.float64, "test"), budget=2000)
    assert product.chunk < 10 and (len(product.spans) > 1) == coupled
    right, left = (ad.random.Generator(2).randn(k, 10, device=X.device).data for k in jac.shape[::-1])
    bar, host = landscape._core.progress(0, "", enabled=False), landscape._core.host
    assert np.allclose(host(product(right, bar)), host(jac @ right), rtol=1e-12, atol=1e-12)
    assert np.allclose(host(product(left, bar, transpose=True)), host(jac.T @ left), rtol=1e-12, atol=1e-12)


def test_tridiagonal_form_is_the_eigendecomposition(monkeypatch):
    """G = Q T Q^T with Q from blocked Householder reflectors: every eigenvalue as eigvalsh gives
    it, the window's eigenvectors (a cluster of 30 zero eigenvalues) orthonormal with residuals
    at rounding level, Q orthogonal, and (T + shift I)^-1 solving G + shift I in Q's frame."""
    pytest.importorskip("scipy")
    monkeypatch.setattr(landscape._blocked, "NB", 8)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((70, 40)) @ rng.standard_normal((40, 90))
    gram = a @ a.T  # 70 x 70, rank 40
    exact = np.linalg.eigvalsh(gram)
    tri = landscape._blocked.Tridiagonal(gram.copy())
    values = tri.values()
    assert np.max(np.abs(values - exact)) < 1e-13 * exact[-1]
    vectors = tri.q(tri.vectors(30))
    assert np.linalg.norm(vectors.T @ vectors - np.eye(30)) < 1e-12
    assert np.linalg.norm(gram @ vectors - vectors * values[:30]) < 1e-13 * exact[-1]
    x = rng.standard_normal((70, 3))
    assert np.allclose(tri.q(tri.q(x.copy(), transpose=True)), x, atol=1e-13)
    assert np.allclose(tri.q(tri.product(tri.q(x.copy(), transpose=True))), gram @ x, atol=1e-10 * exact[-1])
    tri.set_shift(1.0)
    solved = tri.q(tri.solve(tri.q(x.copy(), transpose=True)))
    assert np.allclose((gram + np.eye(70)) @ solved, x, atol=1e-8)


@pytest.mark.parametrize("arch, seed", [([4, 12, 3], 0), ([6, 20, 2], 1), ([10, 16, 16, 4], 0)])
def test_gaussian_inputs_reach_the_bounds(arch, seed):
    """Acceptance: with twice as many rows as p - #hidden and no dead neuron, Gaussian inputs
    reach exactly p - #hidden, and with softmax outputs p - #hidden - (n_(H-1) + 1)."""
    bounds = E.rank_bounds(arch, 1)
    n = 2 * bounds["rescaling"] // (arch[-1] - 1) + 5
    model = nn.MLP(arch, generator=ad.random.Generator(seed))
    X = ad.random.Generator(seed + 10).randn(n, arch[0])
    logits, softmax = E.measure(model, X), E.measure(model, X, outputs="softmax")
    assert logits["dead"] == [0] * (len(arch) - 2)
    assert logits["rank"] == logits["rescaling"] == landscape.relu.rank_upper_bound(model)
    assert softmax["rank"] == softmax["rescaling"] == logits["rescaling"] - arch[-2] - 1
    json.dumps(logits)


def test_below_the_bound_the_report_names_dead_and_always_active_neurons():
    """A deep narrow net on Gaussian inputs stays below p - #hidden; the record says which
    neurons never fire or always fire, layer by layer."""
    model = nn.MLP([6, 12, 12, 12, 3], generator=ad.random.Generator(0))
    X = ad.random.Generator(10).randn(404, 6)
    record = E.measure(model, X)
    assert record["rank"] < record["rescaling"]
    assert (record["dead"], record["always_active"]) == ([0, 0, 1], [0, 0, 5])


def test_dead_and_always_active_neurons_are_named_and_lower_the_rank():
    model = nn.MLP([4, 5, 3], generator=ad.random.Generator(0))
    X = ad.random.Generator(1).randn(40, 4)
    before = E.measure(model, X)
    with ad.no_grad():
        model[0].bias[1] = -100.0  # neuron 1 of layer 1 never fires
        model[0].bias[2] = 100.0  # neuron 2 always fires
    after = E.measure(model, X)
    assert (after["dead"], after["always_active"]) == ([1], [1])
    assert before["rank"] == before["rescaling"] and after["rank"] < after["rescaling"]


def test_fdim_training_records_every_checkpoint():
    pytest.importorskip("sklearn")
    result = E.fdim_training("digits", [64, 6, 6, 10], epochs=3, every=2, points=5, train_limit=100,
                             show_progress=False)  # fmt: skip
    assert [r["epoch"] for r in result["records"]] == [0, 2, 3]
    record = result["records"][-1]
    for kind in E.INPUT_KINDS:
        assert 0 < record[kind]["rank"] <= record[kind]["bound"] == 50
        assert len(record[kind]["singular_values"]) == 50
    assert result["config"]["bounds"]["rescaling"] == 64 * 6 + 6 + 42 + 70 - 12
    json.dumps(result)


def test_label_and_input_noise_change_the_training_set():
    pytest.importorskip("sklearn")
    train, _ = nn.data.digits()
    clean = E._training_set(train, 0.0, 0.0, 200, 0)
    noisy = E._training_set(train, 0.5, 1.0, 200, 0)
    x, y = clean.tensors[0].numpy(), clean.tensors[1].numpy()
    assert np.std(noisy.tensors[0].numpy() - x) == pytest.approx(0.5, rel=0.05)
    assert 0.8 < np.mean(noisy.tensors[1].numpy() != y) < 0.98  # random labels: 9/10 differ


def test_ntk_kernel_grows_linearly_with_width_under_the_standard_initialisation():
    """The random-kernel slides: lambda_min(K) at initialisation against the width n.  With the default
    (fan-in) initialisation it grows about linearly; with the notes' N(0, 1/n) for both layers
    the first layer shrinks with n and lambda_min does not grow."""
    result = E.ntk_width([40, 160, 640], points=10, d=5, seeds=2, show_progress=False)
    lam = {(r["init"], r["width"]): r["lambda_min_output"] for r in result["rows"]}
    assert lam[("standard", 640)] / lam[("standard", 40)] > 8
    assert lam[("notes", 640)] / lam[("notes", 40)] < 3
    json.dumps(result)


def test_spectrum_report_says_an_sgd_end_point_is_not_critical():
    pytest.importorskip("sklearn")
    train, _ = nn.data.digits()
    model = _trained([64, 4, 10], train, 3, n=200)
    report = E.spectrum_report(model, train.tensors[0][:50], train.tensors[1][:50], k=2, probes=2, steps=10)
    assert report["largest"][-1] >= report["smallest"][0]
    assert report["classify"]["kind"] == "not critical" and report["pl_ratio"] > 0


@pytest.mark.cpu_only
def test_commands_write_json_and_png(tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("sklearn")
    out = tmp_path / "fdim"
    assert main(["fdim", "--data", "digits", "--arch", "64,5,10", "--epochs", "1", "--every", "1",
                 "--points", "4", "--train-limit", "64", "--out", str(out)]) == 0  # fmt: skip
    result = json.loads((out / "fdim.json").read_text())
    assert len(result["records"]) == 2 and (out / "fdim.png").stat().st_size > 1000
    out = tmp_path / "widths"
    assert main(["fdim", "--data", "digits", "--arch", "64,5,10", "--epochs", "1", "--points", "3",
                 "--train-limit", "64", "--widths", "3,6", "--out", str(out)]) == 0  # fmt: skip
    assert json.loads((out / "fdim_width.json").read_text())["values"] == [3, 6]
    assert (
        main(["ntk", "--widths", "10,20", "--points", "4", "--seeds", "1", "--out", str(tmp_path / "ntk")])
        == 0
    )
    assert (tmp_path / "ntk" / "ntk.png").exists()
    model = _trained([64, 4, 10], nn.data.digits()[0], 1, n=100)
    nn.save(model, tmp_path / "model.npz")
    out = tmp_path / "spectrum"
    checkpoint = str(tmp_path / "model.npz")
    assert main(["spectrum", "--checkpoint", checkpoint, "--arch", "64,4,10", "--data", "digits", "--points",
                 "40", "--k", "2", "--probes", "2", "--steps", "8", "--out", str(out)]) == 0  # fmt: skip
    assert json.loads((out / "spectrum.json").read_text())["classify"]["kind"] == "not critical"


@pytest.mark.cpu_only
@pytest.mark.parametrize(
    "argv, message",
    [
        (["fdim", "--arch", "784,10"], "--arch needs an input"),
        (["fdim", "--widths", "8,x"], "--widths takes comma-separated integers"),
        (["fdim", "--noise-y", "0,2"], "--noise-y takes numbers in [0, 1.0)"),
        (["fdim", "--widths", "8", "--noise-x", "0.1"], "at most one of"),
        (["fdim", "--data", "cifar"], "--data must be one of"),
        (["fdim", "--data", "digits", "--arch", "784,10,10", "--epochs", "0"], "arch starts with 784 inputs"),
        (["ntk", "--widths", "0,10"], "--widths takes integers >= 1"),
        (["spectrum", "--checkpoint", "missing.npz", "--arch", "4,3,2"], "no such file"),
    ],
)
def test_command_refusals_are_one_line_status_2_nothing_written(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("autodiff landscape ")
    assert not out.exists()


@pytest.mark.cpu_only
def test_studies_are_sweeps_with_the_serial_results():
    """Each (initialisation, width, seed) of the kernel study and each run of a width study is a
    job of landscape.sweep: local processes and a Dask cluster give the serial numbers."""
    serial = E.ntk_width([4, 8], points=5, d=3, seeds=2, show_progress=False)
    assert E.ntk_width([4, 8], points=5, d=3, seeds=2, show_progress=False, workers=2) == serial
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        on_dask = E.ntk_width(
            [4, 8], points=5, d=3, seeds=2, show_progress=False, client=cluster.scheduler_address
        )
    assert on_dask == serial
