"""NumPy's further functions (issue 19) give NumPy's values with NumPy's signatures and axis
semantics, have the derivatives known in closed form (d trace = I, sort's gradient is the inverse
permutation, cumprod exact with zeros, ...), and ``autodiff.numpy`` differentiates NumPy code by
changing its import; functions without a derivative return results that carry no gradient."""

import importlib
import importlib.util
import math
import pathlib

import numpy as np
import pytest

import autodiff as ad
import autodiff.numpy as anp


def data(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def on(device, *arrays):
    return [ad.tensor(a, device=device) for a in arrays]


def host(t):
    return [host(u) for u in t] if isinstance(t, list) else t.numpy()


A, B, V, W = data(3, 4), data(2, 3, seed=1), data(4, seed=2), data(3, 3, seed=3)
P = np.abs(data(2, 3, seed=4)) + 1.2
# name -> (call on the library ``lib``, arguments): the same call with lib = np and lib = ad
SAME_AS_NUMPY = {
    **{
        name: (lambda lib, x, name=name: getattr(lib, name)(x), (np.tanh(A) * 0.9,))
        for name in [
            "sinc",
            "arcsin",
            "arccos",
            "arctan",
            "sinh",
            "cosh",
            "arcsinh",
            "arctanh",
            "exp2",
            "square",
        ]
    },
    **{
        name: (lambda lib, x, name=name: getattr(lib, name)(x), (P,)) for name in ["arccosh", "log2", "log10"]
    },
    **{
        name: (lambda lib, x, name=name: getattr(lib, name)(x), (A * 3,))
        for name in ["floor", "ceil", "trunc"]
    },
    "rint": (lambda lib, x: lib.rint(x), (np.array([0.5, 1.5, 2.5, -0.5, 1.2]),)),
    "round": (lambda lib, x: lib.round(x, 2), (A,)),
    "reciprocal": (lambda lib, x: lib.reciprocal(x), (P,)),
    "deg2rad": (lambda lib, x: lib.deg2rad(x) + lib.rad2deg(x), (A,)),
    "nan_to_num": (lambda lib, x: lib.nan_to_num(x, posinf=7.0), (np.array([np.nan, np.inf, -np.inf, 1.0]),)),
    **{
        name: (lambda lib, x, y, name=name: getattr(lib, name)(x, y), (A, V))
        for name in ["arctan2", "hypot", "logaddexp", "logaddexp2", "remainder", "mod", "fmax", "fmin"]
    },
    "sort": (lambda lib, x: lib.sort(x, axis=0), (A,)),
    "sort_none": (lambda lib, x: lib.sort(x, axis=None), (A,)),
    "argsort": (lambda lib, x: lib.argsort(x, axis=-1), (A,)),
    "argmax_keepdims": (lambda lib, x: lib.argmax(x, keepdims=True), (A,)),
    "argmin_keepdims": (lambda lib, x: lib.argmin(x, axis=0, keepdims=True), (A,)),
    "partition_kth": (lambda lib, x: lib.partition(x, 2, axis=1)[:, 2], (A,)),
    "argpartition_kth": (lambda lib, x: lib.argpartition(x, 1, axis=0)[1], (A,)),
    "median": (lambda lib, x: lib.median(x), (A,)),
    "median_axes": (lambda lib, x: lib.median(x, axis=(0, 2), keepdims=True), (data(3, 2, 4),)),
    "cumprod": (lambda lib, x: lib.cumprod(x, axis=1), (A,)),
    "cumprod_none": (lambda lib, x: lib.cumprod(x), (A,)),
    "diff": (lambda lib, x: lib.diff(x, 2, axis=0, prepend=0.5, append=x[:1]), (A,)),
    "gradient": (lambda lib, x: lib.gradient(x, 0.5, 2.0), (A,)),
    "gradient_edge2": (lambda lib, x: lib.gradient(x, axis=1, edge_order=2), (A,)),
    "diag_k": (lambda lib, x: lib.diag(x, -2), (V,)),
    "diag_of_matrix": (lambda lib, x: lib.diag(x, 1), (A,)),
    "diagonal": (lambda lib, x: lib.diagonal(x, 1, 2, 0), (data(3, 2, 4),)),
    "trace": (lambda lib, x: lib.trace(x, -1), (A,)),
    "tril": (lambda lib, x: lib.tril(x, 1), (data(2, 3, 4),)),
    "triu": (lambda lib, x: lib.triu(x, -1), (A,)),
    "kron": (lambda lib, x, y: lib.kron(x, y), (A, B)),
    "kron_ranks": (lambda lib, x, y: lib.kron(x, y), (V, B)),
    "tensordot": (lambda lib, x, y: lib.tensordot(x, y, ([0], [1])), (A, B)),
    "tensordot_int": (lambda lib, x, y: lib.tensordot(x, y, 0), (V, B)),
    "inner": (lambda lib, x, y: lib.inner(x, y), (A, data(2, 4, seed=5))),
    "cross": (lambda lib, x, y: lib.cross(x, y, axisa=0, axisc=0), (data(3, 2), data(2, 3, seed=6))),
    "ravel": (lambda lib, x: lib.ravel(x), (A,)),
    "repeat": (lambda lib, x: lib.repeat(x, [2, 0, 1], axis=0), (A,)),
    "repeat_none": (lambda lib, x: lib.repeat(x, 2), (B,)),
    "tile": (lambda lib, x: lib.tile(x, (2, 1, 3)), (B,)),
    "roll": (lambda lib, x: lib.roll(x, (1, -5), (0, 1)), (A,)),
    "roll_none": (lambda lib, x: lib.roll(x, 5), (A,)),
    **{f"rot90_{k}": (lambda lib, x, k=k: lib.rot90(x, k, (2, 0)), (data(2, 3, 4),)) for k in range(-1, 4)},
    "fliplr": (lambda lib, x: lib.fliplr(x) + lib.flipud(x), (W,)),
    **{f"rollaxis_{s}": (lambda lib, x, s=s: lib.rollaxis(x, 1, s), (data(2, 3, 4),)) for s in range(4)},
    "take": (lambda lib, x: lib.take(x, [[0, -1], [2, 2]], axis=1), (A,)),
    "take_none": (lambda lib, x: lib.take(x, 7), (A,)),
    "hstack": (lambda lib, x: lib.hstack([x, x]), (A,)),
    "hstack_vectors": (lambda lib, x: lib.hstack([x, x[:2]]), (V,)),
    "vstack": (lambda lib, x: lib.vstack([x, x[0]]), (A,)),
    "dstack": (lambda lib, x: lib.dstack([x, x]), (V,)),
    "column_stack": (lambda lib, x: lib.column_stack([x[0], x.T]), (A,)),
    "atleast_3d": (
        lambda lib, x: lib.atleast_3d(x[0]) + lib.atleast_2d(x)[0] + lib.atleast_1d(x[0, 0]),
        (A,),
    ),
    "array_split": (lambda lib, x: lib.array_split(x, 3, axis=1), (A,)),
    "hsplit": (lambda lib, x: lib.hsplit(x, [1, 3]), (A,)),
    "vsplit": (lambda lib, x: lib.vsplit(x, 3), (A,)),
    "dsplit": (lambda lib, x: lib.dsplit(x, 2), (data(2, 2, 4),)),
}


@pytest.mark.parametrize("name", sorted(SAME_AS_NUMPY))
def test_values_are_numpys(name, device):
    f, args = SAME_AS_NUMPY[name]
    got, want = host(f(anp, *on(device, *args))), f(np, *args)
    got, want = (got, list(want)) if isinstance(want, list | tuple) else ([got], [want])
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-15)


def test_trace_gradient_is_the_identity(device):
    a = ad.tensor(data(3, 4), device=device)
    np.testing.assert_array_equal(ad.grad(anp.trace)(a).numpy(), np.eye(3, 4))
    np.testing.assert_array_equal(ad.grad(lambda m: anp.trace(m, 1))(a).numpy(), np.eye(3, 4, 1))


def test_kron_gradient_sums_each_block_against_the_other_factor(device):
    a, b, w = data(2, 3), data(4, 2, seed=1), data(8, 6, seed=2)
    ga, gb = ad.grad(lambda x, y: ad.sum(ad.kron(x, y) * ad.tensor(w, device=device)), argnums=(0, 1))(
        *on(device, a, b)
    )
    blocks = w.reshape(2, 4, 3, 2)  # w[i*4 + k, j*2 + l] = blocks[i, k, j, l]
    np.testing.assert_allclose(ga.numpy(), np.einsum("ikjl,kl->ij", blocks, b), rtol=1e-13)
    np.testing.assert_allclose(gb.numpy(), np.einsum("ikjl,ij->kl", blocks, a), rtol=1e-13)


def test_sort_gradient_is_the_inverse_permutation(device):
    x, w = ad.tensor([3.0, -1.0, 2.0, 0.5], device=device), np.array([10.0, 20.0, 30.0, 40.0])
    g = ad.grad(lambda u: ad.sum(ad.sort(u) * ad.tensor(w, device=device)))(x)
    np.testing.assert_array_equal(g.numpy(), [40.0, 10.0, 30.0, 20.0])  # sorted: -1, 0.5, 2, 3
    jac = ad.jacrev(lambda u: ad.sort(u))(x).numpy()
    np.testing.assert_array_equal(jac, np.eye(4)[[1, 3, 2, 0]])


def test_cumprod_with_zeros_has_its_exact_jacobian(device):
    x = ad.tensor([2.0, 0.0, 3.0, 4.0], device=device)
    np.testing.assert_array_equal(ad.cumprod(x).numpy(), [2.0, 0.0, 0.0, 0.0])
    # d out_j / d x_i = prod_{k <= j, k != i} x_k for j >= i
    want = [[1, 0, 0, 0], [0, 2, 6, 24], [0, 0, 0, 0], [0, 0, 0, 0]]
    np.testing.assert_array_equal(ad.jacrev(ad.cumprod)(x).numpy().T, want)
    np.testing.assert_array_equal(ad.jacfwd(ad.cumprod)(x).numpy().T, want)
    two_zeros = ad.tensor([0.0, 5.0, 0.0], device=device)  # every product has a zero left but one
    np.testing.assert_array_equal(ad.grad(lambda u: ad.cumprod(u)[-1])(two_zeros).numpy(), [0, 0, 0])
    h = ad.hessian(lambda u: ad.cumprod(u)[-1])(two_zeros).numpy()  # d2 (x0 x1 x2) / dx0 dx2 = x1
    np.testing.assert_array_equal(h, [[0, 0, 5], [0, 0, 0], [5, 0, 0]])


def test_third_derivatives(device):
    x = ad.tensor([2.0, -1.5, 3.0, 0.5], device=device)
    third = ad.jacfwd(ad.jacrev(ad.jacrev(lambda u: ad.cumprod(u)[-1])))(x).numpy()
    want = np.zeros((4, 4, 4))  # d3 (x0 x1 x2 x3) / dxi dxj dxk = the fourth x for distinct i, j, k
    for i, j, k in np.ndindex(4, 4, 4):
        if len({i, j, k}) == 3:
            want[i, j, k] = x.numpy()[6 - i - j - k]
    np.testing.assert_allclose(third, want, rtol=1e-14)
    t = 0.3  # arctanh''' = (2 + 6 t^2) / (1 - t^2)^3, arcsin''' = (1 + 2 t^2) / (1 - t^2)^(5/2)
    d3 = lambda f: ad.grad(ad.grad(ad.grad(f)))(ad.tensor(t, device=device)).item()  # noqa: E731
    assert d3(ad.arctanh) == pytest.approx((2 + 6 * t * t) / (1 - t * t) ** 3, rel=1e-13)
    assert d3(ad.arcsin) == pytest.approx((1 + 2 * t * t) / (1 - t * t) ** 2.5, rel=1e-13)


def test_sinc_at_zero_to_the_fourth_derivative(device):
    x = ad.tensor([0.0, 0.0, 0.0], device=device)
    derivatives = [ad.sinc]
    for _ in range(4):
        derivatives.append(lambda u, f=derivatives[-1]: ad.grad(lambda v: ad.sum(f(v)))(u))
    got = [d(x).numpy()[0] for d in derivatives]  # sinc = 1 - (pi x)^2 / 6 + (pi x)^4 / 120 ...
    np.testing.assert_allclose(got, [1, 0, -(math.pi**2) / 3, 0, math.pi**4 / 5], rtol=1e-14, atol=1e-14)


def test_median_gradient_goes_to_the_middle_entries(device):
    odd, even = on(device, np.array([3.0, 1.0, 2.0]), np.array([4.0, 1.0, 3.0, 2.0]))
    np.testing.assert_array_equal(ad.grad(ad.median)(odd).numpy(), [0, 0, 1])
    np.testing.assert_array_equal(ad.grad(ad.median)(even).numpy(), [0, 0, 0.5, 0.5])


def test_repeat_and_tile_gradients_count_the_copies(device):
    x = ad.tensor([1.0, 2.0, 3.0], device=device)
    np.testing.assert_array_equal(ad.grad(lambda u: ad.sum(ad.repeat(u, [2, 0, 3])))(x).numpy(), [2, 0, 3])
    np.testing.assert_array_equal(ad.grad(lambda u: ad.sum(ad.tile(u, (2, 2))))(x).numpy(), [4, 4, 4])


def test_functions_without_a_derivative_carry_no_gradient(device):
    x = ad.tensor(data(2, 3) * 3, device=device, requires_grad=True)
    for y in (ad.floor(x), ad.ceil(x), ad.trunc(x), ad.rint(x), ad.round(x, 1), ad.argsort(x), anp.angle(x)):
        assert not y.requires_grad
    assert anp.argsort(x).dtype == np.int64 and anp.argpartition(x, 1).dtype == np.int64
    g = ad.grad(lambda u: ad.sum(u * ad.floor(u)))(x.detach())
    np.testing.assert_array_equal(g.numpy(), np.floor(x.numpy()))  # d (x floor x) = floor x


def test_remainder_gradients():
    x, y = ad.tensor([5.5, -1.25]), ad.tensor([2.0, 1.0])
    gx, gy = ad.grad(lambda a, b: ad.sum(ad.remainder(a, b)), argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(gx.numpy(), [1, 1])
    np.testing.assert_array_equal(gy.numpy(), -np.floor(x.numpy() / y.numpy()))


# ----------------------------------------------------------------------------- autodiff.numpy
def numpy_program(np_):
    """Code written for NumPy, run with NumPy or with autodiff.numpy."""

    def f(x):
        y = np_.tanh(np_.dot(x, x.T)) + np_.outer(x[0], x[1])[:2, :2]
        z = np_.concatenate([np_.sort(y, axis=1), np_.cumprod(y, axis=0)], axis=1)
        w = np_.array([np_.sum(z**2), np_.trace(y), np_.median(x)])
        return (
            np_.sum(np_.logaddexp(w, np_.pi))
            + np_.mean(np_.hypot(x, np_.e)) / np_.inf * 0
            + np_.sum(x[np_.newaxis])
        )

    return f


def test_numpy_code_differentiates_by_changing_the_import(device):
    x = data(2, 3)
    f_np, f_ad = numpy_program(np), numpy_program(anp)
    np.testing.assert_allclose(f_ad(ad.tensor(x, device=device)).item(), f_np(x), rtol=1e-13)
    g = ad.grad(f_ad)(ad.tensor(x, device=device)).numpy()
    eps = 1e-6
    fd = np.array([(f_np(x + eps * e) - f_np(x - eps * e)) / (2 * eps) for e in np.eye(6).reshape(6, 2, 3)])
    np.testing.assert_allclose(g.ravel(), fd, rtol=1e-6, atol=1e-8)


def test_numpys_array_methods(device):
    a, b = data(2, 3), data(3, 2, seed=1)
    x, y = on(device, a, b)
    for name, args in [("dot", (y,)), ("ravel", ()), ("cumsum", (0,)), ("cumprod", (1,)), ("round", (1,))]:
        want = getattr(a, name)(*[b if u is y else u for u in args])
        np.testing.assert_allclose(getattr(x, name)(*args).numpy(), want, rtol=1e-14)
    for name, args in [
        ("argsort", (0,)),
        ("diagonal", (1,)),
        ("trace", ()),
        ("repeat", (2, 1)),
        ("take", ([2, 0],)),
    ]:
        np.testing.assert_array_equal(getattr(x, name)(*args).numpy(), getattr(a, name)(*args))
    assert x.conj() is x
    assert ad.grad(lambda u: u.dot(y).trace())(x).numpy().tolist() == b.T.tolist()


def test_array_full_and_linspace_pass_the_gradient(device):
    t = ad.tensor([1.0, 2.0], device=device)
    np.testing.assert_array_equal(
        ad.jacrev(lambda u: anp.array([[u[0], 3.0], [u[1] * u[0], u[1]]]))(t).numpy()[:, :, 0],
        [[1, 0], [2, 0]],
    )
    np.testing.assert_array_equal(ad.grad(lambda u: ad.sum(anp.full((2, 3), u[0])))(t).numpy(), [6, 0])
    lin = anp.linspace(t[0], t[1], 5)
    np.testing.assert_allclose(lin.numpy(), np.linspace(1.0, 2.0, 5), rtol=1e-15)
    np.testing.assert_allclose(ad.grad(lambda u: ad.sum(anp.linspace(u[0], u[1], 5)))(t).numpy(), [2.5, 2.5])
    np.testing.assert_allclose(
        anp.linspace(t, t * 3, 4, endpoint=False).numpy(),
        np.linspace([1.0, 2.0], [3.0, 6.0], 4, endpoint=False),
    )


@pytest.mark.cpu_only
def test_namespace_constants_aliases_and_refusals(monkeypatch):
    assert (anp.pi, anp.e, anp.inf, anp.newaxis, anp.float64) == (np.pi, np.e, np.inf, None, np.float64)
    assert math.isnan(anp.nan)
    assert anp.absolute is anp.abs and anp.amax is anp.max and anp.true_divide is anp.divide
    assert (
        anp.shape(anp.zeros((2, 3))) == (2, 3)
        and anp.ndim(np.ones(4)) == 1
        and anp.size(anp.ones((2, 2))) == 4
    )
    with pytest.raises(AttributeError, match="'fft'.*not provided with a derivative"):
        anp.fft  # noqa: B018
    with monkeypatch.context() as m:  # without the linear-algebra package: refused, saying why
        m.setattr(importlib.util, "find_spec", lambda name, *a: None)
        with pytest.raises(AttributeError, match="autodiff.linalg is not available"):
            anp.linalg  # noqa: B018
    if (pathlib.Path(ad.__file__).parent / "linalg").is_dir():  # (in this checkout, not elsewhere)
        assert anp.linalg is importlib.import_module("autodiff.linalg")


ERRORS = [
    (lambda: ad.diagonal(ad.ones(3, 3), 0, 1, -1), ValueError, r"diagonal: axis1 and axis2 are the same"),
    (lambda: ad.diag(ad.ones(2, 2, 2)), ValueError, r"diag: expected a vector or a matrix"),
    (lambda: ad.tril(ad.ones(3)), ValueError, r"tril: need at least two axes"),
    (lambda: ad.cross(ad.ones(2), ad.ones(2)), ValueError, r"cross: vectors must have 3 components"),
    (lambda: ad.cross(ad.ones(2, 3), ad.ones(3, 3)), ValueError, r"cross: .* do not broadcast"),
    (lambda: ad.tensordot(ad.ones(2, 3), ad.ones(2, 3), 1), ValueError, r"tensordot: axis 1 .* differ"),
    (lambda: ad.tensordot(ad.ones(2), ad.ones(2), 3), ValueError, r"tensordot: axes=3"),
    (lambda: ad.median(ad.ones(0)), ValueError, r"median: no entries"),
    (lambda: ad.gradient(ad.ones(3), edge_order=3), ValueError, r"gradient: edge_order must be 1 or 2"),
    (lambda: ad.gradient(ad.ones(2), edge_order=2), ValueError, r"gradient: axis .* at least 3 entries"),
    (lambda: ad.gradient(ad.ones(3), [1.0, 2.0, 4.0]), TypeError, r"gradient: .* coordinate arrays"),
    (lambda: ad.diff(ad.ones(3), -1), ValueError, r"diff: order n must be non-negative"),
    (lambda: ad.repeat(ad.ones(3), [1, 2]), ValueError, r"repeat: .*repeats"),
    (lambda: ad.roll(ad.ones(3, 3), (1, 2, 3), (0, 1)), ValueError, r"roll: 3 shifts for 2 axes"),
    (lambda: ad.rot90(ad.ones(3, 3), 1, (0, 0)), ValueError, r"rot90: the two axes are the same"),
    (lambda: ad.array_split(ad.ones(3), 0), ValueError, r"array_split: the number of sections"),
    (lambda: ad.sort(ad.ones(3), axis=1), ValueError, r"sort: axis 1 is out of range"),
    (lambda: ad.hstack([]), ValueError, r"hstack: expected a non-empty sequence"),
]


@pytest.mark.cpu_only
@pytest.mark.parametrize(
    "call, kind, pattern", ERRORS, ids=[p.split(":")[0] + str(i) for i, (_, _, p) in enumerate(ERRORS)]
)
def test_errors_name_the_function_and_the_problem(call, kind, pattern):
    with pytest.raises(kind, match=pattern):
        call()
