"""``ad.compile``: trace once per input signature, then replay the program as straight-line code.

The replay is Python source generated from the program, one line per equation, each a call of
the primitive's raw evaluation ``forward(xp, *arrays, **params)`` on the backend namespace (or the
ufunc itself), run with ``exec`` once: no Tensor, no graph recording and no per-op dispatch on
the way.  Values are dropped (``del``) after their last use, and with buffer reuse an
elementwise equation writes its result into the buffer of an argument that dies there
(``xp.exp(v3, out=v3)``), and the slices' cotangents of a vector read in slices are added into
one buffer (``v9[w8] += v7``, see :func:`accumulations`), and a transposed outer product is made
in the transposed layout (:func:`transposed_products`), where the backend has ``out=`` (NumPy,
CuPy).  ``source()`` shows the code.

A call whose inputs take part in a derivative being recorded (they require grad, carry tangents,
or are batched by ``vmap``), or that happens inside another trace, runs the program with the
engine's operations instead, so that ``ad.grad(ad.compile(f))`` is right; the fast way round is
``ad.compile(ad.grad(f))``, whose program holds the backward pass.
"""

from __future__ import annotations

import builtins
import collections
import dataclasses
import functools
import math
import warnings
from collections.abc import Callable, Collection, Sequence
from typing import Any

from autodiff import backend
from autodiff.graph import is_grad_enabled
from autodiff.program import fusion
from autodiff.program import passes as program_passes
from autodiff.program.fusion import UFUNCS, is_ufunc
from autodiff.program.ir import Const, Program, Var
from autodiff.program.trace import active, trace
from autodiff.state import flags
from autodiff.tensor import Tensor

OUT_DEVICES = ("cpu", "cuda")  # namespaces whose ufuncs take out=
DEFAULT_CACHE_SIZE = 32
REPLAY_PASSES = ("reuse", "fuse")  # properties of the replay, not program-to-program passes


class CacheWarning(UserWarning):
    """A compiled function keeps being traced for new signatures (shapes, dtypes, statics)."""


def _literal(value: Any, names: dict) -> str:
    """A Python number as source text, or the name of a global holding it."""
    if value is None or type(value) in (bool, int) or (type(value) is float and math.isfinite(value)):
        return repr(value)
    name = f"k{len(names)}"
    names[name] = value
    return name


def last_uses(prog: Program) -> dict[int, int]:
    """For each value, the position of the last equation that reads it (outputs: past the end)."""
    last: dict[int, int] = {}
    for i, e in enumerate(prog.eqns):
        for a in e.ins:
            if isinstance(a, Var):
                last[a.index] = i
    for a in prog.outputs:
        if isinstance(a, Var):
            last[a.index] = len(prog.eqns)
    return last


def reusable_buffers(prog: Program) -> dict[int, int]:
    """Equation position -> the value whose buffer its result may overwrite: an argument of the
    same shape and dtype, computed by an elementwise ufunc (so it owns its memory), read only by
    elementwise ufuncs (so no view of it is alive), dead after this equation, and laid out in
    memory as the eager result was when traced (a reduction of the result then adds in the same
    order: NumPy's sums depend on the layout, so reusing a transposed buffer changes bits)."""
    last = last_uses(prog)
    produced_by: dict[int, str] = {e.out.index: e.prim.name for e in prog.eqns}
    readers_ok: dict[int, bool] = {}
    for e in prog.eqns:
        for a in e.ins:
            if isinstance(a, Var):
                readers_ok[a.index] = readers_ok.get(a.index, True) and e.prim.name in UFUNCS
    plan = {}
    for i, e in enumerate(prog.eqns):
        if e.prim.name not in UFUNCS or e.params or e.out.shape == ():
            continue
        for a in e.ins:
            if (
                isinstance(a, Var)
                and produced_by.get(a.index) in UFUNCS
                and readers_ok[a.index]
                and last[a.index] == i
                and a.shape == e.out.shape
                and a.dtype == e.out.dtype
                and a.strides == e.out.strides
            ):
                plan[i] = a.index
                break
    return plan


def _uses(prog: Program) -> tuple[dict, dict, collections.Counter, dict]:
    """For each value: its last use (:func:`last_uses`), the (position, equation) that makes it,
    how many equations read it, and the last equation that does."""
    made = {e.out.index: (i, e) for i, e in enumerate(prog.eqns)}
    readers, reader = collections.Counter(), {}
    for i, e in enumerate(prog.eqns):
        for a in e.ins:
            if isinstance(a, Var):
                readers[a.index] += 1
                reader[a.index] = i
    return last_uses(prog), made, readers, reader


@dataclasses.dataclass
class Accumulation:
    """How ``add(acc, scatter_add(g, index))`` is made in acc's buffer (see :func:`accumulations`):
    the position of the scatter_add; the accumulator; ``layout``, for a constant start of a chain
    whose end is transposed, the permutation the buffer is allocated in so that the transpose
    (and a reshape after it) is a view, not a copy of the whole result.  A chain from a constant
    whose slices are disjoint ranges of the last axis is *tiled* (:func:`_tile`): ``fill``, on
    its first step, the constant's pieces that the slices leave, written into a fresh buffer;
    ``assign``, a slice where the constant is zero, written with ``=`` instead of ``+=``."""

    scatter: int
    acc: Any
    layout: tuple[int, ...] | None = None
    fill: list[tuple[tuple, Any]] | None = None
    assign: bool = False


def accumulations(prog: Program) -> dict[int, Accumulation]:
    """Position of an ``add(a, scatter_add(g, index, shape))`` -> how the sum can be made in a's
    buffer as ``a[index] += g``: a is a constant (copied once) or a value that owns its buffer
    (made by an ufunc or a scatter_add), read by this equation only and dead after it, and the
    scattered value is read only here.  The gradient of a flat parameter vector read in slices is
    such a chain: one buffer then takes every slice's cotangent, where the plain replay makes a
    zero array of the full size and a sum per slice.  Outside the index the sum is a + 0, which
    is a (but for a = -0.0).  The ``layout`` of :class:`Accumulation` spares a copy of the result
    (W4: 0.153 s best against 0.177; adding a transposed g into its slice seen in g's shape,
    instead of copying g first, measured slower: 0.189 s, and was dropped)."""
    last, made, readers, reader = _uses(prog)
    plan, after = {}, {}
    for i, e in enumerate(prog.eqns):
        if e.prim.name != "add" or e.params or len(e.ins) != 2:
            continue
        for acc, scattered in (e.ins, e.ins[::-1]):
            source = made.get(scattered.index) if isinstance(scattered, Var) else None
            owner = made.get(acc.index, (0, None))[1] if isinstance(acc, Var) else None
            if (
                source is not None
                and source[1].prim.name == "scatter_add"
                and readers[scattered.index] == 1
                and last[scattered.index] == i  # not also an output
                and acc.shape == scattered.shape == e.out.shape
                and acc.dtype == e.out.dtype
                and (
                    isinstance(acc, Const)
                    or (
                        owner is not None
                        and (owner.prim.name in UFUNCS or owner.prim.name == "scatter_add")
                        and readers[acc.index] == 1
                        and last[acc.index] == i
                    )
                )
            ):
                plan[i] = Accumulation(source[0], acc)
                if isinstance(acc, Var) and made[acc.index][0] in plan:
                    after[made[acc.index][0]] = i
                break
    for i, step in plan.items():
        if not isinstance(step.acc, Const):
            continue
        chain = [i]  # the chain this constant starts
        while chain[-1] in after:
            chain.append(after[chain[-1]])
        result = prog.eqns[chain[-1]].out
        t = prog.eqns[reader[result.index]] if readers[result.index] == 1 else None
        if t and t.prim.name == "transpose":
            step.layout = tuple(t.params["axes"])
        _tile(prog, [plan[k] for k in chain])
    return plan


def _tile(prog: Program, steps: list[Accumulation]) -> None:
    """Tile the buffer of a chain from a constant c when every slice is a range of the last
    axis and no two overlap: the buffer is then allocated empty, c's pieces outside the ranges
    are written once, and a range where c is zero is written, not added to, so c (the size of
    the whole result) is never copied.  A parameter Jacobian is such a chain: c holds the last
    bias's block, every other block is one slice."""
    c, layout = steps[0].acc.value, steps[0].layout
    n = c.shape[-1] if c.ndim and (layout is None or layout[-1] == c.ndim - 1) else 0  # the last axis last
    ranges = []
    for step in steps:
        index = prog.eqns[step.scatter].params["index"]
        if len(index) != 1 or not isinstance(index[0], slice) or not n:
            return
        start, stop, stride = index[0].indices(n)
        if stride != 1:
            return
        ranges.append((start, max(start, stop)))
    edges = [0, *(x for r in sorted(ranges) for x in r), n]
    if edges != sorted(edges):  # two ranges overlap
        return
    gaps = [(edges[k], edges[k + 1]) for k in range(0, len(edges), 2) if edges[k + 1] > edges[k]]
    steps[0].fill = [((Ellipsis, slice(a, b)), c[..., a:b].copy()) for a, b in gaps]
    for step, (a, b) in zip(steps, ranges, strict=True):
        step.assign = not c[..., a:b].any().item()
        if not step.assign:
            steps[0].fill.append(((Ellipsis, slice(a, b)), c[..., a:b].copy()))


def transposed_products(prog: Program) -> dict[int, int]:
    """Position of a ``transpose(matmul(a, b))`` swapping the last two axes, where the product is
    an outer product (a's last axis has length 1) read only there -> the matmul's position: it is
    replayed as ``matmul(b^T, a^T)``, the same products (one multiplication each: the same bits)
    made in the transposed layout, so that a reshape after it is a view, not a copy (per-example
    weight gradients; W4: 0.15 -> 0.12 s)."""
    last, made, readers, _ = _uses(prog)
    plan = {}
    for i, e in enumerate(prog.eqns):
        n, source = len(e.out.shape), e.ins[0] if e.ins else None
        if e.prim.name != "transpose" or n < 2 or not isinstance(source, Var) or readers[source.index] != 1:
            continue
        if last[source.index] != i:  # the product is also an output
            continue
        j, product = made.get(source.index, (0, None))
        if (
            tuple(e.params["axes"]) == (*range(n - 2), n - 1, n - 2)
            and product is not None
            and product.prim.name == "matmul"
            and product.ins[0].shape[-1] == 1
        ):
            plan[i] = j
    return plan


def direct_products(prog: Program, accumulate: dict, swapped: dict) -> dict[int, tuple]:
    """Position of a tiled accumulation that writes (``assign``) the reshape of a transposed outer
    product (:func:`transposed_products`) into its slice -> ((product, transpose, reshape
    positions), the transpose's shape): the product is made by ``matmul(..., out=)`` in the slice,
    seen in that shape (a view: the reshape only splits the last axis, which a tiled buffer
    keeps last), with no array of its own and no copy (W4: the weight blocks of the Jacobian)."""
    last, made, readers, _ = _uses(prog)
    plan = {}
    for i, step in accumulate.items():
        s, g = step.scatter, prog.eqns[step.scatter].ins[0]
        r, reshape = made.get(g.index, (0, None)) if isinstance(g, Var) else (0, None)
        if not step.assign or reshape is None or reshape.prim.name != "reshape" or last[g.index] != s:
            continue
        source, k = reshape.ins[0], len(g.shape) - 1
        t = made.get(source.index, (None,))[0] if isinstance(source, Var) else None
        if (
            t in swapped
            and readers[g.index] == readers[source.index] == 1
            and last[source.index] == r
            and g.dtype == step.acc.dtype
            and source.shape[:k] == g.shape[:k]
            and math.prod(source.shape[k:]) == g.shape[k]
        ):
            plan[i] = ((swapped[t], t, r), tuple(source.shape))
    return plan


def lower(prog: Program, options: Collection[str] = REPLAY_PASSES) -> tuple[str, dict[str, Any]]:
    """The replay of ``prog``: Python source of ``replay(v0, v1, ...)`` (after the functions of
    its fused groups) and its globals.  ``options``: ``reuse`` (buffer reuse) and ``fuse``
    (elementwise chains as one kernel, where the device has a fuser)."""
    xp = backend.namespace(prog.device)
    names: dict[str, Any] = {"xp": xp, "asarray": xp.asarray}
    scalar_arrays = prog.device == "cpu"  # NumPy gives 0-d results as scalars: make them arrays
    direct = prog.device in OUT_DEVICES
    last = last_uses(prog)
    fuser = fusion.FUSERS.get(prog.device) if "fuse" in options else None
    groups = {g[0]: g for g in fusion.elementwise_groups(prog)} if fuser else {}
    grouped = {i for g in groups.values() for i in g}
    plan = reusable_buffers(prog) if "reuse" in options and direct else {}
    accumulate = accumulations(prog) if "reuse" in options and direct else {}
    accumulate = {i: a for i, a in accumulate.items() if not {i, a.scatter} & grouped}
    plan = {i: v for i, v in plan.items() if i not in grouped and i not in accumulate}
    swapped = transposed_products(prog) if "reuse" in options and direct else {}
    swapped = {i: j for i, j in swapped.items() if not {i, j} & grouped}
    written = direct_products(prog, accumulate, swapped)
    skipped = {step.scatter: i for i, step in accumulate.items()}  # made where the sum is made
    skipped.update({j: i for i, j in swapped.items()})  # products made where they are transposed
    for i, (positions, _) in written.items():  # or in the sum's buffer: product, transpose, reshape
        skipped.update(dict.fromkeys(positions, i))
    for j, i in skipped.items():  # what they read is read there; they make nothing
        for a in prog.eqns[j].ins:
            if isinstance(a, Var) and last.get(a.index) == j:
                last[a.index] = i
        last.pop(prog.eqns[j].out.index, None)
    dying: dict[int, list[str]] = collections.defaultdict(list)
    for index, at in last.items():
        if at < len(prog.eqns):
            dying[at].append(f"v{index}")

    def atom(a: Any) -> str:
        if isinstance(a, Var):
            return f"v{a.index}"
        if isinstance(a, Const):
            names[f"c{a.index}"] = a.value
            return f"c{a.index}"
        return _literal(a, names)

    functions, lines = [], [f"def replay({', '.join(f'v{v.index}' for v in prog.inputs)}):"]
    for i, e in enumerate(prog.eqns):
        out = f"v{e.out.index}"
        if i in groups:
            group, name = groups[i], f"fused{len(functions)}"
            read_after = {v for v, at in last.items() if at > group[-1]}
            source, args, results = fusion.group_source(prog, group, name, read_after, atom)
            functions.append(source)
            exec(builtins.compile(source, f"<{name} of {prog.name}>", "exec"), names)  # noqa: S102
            names[name] = fuser(names[name])
            lines.append(
                f"    {', '.join(results)}{',' if len(results) == 1 else ''} = {name}({', '.join(args)})"
            )
            inside = {f"v{prog.eqns[k].out.index}" for k in group} - set(results)
            gone = [v for k in group for v in dying.get(k, ()) if v not in inside]
        elif i in grouped or i in skipped:
            continue
        elif i in swapped:
            a, b = (atom(x) for x in prog.eqns[swapped[i]].ins)
            names[f"f{i}"] = prog.eqns[swapped[i]].prim.forward
            lines.append(f"    {out} = f{i}(xp, xp.swapaxes({b}, -1, -2), xp.swapaxes({a}, -1, -2))")
            gone = dying.get(i, [])
        elif i in accumulate:
            step = accumulate[i]
            scatter, where = prog.eqns[step.scatter], f"w{i}"
            names[where] = (Ellipsis,) + scatter.params["index"]
            if step.layout or step.fill is not None:  # a fresh buffer (in the layout the end wants)
                names[f"d{i}"] = step.acc.dtype
                layout = step.layout or tuple(range(len(step.acc.shape)))
                allocated = tuple(step.acc.shape[k] for k in layout)
                inverse = tuple(layout.index(k) for k in range(len(layout)))
                lines.append(f"    {out} = xp.empty({allocated}, dtype=d{i}).transpose({inverse})")
                whole = [(Ellipsis, step.acc.value)]  # untiled: the constant, copied in
                for k, (index, piece) in enumerate(whole if step.fill is None else step.fill):
                    names[f"w{i}_{k}"], names[f"p{i}_{k}"] = index, piece
                    lines.append(f"    {out}[w{i}_{k}] = p{i}_{k}")
            else:
                lines.append(
                    f"    {out} = {atom(step.acc)}{'.copy()' if isinstance(step.acc, Const) else ''}"
                )
            if i in written:  # the product written straight into its slice of the buffer
                (j, _, _), shape = written[i]
                a, b = (atom(x) for x in prog.eqns[j].ins)
                lines.append(
                    f"    xp.matmul(xp.swapaxes({b}, -1, -2), xp.swapaxes({a}, -1, -2), "
                    f"out=xp.reshape({out}[{where}], {shape}))"
                )
            elif any(hasattr(k, "ndim") for k in scatter.params["index"]):  # repeated indices add up
                lines.append(f"    xp.add.at({out}, {where}, {atom(scatter.ins[0])})")
            else:
                lines.append(f"    {out}[{where}] {'=' if step.assign else '+='} {atom(scatter.ins[0])}")
            gone = dying.get(i, [])
        else:
            args = ", ".join(atom(a) for a in e.ins)
            if direct and is_ufunc(e):
                into = f", out=v{plan[i]}" if i in plan else ""
                lines.append(f"    {out} = xp.{UFUNCS[e.prim.name]}({args}{into})")
            else:
                fn = f"f{i}"
                names[fn] = functools.partial(e.prim.forward, **e.params) if e.params else e.prim.forward
                lines.append(f"    {out} = {fn}(xp, {args})")
            if scalar_arrays and e.out.shape == ():
                lines.append(f"    {out} = asarray({out})")
            gone = [name for name in dying.get(i, ()) if name != f"v{plan.get(i)}"]
        if gone:
            lines.append(f"    del {', '.join(gone)}")
    # a constant output is copied: the caller may write into it, the next call reads it again
    outs = [
        f"{atom(a)}.copy()" if isinstance(a, Const) else atom(a) if isinstance(a, Var) else "None"
        for a in prog.outputs
    ]
    lines.append(f"    return ({', '.join(outs)}{',' if len(outs) == 1 else ''})")
    return "".join(functions) + "\n".join(lines) + "\n", names


def _replay_function(prog: Program, options: Collection[str]) -> Callable[..., tuple]:
    source, names = lower(prog, options)
    replay = source[source.index("def replay(") :]
    exec(builtins.compile(replay, f"<replay of {prog.name}>", "exec"), names)  # noqa: S102  (our own source)
    return names["replay"]


class Compiled:
    """The function ``ad.compile`` returns: ``f`` with a cache of programs keyed by signature."""

    def __init__(
        self,
        f: Callable,
        static_argnums: Sequence[int] = (),
        cache_size: int = DEFAULT_CACHE_SIZE,
        passes: Sequence[str] = (*program_passes.DEFAULT_PASSES, *REPLAY_PASSES),
    ):
        if not callable(f):
            raise TypeError(f"compile: f must be callable, got {type(f).__name__}")
        unknown = set(passes) - set(program_passes.PASSES) - set(REPLAY_PASSES)
        if unknown:
            raise ValueError(
                f"compile: unknown passes {sorted(unknown)}; choose from fold, cse, dce, reuse, fuse"
            )
        if not isinstance(cache_size, int) or cache_size < 1:
            raise ValueError(f"compile: cache_size must be a positive int, got {cache_size!r}")
        self.f = f
        self.static_argnums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
        self.cache_size = cache_size
        self.passes = tuple(passes)
        self.cache: collections.OrderedDict[Any, tuple[Program, Callable]] = collections.OrderedDict()
        self.traces = 0  # how many times f was traced
        self.warned = False
        functools.update_wrapper(self, f)

    def _signature(self, args: tuple) -> tuple:
        key = []
        for k, a in enumerate(args):
            if k not in self.static_argnums and (isinstance(a, Tensor) or backend.is_array(a)):
                key.append((a.shape, a.dtype, type(a.data if isinstance(a, Tensor) else a)))
                continue
            try:
                hash(a)
            except TypeError:
                raise TypeError(
                    f"compile: argument {k} ({type(a).__name__}) is static (not an array), so its value "
                    "is part of the cache key and must be hashable: pass a tuple, or a Tensor"
                ) from None
            key.append(("static", type(a), a))
        return tuple(key)

    def entry(self, *args: Any) -> tuple[Program, Callable]:
        """The program for these arguments' signature and its replay (traced on a miss)."""
        key = self._signature(args)
        found = self.cache.get(key)
        if found is not None:
            self.cache.move_to_end(key)
            return found
        statics = {k: a for k, a in enumerate(args) if not _traced(k, a, self.static_argnums)}
        traced = [a for k, a in enumerate(args) if k not in statics]

        def bound(*arrays: Any) -> Any:
            it = iter(arrays)
            return self.f(*[statics[k] if k in statics else next(it) for k in range(len(args))])

        bound.__name__ = getattr(self.f, "__name__", "compiled")
        prog = trace(bound, *[_example(a) for a in traced], optimize=False)
        prog = program_passes.optimize(prog, [p for p in self.passes if p not in REPLAY_PASSES])
        self.traces += 1
        if len(self.cache) >= self.cache_size:
            self.cache.popitem(last=False)
            if not self.warned:
                self.warned = True
                warnings.warn(
                    f"compile: {bound.__name__} was traced for {self.traces} signatures (shapes, dtypes, "
                    f"static arguments); only the last {self.cache_size} are kept, and each new one is "
                    "traced again. Pad inputs to a few shapes, or raise cache_size",
                    CacheWarning,
                    stacklevel=3,
                )
        found = self.cache[key] = (prog, _replay_function(prog, self.passes))
        return found

    def program(self, *args: Any) -> Program:
        """The (optimised) program that calls with these arguments replay."""
        return self.entry(*args)[0]

    def source(self, *args: Any) -> str:
        """The Python source of the replay for these arguments."""
        return lower(self.program(*args), self.passes)[0]

    def __call__(self, *args: Any) -> Any:
        prog, replay = self.entry(*args)
        arrays = [a for k, a in enumerate(args) if _traced(k, a, self.static_argnums)]
        if _recorded(arrays):
            return prog(*arrays)
        results = replay(*[a.data if isinstance(a, Tensor) else a for a in arrays])
        pairs = zip(results, prog.outputs, strict=True)
        return prog.unflatten([Tensor(r) if isinstance(a, Var | Const) else a for r, a in pairs])


def _traced(k: int, a: Any, static_argnums: tuple) -> bool:
    return k not in static_argnums and (isinstance(a, Tensor) or backend.is_array(a))


def _example(a: Any) -> Tensor:
    """A plain tensor of ``a``'s logical shape to trace with (zeros for a batched one)."""
    if isinstance(a, Tensor) and type(a) is not Tensor:  # inside vmap: one example's shape
        return Tensor(backend.array_module(a.data).zeros(a.shape, dtype=a.dtype))
    return a if isinstance(a, Tensor) else Tensor(a)


def _recorded(arrays: list) -> bool:
    """Whether the call must run on tensors: a derivative is being recorded through it."""
    if active.tracer is not None or flags.forward_levels or flags.vmap_levels:
        return True
    return is_grad_enabled() and any(isinstance(a, Tensor) and a.requires_grad for a in arrays)


def compile(  # noqa: A001  (ad.compile, as jax.jit / torch.compile)
    f: Callable,
    *,
    static_argnums: int | Sequence[int] = (),
    cache_size: int = DEFAULT_CACHE_SIZE,
    passes: Sequence[str] = (*program_passes.DEFAULT_PASSES, *REPLAY_PASSES),
) -> Compiled:
    """``f`` compiled: traced on the first call per signature (shapes, dtypes and devices of the
    array arguments, values of the others and of ``static_argnums``), then replayed as
    straight-line array code.  ``passes``: any of ``fold``, ``cse``, ``dce`` (run in the order given),
    ``reuse`` (buffer reuse) and ``fuse`` (elementwise chains as one kernel, on CuPy); at most
    ``cache_size`` programs are kept (a warning says when more are needed).  Results equal f's
    (the same operations in the same order)."""
    return Compiled(f, static_argnums, cache_size, passes)
