"""Real GPU tests: run when CuPy sees a GPU, skipped otherwise (CI has none; the strict device
stands in for it there)."""

import numpy as np
import pytest

import autodiff as ad

cupy = pytest.importorskip("cupy")
if "cuda" not in ad.devices():
    pytest.skip("no usable GPU", allow_module_level=True)


@pytest.mark.cpu_only
def test_gradients_on_the_gpu_match_the_cpu():
    x_cpu = ad.randn(64, 32, seed=0, requires_grad=True)
    w_cpu = ad.randn(32, 8, seed=1, requires_grad=True)
    x_gpu = ad.tensor(x_cpu.numpy(), device="cuda", requires_grad=True)
    w_gpu = ad.tensor(w_cpu.numpy(), device="cuda", requires_grad=True)
    for x, w in ((x_cpu, w_cpu), (x_gpu, w_gpu)):
        ad.logsumexp(ad.tanh(x @ w), axis=1).mean().backward()
    assert isinstance(w_gpu.grad.data, cupy.ndarray)
    np.testing.assert_allclose(w_gpu.grad.numpy(), w_cpu.grad.numpy(), atol=1e-12)


@pytest.mark.cpu_only
def test_hessian_and_jacobian_on_the_gpu():
    f = lambda v: (ad.sin(v) ** 2).sum() * v[0]  # noqa: E731
    v = ad.randn(16, seed=2)
    h_cpu = ad.hessian(f)(v).numpy()
    h_gpu = ad.hessian(f)(v.to("cuda"))
    assert h_gpu.device == "cuda"
    np.testing.assert_allclose(h_gpu.numpy(), h_cpu, atol=1e-12)
    np.testing.assert_allclose(
        ad.jacrev(ad.tanh)(v.to("cuda")).numpy(), ad.jacrev(ad.tanh)(v).numpy(), atol=1e-14
    )


@pytest.mark.cpu_only
def test_mixing_devices_is_an_error():
    with pytest.raises(ValueError, match="different devices"):
        ad.ones(2, device="cuda") + ad.ones(2)
