"""Every operation: first- and second-order gradient checks against central finite
differences in float64, by reverse mode (raw and recorded rules) and forward mode, on
several shapes including broadcast ones."""

import math

import numpy as np
import pytest

import autodiff as ad
import autodiff.numpy as anp


def positive(a):
    return np.abs(a) + 0.5


def away_from_zero(a):
    return np.where(np.abs(a) < 0.2, a + np.sign(a + 1e-12) * 0.3, a)


def distinct(a):
    """Entries pairwise apart (no ties for max/min/sort-like ops)."""
    flat = np.argsort(np.argsort(a.ravel())).astype(float)
    return (flat.reshape(a.shape) - a.size / 2) * 0.37 + 0.05 * a


# name -> (function, input shapes, domain transforms)
UNARY = {
    "negative": lambda x: -x,
    "exp": ad.exp,
    "log": ad.log,
    "log1p": ad.log1p,
    "expm1": ad.expm1,
    "sqrt": ad.sqrt,
    "sin": ad.sin,
    "cos": ad.cos,
    "tan": ad.tan,
    "tanh": ad.tanh,
    "sigmoid": ad.sigmoid,
    "softplus": ad.softplus,
    "log_sigmoid": ad.log_sigmoid,
    "relu": ad.relu,
    "leaky_relu": lambda x: ad.leaky_relu(x, 0.1),
    "gelu": ad.gelu,
    "abs": ad.abs,
    "clip": lambda x: ad.clip(x, -0.5, 0.7),
    "pow_scalar": lambda x: x**3,
    "pow_half": lambda x: x**0.5,
    "rpow": lambda x: 2.0**x,
    "sign_times": lambda x: ad.sign(x) * x * x,
    # NumPy's further elementwise math (autodiff/ops/special.py)
    "arcsin": ad.arcsin,
    "arccos": ad.arccos,
    "arctan": ad.arctan,
    "sinh": ad.sinh,
    "cosh": ad.cosh,
    "arcsinh": ad.arcsinh,
    "arccosh": ad.arccosh,
    "arctanh": ad.arctanh,
    "log2": ad.log2,
    "log10": ad.log10,
    "exp2": ad.exp2,
    "square": ad.square,
    "reciprocal": ad.reciprocal,
    "sinc": ad.sinc,
    "deg2rad": lambda x: ad.sin(ad.deg2rad(x * 90)) + ad.rad2deg(x),
    "nan_to_num": lambda x: (
        ad.nan_to_num(ad.where(x > 0.5, math.inf, ad.where(x > 0, x, math.nan)), posinf=2.0) * x
    ),
    "rounding": lambda x: x * (ad.floor(x) + ad.ceil(x) + ad.trunc(x) + ad.rint(x) + ad.round(x, 1)),
}
DOMAIN = {
    "log": positive,
    "sqrt": positive,
    "pow_half": positive,
    "log1p": positive,
    "relu": away_from_zero,
    "leaky_relu": away_from_zero,
    "abs": away_from_zero,
    "clip": lambda a: np.clip(away_from_zero(a), -2, 2) + np.where(np.abs(np.abs(a) - 0.6) < 0.15, 0.3, 0),
    "sign_times": away_from_zero,
    "tan": lambda a: np.tanh(a),
    "arcsin": lambda a: 0.8 * np.tanh(a),
    "arccos": lambda a: 0.8 * np.tanh(a),
    "arctanh": lambda a: 0.8 * np.tanh(a),
    "arccosh": lambda a: positive(a) + 1,
    "log2": positive,
    "log10": positive,
    "reciprocal": away_from_zero,
    "sinc": lambda a: np.where(np.arange(a.size).reshape(a.shape) % 2 == 0, 0.0, 1.7 * a),  # zeros too
    "nan_to_num": away_from_zero,
    "rounding": lambda a: np.round(a * 4) / 4 + 0.11,  # 0.11 from the nearest multiple of 0.1/0.5
}

BINARY = {
    "add": lambda x, y: x + y,
    "subtract": lambda x, y: x - y,
    "multiply": lambda x, y: x * y,
    "divide": lambda x, y: x / y,
    "power": lambda x, y: x**y,
    "maximum": ad.maximum,
    "minimum": ad.minimum,
    "where": lambda x, y: ad.where(x > y, x, y * 2),
    "arctan2": ad.arctan2,
    "hypot": ad.hypot,
    "logaddexp": ad.logaddexp,
    "logaddexp2": ad.logaddexp2,
    "remainder": ad.remainder,
    "fmax": ad.fmax,
    "fmin": ad.fmin,
}
BINARY_DOMAIN = {
    "divide": (None, positive),
    "power": (positive, None),
    "maximum": (distinct, lambda a: distinct(a) + 0.11),
    "minimum": (distinct, lambda a: distinct(a) + 0.11),
    "where": (distinct, lambda a: distinct(a) + 0.13),
    "remainder": (lambda a: np.round(a * 2) / 2 + 0.25, lambda a: np.sign(a + 1e-12) * 1.5 + 0 * a),
    "fmax": (distinct, lambda a: distinct(a) + 0.11),
    "fmin": (distinct, lambda a: distinct(a) + 0.11),
}
SHAPES_UNARY = [(), (3,), (2, 3)]
SHAPES_BINARY = [((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 2)), ((4, 1, 2), (3, 1))]


def make(shape, transform=None, seed=0):
    a = np.random.default_rng(seed).standard_normal(shape)
    return ad.tensor(transform(a) if transform else a)


def check(f, *inputs):
    assert ad.gradcheck(f, inputs)
    assert ad.gradgradcheck(f, inputs)


@pytest.mark.parametrize("shape", SHAPES_UNARY, ids=str)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name, shape):
    check(UNARY[name], make(shape, DOMAIN.get(name)))


@pytest.mark.parametrize("shapes", SHAPES_BINARY, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary(name, shapes):
    tx, ty = BINARY_DOMAIN.get(name, (None, None))
    check(BINARY[name], make(shapes[0], tx, 1), make(shapes[1], ty, 2))


REDUCTIONS = {
    "sum": ad.sum,
    "mean": ad.mean,
    "var": ad.var,
    "std": ad.std,
    "max": ad.max,
    "min": ad.min,
    "prod": ad.prod,
    "logsumexp": ad.logsumexp,
    "norm": ad.norm,
}
AXES = [None, 0, -1, (0, 2)]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction(name, axis, keepdims):
    transform = distinct if name in ("max", "min") else None
    check(lambda x: REDUCTIONS[name](x, axis=axis, keepdims=keepdims), make((2, 3, 2), transform))


def test_var_ddof():
    check(lambda x: ad.var(x, axis=1, ddof=1), make((3, 4)))


@pytest.mark.parametrize("axis", [0, -1])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax(name, axis):
    check(lambda x: getattr(ad, name)(x, axis=axis), make((3, 4)))


def cross_entropy_of(labels):
    """x -> the softmax cross-entropy of x's rows against ``labels`` (one primitive)."""
    return lambda x: ad.softmax_cross_entropy(x, labels)


@pytest.mark.parametrize("shape", [(3, 4), (4,), (2, 3, 5)], ids=str)
def test_softmax_cross_entropy(shape):
    labels = np.arange(int(np.prod(shape[:-1]))).reshape(shape[:-1]) % shape[-1]
    x = make(shape)
    check(cross_entropy_of(labels), x)
    # the exact value: -log softmax(x)[label], as composed from log_softmax
    picked = np.take_along_axis(ad.log_softmax(x).numpy(), labels[..., None], -1)[..., 0]
    np.testing.assert_allclose(ad.softmax_cross_entropy(x, labels).numpy(), -picked, rtol=1e-14, atol=1e-15)


def test_softmax_cross_entropy_extremes():
    """Logits of any size stay finite; -inf at a non-target class is a zero probability."""
    x = ad.tensor([[1000.0, -1000.0, 0.0], [-math.inf, 2.0, 0.0]], requires_grad=True)
    loss = ad.softmax_cross_entropy(x, [0, 1])
    np.testing.assert_allclose(loss.numpy(), [0.0, math.log1p(math.exp(-2.0))], atol=1e-15)
    loss.sum().backward()
    p = math.exp(2.0) / (1 + math.exp(2.0))
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, 0.0, 0.0], [0.0, p - 1, 1 - p]], atol=1e-15)


def test_prod_with_zeros():
    x = ad.tensor([[2.0, 0.0, 3.0], [0.0, 0.0, 1.5], [1.0, 2.0, -1.0]])
    check(lambda x: ad.prod(x, axis=1), x)


SHAPE_OPS = {
    "reshape": (lambda x: ad.reshape(x, (3, -1)), (2, 3, 2)),
    "transpose": (lambda x: ad.transpose(x, (1, 2, 0)), (2, 3, 2)),
    "T": (lambda x: x.T, (2, 3)),
    "permute": (lambda x: x.permute(2, 0, 1), (2, 3, 2)),
    "swapaxes": (lambda x: ad.swapaxes(x, 0, -1), (2, 3, 2)),
    "moveaxis": (lambda x: ad.moveaxis(x, 0, -1), (2, 3, 2)),
    "broadcast_to": (lambda x: ad.broadcast_to(x, (4, 2, 3)), (2, 1)),
    "squeeze": (lambda x: ad.squeeze(x, 1), (2, 1, 3)),
    "unsqueeze": (lambda x: ad.unsqueeze(x, -1) * ad.arange(1.0, 3.0), (3,)),
    "expand_dims": (lambda x: ad.expand_dims(x, (0, 2)), (2, 3)),
    "flatten": (lambda x: ad.flatten(x, 1), (2, 3, 2)),
    "flip": (lambda x: ad.flip(x, 0) * ad.arange(1.0, 4.0), (3,)),
    "concatenate": (lambda x: ad.concatenate([x, 2 * x, x[:1]], axis=0), (2, 3)),
    "concatenate_last": (lambda x: ad.concatenate([x, x * x], axis=-1), (2, 3)),
    "stack": (lambda x: ad.stack([x, ad.sin(x)], axis=1), (2, 3)),
    "split": (lambda x: ad.split(x, [1, 3], axis=1)[1] * 3, (2, 4)),
    "pad": (lambda x: ad.pad(x, ((1, 0), (2, 1))) * 1.5, (2, 3)),
    "cumsum": (lambda x: ad.cumsum(x, axis=1), (2, 4)),
    "basic_index": (lambda x: x[1, ::2], (3, 4)),
    "slice_newaxis": (lambda x: x[None, 1:, ..., 0], (3, 4, 2)),
    "negative_step": (lambda x: x[::-1, 1], (3, 4)),
    "advanced_index": (lambda x: x[[0, 2, 0]], (3, 2)),
    "advanced_2d": (lambda x: x[[0, 1, 1], [2, 0, 2]], (3, 4)),
    "advanced_split": (lambda x: x[[0, 1], :, [1, 0]], (2, 3, 2)),
    "bool_mask": (lambda x: x[x.detach() > 0], (3, 4)),
    "mixed_index": (lambda x: x[1:, [0, 0, 2]], (3, 4)),
    "astype": (lambda x: ad.astype(x, "float32").astype("float64") * 2, (3,)),
    "setitem": (lambda x: ad.setitem(x * x, (1, slice(None, 2)), ad.sin(x[0, 1:])), (3, 3)),
    "setitem_repeated": (lambda x: ad.setitem(x, [0, 2, 0], ad.flip(x, 0) ** 2) * x, (3, 2)),
    "setitem_broadcast": (lambda x: ad.setitem(x, (slice(None), 0), x[0, 1] * 3), (2, 3)),
    # sorting (autodiff/ops/sorting.py)
    "sort": (lambda x: ad.sort(x, axis=0), (3, 2)),
    "sort_flat": (lambda x: ad.sort(x, axis=None), (2, 3)),
    "msort": (ad.msort, (3, 2)),
    "partition": (lambda x: ad.partition(x, 2), (2, 4)),
    "median": (lambda x: ad.median(x, axis=1), (3, 4)),
    "median_odd": (lambda x: ad.median(x, axis=(0, 2), keepdims=True), (3, 2, 2)),
    # along an axis (autodiff/ops/sequences.py)
    "cumprod": (lambda x: ad.cumprod(x, axis=0), (3, 2)),
    "cumprod_flat": (ad.cumprod, (2, 2)),
    "diff": (lambda x: ad.diff(x, n=2, axis=0, prepend=1.5, append=x[:1]), (3, 2)),
    "gradient": (lambda x: ad.stack(ad.gradient(x, 0.5, 2.0)), (3, 4)),
    "gradient_edge2": (lambda x: ad.gradient(x, axis=-1, edge_order=2), (2, 4)),
    # matrix structure (autodiff/ops/matrix.py)
    "diag_vector": (lambda x: ad.diag(x, -1), (3,)),
    "diag_matrix": (lambda x: ad.diag(x, 1), (3, 4)),
    "diagonal": (lambda x: ad.diagonal(x, -1, 2, 0), (3, 2, 4)),
    "trace": (lambda x: anp.trace(x, axis1=1, axis2=2), (2, 3, 3)),
    "tril": (lambda x: ad.tril(x, -1), (2, 3, 4)),
    "triu": (lambda x: ad.triu(x, 1), (4, 3)),
    # arrangements (autodiff/ops/tiling.py)
    "ravel": (ad.ravel, (2, 3)),
    "repeat": (lambda x: ad.repeat(x, [1, 0, 3], axis=1), (2, 3)),
    "repeat_flat": (lambda x: ad.repeat(x, 2), (2, 2)),
    "tile": (lambda x: ad.tile(x, (2, 1, 2)), (2, 3)),
    "roll": (lambda x: ad.roll(x, (1, -2), (0, 1)), (3, 4)),
    "roll_flat": (lambda x: ad.roll(x, 4), (2, 3)),
    "rot90": (lambda x: ad.rot90(x, 1) + ad.rot90(x, 3)[..., ::-1] + ad.rot90(x, 2, (1, 0)).T, (3, 3)),
    "fliplr": (lambda x: ad.fliplr(x) * ad.flipud(x) ** 2, (2, 3)),
    "rollaxis": (lambda x: ad.rollaxis(x, 2, 0), (2, 3, 2)),
    "take": (lambda x: ad.take(x, [[2, 0], [2, 1]], axis=1), (2, 3)),
    "take_flat": (lambda x: ad.take(x, [5, 0, 5]), (2, 3)),
    "hstack": (lambda x: ad.hstack([x, x * x]), (2, 3)),
    "vstack": (lambda x: ad.vstack([x, x[0] * 2]), (2, 3)),
    "dstack": (lambda x: ad.dstack([x, ad.sin(x)]), (2, 3)),
    "column_stack": (lambda x: ad.column_stack([x[0], x.T]), (2, 3)),
    "atleast": (lambda x: ad.atleast_3d(x[0, 0])[0] * ad.atleast_2d(x)[0] + ad.atleast_1d(x[1, 1]), (2, 3)),
    "array_split": (lambda x: ad.array_split(x, 3, axis=1)[0] * ad.hsplit(x, [1])[1][:, :1], (2, 5)),
}


@pytest.mark.parametrize("name", sorted(SHAPE_OPS))
def test_shape_op(name):
    f, shape = SHAPE_OPS[name]
    if name == "astype":
        assert ad.gradcheck(f, [make(shape)], eps=1e-2, atol=1e-4)  # float32 inside: a larger step
        return
    check(f, make(shape))


LINALG = {
    "matmul_2d": (lambda a, b: a @ b, (2, 3), (3, 4)),
    "matmul_vec_mat": (lambda a, b: a @ b, (3,), (3, 2)),
    "matmul_mat_vec": (lambda a, b: a @ b, (2, 3), (3,)),
    "matmul_vec_vec": (lambda a, b: a @ b, (3,), (3,)),
    "matmul_batched": (lambda a, b: a @ b, (2, 2, 3), (3, 2)),
    "matmul_broadcast": (lambda a, b: a @ b, (2, 1, 2, 3), (3, 3, 2)),
    "einsum_mm": (lambda a, b: ad.einsum("ij,jk->ik", a, b), (2, 3), (3, 4)),
    "einsum_outer_sum": (lambda a, b: ad.einsum("ij,k->ik", a, b), (2, 3), (4,)),
    "einsum_batch": (lambda a, b: ad.einsum("...ij,...jk", a, b), (2, 2, 3), (2, 3, 2)),
    "einsum_trace_like": (lambda a, b: ad.einsum("ij,ij->", a, b), (2, 3), (2, 3)),
    "outer": (lambda a, b: ad.outer(a, b), (3,), (2,)),
    "dot_nd": (lambda a, b: ad.dot(a, b), (2, 3), (4, 3, 2)),
    "kron": (lambda a, b: ad.kron(a, b), (2, 3), (2,)),
    "tensordot": (lambda a, b: ad.tensordot(a, b, ([0, 2], [1, 0])), (2, 3, 4), (4, 2)),
    "tensordot_int": (lambda a, b: ad.tensordot(a, b, 1), (2, 3), (3, 2)),
    "inner": (lambda a, b: ad.inner(a, b), (2, 3), (4, 3)),
    "cross": (lambda a, b: ad.cross(a, b, axisa=0), (3, 2), (2, 3)),
}


@pytest.mark.parametrize("name", sorted(LINALG))
def test_linalg(name):
    f, sa, sb = LINALG[name]
    check(f, make(sa, seed=3), make(sb, seed=4))


@pytest.mark.parametrize(
    "shapes", [((2, 3, 4), (2, 4, 5)), ((3,), (2, 3, 4)), ((2, 3), (3,)), ((), (2, 2)), ((3,), (3,))], ids=str
)
def test_dot_is_numpy_dot(shapes):
    a, b = (np.random.default_rng(k).standard_normal(s) for k, s in enumerate(shapes))
    np.testing.assert_allclose(ad.dot(ad.tensor(a), ad.tensor(b)).numpy(), np.dot(a, b), rtol=1e-14)


def test_einsum_three_operands():
    check(
        lambda a, b, c: ad.einsum("ij,jk,k->i", a, b, c),
        make((2, 3)),
        make((3, 4), seed=1),
        make((4,), seed=2),
    )


def test_setitem_values_and_gradient_by_hand():
    x = ad.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], requires_grad=True)
    v = ad.tensor([[10.0, 20.0], [30.0, 40.0]], requires_grad=True)
    y = ad.setitem(x, [0, 2, 0], ad.concatenate([v, v[:1]]))  # row 0 written twice: the last wins
    np.testing.assert_array_equal(y.numpy(), [[10.0, 20.0], [3.0, 4.0], [30.0, 40.0]])
    (y * ad.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_array_equal(v.grad.numpy(), [[1.0, 2.0], [5.0, 6.0]])


def test_composite_expression():
    def f(x, y):
        h = ad.tanh(x @ y) + ad.softplus(x[:, :1])
        return ad.logsumexp(h * h, axis=1) + ad.norm(h, axis=1)

    check(f, make((3, 2)), make((2, 4), seed=5))


# ----------------------------------------------------------------------------- autodiff.linalg
def spd(a):
    """A symmetric positive-definite matrix from any square one (a composition, so that finite
    differences perturb it symmetrically): A A^T + I."""
    return a @ a.mT + ad.eye(a.shape[-1], dtype=a.dtype, device=a.device)


def symmetric(a):
    return a + a.mT


def conditioned(a):
    """Well conditioned: the diagonal shifted away from zero."""
    return a + 3 * np.eye(a.shape[-1])


def gauge_free_svd(a, **options):
    """A loss of (U, S, Vh) invariant under the sign of each singular pair."""
    u, s, vh = ad.linalg.svd(a, **options)
    k = s.shape[-1]
    return (u[..., :k] ** 2 * s[..., None, :]) @ vh[..., :k, :] ** 2


# name -> (function of one matrix, shape, domain transform of the input)
LINALG_FUNCTIONS = {
    "inv": (ad.linalg.inv, (3, 3), conditioned),
    "inv_batched": (ad.linalg.inv, (2, 3, 3), conditioned),
    "solve_matrix": (lambda a: ad.linalg.solve(a, a[..., :2] ** 2 + 1), (3, 3), conditioned),
    "solve_vector": (lambda a: ad.linalg.solve(a, ad.sin(a[0])), (3, 3), conditioned),
    "solve_broadcast": (lambda a: ad.linalg.solve(a[:, None], a[0, :, :2]), (2, 3, 3), conditioned),
    "det": (ad.linalg.det, (2, 3, 3), None),
    "slogdet": (lambda a: ad.linalg.slogdet(a).logabsdet, (2, 3, 3), conditioned),
    "cholesky": (lambda a: ad.linalg.cholesky(spd(a)), (2, 3, 3), None),
    "cholesky_upper": (lambda a: ad.linalg.cholesky(spd(a), upper=True), (3, 3), None),
    "eigh": (lambda a: (lambda w, v: v**2 * w[..., None, :])(*ad.linalg.eigh(symmetric(a))), (2, 3, 3), None),
    "eigh_upper": (lambda a: ad.linalg.eigh(symmetric(a), UPLO="U").eigenvectors ** 2, (3, 3), None),
    "eigvalsh": (lambda a: ad.linalg.eigvalsh(symmetric(a)), (2, 3, 3), None),
    "svd_tall": (gauge_free_svd, (4, 3), None),
    "svd_wide": (gauge_free_svd, (2, 2, 3), None),
    "svd_full": (lambda a: ad.linalg.svd(a)[0][..., :2] ** 2, (3, 2), None),
    "svdvals": (lambda a: ad.linalg.svd(a, compute_uv=False), (2, 3, 4), None),
    "qr_tall": (lambda a: (lambda q, r: q @ r**2)(*ad.linalg.qr(a)), (2, 4, 3), None),
    "qr_wide": (lambda a: (lambda q, r: q @ r**2)(*ad.linalg.qr(a)), (2, 4), None),
    "qr_complete": (lambda a: ad.linalg.qr(a, mode="complete").R, (3, 2), None),
    "pinv_tall": (ad.linalg.pinv, (3, 2), None),
    "pinv_wide": (ad.linalg.pinv, (2, 2, 3), None),
    "matrix_power_3": (lambda a: ad.linalg.matrix_power(a, 3), (3, 3), None),
    "matrix_power_-2": (lambda a: ad.linalg.matrix_power(a, -2), (3, 3), conditioned),
    "norm_vector_p": (lambda a: ad.linalg.norm(a, 3, axis=-1), (2, 3), None),
    "norm_vector_inf": (lambda a: ad.linalg.norm(a, -np.inf, axis=0, keepdims=True), (2, 3), None),
    "norm_nuc": (lambda a: ad.linalg.norm(a, "nuc", axis=(0, 2)), (3, 2, 4), None),
    "norm_2": (lambda a: ad.linalg.norm(a, 2), (3, 4), None),
    "norm_-2": (lambda a: ad.linalg.norm(a, -2, axis=(-1, -2), keepdims=True), (2, 3, 4), None),
    "norm_1": (lambda a: ad.linalg.norm(a, 1, axis=(1, 0)), (3, 4, 2), None),
    "norm_-inf": (lambda a: ad.linalg.norm(a, -np.inf), (3, 4), None),
}


@pytest.mark.parametrize("name", sorted(LINALG_FUNCTIONS))
def test_linalg_function(name):
    f, shape, transform = LINALG_FUNCTIONS[name]
    check(f, make(shape, transform, seed=5))
