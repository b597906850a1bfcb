"""The engine: known answers, the DAG, memory, errors, modes."""

import gc
import math
import weakref

import numpy as np
import pytest

import autodiff as ad
from autodiff.graph import sum_of
from autodiff.ops.batching import broadcasting


def lecture_program(x, y):
    """The example program of the lecture (Scaman, *Non-convex optimization*, 2024)."""
    z1 = x * y
    z2 = x**2
    z3 = ad.exp(z1)
    z4 = 2 * z2
    z5 = z3 + z4
    return ad.sin(z5)


def test_lecture_example_by_hand():
    x = ad.tensor(1.5, requires_grad=True)
    y = ad.tensor(0.5, requires_grad=True)
    out = lecture_program(x, y)
    out.backward()
    # Backward by hand: z^(out) = 1, z^(z5) = cos(z5), z^(z3) = z^(z4) = cos(z5),
    # z^(z2) = 2 cos(z5), z^(z1) = exp(z1) cos(z5), z^(x) = y z^(z1) + 2x z^(z2), z^(y) = x z^(z1).
    z1, z5 = 1.5 * 0.5, math.exp(0.75) + 2 * 1.5**2
    assert out.item() == pytest.approx(math.sin(z5), abs=1e-15)
    assert x.grad.item() == pytest.approx(
        0.5 * math.exp(z1) * math.cos(z5) + 2 * 1.5 * 2 * math.cos(z5), rel=1e-14
    )
    assert y.grad.item() == pytest.approx(1.5 * math.exp(z1) * math.cos(z5), rel=1e-14)


def test_dag_shared_subexpressions():
    a = ad.tensor(3.0, requires_grad=True)
    b = a + a
    c = b * b  # c = 4 a^2
    c.backward()
    assert a.grad.item() == 24.0
    x = ad.tensor(-2.0, requires_grad=True)
    (x * x).backward()
    assert x.grad.item() == -4.0


def test_backward_repeatable_after_zeroing():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    for _ in range(2):
        x.grad = None
        (x * x).sum().backward()
        assert x.grad.numpy().tolist() == [2.0, 4.0]


def test_gradients_accumulate():
    x = ad.tensor(2.0, requires_grad=True)
    (x * 3).backward()
    (x * x).backward()
    assert x.grad.item() == 7.0


def test_retain_grad_intermediate():
    x = ad.tensor(2.0, requires_grad=True)
    h = (x * 3).retain_grad()
    (h * h).backward()
    assert h.grad.item() == 12.0 and x.grad.item() == 36.0


def test_long_chain_no_recursion():
    x = ad.tensor(0.5, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0000001 + 0.0
    y.backward()
    assert x.grad.item() == pytest.approx(1.0000001**100_000, rel=1e-9)


def test_intermediates_freed_after_backward():
    x = ad.tensor(np.ones(1000), requires_grad=True)
    h = ad.exp(x)
    ref = weakref.ref(h)
    loss = (h * 2).sum()
    del h
    gc.collect()
    assert ref() is not None  # the graph holds it until backward
    loss.backward()
    gc.collect()
    assert ref() is None


def test_create_graph_released_when_dropped():
    x = ad.tensor(np.ones(10), requires_grad=True)
    g = ad.grad(lambda x: (ad.sin(x) ** 2).sum())(x * 1.0)
    ref = weakref.ref(g.parents[0])
    del g
    gc.collect()
    assert ref() is None


def test_second_backward_raises_clearly():
    x = ad.tensor(1.0, requires_grad=True)
    y = ad.exp(x) * 2
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = ad.tensor(1.0, requires_grad=True)
    y = ad.exp(x) * 2
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.item() == pytest.approx(4 * math.e)


def test_backprop_from_no_outputs_finds_nothing():
    from autodiff.engine import backprop

    x = ad.tensor(1.0, requires_grad=True)
    assert backprop([], [], targets=[x]) == {}
    assert x.grad is None
    w = ad.ones(2, 3, requires_grad=True)
    (gx, gw) = ad.gradients([], [x, w])  # the gradient of an empty sum: zeros (was an IndexError)
    assert gx.item() == 0.0 and gw.shape == (2, 3) and not gw.numpy().any()


def test_backprop_to_targets_prunes_other_leaves_and_counts_inner_targets():
    """Targets: only paths to them are walked (another leaf gets no .grad and no rule runs
    towards it); an inner target's adjoint is complete, and a leaf behind it still gets its own."""
    from autodiff.engine import backprop, dependency_counts

    x, w = ad.tensor(2.0, requires_grad=True), ad.tensor(3.0, requires_grad=True)
    h = x * x  # inner
    y = ad.sin(h) * w + h
    assert w not in dependency_counts([y], {x})  # pruned: w leads to no target
    z = backprop([y], [y.data * 0 + 1], targets=[x], retain_graph=True)
    assert w.grad is None and x.grad.item() == pytest.approx((math.cos(4.0) * 3 + 1) * 4)
    x.grad = None
    z = backprop([y], [y.data * 0 + 1], targets=[h, x], accumulate=False, retain_graph=True)
    assert z[h].item() == pytest.approx(math.cos(4.0) * 3 + 1) and z[x].item() == pytest.approx(
        z[h].item() * 4
    )
    all_leaves = backprop([y], [y.data * 0 + 1], targets=[x, w], accumulate=False)
    assert all_leaves[w].item() == pytest.approx(math.sin(4.0)) and all_leaves[x].item() == z[x].item()


def test_higher_order_known_answers():
    f = lambda x: ad.sin(x) * ad.exp(x)  # noqa: E731
    x = 0.3
    d3 = ad.grad(ad.grad(ad.grad(f)))(ad.tensor(x)).item()
    assert d3 == pytest.approx(2 * math.exp(x) * (math.cos(x) - math.sin(x)), rel=1e-13)
    # the same through .backward(create_graph=True)
    t = ad.tensor(x, requires_grad=True)
    f(t).backward(create_graph=True)
    (g1,) = ad.gradients(t.grad, t, create_graph=True)
    (g2,) = ad.gradients(g1, t)
    assert g2.item() == pytest.approx(d3, rel=1e-13)


@pytest.mark.parametrize("mode", ["fwd-rev", "rev-rev"])
def test_hessian_known_answers(mode):
    A = ad.randn(5, 5, seed=0)
    x = ad.randn(5, seed=1)
    H = ad.hessian(lambda x: 0.5 * x @ A @ x, mode=mode)(x).numpy()
    np.testing.assert_allclose(H, (A.numpy() + A.numpy().T) / 2, atol=1e-13)

    def rosenbrock(v):
        return (1 - v[0]) ** 2 + 100 * (v[1] - v[0] ** 2) ** 2

    H = ad.hessian(rosenbrock, mode=mode)(ad.tensor([1.0, 1.0])).numpy()
    np.testing.assert_array_equal(H, [[802.0, -400.0], [-400.0, 200.0]])
    z = ad.randn(6, seed=2)
    H = ad.hessian(lambda z: -ad.log_softmax(z)[3], mode=mode)(z).numpy()
    p = ad.softmax(z).numpy()
    np.testing.assert_allclose(H, np.diag(p) - np.outer(p, p), atol=1e-14)


def test_hvp_matches_hessian():
    f = lambda x: (ad.tanh(x) ** 3).sum() * x[0]  # noqa: E731
    x, v = ad.randn(4, seed=3), ad.randn(4, seed=4)
    np.testing.assert_allclose(ad.hvp(f, x, v).numpy(), ad.hessian(f)(x).numpy() @ v.numpy(), atol=1e-13)


def test_softmax_stable_at_huge_logits():
    z = ad.tensor([1e4, -1e4, 0.0], requires_grad=True)
    ls = ad.log_softmax(z)
    assert np.all(np.isfinite(ls.numpy()))
    ls[1].backward()
    assert np.all(np.isfinite(z.grad.numpy()))
    np.testing.assert_allclose(z.grad.numpy(), [-1.0, 1.0, 0.0], atol=1e-12)


def test_logsumexp_of_all_minus_inf():
    z = ad.tensor([-np.inf, -np.inf], requires_grad=True)
    out = ad.logsumexp(z)
    assert out.item() == -np.inf
    out.backward()
    np.testing.assert_array_equal(z.grad.numpy(), [0.0, 0.0])


def test_kink_conventions():
    x = ad.tensor([0.0, 0.0, 0.0], requires_grad=True)
    (ad.relu(x) + ad.abs(x)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])
    x.grad = None
    ad.norm(x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])
    m = ad.tensor([1.0, 3.0, 3.0, 2.0], requires_grad=True)
    ad.max(m).backward()
    np.testing.assert_array_equal(m.grad.numpy(), [0.0, 0.5, 0.5, 0.0])
    a, b = ad.tensor(1.0, requires_grad=True), ad.tensor(1.0, requires_grad=True)
    ad.maximum(a, b).backward()
    assert a.grad.item() == b.grad.item() == 0.5


def test_repeated_advanced_indices_accumulate():
    x = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 0.0, 1.0])


def test_broadcast_gradients_reduce_to_input_shape():
    a = ad.randn(4, 1, 3, seed=0, requires_grad=True)
    b = ad.randn(2, 1, seed=1, requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.shape == (4, 1, 3) and b.grad.shape == (2, 1)
    np.testing.assert_allclose(b.grad.numpy(), np.full((2, 1), a.numpy().sum()))


def test_no_grad_and_enable_grad():
    x = ad.tensor(1.0, requires_grad=True)
    with ad.no_grad():
        y = x * 2
        with ad.enable_grad():
            z = x * 3
    assert not y.requires_grad and z.requires_grad

    @ad.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad


def test_detach_cuts_the_graph():
    x = ad.tensor(2.0, requires_grad=True)
    y = x * x.detach()
    y.backward()
    assert x.grad.item() == 2.0


def test_inplace_refused_on_leaf_requiring_grad():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place operation on a leaf"):
        x.add_(1.0)
    with ad.no_grad():
        x.add_(1.0)
    np.testing.assert_array_equal(x.numpy(), [2.0, 3.0])


def test_inplace_after_save_detected():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    c = ad.tensor([3.0, 4.0])
    y = (x * c).sum()
    c.mul_(2.0)  # c was saved by the multiplication
    with pytest.raises(RuntimeError, match="'multiply'.*modified by an in-place operation"):
        y.backward()


def test_detect_anomaly_names_op_and_place():
    x = ad.tensor([0.0, 1.0], requires_grad=True)
    with ad.detect_anomaly():
        y = ad.sqrt(x).sum()  # d sqrt / dx = inf at 0
        with pytest.raises(
            FloatingPointError, match="(?s)'sqrt'.*created at.*test_engine.py:[0-9]+ in test_detect_anomaly"
        ):
            y.backward()


def test_repr_shows_values_and_op():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    assert "op=multiply" in repr(x * 2) and "1., 2." in repr(x) and "requires_grad=True" in repr(x)


def test_default_dtype_and_promotion():
    assert ad.tensor([1.0]).dtype == np.float64
    assert ad.tensor([1]).dtype == np.int64
    ad.set_default_dtype("float32")
    assert ad.tensor([1.0]).dtype == np.float32 and ad.zeros(2).dtype == np.float32
    ad.set_default_dtype(np.float64)
    a32 = ad.tensor([1.0], dtype="float32")
    assert (a32 * 2.0).dtype == np.float32  # Python scalars are weak, as in NumPy
    assert (a32 * ad.tensor([2.0])).dtype == np.float64
    x = ad.tensor([1.0, 2.0], dtype="float32", requires_grad=True)
    (x * ad.tensor([3.0, 4.0])).sum().backward()
    assert x.grad.dtype == np.float32  # gradients take their leaf's dtype


def test_constructors():
    assert ad.zeros(2, 3).shape == (2, 3) and ad.ones((2,)).numpy().tolist() == [1.0, 1.0]
    assert ad.arange(3).numpy().tolist() == [0, 1, 2] and ad.arange(0.0, 1.0, 0.5).dtype == np.float64
    np.testing.assert_array_equal(ad.randn(3, seed=5).numpy(), ad.randn(3, seed=5).numpy())
    g = ad.random.Generator(1)
    assert not np.array_equal(g.randn(3).numpy(), g.randn(3).numpy())
    assert len(ad.zeros(4, 2)) == 4 and ad.tensor(2.5).item() == 2.5
    assert ad.eye(2).numpy().tolist() == [[1.0, 0.0], [0.0, 1.0]]


# ------------------------------------------------------------------ errors
def test_error_matmul_shapes():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(2, 3\) do not align"):
        ad.ones(2, 3) @ ad.ones(2, 3)


def test_error_broadcast():
    with pytest.raises(ValueError, match="broadcast"):
        ad.ones(2, 3) + ad.ones(4)


def test_error_backward_without_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        (ad.ones(2) * 2).sum().backward()


def test_error_backward_non_scalar():
    x = ad.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"shape \(3,\), not a scalar; pass grad="):
        (x * 2).backward()
    (x * 2).backward(grad=ad.tensor([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0, 6.0])


def test_error_integer_requires_grad():
    with pytest.raises(TypeError, match="int64 cannot require gradients"):
        ad.tensor([1, 2], requires_grad=True)


def test_error_unknown_dtype():
    with pytest.raises(TypeError, match="unknown dtype 'flaot32'"):
        ad.tensor([1.0], dtype="flaot32")


def test_error_grad_of_non_scalar_function():
    with pytest.raises(TypeError, match="grad: the function must return a scalar"):
        ad.grad(lambda x: x * 2)(ad.ones(3))


def test_error_mixed_devices():
    if "strict" not in ad.devices():
        pytest.skip("no second device")
    a, b = ad.ones(2, device="cpu"), ad.ones(2, device="strict")
    with pytest.raises(ValueError, match="different devices.*nothing is moved implicitly"):
        a + b


def test_comparisons_carry_no_gradient():
    x = ad.tensor([1.0, -1.0], requires_grad=True)
    assert not (x > 0).requires_grad and (x > 0).dtype == bool
    y = ad.where(x > 0, x * 2, x * 3).sum()
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 3.0])


WRONG_CUBE = ad.Primitive(
    "wrong_cube",
    lambda xp, x: x * x * x,
    (lambda ns, g, out, x: g * 3 * x,),  # should be 3 x^2
    sum_of(lambda ns, t, out, x: t * 3 * x * x),
    batch=broadcasting,
)


def test_gradcheck_catches_a_wrong_rule_and_names_the_entry():
    wrong = WRONG_CUBE
    x = ad.tensor([0.5, 2.0])
    with pytest.raises(
        ad.GradcheckError,
        match=r"reverse mode.*worst entry d out\[1\] / d x\[1\]: analytical 6, numerical 12",
    ):
        ad.gradcheck(wrong, [x])
    # the forward rule is right: checking forward mode alone passes
    assert ad.gradcheck(wrong, [x], modes=("forward",))


def test_deep_graphs_are_deleted_without_recursion():
    x = ad.tensor(0.5, requires_grad=True)
    y = x
    for _ in range(200_000):
        y = y * 1.0 + 0.0
    ref = weakref.ref(y)
    del y
    gc.collect()
    assert ref() is None


def test_norm_follows_numpy_or_refuses():
    x = ad.randn(3, 4, seed=0)
    host = x.numpy()
    assert ad.norm(x).item() == pytest.approx(np.linalg.norm(host))
    for ord_ in (None, 1, 2, np.inf):
        np.testing.assert_allclose(
            ad.norm(x, ord=ord_, axis=1).numpy(), np.linalg.norm(host, ord=ord_, axis=1)
        )
    with pytest.raises(ValueError, match="matrix norm: use ad.linalg.norm"):
        ad.norm(x, ord=2, axis=(0, 1))


@pytest.mark.parametrize("shapes", [((5, 4), (3, 2, 4, 1)), ((3, 2, 1, 4), (4, 5)), ((5, 4), (3, 4, 16))])
def test_matmul_folds_stacks_of_skinny_products(shapes):
    """A single matrix times a stack of skinny ones is one folded product (ops.linalg.product):
    NumPy's values, and first and second derivatives by both modes."""
    from autodiff.ops.linalg import SKINNY, product

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal(s) for s in shapes)
    assert min(shapes[1][-1], shapes[0][-2]) <= SKINNY
    np.testing.assert_allclose(product(np, a, b), np.matmul(a, b), rtol=1e-14, atol=1e-14)
    ta, tb = ad.tensor(a, requires_grad=True), ad.tensor(b, requires_grad=True)
    np.testing.assert_allclose((ta @ tb).numpy(), np.matmul(a, b), rtol=1e-14, atol=1e-14)
    f = lambda x, y: ad.sin(x @ y)  # noqa: E731
    assert ad.gradcheck(f, (ta, tb)) and ad.gradgradcheck(f, (ta, tb))
