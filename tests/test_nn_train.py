"""Training loop, callbacks, checkpoints (bit-exact round trip; truncated, tampered and foreign
files refused with the model untouched), the train command, and the digits acceptance runs."""

import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import autodiff as ad
import nn
from nn import experiments
from nn import functional as F
from nn.cli import add_train_parser, main


def blobs():
    data = nn.data.gaussian_mixture(120, centers=[[-2, 0], [2, 0], [0, 3]], std=0.4, seed=0)
    return nn.data.split(data, 0.25, seed=0)


def test_fit_records_history_and_learns():
    train, test = blobs()
    model = nn.MLP([2, 16, 3], generator=ad.random.Generator(0))
    opt = nn.optim.SGD(model.parameters(), lr=0.2, momentum=0.5)
    loader = nn.data.DataLoader(train, 16, shuffle=True, seed=0)
    history = nn.fit(
        model, F.cross_entropy, opt, loader, 8, val_loader=nn.data.DataLoader(test, 64), progress=False
    )
    assert len(history) == 8
    assert set(history.keys()) >= {
        "epoch",
        "loss",
        "accuracy",
        "grad_norm",
        "lr",
        "time",
        "val_loss",
        "val_accuracy",
    }
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["val_accuracy"][-1] >= 0.95 and all(g > 0 for g in history["grad_norm"])
    assert json.loads(json.dumps(history.to_dict()))["epoch"] == list(range(1, 9))
    final = nn.evaluate(model, F.cross_entropy, nn.data.DataLoader(test, 64))
    assert final["accuracy"] == history["val_accuracy"][-1] and model.training


def test_grad_norm_is_the_mean_gradient_norm():
    x = ad.tensor([[1.0], [2.0]])
    y = ad.tensor([[3.0], [5.0]])
    model = nn.Linear(1, 1, bias=False)
    with ad.no_grad():
        model.weight.fill_(0.0)
    history = nn.fit(model, F.mse_loss, nn.optim.SGD(model.parameters(), lr=0.0), [(x, y)], 1, progress=False)
    # L(w) = mean((w x - y)^2): dL/dw at 0 = -2 mean(x y) = -13
    assert history["grad_norm"][0] == pytest.approx(13.0)
    assert history["loss"][0] == pytest.approx(17.0) and "accuracy" not in history.keys()


def test_callbacks_measure_and_stop():
    train, _ = blobs()
    steps = []

    class Counter(nn.Callback):
        def on_step_end(self, step, model, loss):
            steps.append(step)
            if step == 7:
                raise nn.StopTraining

    def measure(epoch, model, record):
        return {"weight_norm": float(ad.norm(model[0].weight).item())}

    model = nn.MLP([2, 4, 3])
    loader = nn.data.DataLoader(train, 30)  # 3 batches per epoch
    history = nn.fit(
        model,
        F.cross_entropy,
        nn.optim.SGD(model.parameters(), lr=0.1),
        loader,
        10,
        callbacks=[Counter(), measure],
        progress=False,
    )
    assert steps == list(range(1, 8)) and len(history) == 3
    assert all(w > 0 for w in history["weight_norm"])


# ----------------------------------------------------------------------------- checkpoints
def network(seed=0, dtype=None):
    net = nn.Sequential(
        nn.Linear(3, 4, generator=ad.random.Generator(seed), dtype=dtype),
        nn.BatchNorm1d(4, dtype=dtype),
        nn.Tanh(),
        nn.Linear(4, 2, generator=ad.random.Generator(seed + 1), dtype=dtype),
    )
    net(ad.randn(6, 3, seed=seed, dtype=dtype))  # move the running statistics away from their defaults
    return net


def snapshot(module):
    return {k: v.numpy().copy() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_checkpoint_round_trip_is_bit_exact(tmp_path, dtype):
    source, target = network(0, dtype), network(5, dtype)
    nn.save(source, tmp_path / "model.npz")
    nn.load(target, tmp_path / "model.npz")
    expected = snapshot(source)
    for key, value in snapshot(target).items():
        assert value.dtype == expected[key].dtype and value.tobytes() == expected[key].tobytes(), key


def corrupt(path, how):
    raw = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(bytes(raw[: len(raw) // 2]))
    elif how == "tampered":  # flip one byte of the stored array data of the first member
        with zipfile.ZipFile(path) as archive:
            info = archive.infolist()[0]
        offset = info.header_offset + 30 + len(info.filename) + len(info.extra) + 140
        raw[offset] ^= 0xFF
        path.write_bytes(bytes(raw))
    elif how == "garbage":
        path.write_bytes(b"this is not a checkpoint")


@pytest.mark.parametrize("how", ["truncated", "tampered", "garbage"])
def test_bad_files_leave_the_model_unchanged(tmp_path, how):
    path = tmp_path / "model.npz"
    nn.save(network(0), path)
    corrupt(path, how)
    target = network(5)
    before = snapshot(target)
    with pytest.raises(nn.CheckpointError, match="not a readable checkpoint"):
        nn.load(target, path)
    assert all(v.tobytes() == before[k].tobytes() for k, v in snapshot(target).items())


def test_wrong_architecture_and_foreign_archives(tmp_path):
    nn.save(network(0), tmp_path / "model.npz")
    wider = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.Tanh(), nn.Linear(5, 2))
    before = snapshot(wider)
    with pytest.raises(
        nn.CheckpointError, match="'0.weight' has shape \\(4, 3\\) but the module's has shape \\(5, 3\\)"
    ):
        nn.load(wider, tmp_path / "model.npz")
    assert all(v.tobytes() == before[k].tobytes() for k, v in snapshot(wider).items())
    with pytest.raises(nn.CheckpointError, match="missing keys"):
        nn.load(nn.MLP([3, 4, 2]), tmp_path / "model.npz")
    np.savez(tmp_path / "plain.npz", weight=np.zeros(3))
    with pytest.raises(nn.CheckpointError, match="not a checkpoint written by nn.save"):
        nn.load(wider, tmp_path / "plain.npz")
    with pytest.raises(FileNotFoundError):
        nn.load(wider, tmp_path / "missing.npz")


def test_complex_arrays_are_refused_for_real_parameters(tmp_path):
    """Issue 11, item 13: a complex array used to load into a float parameter with a warning."""
    source = network(0)
    nn.save(source, tmp_path / "model.npz")
    arrays = dict(np.load(tmp_path / "model.npz"))
    arrays["0.weight"] = arrays["0.weight"] + 1j
    np.savez(tmp_path / "complex.npz", **arrays)
    before = snapshot(source)
    with pytest.raises(nn.CheckpointError, match="'0.weight' has dtype complex128, the module's is float64"):
        nn.load(source, tmp_path / "complex.npz")
    assert all(v.tobytes() == before[k].tobytes() for k, v in snapshot(source).items())


@pytest.mark.cpu_only
def test_save_keeps_the_mode_or_follows_the_umask(tmp_path):
    """Issue 11, item 13: ``nn.save`` used to make every checkpoint 0600 (mkstemp's mode)."""
    path = tmp_path / "model.npz"
    path.write_bytes(b"old")
    path.chmod(0o644)
    nn.save(network(0), path)
    assert path.stat().st_mode & 0o777 == 0o644
    path.chmod(0o640)
    nn.save(network(0), path)
    assert path.stat().st_mode & 0o777 == 0o640
    for mask, mode in ((0o022, 0o644), (0o077, 0o600)):
        previous = os.umask(mask)
        try:
            nn.save(network(0), tmp_path / f"new{mask:o}.npz")
        finally:
            os.umask(previous)
        assert (tmp_path / f"new{mask:o}.npz").stat().st_mode & 0o777 == mode


@pytest.mark.cpu_only
def test_save_removes_the_temporaries_of_interrupted_saves(tmp_path):
    """Issue 11, item 13: a save killed before its clean-up leaves ``.model.npz.<pid>.*.tmp``; the
    next save removes it when that process is gone, and leaves a running process's one alone."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = tmp_path / f".model.npz.{gone.pid}.k3j4.tmp"
    running = tmp_path / f".model.npz.{os.getppid()}.a1b2.tmp"
    other = tmp_path / f".other.npz.{gone.pid}.c5d6.tmp"
    for planted in (stale, running, other):
        planted.write_bytes(b"half a checkpoint")
    nn.save(network(0), tmp_path / "model.npz")
    assert not stale.exists() and running.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([running.name, other.name, "model.npz"])


# ----------------------------------------------------------------------------- command line
def test_train_command_writes_results(tmp_path):
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--data",
                "moons",
                "--arch",
                "2,16,2",
                "--epochs",
                "3",
                "--lr",
                "0.2",
                "--out",
                str(out),
                "--no-progress",
                "--dtype",
                "float64",
            ]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"train_accuracy", "test_accuracy", "history", "config"} <= set(metrics)
    assert len(metrics["history"]["loss"]) == 3 and metrics["config"]["arch"] == [2, 16, 2]
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    model = nn.load(nn.MLP([2, 16, 2]), out / "model.npz")
    assert model.num_parameters() == metrics["parameters"]


def test_add_train_parser_registers_the_subcommand():
    import argparse

    parser = argparse.ArgumentParser()
    add_train_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", "--arch", "64,32,10", "--model", "cnn"])
    assert args.arch == [64, 32, 10] and args.model == "cnn" and callable(args.func)
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--arch", "64,x"])


def test_architecture_must_fit_the_data():
    with pytest.raises(ValueError, match="make the first size 2"):
        experiments.train_classifier(data="moons", arch=(3, 2), epochs=1, progress=False)


# ----------------------------------------------------------------------------- acceptance (digits)
@pytest.mark.cpu_only
@pytest.mark.parametrize("model,arch", [("mlp", (64, 128, 10)), ("cnn", (16, 32, 10))])
def test_digits_accuracy_acceptance(model, arch):
    pytest.importorskip("sklearn")
    metrics = experiments.train_classifier(
        data="digits", model=model, arch=arch, epochs=30, lr=0.1, seed=0, progress=False
    )
    assert metrics["test_accuracy"] >= 0.97
    assert metrics["train_time_s"] < 60
