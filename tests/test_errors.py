"""The error-message table (issue 11): public entry points called with wrong types, shapes,
dtypes, devices, NaN and empty inputs raise the documented exception type (docs/CONTRIBUTING.md,
"Errors") with a message naming the function and the problem; and edge inputs that have an answer
(empty axes, empty indices, tensor bounds) give NumPy's or PyTorch's answer."""

import math

import numpy as np
import pytest

import autodiff as ad
import landscape as L
import nn
import nn.functional as F
from nn.data import DataLoader, TensorDataset

NAN = float("nan")


def x():
    return ad.randn(4, 3, seed=0)


def square(v):
    return ad.sum(v * v)


def nan_square(v):
    return square(v) * NAN


def sgd(lr=0.1, **options):
    return nn.optim.SGD(nn.Linear(2, 2).parameters(), lr=lr, **options)


def mlp():
    return nn.MLP([2, 3, 1], generator=ad.random.Generator(0))


def nan_inputs():
    return ad.tensor([[NAN, 1.0]])


def twice(out):
    out.backward()
    out.backward()


NonFinite = L.NonFiniteError
# (id, call, exception type, regex the message must match: the function's name and the problem)
TABLE = [
    # creation
    ("tensor-object", lambda: ad.tensor([object()]), TypeError, r"tensor: unsupported dtype object"),
    (
        "tensor-ragged",
        lambda: ad.tensor([[1, 2], [3]]),
        ValueError,
        r"tensor: .*not form a rectangular array",
    ),
    ("tensor-dtype", lambda: ad.tensor([1.0], dtype="complex512"), TypeError, r"unknown dtype 'complex512'"),
    ("tensor-device", lambda: ad.tensor([1.0], device="tpu"), ValueError, r"unknown device 'tpu'"),
    ("zeros-float", lambda: ad.zeros(2.5), TypeError, r"zeros: a shape is integers.*not 2\.5"),
    ("ones-float-size", lambda: ad.ones((2, 1.5)), TypeError, r"ones: sizes must be integers, got 1\.5"),
    ("ones-str", lambda: ad.ones("3"), TypeError, r"ones: sizes must be integers, got '3'"),
    ("zeros-negative", lambda: ad.zeros(-1), ValueError, r"zeros: sizes must be >= 0"),
    # shapes, axes, indexing
    (
        "matmul-shapes",
        lambda: x() @ ad.ones(4, 2),
        ValueError,
        r"matmul: shapes \(4, 3\) and \(4, 2\) do not align",
    ),
    ("matmul-0d", lambda: ad.matmul(ad.tensor(1.0), ad.ones(2)), ValueError, r"matmul: .*at least one axis"),
    ("reshape-size", lambda: ad.reshape(x(), (5, 3)), ValueError, r"reshape: cannot reshape .*\(4, 3\)"),
    ("reshape-two-minus-one", lambda: ad.reshape(x(), (-1, -1)), ValueError, r"reshape: only one -1"),
    ("reshape-float", lambda: ad.reshape(x(), (2.0, 6)), TypeError, r"reshape: sizes must be integers"),
    (
        "transpose",
        lambda: ad.transpose(x(), (0, 0)),
        ValueError,
        r"transpose: axes \(0, 0\) are not a permutation",
    ),
    ("getitem-bounds", lambda: x()[10], IndexError, r"getitem: index 10 is out of bounds"),
    ("getitem-float", lambda: x()[1.5], IndexError, r"getitem: unsupported index 1\.5"),
    (
        "getitem-float-array",
        lambda: x()[ad.tensor([0.5])],
        IndexError,
        r"getitem: index arrays must be integers",
    ),
    ("getitem-too-many", lambda: x()[0, 0, 0], IndexError, r"getitem: too many indices \(3\)"),
    ("sum-axis-float", lambda: ad.sum(x(), axis=1.0), TypeError, r"sum: axis must be an int.*not 1\.0"),
    ("sum-axis-range", lambda: ad.sum(x(), axis=2), ValueError, r"sum: axis 2 is out of range .* 2 axes"),
    ("sum-axis-repeated", lambda: ad.sum(x(), axis=(0, 0)), ValueError, r"sum: repeated axis"),
    ("mean-0d-axis", lambda: ad.mean(ad.tensor(1.0), axis=0), ValueError, r"mean: axis 0 .* 0 axes"),
    ("softmax-0d-axis", lambda: ad.softmax(ad.tensor(1.0), axis=0), ValueError, r"softmax: axis 0 .* 0 axes"),
    (
        "cross-entropy-label-range",
        lambda: ad.softmax_cross_entropy(x(), [0, 3, 1, 2]),
        ValueError,
        r"softmax_cross_entropy: label 3 at position 1 is outside \[0, 3\)",
    ),
    (
        "cross-entropy-float-labels",
        lambda: ad.softmax_cross_entropy(x(), [0.0, 1.0, 2.0, 0.0]),
        ValueError,
        r"softmax_cross_entropy: expected logits \(\.\.\., C\) and integer labels .* float64 \(4,\)",
    ),
    (
        "cross-entropy-string-labels",
        lambda: ad.softmax_cross_entropy(x(), ["a", "b", "c", "d"]),
        TypeError,
        r"softmax_cross_entropy: logits and labels must be arrays of numbers",
    ),
    (
        "cross-entropy-no-class",
        lambda: ad.softmax_cross_entropy(ad.zeros(0, 0), ad.zeros(0, dtype="int64")),
        ValueError,
        r"softmax_cross_entropy: logits \(0, 0\) have no class along the last axis",
    ),
    (
        "cross-entropy-label-shape",
        lambda: ad.softmax_cross_entropy(x(), [0, 1, 2]),
        ValueError,
        r"softmax_cross_entropy: .* logits \(4, 3\) and labels int64 \(3,\)",
    ),
    (
        "log-softmax-0d",
        lambda: ad.log_softmax(ad.tensor(1.0), 0),
        ValueError,
        r"log_softmax: axis 0 .* 0 axes",
    ),
    ("logsumexp-0d-axis", lambda: ad.logsumexp(ad.tensor(1.0), axis=0), ValueError, r"logsumexp: axis 0"),
    ("split-zero", lambda: ad.split(x(), 0), ValueError, r"split: the number of sections must be at least 1"),
    ("split-uneven", lambda: ad.split(x(), 3), ValueError, r"split: axis of length 4 does not split into 3"),
    ("concatenate-none", lambda: ad.concatenate([]), ValueError, r"concatenate: need at least one tensor"),
    ("concatenate-shapes", lambda: ad.concatenate([x(), ad.ones(4, 2)]), ValueError, r"concatenate: shapes"),
    ("clip-str", lambda: ad.clip(x(), "a", 1.0), TypeError, r"clip: bounds must be numbers, tensors or None"),
    # devices
    (
        "devices-add",
        lambda: ad.ones(2, device="cpu") + ad.ones(2, device="strict"),
        ValueError,
        r"add: arguments live on different devices",
    ),
    (
        "devices-matmul",
        lambda: ad.ones(2, 2, device="cpu") @ ad.ones(2, device="strict"),
        ValueError,
        r"matmul: arguments live on different devices",
    ),
    # derivatives
    ("grad-vector", lambda: ad.grad(lambda v: v * 2)(ad.ones(3)), TypeError, r"grad: .*must return a scalar"),
    ("grad-int", lambda: ad.grad(square)(ad.tensor([1, 2])), TypeError, r"grad: .*dtype int64"),
    ("grad-argnums", lambda: ad.grad(square, argnums=3)(ad.ones(3)), ValueError, r"argnums 3 out of range"),
    (
        "jacrev-list",
        lambda: ad.jacrev(lambda v: [v, v])(ad.ones(3)),
        TypeError,
        r"jacrev: .*one Tensor, got list",
    ),
    (
        "jacfwd-list",
        lambda: ad.jacfwd(lambda v: [v, v])(ad.ones(3)),
        TypeError,
        r"jacfwd: .*one Tensor, got list",
    ),
    (
        "jacfwd-dict",
        lambda: ad.jacfwd(lambda v: {"v": v})(ad.ones(3)),
        TypeError,
        r"jacfwd: .*one Tensor, got dict",
    ),
    ("hessian-mode", lambda: ad.hessian(square, mode="x")(ad.ones(3)), ValueError, r"hessian: mode must be"),
    (
        "vmap-sizes",
        lambda: ad.vmap(lambda a, b: a + b)(ad.ones(3), ad.ones(4)),
        ValueError,
        r"vmap: mapped axes must .*agree in size",
    ),
    (
        "backward-vector",
        lambda: (ad.ones(3, requires_grad=True) * 2).backward(),
        RuntimeError,
        r"backward: the output has shape \(3,\), not a scalar",
    ),
    (
        "backward-no-graph",
        lambda: ad.ones(3).sum().backward(),
        RuntimeError,
        r"backward: .*does not require grad",
    ),
    (
        "backward-twice",
        lambda: twice((ad.ones(3, requires_grad=True) * 2).sum()),
        RuntimeError,
        r"backward through 'sum' .*a second time",
    ),
    ("inplace-leaf", lambda: ad.ones(3, requires_grad=True).add_(1), RuntimeError, r"add_: in-place .* leaf"),
    # nn layers
    ("Linear-list", lambda: nn.Linear([3], 4), TypeError, r"Linear: in_features must be a non-negative int"),
    (
        "Linear-float",
        lambda: nn.Linear(3, 4.5),
        TypeError,
        r"Linear: out_features must be a non-negative int",
    ),
    (
        "Linear-input",
        lambda: nn.Linear(3, 4)(ad.ones(2, 5)),
        ValueError,
        r"linear: the input has shape \(2, 5\)",
    ),
    ("Linear-list-input", lambda: nn.Linear(3, 4)([1.0, 2.0, 3.0]), TypeError, r"linear: .*must be a Tensor"),
    (
        "Conv2d-3d",
        lambda: nn.Conv2d(1, 2, 3)(ad.ones(2, 8, 8)),
        ValueError,
        r"conv2d: expected an input \(N, C",
    ),
    (
        "Conv2d-channels",
        lambda: nn.Conv2d(1, 2, 3)(ad.ones(2, 3, 8, 8)),
        ValueError,
        r"conv2d: input has 3 chan",
    ),
    ("Conv2d-kernel", lambda: nn.Conv2d(1, 2, 0), ValueError, r"Conv2d: kernel_size must be"),
    ("Conv2d-channels-type", lambda: nn.Conv2d(1.5, 2, 3), TypeError, r"Conv2d: in_channels must be"),
    ("MaxPool2d-2d", lambda: nn.MaxPool2d(2)(ad.ones(8, 8)), ValueError, r"max_pool2d: expected an input"),
    (
        "BatchNorm1d",
        lambda: nn.BatchNorm1d(3)(ad.ones(4, 5)),
        ValueError,
        r"BatchNorm1d\(3\): expected an input",
    ),
    ("Dropout-p", lambda: nn.Dropout(1.5), ValueError, r"Dropout: p must be in \[0, 1\)"),
    # losses (issue 11, item 2: labels outside [0, C))
    (
        "cross_entropy-label-3",
        lambda: F.cross_entropy(x(), ad.tensor([0, 1, 3, 0])),
        ValueError,
        r"cross_entropy: label 3 at position 2 is outside \[0, 3\) .*C = 3",
    ),
    (
        "cross_entropy-label--1",
        lambda: F.cross_entropy(x(), ad.tensor([0, -1, 2, 0])),
        ValueError,
        r"cross_entropy: label -1 at position 1 is outside \[0, 3\)",
    ),
    (
        "nll_loss-label",
        lambda: F.nll_loss(x(), ad.tensor([0, 1, 2, 7])),
        ValueError,
        r"nll_loss: label 7 at position 3 is outside \[0, 3\)",
    ),
    (
        "accuracy-label",
        lambda: F.accuracy(x(), ad.tensor([0, 1, 2, 3])),
        ValueError,
        r"accuracy: label 3 at position 3 is outside \[0, 3\)",
    ),
    (
        "accuracy-list-label",
        lambda: F.accuracy(x(), [0, 1, 2, -1]),
        ValueError,
        r"accuracy: label -1 at position 3",
    ),
    (
        "cross_entropy-float",
        lambda: F.cross_entropy(x(), ad.tensor([0.0, 1, 2, 0])),
        TypeError,
        r"cross_entropy: class indices must be integers, got dtype float64",
    ),
    (
        "cross_entropy-shape",
        lambda: F.cross_entropy(x(), ad.tensor([0, 1])),
        ValueError,
        r"cross_entropy: class-index targets must have shape \(4,\)",
    ),
    (
        "cross_entropy-1d-scores",
        lambda: F.cross_entropy(ad.ones(3), ad.tensor([0])),
        ValueError,
        r"cross_entropy: expected scores of shape \(N, C\)",
    ),
    (
        "cross_entropy-str",
        lambda: F.cross_entropy(x(), "abc"),
        TypeError,
        r"cross_entropy: target must be a Tensor",
    ),
    ("mse_loss-shape", lambda: F.mse_loss(x(), ad.ones(3)), ValueError, r"mse_loss: input shape \(4, 3\)"),
    (
        "bce-shape",
        lambda: F.binary_cross_entropy_with_logits(x(), ad.ones(3)),
        ValueError,
        r"binary_cross_entropy_with_logits: logits shape",
    ),
    ("reduction", lambda: F.mse_loss(x(), x(), reduction="avg"), ValueError, r"mse_loss: reduction must be"),
    # optimisers, data, training
    ("SGD-lr-negative", lambda: sgd(-1), ValueError, r"SGD: lr must be >= 0 and finite, got -1"),
    ("SGD-lr-nan", lambda: sgd(NAN), ValueError, r"SGD: lr must be >= 0 and finite, got nan"),
    (
        "Adam-lr-inf",
        lambda: nn.optim.Adam(nn.Linear(2, 2).parameters(), lr=math.inf),
        ValueError,
        r"Adam: lr must be >= 0 and finite, got inf",
    ),
    (
        "Adam-betas",
        lambda: nn.optim.Adam(nn.Linear(2, 2).parameters(), betas=(1.0, 0.9)),
        ValueError,
        r"Adam: betas must be in \[0, 1\)",
    ),
    ("SGD-empty", lambda: nn.optim.SGD([], lr=0.1), ValueError, r"SGD: got an empty list of parameters"),
    ("SGD-momentum", lambda: sgd(momentum=-1), ValueError, r"SGD: momentum must be >= 0"),
    (
        "DataLoader-batch",
        lambda: DataLoader(TensorDataset(ad.ones(4, 2), ad.ones(4)), batch_size=0),
        ValueError,
        r"DataLoader: batch_size must be >= 1",
    ),
    (
        "TensorDataset-lengths",
        lambda: TensorDataset(ad.ones(4, 2), ad.ones(3)),
        ValueError,
        r"TensorDataset: tensors must have the same length",
    ),
    (
        "fit-epochs",
        lambda: nn.fit(nn.Linear(2, 1), F.mse_loss, sgd(), [], epochs=-1, progress=False),
        ValueError,
        r"fit: epochs must be a non-negative int, got -1",
    ),
    # landscape (issue 11, item 9: NaN and inf refused, naming the routine)
    (
        "classify-nan-theta",
        lambda: L.classify(square, ad.tensor([NAN, 1.0])),
        NonFinite,
        r"classify: theta is not finite",
    ),
    (
        "classify-nan-f",
        lambda: L.classify(nan_square, ad.ones(2)),
        NonFinite,
        r"classify: f \(= nan\) is not fin",
    ),
    (
        "classify-nan-gradient",
        lambda: L.classify(lambda v: ad.sum(ad.sqrt(ad.abs(v))), ad.zeros(2)),
        NonFinite,
        r"classify: the gradient .* is not finite",
    ),
    ("classify-empty", lambda: L.classify(square, ad.zeros(0)), ValueError, r"classify: theta is empty"),
    (
        "classify-2d",
        lambda: L.classify(square, ad.ones(2, 2)),
        ValueError,
        r"classify: theta must be a flat 1-D",
    ),
    (
        "classify-int",
        lambda: L.classify(square, ad.tensor([1, 2])),
        TypeError,
        r"classify: theta has dtype int64",
    ),
    (
        "find_critical_point-nan",
        lambda: L.find_critical_point(nan_square, ad.ones(2)),
        NonFinite,
        r"find_critical_point: f at theta0 \(= nan\) is not finite",
    ),
    (
        "find_critical_point-max_iter",
        lambda: L.find_critical_point(square, ad.ones(2), max_iter=-1),
        ValueError,
        r"find_critical_point: max_iter must be an int >= 0",
    ),
    (
        "find_critical_point-method",
        lambda: L.find_critical_point(square, ad.ones(2), method="bfgs"),
        ValueError,
        r"find_critical_point: method must be one of",
    ),
    (
        "hessian-nan",
        lambda: L.hessian(nan_square, ad.ones(2)),
        NonFinite,
        r"hessian: the Hessian is not finite",
    ),
    (
        "hessian-inf-theta",
        lambda: L.hessian(square, ad.tensor([math.inf, 1.0])),
        NonFinite,
        r"hessian: theta is not",
    ),
    (
        "hvp-nan-v",
        lambda: L.hvp(square, ad.ones(2), ad.tensor([NAN, 1.0])),
        NonFinite,
        r"hvp: v is not finite",
    ),
    (
        "hvp-shape",
        lambda: L.hvp(square, ad.ones(2), ad.ones(3)),
        ValueError,
        r"hvp: v must have shape \(2,\)",
    ),
    (
        "hessian_eigs-nan",
        lambda: L.hessian_eigs(nan_square, ad.ones(3), k=1),
        NonFinite,
        r"hessian_eigs: the Hessian-vector product of Lanczos step 1 is not finite",
    ),
    (
        "hessian_eigs-k",
        lambda: L.hessian_eigs(square, ad.ones(3), k=0),
        ValueError,
        r"hessian_eigs: k must be",
    ),
    (
        "hessian_trace-nan",
        lambda: L.hessian_trace(nan_square, ad.ones(3), n_probes=6),
        NonFinite,
        r"hessian_trace: a Hessian-vector product is not finite",
    ),
    (
        "hessian_trace-hutchinson-nan",
        lambda: L.hessian_trace(nan_square, ad.ones(3), 4, "hutchinson"),
        NonFinite,
        r"hessian_trace: a quadratic form .* is not finite",
    ),
    (
        "spectral_density-nan",
        lambda: L.spectral_density(nan_square, ad.ones(3), n_probes=1, steps=2),
        NonFinite,
        r"spectral_density: the Hessian-vector product .* is not finite",
    ),
    (
        "functional_dimension-nan-X",
        lambda: L.functional_dimension(mlp(), nan_inputs()),
        NonFinite,
        r"functional_dimension: X is not finite",
    ),
    (
        "functional_dimension-gram-nan",
        lambda: L.functional_dimension(mlp(), nan_inputs(), method="gram"),
        NonFinite,
        r"functional_dimension: X is not finite",
    ),
    (
        "functional_dimension-empty",
        lambda: L.functional_dimension(mlp(), ad.zeros(0, 2)),
        ValueError,
        r"functional_dimension: X must hold at least one example",
    ),
    (
        "param_jacobian-nan-theta",
        lambda: L.param_jacobian(mlp(), ad.ones(2, 2), theta=ad.full((13,), NAN)),
        NonFinite,
        r"param_jacobian: theta \(the parameters\) is not finite",
    ),
    ("ntk-nan", lambda: L.ntk(mlp(), nan_inputs()), NonFinite, r"ntk: X is not finite"),
    (
        "pl_constant-function",
        lambda: L.pl_constant(square, ad.ones(3)),
        TypeError,
        r"pl_constant: expected a model with named_parameters\(\).*got function",
    ),
    (
        "pl_constant-nan",
        lambda: L.pl_constant(mlp(), nan_inputs()),
        NonFinite,
        r"pl_constant: ntk: X is not finite",
    ),
    ("pl_ratio-nan", lambda: L.pl_ratio(nan_square, ad.ones(2)), NonFinite, r"pl_ratio: f is not finite"),
    (
        "ParamSpace-None",
        lambda: L.ParamSpace(None),
        TypeError,
        r"ParamSpace: expected a model .*got NoneType",
    ),
    (
        "ParamSpace-shape",
        lambda: L.ParamSpace(nn.Linear(2, 2)).unflatten(ad.ones(5)),
        ValueError,
        r"ParamSpace.unflatten: theta must have shape \(6,\)",
    ),
    (
        "activation_patterns-nan",
        lambda: L.relu.activation_patterns(mlp(), nan_inputs()),
        NonFinite,
        r"activation_patterns: X is not finite",
    ),
    # autodiff.linalg
    (
        "linalg.inv-shape",
        lambda: ad.linalg.inv(ad.ones(2, 3)),
        ValueError,
        r"linalg.inv: .*square .*\(2, 3\)",
    ),
    (
        "linalg.svd-vector",
        lambda: ad.linalg.svd(ad.ones(3)),
        ValueError,
        r"linalg.svd: expected a stack of matrices",
    ),
    (
        "linalg.solve-b",
        lambda: ad.linalg.solve(ad.eye(3), ad.ones(2)),
        ValueError,
        r"linalg.solve: b must be",
    ),
    (
        "linalg.eigh-UPLO",
        lambda: ad.linalg.eigh(ad.eye(2), UPLO="X"),
        ValueError,
        r"linalg.eigh: UPLO must be",
    ),
    ("linalg.qr-mode", lambda: ad.linalg.qr(ad.eye(2), mode="raw"), ValueError, r"linalg.qr: mode must be"),
    (
        "linalg.norm-ord",
        lambda: ad.linalg.norm(ad.ones(3), "nuc"),
        ValueError,
        r"linalg.norm: ord='nuc' is not",
    ),
    (
        "linalg.norm-matrix-ord",
        lambda: ad.linalg.norm(ad.eye(3), 3),
        ValueError,
        r"linalg.norm: ord=3 is not",
    ),
    (
        "linalg.norm-ndim",
        lambda: ad.linalg.norm(ad.ones(2, 2, 2), 2),
        ValueError,
        r"linalg.norm: .*1-D or 2-D",
    ),
    (
        "linalg.matrix_power-float",
        lambda: ad.linalg.matrix_power(ad.eye(2), 1.5),
        TypeError,
        r"linalg.matrix_power: the exponent must be an integer",
    ),
    (
        "linalg.inv-singular",
        lambda: ad.linalg.inv(ad.zeros(2, 2)),
        ad.linalg.LinAlgError,
        r"linalg.inv: the matrix is singular",
    ),
    (
        "linalg.cholesky-indefinite",
        lambda: ad.linalg.cholesky(-ad.eye(2)),
        ad.linalg.LinAlgError,
        r"linalg.cholesky: the matrix is not positive definite",
    ),
    # programs (issue 13)
    ("trace-not-callable", lambda: ad.trace(3, x()), TypeError, r"trace: f must be callable, got int"),
    ("compile-pass", lambda: ad.compile(square, passes=("loop",)), ValueError, r"compile: unknown passes"),
    ("compile-cache", lambda: ad.compile(square, cache_size=0), ValueError, r"compile: cache_size must be"),
    (
        "compile-unhashable-static",
        lambda: ad.compile(lambda v, k: v * k[0])(x(), [2.0]),
        TypeError,
        r"compile: argument 1 \(list\) is static .*must be hashable",
    ),
    (
        "program-shape",
        lambda: ad.trace(square, x())(ad.ones(3)),
        ValueError,
        r"square: argument %0 has \(3,\) float64, but the program was traced for \(4, 3\)",
    ),
    (
        "CompiledStep-model",
        lambda: nn.CompiledStep(square, F.mse_loss),
        TypeError,
        r"CompiledStep: model must be an nn.Module, got function",
    ),
]


def test_non_finite_error_is_a_value_error():
    assert issubclass(L.NonFiniteError, ValueError)


@pytest.mark.parametrize("call, kind, pattern", [row[1:] for row in TABLE], ids=[row[0] for row in TABLE])
def test_error_table(call, kind, pattern):
    with pytest.raises(kind, match=pattern) as caught:
        call()
    assert type(caught.value) is kind or kind is ValueError and type(caught.value) is L.NonFiniteError


def test_edge_inputs_get_numpys_answer(device):
    """Issue 11: empty axes, a 0-d tensor, x[[]], tensor bounds of clip, list targets, empty
    Jacobians: an answer (NumPy's or PyTorch's), not a raw NumPy error."""
    wide = ad.zeros(3, 0, requires_grad=True)
    assert ad.softmax(wide, axis=-1).shape == (3, 0)
    lse = ad.logsumexp(wide, axis=-1)
    assert lse.shape == (3,) and np.all(lse.numpy() == -np.inf)  # log of an empty sum
    lse.sum().backward()
    assert wide.grad.shape == (3, 0)
    assert ad.softmax(ad.zeros(0, 3), axis=-1).shape == (0, 3)
    with np.errstate(invalid="ignore"):  # NumPy: the mean of nothing is nan (0 / 0)
        assert np.all(np.isnan(ad.mean(ad.zeros(3, 0), axis=-1).numpy()))
    assert ad.sum(ad.tensor(2.0), axis=None).item() == 2.0
    t = x()
    assert t[[]].shape == (0, 3) and t[:, []].shape == (4, 0)
    assert F.cross_entropy(t, [0, 1, 2, 0]).item() == pytest.approx(
        F.cross_entropy(t, ad.tensor([0, 1, 2, 0])).item()
    )
    assert ad.hessian(square)(ad.zeros(0)).shape == (0, 0)
    assert ad.hessian(square, mode="rev-rev")(ad.zeros(0)).shape == (0, 0)
    assert ad.jacrev(lambda v: v * 2)(ad.zeros(0)).shape == (0, 0)
    for jacobian in (ad.jacrev, ad.jacfwd):  # a constant Python number: a zero Jacobian
        assert jacobian(lambda v: 3.0)(ad.ones(2)).numpy().tolist() == [0.0, 0.0]


def test_clip_with_tensor_bounds_follows_pytorchs_clamp(device):
    z = ad.tensor([-2.0, 0.0, 0.5, 3.0], requires_grad=True)
    low = ad.tensor([-1.0, 0.0, 0.0, 0.0], requires_grad=True)
    high = ad.tensor([1.0, 1.0, 1.0, 2.0], requires_grad=True)
    out = ad.clip(z, low, high)
    np.testing.assert_array_equal(out.numpy(), [-1.0, 0.0, 0.5, 2.0])
    out.backward(ad.tensor([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(z.grad.numpy(), [0.0, 2.0, 3.0, 0.0])  # boundaries included
    np.testing.assert_array_equal(low.grad.numpy(), [1.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(high.grad.numpy(), [0.0, 0.0, 0.0, 4.0])
    np.testing.assert_array_equal(ad.clip(z, None, ad.tensor(0.0)).numpy(), [-2.0, 0.0, 0.0, 0.0])
