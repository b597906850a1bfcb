"""Program-to-program passes, each one a function a reader can call, skip and compare.

- ``fold``: constant folding.  An equation whose arguments are all constants is evaluated once,
  now, and its value becomes a constant.
- ``cse``: common-subexpression elimination.  Two equations with the same primitive, arguments and
  parameters compute the same value: the second reads the first.  ``alias`` (the identity by
  which transforms watch an input) reads its argument.
- ``dce``: dead-code elimination.  Equations no output depends on are dropped; so a derivative
  that is not returned (``grad(f, argnums=(0, 1))(x, y)[0]``) is not computed.

The passes of the classic compiler texts (Aho, Lam, Sethi and Ullman 2006, ch. 8-9), on
straight-line code, where each is one walk over the equations.  ``optimize`` runs them in
that order and numbers the values again from %0.  (Buffer reuse is a property of the replay:
see :mod:`autodiff.program.compile`.)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from autodiff import backend
from autodiff.program.ir import Const, Eqn, Program, Var

DEFAULT_PASSES = ("fold", "cse", "dce")


def _substitute(prog: Program, step: Callable[[Eqn, Callable[[Any], Any]], Any]) -> Program:
    """Walk the equations with arguments substituted; ``step(eqn, read)`` returns the equation to
    keep, or an atom that the equation's value is replaced by."""
    sub: dict[int, Any] = {}

    def read(a: Any) -> Any:
        return sub.get(a.index, a) if isinstance(a, Var) else a

    eqns = []
    for e in prog.eqns:
        kept = step(dataclasses.replace(e, ins=tuple(read(a) for a in e.ins)), read)
        if isinstance(kept, Eqn):
            eqns.append(kept)
        else:
            sub[e.out.index] = kept
    return dataclasses.replace(prog, eqns=eqns, outputs=[read(a) for a in prog.outputs])


def fold_constants(prog: Program) -> Program:
    """Evaluate the equations that read only constants; their values become constants."""
    xp = backend.namespace(prog.device)
    kind = type(xp.zeros(0))
    made = [max((c.index for c in prog.consts), default=-1) + 1]

    def step(e: Eqn, read: Callable) -> Any:
        if any(isinstance(a, Var) for a in e.ins):
            return e
        value = e.prim.forward(xp, *[a.value if isinstance(a, Const) else a for a in e.ins], **e.params)
        made[0] += 1
        return Const(made[0] - 1, backend.normalize(value, kind))

    return _substitute(prog, step)


def _key(value: Any) -> Any:
    """A hashable stand-in for an argument or parameter (arrays by identity)."""
    if isinstance(value, Var):
        return ("var", value.index)
    if isinstance(value, Const) or backend.is_array(value):
        return ("array", id(getattr(value, "value", value)))
    if isinstance(value, tuple | list):
        return (type(value).__name__,) + tuple(_key(v) for v in value)
    if isinstance(value, dict):
        return ("dict",) + tuple((k, _key(v)) for k, v in value.items())
    if isinstance(value, slice):
        return ("slice", value.start, value.stop, value.step)
    if isinstance(value, float):
        return ("float", repr(value))  # 0.0 and -0.0 differ; nan equals nan
    return (type(value).__name__, value)


def eliminate_common_subexpressions(prog: Program) -> Program:
    """The second of two equal equations reads the first; ``alias(x)`` reads x; equal
    one-element constants (the seeds of backward passes) are one."""
    seen: dict[Any, Any] = {}

    def same(a: Any) -> Any:
        if isinstance(a, Const) and a.value.size == 1:
            value = backend.to_numpy(a.value)  # one number, explicitly to the host
            return seen.setdefault(("const", a.value.shape, str(a.dtype), repr(value.item())), a)
        return a

    def step(e: Eqn, read: Callable) -> Any:
        if e.prim.name == "alias":
            return e.ins[0]
        e = dataclasses.replace(e, ins=tuple(same(a) for a in e.ins))
        try:
            key = (e.prim.name, _key(e.ins), _key(e.params))
            hash(key)
        except TypeError:  # a parameter without a hashable form: keep the equation
            return e
        if key in seen:
            return seen[key]
        seen[key] = e.out
        return e

    return _substitute(prog, step)


def eliminate_dead_code(prog: Program) -> Program:
    """Keep only the equations an output depends on."""
    live = {a.index for a in prog.outputs if isinstance(a, Var)}
    kept = []
    for e in reversed(prog.eqns):
        if e.out.index in live:
            kept.append(e)
            live.update(a.index for a in e.ins if isinstance(a, Var))
    return dataclasses.replace(prog, eqns=kept[::-1])


def renumber(prog: Program) -> Program:
    """Values numbered %0, %1... in order (inputs first), constants c0, c1... in order of use."""
    names: dict[int, Var] = {}
    consts: dict[int, Const] = {}

    def name(v: Var) -> Var:
        names[v.index] = Var(len(names), v.shape, v.dtype, v.strides)
        return names[v.index]

    def read(a: Any) -> Any:
        if isinstance(a, Var):
            return names[a.index]
        if isinstance(a, Const):
            return consts.setdefault(id(a.value), Const(len(consts), a.value))
        return a

    inputs = [name(v) for v in prog.inputs]
    eqns = [Eqn(e.prim, tuple(read(a) for a in e.ins), e.params, name(e.out)) for e in prog.eqns]
    return dataclasses.replace(prog, inputs=inputs, eqns=eqns, outputs=[read(a) for a in prog.outputs])


PASSES: dict[str, Callable[[Program], Program]] = {
    "fold": fold_constants,
    "cse": eliminate_common_subexpressions,
    "dce": eliminate_dead_code,
}


def optimize(prog: Program, passes: Sequence[str] = DEFAULT_PASSES) -> Program:
    """``prog`` after the named passes, in the order given, renumbered."""
    for name in passes:
        if name not in PASSES:
            raise ValueError(f"optimize: unknown pass {name!r}; the passes are {', '.join(PASSES)}")
        prog = PASSES[name](prog)
    return dataclasses.replace(renumber(prog), passes=tuple(prog.passes) + tuple(passes))
