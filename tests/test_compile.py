"""``ad.compile``: replayed programs give the eager results, bit for bit, for every row of the
gradcheck table (values and gradients; Hessians for a few); retracing, the cache limit, static
arguments, the control-flow error, and composition with the transforms."""

import warnings

import numpy as np
import pytest
import test_ops_gradcheck as table

import autodiff as ad
from autodiff.program import fusion
from autodiff.program.trace import flatten


def _cases():
    for name, f in table.UNARY.items():
        for shape in table.SHAPES_UNARY:
            yield f"unary-{name}-{shape}", f, [(shape, table.DOMAIN.get(name), 0)]
    for name, f in table.BINARY.items():
        tx, ty = table.BINARY_DOMAIN.get(name, (None, None))
        for sx, sy in table.SHAPES_BINARY:
            yield f"binary-{name}-{sx}-{sy}", f, [(sx, tx, 1), (sy, ty, 2)]
    for name, f in table.REDUCTIONS.items():
        for axis in table.AXES:
            transform = table.distinct if name in ("max", "min") else None
            g = lambda x, f=f, axis=axis: f(x, axis=axis, keepdims=True)  # noqa: E731
            yield f"reduction-{name}-{axis}", g, [((2, 3, 2), transform, 0)]
    for name, (f, shape) in table.SHAPE_OPS.items():
        if name != "bool_mask":  # its shape depends on the values: not a program (test below)
            yield f"shape-{name}", f, [(shape, None, 0)]
    for name, (f, sa, sb) in table.LINALG.items():
        yield f"linalg-{name}", f, [(sa, None, 3), (sb, None, 4)]


CASES = {name: (f, specs) for name, f, specs in _cases()}


def _inputs(specs):
    return [table.make(shape, transform, seed) for shape, transform, seed in specs]


def _equal(a, b):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert a.dtype == b.dtype and a.shape == b.shape


@pytest.mark.parametrize("name", sorted(CASES))
def test_compiled_equals_eager(name):
    """Values and gradients of every op, bit for bit (the same primitives, in the same order)."""
    f, specs = CASES[name]
    xs = _inputs(specs)
    argnums = tuple(range(len(xs)))
    loss = lambda *xs: ad.sum(ad.sin(f(*xs)))  # noqa: E731  (a scalar through every output entry)
    for fn in (f, ad.value_and_grad(loss, argnums)):
        eager, compiled = fn(*xs), ad.compile(fn)(*xs)
        flat_e, flat_c = flatten(eager)[0], flatten(compiled)[0]
        assert len(flat_e) == len(flat_c)
        for e, c in zip(flat_e, flat_c, strict=True):
            _equal(c, e)


@pytest.mark.parametrize("name", ["unary-tanh-(3,)", "binary-multiply-(2, 1)-(1, 3)", "linalg-matmul_2d"])
def test_compiled_hessian_equals_eager(name):
    f, specs = CASES[name]
    x = _inputs(specs)[0]
    rest = _inputs(specs)[1:]
    scalar = lambda x: ad.sum(f(x, *rest) ** 2)  # noqa: E731
    for mode in ("fwd-rev", "rev-rev"):
        _equal(ad.compile(ad.hessian(scalar, mode=mode))(x), ad.hessian(scalar, mode=mode)(x))


def test_composes_with_transforms():
    """grad/jacrev/vmap of a compiled function run its program on tensors; compiled transforms
    replay."""
    f = lambda x: ad.tanh(x) * ad.exp(x[0])  # noqa: E731
    x = table.make((3,))
    c = ad.compile(f)
    np.testing.assert_allclose(ad.jacrev(c)(x).numpy(), ad.jacrev(f)(x).numpy(), rtol=1e-15)
    np.testing.assert_allclose(ad.jacfwd(c)(x).numpy(), ad.jacfwd(f)(x).numpy(), rtol=1e-15)
    grads = [ad.grad(lambda x, g=g: g(x).sum())(x).numpy() for g in (c, f)]
    np.testing.assert_allclose(*grads, rtol=1e-15)
    batch = table.make((4, 3), seed=1)
    _equal(ad.vmap(c)(batch), ad.vmap(f)(batch))
    _equal(ad.compile(ad.vmap(f))(batch), ad.vmap(f)(batch))
    _equal(ad.compile(ad.jacrev(f))(x), ad.jacrev(f)(x))


def test_retrace_on_shape_and_dtype_change():
    c = ad.compile(lambda x: ad.exp(x) * 2)
    for shape in [(3,), (3,), (2, 2), (3,)]:
        _equal(c(ad.ones(shape)), ad.exp(ad.ones(shape)) * 2)
    assert c.traces == 2
    y = c(ad.ones(3, dtype="float32"))
    assert y.dtype == np.float32 and c.traces == 3


def test_static_arguments_are_part_of_the_key():
    c = ad.compile(lambda x, n, power: x**power * n, static_argnums=(2,))
    x = table.make((3,))
    _equal(c(x, 2.0, 3), x**3 * 2.0)
    _equal(c(x, 5.0, 2), x**2 * 5.0)
    assert c.traces == 2
    with pytest.raises(TypeError, match="hashable"):
        c(x, [1.0], 2)


def test_cache_limit_warns_once_and_keeps_the_newest():
    c = ad.compile(lambda x: x * 2, cache_size=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for n in (1, 2, 3, 4):
            c(ad.ones(n))
    assert [w.category for w in caught] == [ad.program.CacheWarning]
    assert "cache_size" in str(caught[0].message)
    assert len(c.cache) == 2
    c(ad.ones(4))
    assert c.traces == 4  # the newest are kept


def test_data_dependent_control_flow_names_the_line():
    def f(x):
        if x.sum() > 0:  # the line the error names
            return x
        return -x

    with pytest.raises(ad.TracingError, match=r"test_compile.py:\d+ in f: `if x.sum\(\) > 0:") as error:
        ad.compile(f)(table.make((3,)))
    assert "static_argnums" in str(error.value) and "ad.where" in str(error.value)
    with pytest.raises(ad.TracingError, match="item"):
        ad.trace(lambda x: float(x[0]) * x, table.make((3,)))


def test_indices_computed_from_traced_values_are_refused():
    """Their values would fix the program's shapes: the gradcheck table's boolean mask, an argmax."""
    x = table.make((3, 4))
    f, _ = table.SHAPE_OPS["bool_mask"]
    with pytest.raises(ad.TracingError, match=r"indexing with %2 \(\(3, 4\) bool\).*test_ops_gradcheck.py"):
        ad.trace(f, x)
    with pytest.raises(ad.TracingError, match="indexing with"):
        ad.trace(lambda x: x[ad.argmax(x, axis=0)], x)
    with pytest.raises(ad.TracingError, match="is indexed by"):
        ad.trace(lambda x: ad.ops.getitem(x, ad.argmax(x, axis=0)), x)


def test_in_place_write_is_refused():
    def f(x):
        y = x * 1
        with ad.no_grad():
            y.add_(1.0)
        return y * 2

    with pytest.raises(ad.TracingError, match="in-place"):
        ad.trace(f, table.make((3,)))


def test_replay_makes_no_tensor_and_reuses_buffers(device):
    c = ad.compile(ad.grad(lambda x: ad.sum(ad.tanh(ad.exp(x) * x))))
    source = c.source(table.make((5,)))
    assert "Tensor" not in source and "del " in source
    assert ("out=" in source) == (device == "cpu")  # the strict device's namespace has no out=
    plain = ad.compile(ad.grad(lambda x: ad.sum(ad.tanh(ad.exp(x) * x))), passes=("fold", "cse", "dce"))
    assert "out=" not in plain.source(table.make((5,)))
    x = table.make((5,))
    _equal(c(x), plain(x))


def test_elementwise_chains_are_fused_where_the_device_has_a_fuser(monkeypatch, device):
    """CuPy's fuser is cupy.fuse (no GPU here): a stand-in fuser on this device gets each chain
    as one function, and the results stay those of eager."""
    fused = []
    monkeypatch.setitem(fusion.FUSERS, device, lambda fn: fused.append(fn) or fn)
    f = lambda x, y: ad.sum(ad.tanh(ad.exp(x) * y + x) ** 2)  # noqa: E731
    x, y = table.make((4, 3)), table.make((3,), seed=1)
    c = ad.compile(ad.value_and_grad(f, (0, 1)))
    value, grads = c(x, y)
    eager_value, eager_grads = ad.value_and_grad(f, (0, 1))(x, y)
    _equal(value, eager_value)
    for g, e in zip(grads, eager_grads, strict=True):
        _equal(g, e)
    source = c.source(x, y)
    assert fused and "def fused0(" in source and "= fused0(" in source
    plain = ad.compile(ad.value_and_grad(f, (0, 1)), passes=("fold", "cse", "dce", "reuse"))
    assert "fused" not in plain.source(x, y)


def test_slice_cotangents_accumulate_in_one_buffer(device):
    """A flat parameter vector read in slices (basic and repeated integer indices) has a
    gradient that is a chain of add(acc, scatter_add(g)): the replay adds each slice's cotangent
    into one buffer (``acc[index] += g``, ``add.at`` for repeated indices) where the device has
    ``out=``-style writes, with the eager results, per example under vmap too."""
    rows = ad.tensor(np.array([0, 0, 3]))

    def f(t):
        return ad.sum(t[rows] ** 3) + ad.sum(ad.sin(t[0:4]) ** 2) + ad.sum(ad.exp(t[4:12]) * t[4:12])

    theta = table.make((12,))
    c = ad.compile(ad.grad(f))
    source = c.source(theta)
    assert ("] += " in source and "add.at(" in source) == (device == "cpu")
    _equal(c(theta), ad.grad(f)(theta))
    plain = ad.compile(ad.grad(f), passes=("fold", "cse", "dce"))
    assert "+=" not in plain.source(theta)
    per_example = ad.vmap(ad.jacrev(lambda t, x: ad.tanh(t[0:3] * x + t[3:6]) * t[6:9]), in_axes=(None, 0))
    xs = table.make((4, 3), seed=1)
    theta = table.make((9,), seed=2)
    _equal(ad.compile(per_example)(theta, xs), per_example(theta, xs))


def test_accumulation_lays_the_result_out(device):
    """The parameter Jacobian of a layer read from a flat theta: where the sum of the slices'
    cotangents starts from a constant (the bias of a last linear layer, folded), its buffer is
    allocated so that the final (example, output) transpose and the reshape to rows are views.
    The results are eager's."""

    def layer(t, x):
        return ad.tanh(ad.reshape(t[0:6], (2, 3)) @ x + t[6:8])

    def jacobian(t, xs):
        return ad.reshape(ad.vmap(ad.jacrev(layer), in_axes=(None, 0))(t, xs), (-1, 8))

    def linear(t, xs):  # the bias's Jacobian is a constant: the sum starts from it
        out = ad.vmap(ad.jacrev(lambda t, x: ad.reshape(t[0:6], (2, 3)) @ x + t[6:8]), in_axes=(None, 0))(
            t, xs
        )
        return ad.reshape(out, (-1, 8))

    theta, xs = table.make((8,), seed=3), table.make((5, 3), seed=4)
    for f, allocated in ((jacobian, False), (linear, True)):
        c = ad.compile(f)
        _equal(c(theta, xs), f(theta, xs))
        assert ("xp.empty(" in c.source(theta, xs)) == (device == "cpu" and allocated)


def test_a_tiled_accumulation_writes_each_slice_once(device):
    """The Jacobian of a two-layer network read from a flat theta: its slices are disjoint ranges
    of the last axis, so the buffer is allocated empty, the folded constant (the last bias's
    identity block) is written only where no slice goes, every block is written with ``=``, and
    each weight block's outer products are made in place (``matmul(..., out=)``).  Overlapping
    slices keep the sum, and so does a slice the constant reaches into.  The results are eager's,
    bit for bit, call after call."""

    def net(t, x):  # x W^T + b, as benchmarks/models.py writes a layer
        h = ad.tanh(x @ ad.reshape(t[0:6], (2, 3)).T + t[6:8])
        return h @ ad.reshape(t[8:12], (2, 2)).T + t[12:14]

    def jacobian(t, xs):
        return ad.reshape(ad.vmap(ad.jacrev(net), in_axes=(None, 0))(t, xs), (-1, 14))

    def overlapping(t, xs):
        return ad.vmap(ad.jacrev(lambda t, x: ad.sin(t[0:3] * x) + t[1:4] ** 2), in_axes=(None, 0))(t, xs)

    def inside(t, xs):  # the constant (t[0:2]'s identity block) reaches into the slice t[1:3]
        return ad.vmap(ad.jacrev(lambda t, x: t[0:2] + ad.sin(t[1:3] * x[:2])), in_axes=(None, 0))(t, xs)

    theta, xs = table.make((14,), seed=3), table.make((5, 3), seed=4)
    c = ad.compile(jacobian)
    for _ in range(2):
        _equal(c(theta, xs), jacobian(theta, xs))
    source = c.source(theta, xs)
    tiled = device == "cpu"
    assert ("] += " in source, "] = v" in source, "out=xp.reshape(" in source) == (False, tiled, tiled)
    assert source.count("] = p") == tiled  # the bias block only, not the whole constant
    for f in (overlapping, inside):  # sums: of two slices, of the constant and a slice
        c = ad.compile(f)
        _equal(c(theta[:4], xs), f(theta[:4], xs))
        assert ("] += " in c.source(theta[:4], xs)) == tiled


@pytest.mark.parametrize("seed", range(6))
def test_compiled_parameter_jacobians_of_random_networks_are_eager_bit_for_bit(device, seed):
    """MLPs of random depth and widths (tanh, relu or sin; float32 or float64) read from a flat
    theta: the compiled per-example Jacobian (tiled buffers, products made in their slices) and
    the plain jacrev of the batch equal eager's bit for bit, call after call."""
    rng = np.random.default_rng(seed)
    sizes = tuple(int(k) for k in rng.integers(1, 6, int(rng.integers(2, 5))))
    act, dtype = (ad.tanh, ad.relu, ad.sin)[seed % 3], ("float32", "float64")[seed % 2]
    p = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
    theta = ad.tensor(rng.standard_normal(p), dtype=dtype)
    xs = ad.tensor(rng.standard_normal((int(rng.integers(1, 5)), sizes[0])), dtype=dtype)

    def one(t, x):  # x W^T + b per layer, the weights and biases read from t in order
        h, at = x, 0
        for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            w, b = (
                ad.reshape(t[at : at + n_in * n_out], (n_out, n_in)),
                t[at + n_in * n_out : at + (n_in + 1) * n_out],
            )
            h, at = h @ w.T + b, at + (n_in + 1) * n_out
            h = act(h) if k < len(sizes) - 2 else h
        return h

    for f in (
        lambda t, xs: ad.reshape(ad.vmap(ad.jacrev(one), in_axes=(None, 0))(t, xs), (-1, p)),
        lambda t, xs: ad.jacrev(lambda t: one(t, xs))(t),
    ):
        c = ad.compile(f)
        for _ in range(2):
            _equal(c(theta, xs), f(theta, xs))


def test_buffer_reuse_spares_values_that_a_view_still_shows():
    """exp(x) dies at sin, but its reshape (a view of the same memory) is read after: the sine
    must not be written into that buffer."""

    def f(x):
        y = ad.exp(x)
        flat = ad.reshape(y, (-1,))
        s = ad.sum(ad.sin(y))
        return flat * 1.5 + s

    x = table.make((2, 3))
    _equal(ad.compile(f)(x), f(x))
    _equal(ad.compile(ad.grad(lambda x: ad.sum(f(x) ** 2)))(x), ad.grad(lambda x: ad.sum(f(x) ** 2))(x))


def test_buffer_reuse_keeps_the_eager_layout():
    """A bias's gradient sums the logits' adjoint over the batch; reusing the buffer of a
    transposed value for that adjoint changed the order of the sum (5.6e-17 apart): reuse takes
    only buffers laid out as the eager result was."""
    import nn.functional as F

    rng = np.random.default_rng(0)
    h = ad.tensor(rng.standard_normal((100, 32)))
    w, b = ad.tensor(rng.standard_normal((10, 32)) * 0.3), ad.tensor(rng.standard_normal(10) * 0.1)
    y = ad.tensor(rng.integers(0, 10, 100))
    grad = ad.grad(lambda w, b: F.cross_entropy(F.linear(h, w, b), y), argnums=(0, 1))
    for eager, compiled in zip(grad(w, b), ad.compile(grad)(w, b), strict=True):
        np.testing.assert_array_equal(eager.numpy(), compiled.numpy())


def test_a_transposed_outer_product_is_made_transposed(device):
    """transpose(a @ b) with a's last axis of length 1 (an outer product, as per-example weight
    gradients are) is replayed as b^T @ a^T where the device has out=-style replays: the same
    single multiplications, so the same bits, in the layout the transpose wants; with a longer
    inner axis (sums whose order could change) it is left alone."""

    def f(a, b):
        return ad.reshape(ad.swapaxes(ad.matmul(a, b), -1, -2), (5, -1))

    for inner, swapped in ((1, device == "cpu"), (2, False)):
        a, b = table.make((5, 4, inner), seed=5), table.make((5, inner, 3), seed=6)
        c = ad.compile(f)
        _equal(c(a, b), f(a, b))
        assert ("swapaxes" in c.source(a, b)) == swapped


def test_values_the_replay_folds_away_are_still_returned_when_asked_for(device):
    """A scattered cotangent or an outer product that is also an output of the program is made
    as a value of its own (the in-place sum and the transposed product are not used for it)."""

    def f(t, a, b):
        s = ad.ops.shape.scatter_add(t[0:2] * 2.0, index=(slice(0, 2),), shape=(4,))
        product = ad.matmul(a, b)
        return s + t, s, ad.swapaxes(product, -1, -2), product

    t, a, b = table.make((4,)), table.make((3, 1), seed=1), table.make((1, 2), seed=2)
    for got, want in zip(ad.compile(f)(t, a, b), f(t, a, b), strict=True):
        _equal(got, want)
