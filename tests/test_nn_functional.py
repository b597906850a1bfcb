"""Losses and functions: exact values, stability at extreme logits, the cross-entropy Hessian
diag(p) - p p^T, gradient checks, reductions and errors."""

import numpy as np
import pytest

import autodiff as ad
from nn import functional as F


def make(shape, seed=0):
    return ad.tensor(np.random.default_rng(seed).standard_normal(shape))


LABELS = [2, 0, 1, 2]


def labels():
    return ad.tensor(LABELS)


def test_cross_entropy_value():
    z = make((4, 3))
    zn = z.numpy()
    expected = np.log(np.exp(zn).sum(1)) - zn[np.arange(4), LABELS]
    np.testing.assert_allclose(F.cross_entropy(z, labels(), reduction="none").numpy(), expected, rtol=1e-12)
    assert F.cross_entropy(z, labels()).item() == pytest.approx(expected.mean(), rel=1e-12)
    assert F.cross_entropy(z, labels(), reduction="sum").item() == pytest.approx(expected.sum(), rel=1e-12)


def test_cross_entropy_is_stable_at_huge_logits():
    z = ad.tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]], requires_grad=True)
    loss = F.cross_entropy(z, ad.tensor([1, 2]))
    loss.backward()
    assert np.isfinite(loss.item()) and loss.item() == pytest.approx(1e4)  # (2e4 + 0) / 2
    assert np.all(np.isfinite(z.grad.numpy()))
    np.testing.assert_allclose(z.grad.numpy(), [[0.5, -0.5, 0.0], [0.0, 0.0, 0.0]], atol=1e-12)


def test_cross_entropy_hessian_is_diag_p_minus_ppT():
    z = make((5,), seed=2)
    target = ad.tensor([3])
    hess = ad.hessian(lambda z: F.cross_entropy(ad.reshape(z, (1, 5)), target))(z).numpy()
    p = np.exp(z.numpy()) / np.exp(z.numpy()).sum()
    np.testing.assert_allclose(hess, np.diag(p) - np.outer(p, p), atol=1e-12)
    rev = ad.hessian(lambda z: F.cross_entropy(ad.reshape(z, (1, 5)), target), mode="rev-rev")(z).numpy()
    np.testing.assert_allclose(rev, hess, atol=1e-12)


def test_soft_targets_and_nll():
    z = make((4, 3))
    onehot = ad.tensor(np.eye(3)[LABELS])
    np.testing.assert_allclose(
        F.cross_entropy(z, onehot).item(), F.cross_entropy(z, labels()).item(), rtol=1e-12
    )
    np.testing.assert_allclose(
        F.nll_loss(F.log_softmax(z), labels()).item(), F.cross_entropy(z, labels()).item(), rtol=1e-12
    )


def test_other_losses():
    x, y = make((3, 2)), make((3, 2), seed=1)
    assert F.mse_loss(x, y).item() == pytest.approx(((x.numpy() - y.numpy()) ** 2).mean(), rel=1e-12)
    z = ad.tensor([-800.0, 0.0, 3.0, 800.0])
    t = ad.tensor([1.0, 0.5, 0.0, 1.0])
    expected = [800.0, np.log(2), np.log1p(np.exp(3.0)), 0.0]
    np.testing.assert_allclose(
        F.binary_cross_entropy_with_logits(z, t, reduction="none").numpy(), expected, rtol=1e-12, atol=1e-12
    )


LOSSES = {
    "cross_entropy": lambda z: F.cross_entropy(z, labels()),
    "cross_entropy_soft": lambda z: F.cross_entropy(
        z, ad.softmax(ad.tensor(np.arange(12.0).reshape(4, 3) / 5))
    ),
    "nll": lambda z: F.nll_loss(F.log_softmax(z), labels(), reduction="sum"),
    "mse": lambda z: F.mse_loss(z, ad.ones(4, 3)),
    "bce": lambda z: F.binary_cross_entropy_with_logits(z, ad.full((4, 3), 0.3)),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_gradchecks(name):
    assert ad.gradcheck(LOSSES[name], [make((4, 3))])
    assert ad.gradgradcheck(LOSSES[name], [make((4, 3))])


@pytest.mark.cpu_only
def test_losses_match_torch():
    torch = pytest.importorskip("torch")
    z, y = make((6, 4)), ad.tensor([0, 3, 1, 1, 2, 0])
    tz, ty = torch.tensor(z.numpy()), torch.tensor(y.numpy())
    tf = torch.nn.functional
    assert F.cross_entropy(z, y).item() == pytest.approx(tf.cross_entropy(tz, ty).item(), rel=1e-14)
    t = ad.rand(6, 4, seed=0)
    bce = tf.binary_cross_entropy_with_logits(tz, torch.tensor(t.numpy())).item()
    assert F.binary_cross_entropy_with_logits(z, t).item() == pytest.approx(bce, rel=1e-14)


def test_accuracy_and_one_hot():
    scores = ad.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert F.accuracy(scores, ad.tensor([1, 0, 0])).item() == pytest.approx(2 / 3)
    np.testing.assert_array_equal(F.one_hot(ad.tensor([2, 0]), 3).numpy(), [[0, 0, 1], [1, 0, 0]])


def test_errors():
    z = make((4, 3))
    with pytest.raises(ValueError, match="cross_entropy: class-index targets must have shape \\(4,\\)"):
        F.cross_entropy(z, ad.tensor([0, 1]))
    with pytest.raises(ValueError, match="reduction must be"):
        F.cross_entropy(z, labels(), reduction="avg")
    with pytest.raises(TypeError, match="class indices must be integers"):
        F.cross_entropy(z, ad.tensor([0.0, 1.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match="mse_loss: input shape"):
        F.mse_loss(z, ad.ones(3))
    with pytest.raises(ValueError, match="dropout: p must be in"):
        F.dropout(z, 1.0)
