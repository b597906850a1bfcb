"""Regression tests for the engine's edges (issue 11): each case gave a silently wrong answer."""

import math
import threading

import numpy as np
import pytest

import autodiff as ad

torch = None
try:
    import torch
except ImportError:  # pragma: no cover - torch is installed in CI
    pass


# ----------------------------------------------------------------------------- 1. per-thread modes
@pytest.mark.cpu_only
def test_grad_mode_is_per_thread():
    inside, other = threading.Event(), threading.Event()
    seen = {}

    def worker():
        with ad.no_grad():
            inside.set()
            other.wait(30)
            seen["worker"] = ad.is_grad_enabled()

    t = threading.Thread(target=worker)
    t.start()
    inside.wait(30)
    seen["main"] = ad.is_grad_enabled()
    x = ad.tensor(2.0, requires_grad=True)
    y = x * x  # recorded: the other thread's no_grad is not ours
    other.set()
    t.join()
    assert seen == {"main": True, "worker": False}
    assert y.requires_grad


@pytest.mark.cpu_only
def test_interleaved_no_grad_blocks_restore_grad_mode():
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

    def a():
        with ad.no_grad():
            a_in.set()
            b_in.wait(30)
        a_out.set()

    def b():
        a_in.wait(30)
        with ad.no_grad():
            b_in.set()
            a_out.wait(30)

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ad.is_grad_enabled()


@pytest.mark.cpu_only
def test_backward_in_one_thread_leaves_recording_on_in_another():
    started, release = threading.Event(), threading.Event()
    flags = []

    def observer(v, z):
        started.set()
        release.wait(30)

    def worker():
        x = ad.tensor(1.0, requires_grad=True)
        ad.engine.backward(ad.sin(x), observer=observer)

    t = threading.Thread(target=worker)
    t.start()
    started.wait(30)
    flags.append(ad.is_grad_enabled())
    with ad.detect_anomaly(), ad.name_scope("main"):
        release.set()
        t.join()
    assert flags == [True]


@pytest.mark.cpu_only
def test_no_grad_decorator_called_from_threads_in_different_modes():
    entered, leave = threading.Event(), threading.Event()

    @ad.no_grad()
    def work(signal):
        if signal:
            entered.set()
            leave.wait(30)
        return ad.is_grad_enabled()

    seen = {}

    def disabled_thread():
        with ad.no_grad():
            seen["inside"] = work(True)
            seen["after"] = ad.is_grad_enabled()

    t = threading.Thread(target=disabled_thread)
    t.start()
    entered.wait(30)
    assert work(False) is False
    assert ad.is_grad_enabled()
    leave.set()
    t.join()
    assert seen == {"inside": False, "after": False}


@pytest.mark.cpu_only
def test_forward_levels_and_scopes_are_per_thread():
    results = {}

    def worker():
        x = ad.tensor(0.3)
        results["jvp"] = ad.jvp(ad.sin, (x,), (ad.tensor(1.0),))[1].item()
        with ad.name_scope("worker"):
            results["scope"] = (ad.tensor(1.0, requires_grad=True) * 2).scope

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results["jvp"] == pytest.approx(math.cos(0.3))
    assert results["scope"] == ("worker",)
    assert (ad.tensor(1.0, requires_grad=True) * 2).scope is None


# ----------------------------------------------------------------------------- 3. writes are recorded
def test_setitem_of_a_value_that_requires_grad_is_recorded():
    v = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    k = ad.zeros(3)
    k[0] = v[0] * 2
    k[1:] = v[1:] ** 2
    assert k.requires_grad
    k.sum().backward()
    np.testing.assert_allclose(v.grad.numpy(), [2.0, 4.0, 6.0])


def test_setitem_over_a_recorded_tensor_cuts_the_overwritten_part():
    x = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 3
    w = ad.tensor(5.0, requires_grad=True)
    y[1] = w * w
    (y * ad.tensor([1.0, 10.0, 100.0])).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 0.0, 300.0])
    assert w.grad.item() == pytest.approx(100.0)


def test_in_place_arithmetic_with_a_value_that_requires_grad_is_recorded():
    v = ad.tensor([1.0, 2.0], requires_grad=True)
    k = ad.ones(2)
    k.add_(v * v)
    k.mul_(v)
    k.copy_(k * 2)
    k.sum().backward()
    np.testing.assert_allclose(v.grad.numpy(), 2 * (1 + 3 * np.array([1.0, 2.0]) ** 2))


def test_in_place_write_of_a_vertex_with_itself_keeps_the_graph_acyclic():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.add_(y)  # was recorded as its own parent: backward then silently gave no gradient
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 4.0])


def test_setitem_second_order_and_views_see_the_write():
    v = ad.tensor([1.0, 2.0], requires_grad=True)
    k = ad.zeros(2, 2)
    k[0] = v**3
    h = ad.hessian(lambda u: _written(u).sum())(v)
    np.testing.assert_allclose(h.numpy(), np.diag(6 * np.array([1.0, 2.0])))
    assert k.numpy()[0].tolist() == [1.0, 8.0]


def _written(u):
    k = ad.zeros(2, 2)
    k[0] = u**3
    return k


def test_in_place_write_on_a_leaf_that_requires_grad_still_raises():
    x = ad.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        x[0] = ad.tensor(3.0, requires_grad=True)


def test_write_of_a_grad_value_into_an_integer_tensor_raises():
    k = ad.zeros(2, dtype="int64")
    with pytest.raises(TypeError, match="int64"):
        k[0] = ad.tensor(1.0, requires_grad=True) * 2


def test_consumer_recorded_before_a_write_raises_on_backward():
    v = ad.tensor([1.0, 2.0], requires_grad=True)
    k = v * 1
    before = (k * k).sum()
    k[0] = v[1] * 5
    with pytest.raises(RuntimeError, match="in-place"):
        before.backward()


# ----------------------------------------------------------------------------- 4. creation inside vmap
def test_creation_like_functions_inside_vmap_see_the_logical_shape():
    def f(v):
        assert ad.ones_like(v).shape == v.shape == (3,)
        assert ad.zeros_like(v).shape == (3,)
        assert ad.full_like(v, 2.0).shape == (3,)
        return v + ad.ones_like(v) + ad.full_like(v, 2.0) + ad.zeros_like(v)

    out = ad.vmap(f)(ad.zeros(4, 3))
    assert out.shape == (4, 3)
    np.testing.assert_allclose(out.numpy(), 3.0)


# ----------------------------------------------------------------------------- 5. casts
@pytest.mark.parametrize("dtype", [int, "int64", bool, "bool"])
def test_cast_to_a_non_float_type_cuts_the_graph(dtype):
    x = ad.tensor([1.5, 2.5], requires_grad=True)
    y = x.astype(dtype)
    assert not y.requires_grad
    assert (x * 2).astype("float32").requires_grad
    _, t = ad.jvp(lambda u: u.astype(dtype).astype("float64") * u, (x,), (ad.ones(2),))
    np.testing.assert_allclose(t.numpy(), np.array([1.5, 2.5]).astype(dtype).astype(float))


# ----------------------------------------------------------------------------- 6. vmap axes
@pytest.mark.parametrize("in_axes", [5, -3, 2])
def test_vmap_in_axes_out_of_range_raises(in_axes):
    with pytest.raises(ValueError, match="vmap: in_axes"):
        ad.vmap(lambda v: v.sum(), in_axes=in_axes)(ad.zeros(2, 3))


def test_vmap_out_axes_out_of_range_raises():
    with pytest.raises(ValueError, match="vmap: out_axes"):
        ad.vmap(lambda v: v * 2, out_axes=3)(ad.zeros(2, 3))


# ----------------------------------------------------------------------------- 7. sigmoid family
@pytest.mark.parametrize("x", [-745.0, -700.0, -40.0, -30.0, -5.0, 0.0, 5.0, 30.0, 40.0])
def test_sigmoid_is_accurate_in_float64(x):
    exact = 1 / (1 + math.exp(-x)) if x > -700 else math.exp(x)
    assert ad.sigmoid(ad.tensor(x)).item() == pytest.approx(exact, rel=1e-14, abs=0)


def test_sigmoid_is_accurate_in_float32():
    xs = np.array([-80, -40, -30, -10, 0, 10, 30], dtype=np.float32)
    got = ad.sigmoid(ad.tensor(xs)).numpy()
    exact = 1 / (1 + np.exp(-xs.astype(np.float64)))
    np.testing.assert_allclose(got, exact, rtol=3e-7, atol=0)


def test_log_sigmoid_and_its_gradient_are_finite_far_out():
    x = ad.tensor([-800.0, -40.0, 0.0, 40.0, 800.0], requires_grad=True)
    y = ad.log_sigmoid(x)
    np.testing.assert_allclose(y.numpy(), [-800.0, -40.0 - math.exp(-40), -math.log(2), -math.exp(-40), 0.0])
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0, 0.5, math.exp(-40), 0.0], rtol=1e-14, atol=0)
    z = ad.tensor(-40.0, requires_grad=True)
    ad.log(ad.sigmoid(z)).backward()
    assert z.grad.item() == pytest.approx(1.0)


def test_softplus_gradient_far_out():
    x = ad.tensor([-800.0, -40.0, 40.0, 800.0], requires_grad=True)
    ad.softplus(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, math.exp(-40), 1.0, 1.0], rtol=1e-14, atol=0)


# ----------------------------------------------------------------------------- 8. cross-entropy
def test_cross_entropy_with_masked_classes():
    import nn

    logits = ad.tensor([[1.0, -math.inf, 2.0], [-math.inf, 0.5, 0.0]], requires_grad=True)
    loss = nn.functional.cross_entropy(logits, ad.tensor([2, 1]))
    loss.backward()
    p0 = 1 / (1 + math.exp(-1.0))
    p1 = 1 / (1 + math.exp(-0.5))
    assert loss.item() == pytest.approx(-(math.log(p0) + math.log(p1)) / 2)
    g = logits.grad.numpy()
    assert np.isfinite(g).all()
    np.testing.assert_allclose(g, [[(1 - p0) / 2, 0, -(1 - p0) / 2], [0, -(1 - p1) / 2, (1 - p1) / 2]])


@pytest.mark.skipif(torch is None, reason="needs torch")
@pytest.mark.parametrize("big", [3e38, -3e38])
def test_cross_entropy_float32_extremes_match_torch(big):
    import nn

    values = np.array([[big, 0.0, 1.0], [1.0, big, -big]], dtype=np.float32)
    target = np.array([1, 0])
    logits = ad.tensor(values, requires_grad=True)
    loss = nn.functional.cross_entropy(logits, ad.tensor(target))
    loss.backward()
    tl = torch.tensor(values, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(tl, torch.tensor(target))
    ref.backward()
    assert np.isfinite(loss.item()) == np.isfinite(ref.item())
    np.testing.assert_allclose(loss.item(), ref.item(), rtol=1e-6)
    np.testing.assert_allclose(logits.grad.numpy(), tl.grad.numpy(), rtol=1e-6, atol=1e-7)


# ----------------------------------------------------------------------------- 10. derivatives at edges
def test_derivative_of_x_to_the_zero_at_zero():
    x = ad.tensor(0.0, requires_grad=True)
    assert ad.grad(lambda u: u**0)(x).item() == 0.0
    assert ad.grad(lambda u: u ** ad.tensor(0.0))(x).item() == 0.0
    assert ad.grad(ad.grad(lambda u: u ** ad.tensor(0.0)))(x).item() == 0.0
    assert ad.jvp(lambda u: u**0, (x,), (ad.tensor(1.0),))[1].item() == 0.0
    assert ad.grad(lambda u: u**1)(x).item() == 1.0
    assert ad.grad(ad.grad(lambda u: u**2))(x).item() == 2.0


@pytest.mark.parametrize("fn", ["std", "var"])
def test_std_and_var_of_equal_entries_have_zero_gradient(fn):
    x = ad.tensor([2.0, 2.0, 2.0], requires_grad=True)
    g = ad.grad(lambda u: getattr(ad, fn)(u))(x)
    np.testing.assert_array_equal(g.numpy(), [0.0, 0.0, 0.0])
    g1 = ad.grad(lambda u: getattr(ad, fn)(u, ddof=1))(x)
    np.testing.assert_array_equal(g1.numpy(), [0.0, 0.0, 0.0])
    t = ad.jvp(lambda u: ad.std(u), (x,), (ad.tensor([1.0, -1.0, 0.5]),))[1]
    assert t.item() == 0.0


def test_std_gradient_away_from_zero_is_unchanged():
    ad.gradcheck(lambda u: ad.std(u, axis=0, ddof=1), [ad.tensor([[1.0, 2.0], [3.0, 5.0], [0.5, -1.0]])])
    ad.gradgradcheck(lambda u: ad.std(u, axis=0), [ad.tensor([[1.0, 2.0], [3.0, 5.0], [0.5, -1.0]])])


def test_logsumexp_with_an_infinite_entry():
    x = ad.tensor([math.inf, 1.0], requires_grad=True)
    y = ad.logsumexp(x)
    assert y.item() == math.inf
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0])
    x2 = ad.tensor([[math.inf, 1.0, math.inf], [0.0, 0.0, 0.0]], requires_grad=True)
    ad.logsumexp(x2, axis=1).sum().backward()
    np.testing.assert_allclose(x2.grad.numpy(), [[0.5, 0.0, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    t = ad.jvp(ad.logsumexp, (ad.tensor([math.inf, 1.0]),), (ad.tensor([2.0, 5.0]),))[1]
    assert t.item() == 2.0


@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_maximum_sends_the_gradient_to_a_nan_argument(op):
    x = ad.tensor([math.nan, 1.0, 2.0], requires_grad=True)
    y = ad.tensor([1.0, math.nan, 2.0], requires_grad=True)
    getattr(ad, op)(x, y).sum().backward()
    if torch is not None:
        tx = torch.tensor([math.nan, 1.0, 2.0], requires_grad=True, dtype=torch.float64)
        ty = torch.tensor([1.0, math.nan, 2.0], requires_grad=True, dtype=torch.float64)
        getattr(torch, op)(tx, ty).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
        np.testing.assert_array_equal(y.grad.numpy(), ty.grad.numpy())
    assert x.grad.numpy()[0] == 1.0 and y.grad.numpy()[1] == 1.0
    assert x.grad.numpy()[2] == y.grad.numpy()[2] == 0.5


# ----------------------------------------------------------------------------- 11. devices of seeds
def test_seed_on_another_device_raises():
    x = ad.tensor([1.0, 2.0], requires_grad=True, device="strict")
    y = x * 2
    with pytest.raises(ValueError, match="device"):
        y.backward(ad.tensor([1.0, 1.0], device="cpu"))
    assert x.grad is None
    with pytest.raises(ValueError, match="device"):
        y.backward(np.ones(2))
    with pytest.raises(ValueError, match="device"):
        ad.gradients(y, x, ad.tensor([[1.0, 1.0]], device="cpu"), batched=True)
    z = ad.tensor([1.0, 2.0], requires_grad=True, device="cpu") * 2
    with pytest.raises(ValueError, match="device"):
        z.backward(ad.tensor([1.0, 1.0], device="strict"))


# ----------------------------------------------------------------------------- NumPy's refusals, named
def test_numpys_refusals_name_the_operation_and_the_arguments():
    with pytest.raises(
        ValueError, match=r"add: operands could not be broadcast .*float64 \(4, 3\), float64 \(2,\)"
    ):
        ad.randn(4, 3, seed=0) + ad.ones(2)
    with pytest.raises(TypeError, match=r"add: .* \(arguments: float64 \(2,\), str 'a'\)"):
        ad.ones(2) + "a"
