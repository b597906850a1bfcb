"""Backends and devices: the strict device catches host round-trips; nothing moves implicitly."""

import builtins
import pathlib
import re

import numpy as np
import pytest

import autodiff as ad
from autodiff import backend
from autodiff.graph import sum_of
from autodiff.ops.batching import broadcasting
from autodiff.strict import StrictDeviceError

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.cpu_only
def test_strict_refuses_every_implicit_host_conversion():
    t = ad.tensor([1.0, 2.0], device="strict")
    with pytest.raises(StrictDeviceError, match="implicit conversion"):
        np.asarray(t.data)
    with pytest.raises(StrictDeviceError, match="np.sum"):
        np.sum(t.data)
    with pytest.raises(TypeError):
        np.exp(t.data)  # ufuncs refuse (NumPy raises for __array_ufunc__ = None)
    with pytest.raises(StrictDeviceError, match="mixed with device arrays"):
        t.data + np.ones(2)
    with pytest.raises(StrictDeviceError, match="host sync"):
        float(t.data[0])
    with pytest.raises(StrictDeviceError, match="host sync"):
        bool(t.data[0] > 0)
    # the explicit doors work
    assert t.numpy().tolist() == [1.0, 2.0] and t[1].item() == 2.0


SNEAKY = ad.Primitive(
    "sneaky_square",
    lambda xp, x: x * x,
    (lambda ns, g, out, x: g * 2 * np.asarray(x),),  # the planted host round-trip
    sum_of(lambda ns, t, out, x: t * 2 * x),
    batch=broadcasting,
)


@pytest.mark.cpu_only
def test_planted_host_call_in_a_rule_is_caught():
    """A derivative rule that sneaks device data through NumPy fails on the strict device."""
    sneaky = SNEAKY
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    sneaky(x).sum().backward()  # on the CPU, NumPy arrays are host arrays: fine
    assert x.grad.numpy().tolist() == [2.0, 4.0]
    y = ad.tensor([1.0, 2.0], device="strict", requires_grad=True)
    with pytest.raises(StrictDeviceError):
        sneaky(y).sum().backward()


def test_tensors_live_on_the_default_device(device):
    t = ad.randn(3, seed=0)
    assert t.device == device and ad.zeros(2).device == device and ad.arange(3).device == device
    assert (t * 2 + 1).device == device


@pytest.mark.cpu_only
def test_to_moves_explicitly_and_is_differentiable():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    y = x.to("strict")
    assert y.device == "strict" and x.to("cpu") is x
    (y * y).sum().backward()
    assert x.grad.device == "cpu" and x.grad.numpy().tolist() == [2.0, 4.0]
    with pytest.raises(ValueError, match="different devices"):
        x + y
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        ad.tensor(1.0, device="tpu")


@pytest.mark.cpu_only
def test_cuda_without_cupy_says_how_to_install(monkeypatch):
    real_import = builtins.__import__

    def no_cupy(name, *args, **kwargs):
        if name == "cupy":
            raise ImportError("No module named 'cupy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cupy)
    monkeypatch.setattr(backend.importlib, "import_module", lambda name: no_cupy(name))
    with pytest.raises(
        RuntimeError, match=r"needs CuPy.*pip install \"autodiff-landscape\[gpu\]\".*cupy-cuda12x"
    ):
        ad.tensor([1.0], device="cuda")
    assert "cuda" not in ad.devices() and ad.devices()[0] == "cpu"


def test_float32_and_float64_everywhere(device):
    for dtype in ("float32", "float64"):
        x = ad.randn(4, 3, seed=1, dtype=dtype, requires_grad=True)
        w = ad.randn(3, 2, seed=2, dtype=dtype)
        loss = ad.logsumexp(ad.tanh(x @ w), axis=1).mean()
        loss.backward()
        assert loss.dtype == dtype and x.grad.dtype == dtype and x.grad.device == device
        h = ad.hessian(lambda v: (ad.sin(v) ** 2).sum())(ad.randn(3, seed=3, dtype=dtype))
        assert h.dtype == dtype


# Modules that compute on tensor data must reach NumPy only through the backend.  These may
# use NumPy on *host* data by design, and say why:
HOST_MODULES = {
    "autodiff/backend.py": "the backend itself",
    "autodiff/strict.py": "the strict device wraps NumPy",
    "autodiff/check.py": "finite differences on explicit host copies (.numpy())",
    "autodiff/random.py": "draws on the host with a seeded NumPy generator, then copies explicitly",
    "nn/init.py": "draws on the host with a seeded generator (QR for orthogonal), then copies explicitly",
    "nn/io.py": "checkpoint files are host data, written from and read into explicit copies",
    "nn/data/synthetic.py": "makes data sets on the host, then copies them explicitly",
    "nn/data/real.py": "reads IDX files and scikit-learn data on the host",
    "landscape/linear.py": "the closed-form theory, on the problem's host matrices X and Y (float64)",
    "landscape/experiments.py": "seeded noise on host copies of data sets, counts and means for JSON reports",
    "landscape/saddle_escape.py": "host perturbations of the deep linear problem's points, escape statistics",
}
# Host-side post-processing: the heavy linear algebra (svd, eigvalsh, qr, Lanczos vectors) runs in
# the device namespace; small results (spectra, singular values, Ritz values, tridiagonal
# matrices) are copied to the host explicitly, where decisions and reports are made.
HOST_POST_PROCESSING = {
    "landscape/_core.py",
    "landscape/critical.py",
    "landscape/density.py",
    "landscape/jacobian.py",
    "landscape/lanczos.py",
    "landscape/paths.py",  # the t grid and the random t of training, results along the path
    "landscape/surfaces.py",  # grid coordinates, the grid of results, the plots
}
# NumPy names that are not array math: dtypes, constants, shape helpers.
ALLOWED = {
    "dtype", "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool_",
    "integer", "floating", "generic", "ndarray", "inf", "nan", "pi", "e", "newaxis",
    "broadcast_shapes", "iinfo", "finfo", "array2string",
}  # fmt: skip


@pytest.mark.cpu_only
def test_no_numpy_array_math_outside_the_backend():
    offenders = []
    for package in ("autodiff", "nn", "landscape"):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if (
                relative in HOST_MODULES
                or relative in HOST_POST_PROCESSING
                or relative.startswith("autodiff/viz/")
            ):
                continue
            text = path.read_text()
            for name in re.findall(r"\bnp\.([A-Za-z_][A-Za-z0-9_]*)", text):
                if name not in ALLOWED:
                    offenders.append(f"{relative}: np.{name}")
    assert not offenders, "array math outside the backend:\n" + "\n".join(sorted(set(offenders)))


@pytest.mark.cpu_only
def test_cuda_with_cupy_but_no_gpu_says_so(monkeypatch):
    import types

    class NoDriver:
        @staticmethod
        def getDeviceCount():
            raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    fake = types.SimpleNamespace(
        cuda=types.SimpleNamespace(runtime=NoDriver), ndarray=type("ndarray", (), {})
    )
    monkeypatch.setattr(backend.importlib, "import_module", lambda name: fake)
    with pytest.raises(RuntimeError, match="CuPy is installed but no usable GPU was found.*no CUDA-capable"):
        ad.zeros(2, device="cuda")


@pytest.mark.cpu_only
@pytest.mark.parametrize("shape", [(512, 10), (3, 100, 4), (64, 1), (10, 16), (200, 17)], ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_along_a_short_last_axis_are_numpys(shape, keepdims):
    """``backend.reduce_along`` reduces a short last axis of many rows through a transposed copy
    on NumPy: the results are NumPy's (max, argmax, any exactly; sums to rounding, added in
    another order), for C- and F-ordered arrays."""
    from autodiff.backend import reduce_along

    x = np.random.default_rng(0).standard_normal(shape)
    for a in (x, np.asfortranarray(x)):
        for name in ("max", "min", "argmax", "any", "prod"):
            axis = -1 if name == "argmax" else (-1,)  # (argmax takes one axis, not a tuple)
            want = getattr(np, name)(a > 0 if name == "any" else a, axis=-1, keepdims=keepdims)
            got = reduce_along(np, name, a > 0 if name == "any" else a, axis, keepdims)
            np.testing.assert_array_equal(got, want)
            assert got.shape == want.shape
        got, want = reduce_along(np, "sum", a, (-1,), keepdims), np.sum(a, axis=-1, keepdims=keepdims)
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-14)
        assert got.shape == want.shape
