"""``ad.trace`` and ``ad.Program``: the lecture's program and its backward program as text,
higher orders, the passes (each switchable, each with a visible effect), drawing."""

import numpy as np
import pytest
from test_engine import lecture_program as lecture

import autodiff as ad
from autodiff.program import passes

FORWARD = """\
lecture_program(%0: () float64, %1: () float64):
  %2 = multiply(%0, %1)  # () float64
  %3 = power(%0, 2)  # () float64
  %4 = exp(%2)  # () float64
  %5 = multiply(2, %3)  # () float64
  %6 = add(%4, %5)  # () float64
  %7 = sin(%6)  # () float64
  return %7"""

BACKWARD = """\
lecture_program_grad(%0: () float64, %1: () float64):
  c0 = 1.0  # () float64
  %2 = multiply(%0, %1)  # () float64
  %3 = power(%0, 2)  # () float64
  %4 = exp(%2)  # () float64
  %5 = multiply(2, %3)  # () float64
  %6 = add(%4, %5)  # () float64
  %7 = cos(%6)  # () float64
  %8 = multiply(c0, %7)  # () float64
  %9 = multiply(%8, 2)  # () float64
  %10 = multiply(%9, 2)  # () float64
  %11 = power(%0, 1)  # () float64
  %12 = multiply(%10, %11)  # () float64
  %13 = multiply(%8, %4)  # () float64
  %14 = multiply(%13, %1)  # () float64
  %15 = add(%12, %14)  # () float64
  %16 = multiply(%13, %0)  # () float64
  return %15, %16"""


def _lecture_program():
    return ad.trace(lecture, ad.tensor(1.5), ad.tensor(0.5))


def test_lecture_forward_program_text():
    assert str(_lecture_program()) == FORWARD


def test_lecture_backward_program_text():
    """z^(out) = 1, then each adjoint by its VJP rule, out to the inputs (sin' = cos, ...)."""
    prog = _lecture_program()
    assert str(prog.grad((0, 1))) == BACKWARD
    x, y = ad.tensor(1.5), ad.tensor(0.5)
    expected = str(ad.trace(ad.grad(lecture, (0, 1)), x, y)).replace("program(", "program_grad(", 1)
    assert expected == BACKWARD


def test_backward_program_computes_the_gradient():
    x, y = ad.tensor(1.5), ad.tensor(0.5)
    gx, gy = _lecture_program().grad((0, 1))(x, y)
    z5 = np.exp(0.75) + 2 * 1.5**2
    np.testing.assert_allclose(gx.item(), np.cos(z5) * (0.5 * np.exp(0.75) + 4 * 1.5), rtol=1e-14)
    np.testing.assert_allclose(gy.item(), np.cos(z5) * 1.5 * np.exp(0.75), rtol=1e-14)


def test_higher_orders_compose():
    """A program of a program's gradient: d2 out / dx2, and the Hessian of a vector function."""
    x, y = ad.tensor(1.5), ad.tensor(0.5)
    second = _lecture_program().grad(0).grad(0)
    assert second.name == "lecture_program_grad_grad"
    np.testing.assert_allclose(second(x, y).item(), ad.grad(ad.grad(lecture))(x, y).item(), rtol=1e-14)
    f = lambda v: ad.sum(ad.tanh(v) ** 3)  # noqa: E731
    v = ad.tensor([0.3, -0.2, 0.5])
    hess = ad.trace(ad.hessian(ad.trace(f, v)), v)
    np.testing.assert_allclose(hess(v).numpy(), ad.hessian(f)(v).numpy(), rtol=1e-13)


def test_shapes_dtypes_and_parameters_are_printed():
    prog = ad.trace(lambda x: ad.sum(ad.exp(x), axis=0) * 2, ad.ones((16, 3), dtype="float32"))
    text = str(prog)
    assert "%1 = exp(%0)  # (16, 3) float32" in text
    assert "%2 = sum(%1, axis=(-2,), keepdims=False)  # (3,) float32" in text
    assert "getitem(%0, index=(1, ::2))" in str(ad.trace(lambda x: x[1, ::2], ad.ones((3, 4))))


def test_constant_folding():
    f = lambda x: x * ad.sum(ad.arange(4.0) * 2)  # noqa: E731
    raw = ad.trace(f, ad.ones(3), optimize=False)
    folded = passes.fold_constants(raw)
    assert [e.prim.name for e in raw.eqns] == ["multiply", "sum", "multiply"]
    assert [e.prim.name for e in folded.eqns] == ["multiply"]
    assert "c0 = 12.0  # () float64" in str(passes.renumber(folded))
    np.testing.assert_array_equal(folded(ad.ones(3)).numpy(), [12.0, 12.0, 12.0])


def test_common_subexpressions():
    f = lambda x: ad.exp(x) * ad.exp(x)  # noqa: E731
    raw = ad.trace(f, ad.ones(3), optimize=False)
    once = passes.eliminate_common_subexpressions(raw)
    assert [e.prim.name for e in raw.eqns] == ["exp", "exp", "multiply"]
    assert [e.prim.name for e in once.eqns] == ["exp", "multiply"]
    assert once.eqns[1].ins == (once.eqns[0].out, once.eqns[0].out)


def test_dead_code_drops_derivatives_not_asked_for():
    """Only d/dx is returned: the equations of d/dy are not in the program."""
    x, y = ad.tensor(1.5), ad.tensor(0.5)
    both = ad.trace(ad.grad(lecture, (0, 1)), x, y)
    only_x = ad.trace(lambda x, y: ad.grad(lecture, (0, 1))(x, y)[0], x, y)
    kept = ad.trace(lambda x, y: ad.grad(lecture, (0, 1))(x, y)[0], x, y, optimize=False)
    assert len(only_x.eqns) == len(both.eqns) - 1  # %16 = multiply(%13, %0), the adjoint of y
    assert len(passes.eliminate_dead_code(kept).eqns) < len(kept.eqns)
    assert only_x(x, y).item() == both(x, y)[0].item()


def test_passes_are_named_and_unknown_ones_refused():
    prog = ad.trace(lecture, ad.tensor(1.5), ad.tensor(0.5), optimize=False)
    assert passes.optimize(prog).passes == ("fold", "cse", "dce")
    assert passes.optimize(prog, ["dce"]).passes == ("dce",)
    with pytest.raises(ValueError, match="unknown pass 'loop'"):
        passes.optimize(prog, ["loop"])


def test_structured_outputs_and_static_arguments():
    prog = ad.trace(lambda x, k: {"y": x * k, "pair": (x, None)}, ad.ones(2), 3.0)
    out = prog(ad.full(2, 2.0))
    assert set(out) == {"y", "pair"} and out["pair"][1] is None
    np.testing.assert_array_equal(out["y"].numpy(), [6.0, 6.0])
    with pytest.raises(ValueError, match="traced for"):
        prog(ad.ones(3))


def test_detach_is_a_stop_gradient():
    prog = ad.trace(lambda x: x * x.detach(), ad.tensor([1.0, 2.0]))
    assert "stop_gradient(%0)" in str(prog)
    np.testing.assert_array_equal(ad.grad(lambda x: prog(x).sum())(ad.tensor([1.0, 2.0])).numpy(), [1.0, 2.0])


def test_to_dot_names_values_after_the_program():
    prog = _lecture_program()
    dot = prog.to_dot()
    assert dot.startswith("digraph") and "<b>%7</b>" in dot and "<b>sin</b>" in dot
    assert ad.to_dot(prog) == dot


def test_a_program_that_lost_its_inputs_warns():
    """Reading ``.data`` bypasses the engine: the program would return the example's values."""
    with pytest.warns(ad.program.TracingWarning, match="no output of <lambda> depends"):
        prog = ad.trace(lambda x: ad.Tensor(x.data * 2), ad.ones(3))
    assert prog.eqns == []
