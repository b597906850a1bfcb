"""The registry of primitives is complete: every primitive declares its rules, is exercised by a
row of the gradcheck table (first and second order, reverse and forward), and runs under
``vmap`` through its own batching rule, never example by example."""

import warnings

import numpy as np
import pytest
import test_ops_gradcheck as table

import autodiff as ad
from autodiff.graph import PRIMITIVES, Primitive

# Rows beyond the op table of test_ops_gradcheck.py: the convolution primitives and device moves.
EXTRA = {
    "unfold": (lambda x: ad.unfold(x, 2, 1, 1) ** 2, (1, 2, 3, 3)),
    "fold": (lambda c: ad.fold(c, (3, 3), 2, 1, 0) ** 2, (1, 8, 4)),
    "to_device": (
        lambda x: (x.to("strict").to("cpu") if x.device == "cpu" else x.to("cpu").to("strict")) ** 2,
        (3,),
    ),
}


def rows():
    """(name, function, inputs) for every row of the gradcheck table."""
    for name, f in table.UNARY.items():
        yield name, f, [table.make((2, 3), table.DOMAIN.get(name))]
    for name, f in table.BINARY.items():
        tx, ty = table.BINARY_DOMAIN.get(name, (None, None))
        yield name, f, [table.make((2, 3), tx, 1), table.make((3,), ty, 2)]
    for name, f in table.REDUCTIONS.items():
        yield name, (lambda x, f=f: f(x, axis=1)), [table.make((2, 3, 2), table.distinct)]
    for name in ("softmax", "log_softmax"):
        yield name, getattr(ad, name), [table.make((3, 4))]
    yield "softmax_cross_entropy", table.cross_entropy_of([2, 0, 3]), [table.make((3, 4))]
    for name, (f, shape) in {**table.SHAPE_OPS, **EXTRA}.items():
        yield name, f, [table.make(shape)]
    for name, (f, sa, sb) in table.LINALG.items():
        yield name, f, [table.make(sa, seed=3), table.make(sb, seed=4)]
    for name, (f, shape, transform) in table.LINALG_FUNCTIONS.items():
        yield "linalg." + name, f, [table.make(shape, transform, seed=5)]


def used_primitives(f, inputs) -> set[str]:
    """The primitives that f, its gradient and its Hessian-vector product call."""
    seen: set[str] = set()
    call = Primitive.__call__

    def recording(self, *args, **params):
        seen.add(self.name)
        return call(self, *args, **params)

    Primitive.__call__ = recording
    try:
        g = lambda u: (f(u, *inputs[1:]) ** 2).sum()  # noqa: E731
        ad.hvp(g, inputs[0], ad.ones_like(inputs[0]))  # forward over reverse
        ad.grad(lambda u: ad.grad(g)(u).sum())(inputs[0])  # reverse over reverse
    finally:
        Primitive.__call__ = call
    return seen


@pytest.mark.cpu_only
def test_every_primitive_declares_its_rules():
    for name, prim in PRIMITIVES.items():
        assert callable(prim.batch), f"primitive '{name}' has no batching rule"
        if prim.differentiable:
            assert callable(prim.jvp), f"primitive '{name}' has no JVP rule"
            assert prim.vjp, f"primitive '{name}' has no VJP rules"


@pytest.mark.cpu_only
def test_every_differentiable_primitive_has_a_gradcheck_row():
    covered: set[str] = set()
    for _, f, inputs in rows():
        covered |= used_primitives(f, inputs)
    library = {n: p for n, p in PRIMITIVES.items() if p.forward.__module__.startswith("autodiff.")}
    assert len(library) > 40  # (primitives that tests declare for themselves are not the library's)
    missing = sorted(n for n, p in library.items() if p.differentiable and n not in covered)
    assert not missing, f"primitives without a row in the gradcheck table: {missing}"


@pytest.mark.parametrize("name", sorted(EXTRA))
def test_extra_rows_gradcheck(name):
    f, shape = EXTRA[name]
    table.check(f, table.make(shape))


def test_registering_a_name_twice_raises():
    with pytest.raises(ValueError, match="'exp' is taken"):
        Primitive("exp", lambda xp, x: x, batch=lambda *a: a, differentiable=False)


DATA_DEPENDENT_SHAPE = {"bool_mask"}  # x[mask]: a shape per example, which vmap cannot stack


@pytest.mark.parametrize("name", sorted(n for n, *_ in rows() if n not in DATA_DEPENDENT_SHAPE))
def test_vmap_of_every_row_runs_its_batching_rule(name):
    f, inputs = next((f, i) for n, f, i in rows() if n == name)
    batch = [ad.stack([x * (1 + 0.1 * k) for k in range(3)]) for x in inputs]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fallback to a loop would warn
        mapped = ad.vmap(f)(*batch)
    looped = ad.stack([f(*[b[k] for b in batch]) for k in range(3)])
    np.testing.assert_allclose(mapped.numpy(), looped.numpy(), rtol=1e-13, atol=1e-13)


def test_vmap_over_conv2d_and_pooling():
    import nn

    conv, pool = nn.Conv2d(2, 3, 3, padding=1), nn.MaxPool2d(2)
    xs = ad.randn(4, 1, 2, 6, 6, seed=0)
    f = lambda x: nn.functional.avg_pool2d(pool(conv(x)), 3, stride=1)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mapped = ad.vmap(f)(xs)
    np.testing.assert_allclose(mapped.numpy(), ad.stack([f(x) for x in xs]).numpy(), rtol=1e-12, atol=1e-13)


def test_vmap_of_a_per_example_boolean_mask_says_why_it_cannot():
    with pytest.raises(ValueError, match="boolean mask .* inside vmap"):
        ad.vmap(lambda x: x[x > 0])(ad.randn(3, 4, seed=1))
