"""im2col / col2im (unfold / fold): exact values, adjointness, first- and second-order gradient
checks by reverse and forward mode, batch polymorphism, and argument errors."""

import numpy as np
import pytest

import autodiff as ad
from autodiff.ops.conv import im2col


def make(shape, seed=0):
    return ad.tensor(np.random.default_rng(seed).standard_normal(shape))


def test_unfold_known_values():
    x = ad.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # [[1,2,3],[4,5,6],[7,8,9]]
    cols = ad.unfold(x, 2)
    # columns are the 4 patches (top-left, top-right, bottom-left, bottom-right), rows the offsets
    expected = [[1, 2, 4, 5], [2, 3, 5, 6], [4, 5, 7, 8], [5, 6, 8, 9]]
    np.testing.assert_array_equal(cols.numpy()[0], expected)


def test_fold_counts_overlaps():
    ones = ad.ones(1, 4, 4)  # kernel 2x2 on a 3x3 image, stride 1: 4 patches
    counts = ad.fold(ones, (3, 3), 2)
    np.testing.assert_array_equal(counts.numpy()[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


@pytest.mark.parametrize("kernel,stride,padding", [(2, 1, 0), (3, 2, 1), ((2, 3), (1, 2), (1, 0))])
def test_fold_is_adjoint_of_unfold(kernel, stride, padding):
    x = make((2, 3, 5, 6))
    cols = ad.unfold(x, kernel, stride, padding)
    c = make(cols.shape, seed=1)
    lhs = ad.sum(cols * c).item()
    rhs = ad.sum(x * ad.fold(c, (5, 6), kernel, stride, padding)).item()
    assert lhs == pytest.approx(rhs, rel=1e-12)


@pytest.mark.parametrize("kernel,stride,padding", [(2, 1, 0), (2, 2, 1), ((3, 2), (2, 1), (1, 0))])
def test_unfold_gradchecks(kernel, stride, padding):
    f = lambda x: ad.unfold(x, kernel, stride, padding) ** 2  # noqa: E731 (squared: second order is non-trivial)
    x = make((1, 2, 4, 5))
    assert ad.gradcheck(f, [x])
    assert ad.gradgradcheck(f, [x])


def test_fold_gradchecks():
    f = lambda c: ad.fold(c, (4, 4), 2, 2, 1) ** 2  # noqa: E731
    c = make((1, 8, 9))
    assert ad.gradcheck(f, [c])
    assert ad.gradgradcheck(f, [c])


def test_primitives_are_batch_polymorphic():
    """A batch of cotangents through im2col's VJP equals one VJP per cotangent."""
    x = make((2, 5, 5)).requires_grad_()
    cols = im2col(x, kernel=(2, 2), stride=(1, 2))
    seeds = make((3,) + cols.shape, seed=2)
    (batched,) = ad.gradients(cols, [x], seeds, batched=True, retain_graph=True)
    for k in range(3):
        (single,) = ad.gradients(cols, [x], seeds[k], retain_graph=True)
        np.testing.assert_allclose(batched.numpy()[k], single.numpy(), rtol=1e-12)


def test_jacfwd_equals_jacrev():
    f = lambda x: ad.sin(ad.unfold(x, 2, 1, 1))  # noqa: E731
    x = make((1, 1, 3, 3))
    np.testing.assert_allclose(ad.jacfwd(f)(x).numpy(), ad.jacrev(f)(x).numpy(), atol=1e-12)


@pytest.mark.cpu_only
def test_matches_torch():
    torch = pytest.importorskip("torch")
    x = make((2, 3, 7, 6))
    for kernel, stride, padding in [(3, 1, 1), ((2, 3), (2, 1), (0, 1))]:
        cols = ad.unfold(x, kernel, stride, padding)
        ref = torch.nn.functional.unfold(torch.tensor(x.numpy()), kernel, padding=padding, stride=stride)
        np.testing.assert_array_equal(cols.numpy(), ref.numpy())
        back = ad.fold(cols, (7, 6), kernel, stride, padding)
        ref_back = torch.nn.functional.fold(ref, (7, 6), kernel, padding=padding, stride=stride)
        np.testing.assert_allclose(back.numpy(), ref_back.numpy(), rtol=1e-14)


def test_errors_name_the_operation():
    x = make((1, 1, 3, 3))
    with pytest.raises(ValueError, match="unfold: kernel \\(4, 4\\) is larger than the padded input"):
        ad.unfold(x, 4)
    with pytest.raises(ValueError, match="unfold: stride must be an int >= 1"):
        ad.unfold(x, 2, stride=0)
    with pytest.raises(ValueError, match="unfold: expected an input"):
        ad.unfold(make((3, 3)), 2)
    with pytest.raises(ValueError, match="fold: columns of shape"):
        ad.fold(make((1, 4, 5)), (3, 3), 2)
