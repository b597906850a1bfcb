"""Vectorised derivatives: jacfwd == jacrev == row by row == finite differences; the JVP/VJP
duality <J t, c> = <t, J^T c> for every operation; Hessians symmetric and equal by both
modes; results independent of chunk_size; vmap equals a loop."""

import warnings

import numpy as np
import pytest
from test_ops_gradcheck import (
    BINARY,
    BINARY_DOMAIN,
    DOMAIN,
    LINALG,
    REDUCTIONS,
    SHAPE_OPS,
    UNARY,
    distinct,
    make,
)

import autodiff as ad


def composite(x):
    """A random-ish composite function R^5 -> R^3."""
    h = ad.tanh(ad.reshape(x[:4], (2, 2)) @ ad.stack([x[1:3], x[2:4]]))
    return ad.concatenate([ad.logsumexp(h, axis=0), (ad.softplus(x) * x[::-1]).sum(keepdims=True)])


def jacobian_by_rows(f, x):
    out = f(x)
    rows = []
    for k in range(out.size):
        xi = ad.tensor(x.numpy(), requires_grad=True)
        f(xi).reshape(-1)[k].backward()
        rows.append(xi.grad.numpy().ravel())
    return np.array(rows)


def jacobian_by_differences(f, x, eps=1e-6):
    base = x.numpy()
    columns = []
    for j in range(base.size):
        e = np.zeros_like(base)
        e.flat[j] = eps
        columns.append((f(ad.tensor(base + e)).numpy() - f(ad.tensor(base - e)).numpy()).ravel() / (2 * eps))
    return np.stack(columns, axis=1)


def test_jacobians_agree_every_way():
    x = ad.randn(5, seed=0)
    reverse = ad.jacrev(composite)(x).numpy()
    forward = ad.jacfwd(composite)(x).numpy()
    np.testing.assert_allclose(forward, reverse, atol=1e-13)
    np.testing.assert_allclose(jacobian_by_rows(composite, x), reverse, atol=1e-13)
    np.testing.assert_allclose(jacobian_by_differences(composite, x), reverse, atol=1e-8)


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7])
def test_chunk_size_does_not_change_results(chunk_size):
    x = ad.randn(5, seed=1)
    full = ad.jacrev(composite)(x).numpy()
    np.testing.assert_allclose(ad.jacrev(composite, chunk_size=chunk_size)(x).numpy(), full, atol=1e-14)
    np.testing.assert_allclose(ad.jacfwd(composite, chunk_size=chunk_size)(x).numpy(), full, atol=1e-14)
    f = lambda v: (composite(v) ** 2).sum()  # noqa: E731
    h = ad.hessian(f)(x).numpy()
    for mode in ("fwd-rev", "rev-rev"):
        np.testing.assert_allclose(ad.hessian(f, mode=mode, chunk_size=chunk_size)(x).numpy(), h, atol=1e-12)


def test_hessian_symmetric_and_equal_by_both_modes():
    f = lambda v: ad.logsumexp(ad.outer(v, ad.sin(v))) + ad.norm(v) ** 3  # noqa: E731
    x = ad.randn(6, seed=2)
    h_fr = ad.hessian(f, mode="fwd-rev")(x).numpy()
    h_rr = ad.hessian(f, mode="rev-rev")(x).numpy()
    np.testing.assert_allclose(h_fr, h_fr.T, atol=1e-13)
    np.testing.assert_allclose(h_fr, h_rr, atol=1e-12)


def test_jacfwd_of_jacfwd_is_the_hessian():
    f = lambda v: (ad.sin(v) * v[0]).sum()  # noqa: E731
    x = ad.randn(3, seed=3)
    np.testing.assert_allclose(ad.jacfwd(ad.jacfwd(f))(x).numpy(), ad.hessian(f)(x).numpy(), atol=1e-13)
    np.testing.assert_allclose(ad.jacrev(ad.jacfwd(f))(x).numpy(), ad.hessian(f)(x).numpy(), atol=1e-13)


def test_nested_jvp_has_no_perturbation_confusion():
    # d/dx [x * d/dy (x + y)] = d/dx [x] = 1 (the classic confusion gives 2)
    def inner(x):
        return ad.jvp(lambda y: x + y, (ad.tensor(1.0),), (ad.tensor(1.0),))[1] * x

    _, d = ad.jvp(inner, (ad.tensor(1.0),), (ad.tensor(1.0),))
    assert d.item() == 1.0


def test_inner_transforms_differentiate_what_they_capture():
    """An inner grad, jacrev or vjp whose function captures the outer variable w (not an input
    of its own) records its derivative, so the outer one sees it: d/dw sum_i d/da_i sin(a_i w_i)
    = cos(x w) - x w sin(x w) at a = x (it came out as zeros)."""
    x, w = ad.tensor([0.3, -0.2, 0.5]), ad.tensor([1.0, 2.0, 3.0])
    xw = x.numpy() * w.numpy()
    want = np.cos(xw) - xw * np.sin(xw)
    inner = {
        "grad": lambda w: ad.grad(lambda a: ad.sum(ad.sin(a * w)))(x),
        "jacrev": lambda w: ad.jacrev(lambda a: ad.sin(a * w))(x),
        "vjp": lambda w: ad.vjp(lambda a: ad.sin(a * w), x)[1](ad.ones_like(x))[0],
    }
    for name, g in inner.items():
        got = ad.grad(lambda w, g=g: ad.sum(g(w)))(w)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-13, err_msg=name)
    np.testing.assert_allclose(np.diag(ad.jacrev(inner["grad"])(w).numpy()), want, rtol=1e-13)


def test_batched_backward_is_a_batch_of_vjps():
    x = ad.randn(4, seed=4, requires_grad=True)
    y = ad.tanh(x)[None, :] * ad.arange(1.0, 4.0)[:, None]  # (3, 4)
    seeds = ad.randn(5, 3, 4, seed=5)
    (batched,) = ad.gradients(y, [x], seeds, batched=True, retain_graph=True)
    for k in range(5):
        (one,) = ad.gradients(y, [x], seeds[k], retain_graph=True)
        np.testing.assert_allclose(batched.numpy()[k], one.numpy(), atol=1e-14)


# <J t, c> == <t, J^T c> for every operation of the op table.
def _binary_inputs(name):
    first, second = BINARY_DOMAIN.get(name, (None, None))
    return [make((2, 3), first, 1), make((3,), second, 2)]


# (name, function, a maker of the inputs: built inside the test, on the test's device)
CASES = (
    [(name, f, lambda name=name: [make((2, 3), DOMAIN.get(name))]) for name, f in UNARY.items()]
    + [(name, f, lambda name=name: _binary_inputs(name)) for name, f in BINARY.items()]
    + [
        (name, lambda x, f=f: f(x, axis=-1), lambda: [make((2, 3), distinct)])
        for name, f in REDUCTIONS.items()
    ]
    + [(name, f, lambda s=shape: [make(s)]) for name, (f, shape) in SHAPE_OPS.items() if name != "astype"]
    + [
        (name, f, lambda a=sa, b=sb: [make(a, seed=3), make(b, seed=4)])
        for name, (f, sa, sb) in LINALG.items()
    ]
)


@pytest.mark.parametrize("name,f,make_inputs", CASES, ids=[c[0] for c in CASES])
def test_jvp_vjp_duality(name, f, make_inputs):
    inputs = make_inputs()
    rng = np.random.default_rng(7)
    tangents = [ad.tensor(rng.standard_normal(x.shape)) for x in inputs]
    out, jt = ad.jvp(f, inputs, tangents)
    c = ad.tensor(rng.standard_normal(out.shape))
    _, pullback = ad.vjp(f, *inputs)
    jtc = pullback(c)
    left = float((jt * c).sum().item())
    right = sum(float((t * g).sum().item()) for t, g in zip(tangents, jtc, strict=True))
    assert left == pytest.approx(right, rel=1e-12, abs=1e-12)


# ------------------------------------------------------------------ vmap
def looped(f, *xs):
    return np.stack([f(*[x[i] for x in xs]).numpy() for i in range(len(xs[0]))])


def mlp(params, x):
    w1, b1, w2, b2 = params
    return ad.log_softmax(ad.relu(x @ w1.T + b1) @ w2.T + b2, axis=-1)


def params():
    return [ad.randn(4, 3, seed=10), ad.randn(4, seed=11), ad.randn(2, 4, seed=12), ad.randn(2, seed=13)]


def test_vmap_equals_a_loop_for_layer_operations():
    X = ad.randn(6, 3, seed=14)
    p = params()
    f = lambda x: mlp(p, x)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every op here has a batching rule: no loop fallback
        np.testing.assert_allclose(ad.vmap(f)(X).numpy(), looped(f, X), atol=1e-14)
        g = lambda x: ad.einsum("ij,j->i", ad.reshape(x, (3, 1)) * ad.ones(1, 4), ad.pad(x, 1)[:4]).max()  # noqa: E731
        np.testing.assert_allclose(ad.vmap(g)(X).numpy(), looped(g, X), atol=1e-14)


def test_vmap_in_axes_out_axes_and_nesting():
    A, b = ad.randn(3, 5, seed=15), ad.randn(3, seed=16)
    out = ad.vmap(lambda a, b: a * b, in_axes=(1, None), out_axes=1)(A, b)
    np.testing.assert_allclose(out.numpy(), A.numpy() * b.numpy()[:, None], atol=0)
    outer = ad.vmap(ad.vmap(lambda x, y: x * y + ad.sum(y)), in_axes=(0, None))(ad.randn(4, 3, seed=17), b)
    assert outer.shape == (4, 3)


def test_vmap_of_grad_gives_per_example_gradients():
    X, Y = ad.randn(6, 3, seed=18), ad.tensor([0, 1, 1, 0, 1, 0])

    def loss(params, x, y):
        return -mlp(params, x)[y]

    p = params()
    grads = ad.vmap(ad.grad(lambda w1, x, y: loss([w1, *p[1:]], x, y)), in_axes=(None, 0, 0))(p[0], X, Y)
    expected = np.stack(
        [ad.grad(lambda w1, i=i: loss([w1, *p[1:]], X[i], Y[i]))(p[0]).numpy() for i in range(6)]
    )
    assert grads.shape == (6, 4, 3)
    np.testing.assert_allclose(grads.numpy(), expected, atol=1e-13)


def test_vmap_of_jacrev_hessian_and_hvp():
    X = ad.randn(4, 3, seed=19)
    f = lambda x: (ad.tanh(x) * x[0]).sum()  # noqa: E731
    np.testing.assert_allclose(
        ad.vmap(ad.jacrev(ad.sin))(X).numpy(), looped(ad.jacrev(ad.sin), X), atol=1e-14
    )
    with pytest.warns(UserWarning, match="falling back to a loop"):
        h = ad.vmap(ad.hessian(f))(X)
    np.testing.assert_allclose(h.numpy(), looped(ad.hessian(f), X), atol=1e-13)
    h_rr = ad.vmap(ad.hessian(f, mode="rev-rev"))(X)
    np.testing.assert_allclose(h_rr.numpy(), looped(ad.hessian(f), X), atol=1e-13)
    V = ad.randn(4, 3, seed=20)
    np.testing.assert_allclose(
        ad.vmap(lambda x, v: ad.hvp(f, x, v))(X, V).numpy(),
        looped(lambda x, v: ad.hvp(f, x, v), X, V),
        atol=1e-13,
    )


def test_vmap_per_example_indices_fall_back_to_a_loop():
    X = ad.randn(5, 3, seed=21)
    idx = ad.tensor([0, 1, 2, 0, 1])
    np.testing.assert_allclose(
        ad.vmap(lambda x, i: x[i])(X, idx).numpy(), X.numpy()[range(5), [0, 1, 2, 0, 1]]
    )
