"""PyTorch's spellings accepted by the engine: ``dim=`` / ``keepdim=`` wherever ``axis=`` /
``keepdims=`` are, ``ad.cat``, ``ad.manual_seed`` and the tensor methods ``view``, ``clone``,
``float`` and ``double``."""

import numpy as np
import pytest

import autodiff as ad

X = np.arange(24.0).reshape(2, 3, 4) / 7


@pytest.mark.parametrize("name", ["sum", "mean", "var", "std", "max", "min", "prod", "logsumexp", "norm"])
def test_reductions_take_dim_and_keepdim(name):
    x = ad.tensor(X)
    want = getattr(ad, name)(x, axis=1, keepdims=True).numpy()
    np.testing.assert_array_equal(getattr(ad, name)(x, dim=1, keepdim=True).numpy(), want)
    np.testing.assert_array_equal(getattr(x, name)(dim=1, keepdim=True).numpy(), want)


def test_other_functions_take_dim():
    x = ad.tensor(X)
    np.testing.assert_array_equal(ad.softmax(x, dim=0).numpy(), ad.softmax(x, axis=0).numpy())
    np.testing.assert_array_equal(ad.argmax(x, dim=2).numpy(), X.argmax(axis=2))
    np.testing.assert_array_equal(ad.cat([x, x], dim=1).numpy(), np.concatenate([X, X], axis=1))
    assert ad.stack([x, x], dim=-1).shape == (2, 3, 4, 2)
    assert ad.squeeze(ad.sum(x, dim=(1, 2), keepdim=True), dim=2).shape == (2, 1)
    with pytest.raises(TypeError, match="sum: give axis= or its alias dim=, not both"):
        ad.sum(x, axis=0, dim=0)


def test_tensor_conveniences():
    x = ad.tensor(X, requires_grad=True)
    assert x.view(6, 4).shape == (6, 4) and x.view(-1).shape == (24,)
    y = x.clone()
    assert y.data is not x.data and y.requires_grad
    np.testing.assert_array_equal(y.numpy(), X)
    ad.sum(y * 3).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full(X.shape, 3.0))
    assert x.float().dtype == np.float32 and x.float().double().dtype == np.float64


def test_manual_seed_resets_the_default_generator():
    ad.manual_seed(5)
    first = ad.randn(3).numpy()
    ad.manual_seed(5)
    np.testing.assert_array_equal(ad.randn(3).numpy(), first)
    ad.manual_seed(0)
