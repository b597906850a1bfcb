"""Fusion of elementwise chains: consecutive elementwise equations of a program run as one
kernel where the backend can fuse (CuPy: ``cupy.fuse`` compiles the chain into one CUDA kernel,
so intermediates stay in registers instead of global memory: one launch, one pass over memory).

A *group* is a maximal run of consecutive equations whose primitives are ufuncs (``UFUNCS``);
it becomes one Python function of the values it reads, returning the values read after it,
handed to the device's fuser.  NumPy has no fuser: its ufuncs run one by one, and buffer reuse
(``out=``) is what the CPU replay does instead (see :mod:`autodiff.program.compile`).  CuPy and
its fuser: Okuta et al. 2017, *CuPy: A NumPy-compatible library for NVIDIA GPU calculations*.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from autodiff.program.ir import Const, Program, Var


def _cupy_fuse(fn: Callable) -> Callable:
    return importlib.import_module("cupy").fuse(fn)


# device -> the function that turns a Python function of ufunc calls into one fused kernel
FUSERS: dict[str, Callable[[Callable], Callable]] = {"cuda": _cupy_fuse}

# Primitives whose evaluation is this ufunc of their arguments (the same operation: the same bits;
# not power: NumPy computes ``x ** 2`` by ``square``, the power ufunc by pow).
UFUNCS = {
    name: name
    for name in (
        "negative exp log log1p expm1 sqrt sin cos tan tanh add subtract multiply divide maximum minimum"
    ).split()
}


def is_ufunc(e: Any) -> bool:
    return e.prim.name in UFUNCS and not e.params


def elementwise_groups(prog: Program) -> list[list[int]]:
    """Maximal runs (two equations or more) of consecutive elementwise equations."""
    groups: list[list[int]] = []
    run: list[int] = []
    for i, e in enumerate(prog.eqns):
        if is_ufunc(e):
            run.append(i)
            continue
        if len(run) > 1:
            groups.append(run)
        run = []
    if len(run) > 1:
        groups.append(run)
    return groups


def group_source(
    prog: Program, group: list[int], name: str, read_after: set[int], atom: Callable[[Any], str]
) -> tuple[str, list[str], list[str]]:
    """The source of the group's function, the names of its arguments (values and constants it
    reads from before it) and of its results (values of the group read after it)."""
    made = {prog.eqns[i].out.index for i in group}
    args: list[str] = []
    body = []
    for i in group:
        e = prog.eqns[i]
        for a in e.ins:
            outside = (isinstance(a, Var) and a.index not in made) or isinstance(a, Const)
            if outside and atom(a) not in args:
                args.append(atom(a))
        call = ", ".join(atom(a) for a in e.ins)
        body.append(f"    v{e.out.index} = xp.{UFUNCS[e.prim.name]}({call})")
    results = [f"v{prog.eqns[i].out.index}" for i in group if prog.eqns[i].out.index in read_after]
    lines = [f"def {name}({', '.join(args)}):", *body, f"    return ({', '.join(results)},)"]
    return "\n".join(lines) + "\n", args, results
