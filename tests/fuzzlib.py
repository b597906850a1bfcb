"""Random straight-line programs for the fuzzer (tests/test_fuzz.py), written once and run twice:
with autodiff and with PyTorch.

A program is a list of steps ``v_k = op(v_i, v_j, ...)`` over earlier values (the inputs first),
ending in the scalar ``sum_k (v_k * w_k).sum()`` over every step with fixed random weights w_k,
so that each step reaches the output.  Each op of :data:`OPS` is a pair of code templates (the
autodiff one and its PyTorch reference) and a generator choosing arguments and parameters that
are valid for the shapes at hand; the code that runs is the code printed (:meth:`Program.source`).

Exclusion rules (the module docstring of test_fuzz.py states them for users):

* Domains: ops defined on x > 0 (log, sqrt, fractional powers, the base of ``power``) only take
  values known to be positive (positive inputs, exp, softplus, ...).
* Kinks and ties: every non-smooth op has a ``margin``, the relative distance of its arguments
  to the set where it is not differentiable (0 for relu/abs/sign, the clip bounds, ties of
  maximum/max/argmax, the two sides of a ``where`` condition, the integers for a cast to int,
  the poles of tan and of negative powers).  A program whose margin falls below ``MARGIN`` is
  discarded, whatever the op: conventions at those points (PyTorch's and ours) are not compared.
* Range: programs with a value beyond ``LIMIT`` or any non-finite reference are discarded.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

import autodiff as ad
import autodiff.numpy as anp

MARGIN = 1e-6  # relative distance to a kink, tie or boundary below which a program is discarded
POLE = 1e-2  # the same for poles (1/x, tan): keeps the Hessians well conditioned
LIMIT = 1e6  # largest |value| a program may reach
MAX_SIZE = 96  # largest number of entries of one value


class Code(str):
    """A parameter inserted into a template verbatim (not by ``repr``)."""


# ----------------------------------------------------------------------------- choosers
class Chooser:
    """The source of every random choice: hypothesis's ``draw`` (shrinkable) or a seeded
    ``random.Random`` (deterministic, for the coverage test)."""

    def __init__(self, draw: Callable | None = None, seed: int = 0):
        self._draw = draw
        self._random = random.Random(seed)

    def integer(self, lo: int, hi: int) -> int:
        if self._draw is None:
            return self._random.randint(lo, hi)
        from hypothesis import strategies as st

        return self._draw(st.integers(lo, hi))

    def boolean(self) -> bool:
        return bool(self.integer(0, 1))

    def choice(self, seq: Sequence) -> Any:
        return seq[self.integer(0, len(seq) - 1)]

    def subset(self, seq: Sequence) -> list:
        return [s for s in seq if self.boolean()]

    def group(self, fn: Callable[[Chooser], Any]) -> Any:
        """``fn(chooser)`` as one unit of choices: under hypothesis a span of its own, which the
        shrinker can delete whole (a program step), whatever else the choices depend on."""
        if self._draw is None:
            return fn(self)
        from hypothesis import strategies as st

        return self._draw(st.composite(lambda draw: fn(Chooser(draw)))())


# ----------------------------------------------------------------------------- PyTorch helpers
class T:
    """PyTorch spellings of NumPy conventions used by the reference templates."""

    @staticmethod
    def dims(x: torch.Tensor, axis: Any) -> tuple[int, ...]:
        if axis is None:
            return tuple(range(x.ndim))
        return tuple(a % x.ndim for a in (axis if isinstance(axis, tuple) else (axis,)))

    @staticmethod
    def reduce(name: str, x: torch.Tensor, axis: Any, keepdims: bool, **kw: Any) -> torch.Tensor:
        if axis is None:  # NumPy: over every axis (also for a 0-d x)
            out = T.reduce(name, x.reshape(-1), 0, False, **kw)
            return out.reshape([1] * x.ndim) if keepdims else out
        dims = T.dims(x, axis)
        if not dims:  # NumPy: reducing over no axis leaves x as it is
            return x.clone()
        if name == "prod":
            for d in sorted(dims, reverse=True):
                x = torch.prod(x, dim=d, keepdim=True)
            return x if keepdims else x.reshape([n for i, n in enumerate(x.shape) if i not in dims])
        if name == "norm":
            return torch.linalg.vector_norm(x, kw.get("ord", 2), dim=dims, keepdim=keepdims)
        if name in ("var", "std"):
            return getattr(torch, name)(x, dim=dims, correction=kw.get("ddof", 0), keepdim=keepdims)
        fn = {"max": torch.amax, "min": torch.amin}.get(name) or getattr(torch, name)
        return fn(x, dim=dims, keepdim=keepdims)

    @staticmethod
    def spd(x: torch.Tensor) -> torch.Tensor:
        """X X^T + diag(1, ..., n): symmetric positive definite, eigenvalues apart (``SPD``)."""
        n = x.shape[-2]
        return x @ x.mT + torch.diag(torch.arange(1.0, n + 1, dtype=x.dtype))

    @staticmethod
    def lines(x: torch.Tensor, axis: Any) -> torch.Tensor:
        """x with the axes ``axis`` moved last and merged into one (None: every axis)."""
        dims = T.dims(x, axis)
        rest = [d for d in range(x.ndim) if d not in dims]
        return x.permute(rest + list(dims)).reshape([x.shape[d] for d in rest] + [-1])

    @staticmethod
    def median(x: torch.Tensor, axis: Any, keepdims: bool) -> torch.Tensor:
        """NumPy's median (the mean of the two middle entries for an even count)."""
        s = torch.sort(T.lines(x, axis), dim=-1).values
        n = s.shape[-1]
        out = s[..., (n - 1) // 2] if n % 2 else (s[..., n // 2 - 1] + s[..., n // 2]) / 2
        dims = T.dims(x, axis)
        return out.reshape([1 if d in dims else m for d, m in enumerate(x.shape)]) if keepdims else out

    @staticmethod
    def take(x: torch.Tensor, indices: Any, axis: int) -> torch.Tensor:
        """NumPy's take along one axis: that axis replaced by the axes of ``indices``."""
        idx = torch.as_tensor(indices)
        a = axis % x.ndim
        picked = x.index_select(a, idx.reshape(-1) % x.shape[a])
        return picked.reshape(x.shape[:a] + idx.shape + x.shape[a + 1 :])

    @staticmethod
    def index(x: torch.Tensor, key: Any) -> torch.Tensor:
        """NumPy indexing by the flat positions NumPy picks (any key, negative steps included)."""
        flat = np.arange(x.numel()).reshape(tuple(x.shape))[key]
        return x.reshape(-1)[torch.as_tensor(flat)]


# ----------------------------------------------------------------------------- margins
def _rel(d: torch.Tensor, scale: torch.Tensor) -> float:
    """min |d| / (1 + |scale|): a relative distance, inf when empty."""
    d = torch.abs(d) / (1 + torch.abs(scale))
    return float(d.min()) if d.numel() else math.inf


def from_zero(args: list, params: dict) -> float:
    return _rel(args[0], args[0])


def apart(args: list, params: dict) -> float:
    a, b = torch.broadcast_tensors(args[0], args[1])
    return _rel(a - b, torch.maximum(torch.abs(a), torch.abs(b)))


def where_margin(args: list, params: dict) -> float:
    return min(apart(args, params), from_zero(args[:1], params), from_zero(args[1:2], params))


def clip_margin(args: list, params: dict) -> float:
    x = args[0]
    bounds = [b for b in (params["lo"], params["hi"]) if b is not None]
    return min((_rel(x - b, x) for b in bounds), default=math.inf)


def tie_margin(args: list, params: dict) -> float:
    """The gap between the two largest (and the two smallest) entries over the reduced axes."""
    x = args[0].detach()
    if "absolute" in params:
        x = torch.abs(x)
    if not T.dims(x, params.get("axis")):
        return math.inf
    moved = T.lines(x, params.get("axis"))
    if moved.shape[-1] < 2:
        return math.inf
    s = torch.sort(moved, dim=-1).values
    return min(_rel(s[..., -1] - s[..., -2], s[..., -1]), _rel(s[..., 1] - s[..., 0], s[..., 0]))


def order_margin(args: list, params: dict) -> float:
    """The smallest gap between entries of a line (sort, median): where two are equal, which
    one goes where is a convention."""
    x = args[0].detach()
    if not T.dims(x, params.get("axis")):
        return math.inf
    s = torch.sort(T.lines(x, params.get("axis")), dim=-1).values
    return _rel(s[..., 1:] - s[..., :-1], s[..., 1:]) if s.shape[-1] > 1 else math.inf


def cross_margin(args: list, params: dict) -> float:
    """Entries of a x b that cancel (parallel vectors) are rounding noise, not compared."""
    a, b = (torch.movedim(x, params["axis"], -1) for x in args)
    a, b = torch.broadcast_tensors(a, b)
    return _rel(torch.linalg.cross(a, b), a.norm(dim=-1, keepdim=True) * b.norm(dim=-1, keepdim=True))


def half_margin(args: list, params: dict) -> float:
    """Distance to the half-integers, where rint and round jump."""
    x = args[0]
    return _rel(x - torch.floor(x) - 0.5, x)


def remainder_margin(args: list, params: dict) -> float:
    """Distance of x / y to the integers (where remainder jumps), and of y to the pole 0."""
    q = args[0] / args[1]
    return min(_rel(q - torch.round(q), q), pole_margin(args, params))


def integer_margin(args: list, params: dict) -> float:
    x = args[0]
    return _rel(x - torch.round(x), x)


def pole_margin(args: list, params: dict) -> float:
    """Distance of the last argument to the pole 0, scaled so that POLE maps to MARGIN."""
    return _rel(args[-1], args[-1]) / POLE * MARGIN


def tan_margin(args: list, params: dict) -> float:
    return _rel(torch.cos(args[0]), torch.zeros(())) / POLE * MARGIN


def std_margin(args: list, params: dict) -> float:
    x = args[0]
    v = T.reduce("var", x, params["axis"], False)
    return _rel(torch.sqrt(v), T.reduce("max", torch.abs(x), params["axis"], False))


def norm_margin(args: list, params: dict) -> float:
    x = args[0]
    kink = from_zero(args, params) if params.get("ord") in (1, math.inf) else math.inf
    ties = tie_margin(args, params) if params.get("ord") == math.inf else math.inf
    scale = T.reduce("max", torch.abs(x), params["axis"], False)
    return min(kink, ties, _rel(T.reduce("norm", x, params["axis"], False), scale))


# ----------------------------------------------------------------------------- values and ops
@dataclass(frozen=True)
class Value:
    shape: tuple[int, ...]
    positive: bool


@dataclass(frozen=True)
class Op:
    """``ad``/``torch``: templates (or functions of the parameters returning one) with ``{0}``,
    ``{1}``... for the arguments and ``{name}`` for the parameters.  ``gen(ch, values)`` returns
    ``(argument indices, parameters)`` or None when nothing fits.  ``positive``: "always" (the
    result is > 0), "args" (> 0 when every argument is), or "" (no promise)."""

    name: str
    ad: str | Callable[[dict], str]
    torch: str | Callable[[dict], str]
    gen: Callable[[Chooser, list[Value]], tuple[tuple[int, ...], dict] | None]
    margin: Callable[[list, dict], float] | None = None
    positive: str = ""
    known_bug: str = ""


def _fill(template: str | Callable[[dict], str], names: Sequence[str], params: dict) -> str:
    text = template(params) if callable(template) else template
    return text.format(*names, **{k: v if isinstance(v, Code) else repr(v) for k, v in params.items()})


@functools.cache
def _compile(source: str, arity: int) -> Callable:
    names = ", ".join(f"a{i}" for i in range(arity))
    return eval(
        f"lambda {names}: {source}", {"ad": ad, "anp": anp, "torch": torch, "T": T, "np": np, "inf": math.inf}
    )


def size(shape: Sequence[int]) -> int:
    return math.prod(shape)


def _pick(ch: Chooser, values: list[Value], ok: Callable[[Value], bool] = lambda v: True) -> int | None:
    fits = [i for i, v in enumerate(values) if ok(v)]
    return ch.choice(fits) if fits else None


def _broadcast(*shapes: tuple[int, ...]) -> tuple[int, ...] | None:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        return None


def _axis(ch: Chooser, ndim: int) -> int:
    a = ch.integer(0, ndim - 1)
    return a - ndim if ch.boolean() else a


def _axes(ch: Chooser, ndim: int, allow_empty: bool = True) -> Any:
    """None, one axis, or a tuple of distinct axes (some negative)."""
    kind = ch.integer(0, 2) if ndim else 0
    if kind == 0:
        return None
    if kind == 1:
        return _axis(ch, ndim)
    chosen = ch.subset(range(ndim))
    if not chosen and not allow_empty:
        chosen = [0]
    order = sorted(chosen, key=lambda a: ch.integer(0, 9))
    return tuple(a - ndim if ch.boolean() else a for a in order)


# --- generators
def gen_any(ch, values):
    return (_pick(ch, values),), {}


def gen_positive(ch, values):
    i = _pick(ch, values, lambda v: v.positive)
    return None if i is None else ((i,), {})


def gen_nd(ndim: int):
    def gen(ch, values):
        i = _pick(ch, values, lambda v: len(v.shape) >= ndim)
        return None if i is None else ((i,), {})

    return gen


def gen_broadcast(arity: int, positive_first: bool = False):
    """Arguments whose shapes broadcast together (preferring different values)."""

    def gen(ch, values):
        first = _pick(ch, values, (lambda v: v.positive) if positive_first else (lambda v: True))
        if first is None:
            return None
        chosen, shape = [first], values[first].shape
        for _ in range(arity - 1):
            fits = [i for i, v in enumerate(values) if _broadcast(shape, v.shape) is not None]
            others = [i for i in fits if i not in chosen] or fits
            chosen.append(ch.choice(others))
            shape = _broadcast(shape, values[chosen[-1]].shape)
        return None if size(shape) > MAX_SIZE else (tuple(chosen), {})

    return gen


def with_params(gen: Callable, make: Callable[[Chooser, list[Value]], dict | None]):
    """A generator adding parameters chosen from the first argument's shape."""

    def combined(ch, values):
        picked = gen(ch, values)
        if picked is None:
            return None
        params = make(ch, [values[i] for i in picked[0]])
        return None if params is None else (picked[0], {**picked[1], **params})

    return combined


def choose(**options: Sequence) -> Callable:
    return lambda ch, vals: {k: ch.choice(v) for k, v in options.items()}


def reduction_params(ch, vals, allow_empty=True, ddof=False):
    ndim = len(vals[0].shape)
    axis = _axes(ch, ndim, allow_empty)
    params = {"axis": axis, "keepdims": ch.boolean()}
    if ddof:  # ddof = 1 needs two entries
        count = size([vals[0].shape[a] for a in T.dims(torch.empty(vals[0].shape), axis)])
        params["ddof"] = ch.integer(0, 1) if count > 1 else 0
    return params


def cross_entropy_params(ch: Chooser, shape: tuple[int, ...]) -> dict | None:
    """Integer labels in [0, C) for logits of ``shape`` (..., C), as NumPy code."""
    if shape[-1] == 0:
        return None
    labels = [ch.integer(0, shape[-1] - 1) for _ in range(size(shape[:-1]))]
    code = f"np.array({labels}, dtype=np.int64).reshape({tuple(shape[:-1])})"
    return {"labels": Code(code), "classes": shape[-1], "batch": tuple(shape[:-1])}


def axis_param(ch, vals):
    return {"axis": _axis(ch, len(vals[0].shape))}


def _factor(ch: Chooser, n: int) -> list[int]:
    dims = []
    while n > 1 and len(dims) < 4:
        divisors = [d for d in range(1, n + 1) if n % d == 0]
        d = ch.choice(divisors)
        dims.append(d)
        n //= d
    dims.append(n)
    return [d for d in dims if d != 1 or ch.integer(0, 3) == 0]


def reshape_params(ch, vals):
    shape = _factor(ch, size(vals[0].shape))
    if shape and ch.integer(0, 3) == 0:
        shape[ch.integer(0, len(shape) - 1)] = -1
    return {"shape": tuple(shape)}


def perm_params(ch, vals):
    ndim = len(vals[0].shape)
    return {"perm": tuple(sorted(range(ndim), key=lambda a: ch.integer(0, 9)))}


def two_axes(ch, vals):
    ndim = len(vals[0].shape)
    return {"a1": _axis(ch, ndim), "a2": _axis(ch, ndim)}


def broadcast_params(ch, vals):
    shape = tuple(ch.integer(1, 3) if n == 1 else n for n in vals[0].shape)
    shape = tuple(ch.integer(1, 3) for _ in range(ch.integer(0, 2))) + shape
    return {"shape": shape} if size(shape) <= MAX_SIZE else None


def expand_params(ch, vals):
    ndim = len(vals[0].shape)
    axis = _axis(ch, ndim + 1) if ch.boolean() else tuple(sorted({ch.integer(0, ndim + 1) for _ in range(2)}))
    if isinstance(axis, tuple) and len(axis) == 1:
        axis = (min(axis[0], ndim),)
    return {"axis": axis, "out": tuple(np.expand_dims(np.empty(vals[0].shape), axis).shape)}


def squeeze_params(ch, vals):
    shape = vals[0].shape
    ones = [a for a, n in enumerate(shape) if n == 1]
    if not ones:
        return None
    axis = ch.choice([None, ch.choice(ones) - len(shape), tuple(ch.subset(ones))])
    return {"axis": axis, "out": tuple(np.squeeze(np.empty(shape), axis).shape)}


def flatten_params(ch, vals):
    ndim = len(vals[0].shape)
    start = ch.integer(0, ndim - 1)
    return {"start": start, "end": ch.integer(start, ndim - 1) - (ndim if ch.boolean() else 0)}


def flip_params(ch, vals):
    axis = _axes(ch, len(vals[0].shape))
    dims = T.dims(torch.empty(vals[0].shape), axis)
    return {"axis": axis, "dims": dims}


def pad_params(ch, vals):
    widths = tuple((ch.integer(0, 2), ch.integer(0, 1)) for _ in vals[0].shape)
    out = [n + a + b for n, (a, b) in zip(vals[0].shape, widths, strict=True)]
    flat = tuple(w for pair in reversed(widths) for w in pair)
    return {"widths": widths, "flat": flat} if size(out) <= MAX_SIZE else None


def gen_same_but(axis_extra: int, count_max: int = 3):
    """1 to count_max values of one shape (concatenate: any size along the axis; stack: equal)."""

    def gen(ch, values):
        first = _pick(ch, values, lambda v: len(v.shape) + axis_extra >= 1)
        shape = values[first].shape if first is not None else None
        if shape is None:
            return None
        ndim = len(shape) + axis_extra
        axis = _axis(ch, ndim)
        a = axis % ndim

        def fits(v):
            if axis_extra:
                return v.shape == shape
            return len(v.shape) == len(shape) and all(
                n == m for i, (n, m) in enumerate(zip(v.shape, shape, strict=True)) if i != a
            )

        chosen = [first] + [_pick(ch, values, fits) for _ in range(ch.integer(0, count_max - 1))]
        out = size(shape) * len(chosen) if axis_extra else sum(size(values[i].shape) for i in chosen)
        return None if out > MAX_SIZE else (tuple(chosen), {"axis": axis, "n": len(chosen)})

    return gen


def _listed(prefix: str, suffix: str, joiner: str = ", "):
    return lambda p: prefix + joiner.join(f"{{{i}}}" for i in range(p["n"])) + suffix


def split_params(ch, vals):
    shape = vals[0].shape
    axis = _axis(ch, len(shape))
    n = shape[axis]
    divisors = [d for d in range(1, n + 1) if n % d == 0]
    if ch.boolean():
        sections = ch.choice(divisors)
        bounds = list(range(0, n + 1, n // sections))
    else:
        cuts = sorted({ch.integer(0, n) for _ in range(ch.integer(1, 2))})
        sections, bounds = list(cuts), [0, *cuts, n]
    k = ch.integer(0, len(bounds) - 2)
    return {
        "axis": axis,
        "sections": sections,
        "k": k,
        "start": bounds[k],
        "length": bounds[k + 1] - bounds[k],
    }


def index_params(ch, vals):
    """A NumPy key mixing ints, slices (negative steps too), None, ..., integer and bool lists."""
    shape = vals[0].shape
    entries, arrays = [], None
    for n in shape:
        kind = ch.integer(0, 4)
        if kind == 0:
            entries.append(str(ch.integer(-n, n - 1)))
        elif kind in (1, 2):
            step = ch.choice([None, 1, 2, -1, -2])
            start = ch.choice([None, ch.integer(-n, n - 1)])
            stop = ch.choice([None, ch.integer(-n - 1, n)])
            text = ":".join("" if s is None else str(s) for s in (start, stop, step)).rstrip(":")
            entries.append(text if ":" in text else text + ":")
        elif kind == 3:
            if arrays is None:
                arrays = ch.integer(1, 3) if ch.integer(0, 3) else 0  # length, or 0: a bool mask
            if arrays == 0:
                entries.append(str([ch.boolean() for _ in range(n)]))
                arrays = -1  # one bool mask at most, alone
            elif arrays > 0:
                entries.append(str([ch.integer(-n, n - 1) for _ in range(arrays)]))
            else:
                entries.append(":")
        else:
            entries.append(":")
    if entries and ch.integer(0, 3) == 0:
        entries.insert(ch.integer(0, len(entries)), "None")
    while entries and entries[-1] == ":" and ch.boolean():
        entries[-1] = "..."
        break
    key = ", ".join(entries) if len(entries) != 1 else entries[0]
    if not entries:
        key = "..."
    try:
        out = np.empty(shape)[eval(f"np.s_[{key}]", {"np": np})]
    except IndexError:
        return None
    return {"key": Code(key)} if out.size <= MAX_SIZE else None


def gen_matmul(ch, values):
    a = _pick(ch, values, lambda v: len(v.shape) >= 1)
    if a is None:
        return None

    def fits(v):
        try:
            return (
                len(v.shape) >= 1 and np.matmul(np.zeros(values[a].shape), np.zeros(v.shape)).size <= MAX_SIZE
            )
        except ValueError:
            return False

    b = _pick(ch, values, fits)
    return None if b is None else ((a, b), {})


def gen_same_vector(ch, values):
    a = _pick(ch, values, lambda v: len(v.shape) == 1)
    if a is None:
        return None
    b = _pick(ch, values, lambda v: v.shape == values[a].shape)
    return (a, b), {}


def gen_outer(ch, values):
    a, b = _pick(ch, values), _pick(ch, values)
    return ((a, b), {}) if size(values[a].shape) * size(values[b].shape) <= MAX_SIZE else None


def gen_dot_nd(ch, values):
    """NumPy's dot of N-D operands: a's last axis summed with b's second-to-last."""
    a = _pick(ch, values, lambda v: len(v.shape) >= 1)
    if a is None:
        return None
    b = _pick(ch, values, lambda v: len(v.shape) >= 2 and v.shape[-2] == values[a].shape[-1])
    if b is None:
        return None
    shape = values[a].shape[:-1] + values[b].shape[:-2] + values[b].shape[-1:]
    return None if size(shape) > MAX_SIZE else ((a, b), {})


LETTERS = "abcdefgh"


def gen_einsum(ch, values):
    """One to three operands; letters shared where the sizes agree, an arbitrary output."""
    count = ch.integer(1, 3)
    chosen, specs, sizes = [], [], {}
    for _ in range(count):
        i = _pick(ch, values, lambda v: len(v.shape) <= 3)
        if i is None:
            return None
        spec = ""
        for n in values[i].shape:
            shared = [c for c, m in sizes.items() if m == n and c not in spec]
            if shared and ch.boolean():
                spec += ch.choice(shared)
            else:
                spec += LETTERS[len(sizes)]
                sizes[spec[-1]] = n
        chosen.append(i)
        specs.append(spec)
    out = "".join(sorted(ch.subset(sorted(sizes)), key=lambda c: ch.integer(0, 9)))
    if size(sizes[c] for c in out) > MAX_SIZE:
        return None
    return tuple(chosen), {"spec": ",".join(specs) + "->" + out, "n": count}


def gen_unfold(ch, values):
    i = _pick(ch, values, lambda v: len(v.shape) in (3, 4))
    if i is None:
        return None
    h, w = values[i].shape[-2:]
    p = ch.integer(0, 1)
    k = (ch.integer(1, h + 2 * p), ch.integer(1, w + 2 * p))
    s = (ch.integer(1, 2), ch.integer(1, 2))
    return (i,), {"k": k, "s": s, "p": p, "size": (h, w)}


def gen_argmax(ch, values):
    a = _pick(ch, values, lambda v: size(v.shape) >= 1)
    b = _pick(ch, values, lambda v: size(v.shape) == size(values[a].shape))
    return (a, b), {"which": Code(ch.choice(["argmax", "argmin"])), "axis": None}


def gen_ndim_in(*ranks: int):
    def gen(ch, values):
        i = _pick(ch, values, lambda v: len(v.shape) in ranks)
        return None if i is None else ((i,), {})

    return gen


def gen_kron(ch, values):
    a, b = _pick(ch, values), _pick(ch, values)
    return ((a, b), {}) if size(values[a].shape) * size(values[b].shape) <= MAX_SIZE else None


def gen_tensordot(ch, values):
    """Pairs of axes of equal length, contracted."""
    a, b = _pick(ch, values), _pick(ch, values)
    sa, sb = values[a].shape, values[b].shape
    pairs, used = [], set()
    for i in ch.subset(range(len(sa))):
        fits = [j for j in range(len(sb)) if sb[j] == sa[i] and j not in used]
        if fits:
            pairs.append((i, ch.choice(fits)))
            used.add(pairs[-1][1])
    free = [n for i, n in enumerate(sa) if i not in {p for p, _ in pairs}] + [
        n for j, n in enumerate(sb) if j not in used
    ]
    axes = ([p for p, _ in pairs], [q for _, q in pairs])
    return None if size(free) > MAX_SIZE else ((a, b), {"axes": axes})


def gen_inner(ch, values):
    a = _pick(ch, values, lambda v: len(v.shape) >= 1)
    if a is None:
        return None
    b = _pick(ch, values, lambda v: len(v.shape) >= 1 and v.shape[-1] == values[a].shape[-1])
    shape = values[a].shape[:-1] + values[b].shape[:-1]
    return None if size(shape) > MAX_SIZE else ((a, b), {})


def gen_cross(ch, values):
    """Two values with 3 entries along the chosen axis (broadcast over the others)."""
    a = _pick(ch, values, lambda v: 3 in v.shape)
    if a is None:
        return None
    axis = ch.choice([i - len(values[a].shape) for i, n in enumerate(values[a].shape) if n == 3])
    b = _pick(
        ch,
        values,
        lambda v: (
            len(v.shape) >= -axis and v.shape[axis] == 3 and _broadcast(values[a].shape, v.shape) is not None
        ),
    )
    return None if b is None else ((a, b), {"axis": axis})


def rollaxis_params(ch, vals):
    ndim = len(vals[0].shape)
    axis, start = ch.integer(0, ndim - 1), ch.integer(0, ndim)
    return {"axis": axis, "start": start, "dest": start - 1 if axis < start else start}


CONDITIONS = [  # (autodiff, torch) spellings of a boolean of {0} and {1}
    ("{0} > {1}", "{0} > {1}"),
    ("{0} < {1}", "{0} < {1}"),
    ("ad.greater_equal({0}, {1})", "torch.ge({0}, {1})"),
    ("ad.less_equal({0}, {1})", "torch.le({0}, {1})"),
    ("ad.greater({0}, {1})", "torch.gt({0}, {1})"),
    ("ad.less({0}, {1})", "torch.lt({0}, {1})"),
    ("ad.logical_and({0} > 0, {1} < 0)", "torch.logical_and({0} > 0, {1} < 0)"),
    ("ad.logical_or({0} > 0, {1} < 0)", "torch.logical_or({0} > 0, {1} < 0)"),
    ("ad.logical_not({0} > {1})", "torch.logical_not({0} > {1})"),
    ("ad.not_equal({0} > 0, {1} > 0)", "torch.ne({0} > 0, {1} > 0)"),
    ("ad.equal({0} > 0, {1} > 0)", "torch.eq({0} > 0, {1} > 0)"),
    ("ad.logical_and(ad.isfinite({0}), {0} > {1})", "torch.logical_and(torch.isfinite({0}), {0} > {1})"),
    (
        "ad.logical_and(ad.logical_not(ad.isnan({0})), {0} > {1})",
        "torch.logical_and(~torch.isnan({0}), {0} > {1})",
    ),
]
REDUCED_CONDITIONS = [  # the same, reduced over the last axis
    ("ad.any({0} > {1}, axis=-1, keepdims=True)", "torch.any({0} > {1}, dim=-1, keepdim=True)"),
    ("ad.all({0} > {1}, axis=-1, keepdims=True)", "torch.all({0} > {1}, dim=-1, keepdim=True)"),
]


def _where(lib: int, conditions: list[tuple[str, str]]) -> Callable[[dict], str]:
    def template(p):
        cond = conditions[p["cond"]][lib]
        other = "{3}" if p["n"] == 4 else "0.0"
        return (f"ad.where({cond}, {{2}}, {other})", f"torch.where({cond}, {{2}}, {other})")[lib]

    return template


def gen_where(conditions: list, ndim: int = 0) -> Callable:
    """``where(condition of a and b, c, d or 0.0)``, a and b having at least ndim axes."""

    def gen(ch, values):
        n = ch.choice([3, 4])
        picked = gen_broadcast(n)(ch, values)
        if picked is None or len(_broadcast(*(values[i].shape for i in picked[0][:2]))) < ndim:
            return None
        return picked[0], {"cond": ch.integer(0, len(conditions) - 1), "n": n}

    return gen


SCALARS = [2.5, -0.7, 0.5, 3.0]
SCALAR_FORMS = ["{0} + {c}", "{c} - {0}", "{0} * {c}", "{0} / {c}", "{c} / {0}", "{0} - {c}"]


def scalar_margin(args: list, params: dict) -> float:
    return pole_margin(args, params) if params["form"] == "{c} / {0}" else math.inf


def u(name: str, ad_code: str, torch_code: str, **kw: Any) -> Op:
    """A unary op on any value."""
    return Op(name, ad_code, torch_code, kw.pop("gen", gen_any), **kw)


def reduction(name: str, **kw: Any) -> Op:
    ddof = name in ("var", "std")
    args = "axis={axis}, keepdims={keepdims}" + (", ddof={ddof}" if ddof else "")
    return Op(
        name,
        f"ad.{name}({{0}}, {args})",
        f"T.reduce({name!r}, {{0}}, {{axis}}, {{keepdims}}" + (", ddof={ddof})" if ddof else ")"),
        with_params(gen_any, functools.partial(reduction_params, allow_empty=not ddof, ddof=ddof)),
        **kw,
    )


OPS: list[Op] = [
    u("negative", "-{0}", "-{0}", positive=""),
    u("exp", "ad.exp({0})", "torch.exp({0})", positive="always"),
    u("expm1", "ad.expm1({0})", "torch.expm1({0})"),
    u("sin", "ad.sin({0})", "torch.sin({0})"),
    u("cos", "ad.cos({0})", "torch.cos({0})"),
    u("tan", "ad.tan({0})", "torch.tan({0})", margin=tan_margin),
    u("tanh", "ad.tanh({0})", "torch.tanh({0})"),
    u("sigmoid", "ad.sigmoid({0})", "torch.sigmoid({0})", positive="always"),
    u("softplus", "ad.softplus({0})", "torch.nn.functional.softplus({0}, threshold=40)", positive="always"),
    u("log_sigmoid", "ad.log_sigmoid({0})", "torch.nn.functional.logsigmoid({0})"),
    u("relu", "ad.relu({0})", "torch.relu({0})", margin=from_zero),
    Op(
        "leaky_relu",
        "ad.leaky_relu({0}, {slope})",
        "torch.nn.functional.leaky_relu({0}, {slope})",
        with_params(gen_any, choose(slope=[0.01, 0.1, 0.3])),
        margin=from_zero,
    ),
    u("gelu", "ad.gelu({0})", "torch.nn.functional.gelu({0}, approximate='tanh')"),
    u("abs", "ad.abs({0})", "torch.abs({0})", margin=from_zero),
    u("sign", "ad.sign({0}) * {0}", "torch.sign({0}) * {0}", margin=from_zero),
    Op(
        "clip",
        "ad.clip({0}, {lo}, {hi})",
        "torch.clamp({0}, {lo}, {hi})",
        with_params(gen_any, choose(lo=[None, -1.0, -0.3, 0.2], hi=[None, 0.5, 1.2])),
        margin=clip_margin,
    ),
    Op(
        "power_int",
        "{0} ** {p}",
        "{0} ** {p}",
        with_params(gen_any, choose(p=[0, 1, 2, 3, -1, -2])),
        margin=lambda a, p: pole_margin(a, p) if p["p"] < 0 else math.inf,
    ),
    Op(
        "rpow", "{c} ** {0}", "{c} ** {0}", with_params(gen_any, choose(c=[2.0, 0.5, 3.0])), positive="always"
    ),
    Op(
        "scalar",
        lambda p: p["form"].replace("{c}", repr(p["c"])),
        lambda p: p["form"].replace("{c}", repr(p["c"])),
        with_params(gen_any, choose(form=SCALAR_FORMS, c=SCALARS)),
        margin=scalar_margin,
    ),
    Op("log", "ad.log({0})", "torch.log({0})", gen_positive, margin=from_zero),
    Op("log1p", "ad.log1p({0})", "torch.log1p({0})", gen_positive, margin=from_zero, positive="always"),
    Op("sqrt", "ad.sqrt({0})", "torch.sqrt({0})", gen_positive, margin=from_zero, positive="always"),
    Op(
        "power_frac",
        "{0} ** {p}",
        "{0} ** {p}",
        with_params(gen_positive, choose(p=[0.5, 1.5, -0.5, 2.5])),
        margin=from_zero,
        positive="always",
    ),
    Op("add", "{0} + {1}", "{0} + {1}", gen_broadcast(2), positive="args"),
    Op("subtract", "{0} - {1}", "{0} - {1}", gen_broadcast(2)),
    Op("multiply", "{0} * {1}", "{0} * {1}", gen_broadcast(2), positive="args"),
    Op("divide", "{0} / {1}", "{0} / {1}", gen_broadcast(2), margin=pole_margin, positive="args"),
    Op("power", "{0} ** {1}", "{0} ** {1}", gen_broadcast(2, positive_first=True), positive="always"),
    Op("maximum", "ad.maximum({0}, {1})", "torch.maximum({0}, {1})", gen_broadcast(2), margin=apart),
    Op("minimum", "ad.minimum({0}, {1})", "torch.minimum({0}, {1})", gen_broadcast(2), margin=apart),
    Op("where", _where(0, CONDITIONS), _where(1, CONDITIONS), gen_where(CONDITIONS), margin=where_margin),
    Op(
        "where_any_all",
        _where(0, REDUCED_CONDITIONS),
        _where(1, REDUCED_CONDITIONS),
        gen_where(REDUCED_CONDITIONS, ndim=1),
        margin=where_margin,
    ),
    reduction("sum", positive="args"),
    reduction("mean", positive="args"),
    reduction("var"),
    reduction("std", margin=std_margin),
    reduction("max", margin=tie_margin, positive="args"),
    reduction("min", margin=tie_margin, positive="args"),
    reduction("prod", positive="args"),
    reduction("logsumexp"),
    Op(
        "norm",
        "ad.norm({0}, ord={ord}, axis={axis}, keepdims={keepdims})",
        "T.reduce('norm', {0}, {axis}, {keepdims}, ord={ord})",
        with_params(
            gen_any,
            lambda ch, vals: (
                {
                    "ord": ch.choice([None, 2, 1, math.inf]),
                    "axis": _axis(ch, len(vals[0].shape)),
                    "keepdims": ch.boolean(),
                }
                if vals[0].shape and ch.boolean()
                else {"ord": None, **reduction_params(ch, vals, allow_empty=False)}
            ),
        ),
        margin=norm_margin,
        positive="always",
    ),
    Op(
        "softmax",
        "ad.softmax({0}, axis={axis})",
        "torch.softmax({0}, {axis})",
        with_params(gen_nd(1), axis_param),
        positive="always",
    ),
    Op(
        "log_softmax",
        "ad.log_softmax({0}, axis={axis})",
        "torch.log_softmax({0}, {axis})",
        with_params(gen_nd(1), axis_param),
    ),
    Op(
        "softmax_cross_entropy",
        "ad.softmax_cross_entropy({0}, {labels})",
        "torch.nn.functional.cross_entropy({0}.reshape(-1, {classes}), "
        "torch.from_numpy({labels}).reshape(-1), reduction='none').reshape({batch})",
        with_params(gen_nd(1), lambda ch, v: cross_entropy_params(ch, v[0].shape)),
        positive="always",
    ),
    Op(
        "cumsum",
        "ad.cumsum({0}, axis={axis})",
        "torch.cumsum({0}, {axis})",
        with_params(gen_nd(1), axis_param),
        positive="args",
    ),
    Op(
        "reshape",
        "ad.reshape({0}, {shape})",
        "{0}.reshape({shape})",
        with_params(gen_any, reshape_params),
        positive="args",
    ),
    Op(
        "transpose",
        "ad.transpose({0}, {perm})",
        "{0}.permute({perm})",
        with_params(gen_any, perm_params),
        positive="args",
    ),
    Op("T", "{0}.T", "{0}.permute(tuple(reversed(range({0}.ndim))))", gen_any, positive="args"),
    Op("mT", "{0}.mT", "{0}.mT", gen_nd(2), positive="args"),
    Op(
        "permute",
        "{0}.permute(*{perm})",
        "{0}.permute(*{perm})",
        with_params(gen_nd(1), perm_params),
        positive="args",
    ),
    Op(
        "swapaxes",
        "ad.swapaxes({0}, {a1}, {a2})",
        "torch.swapaxes({0}, {a1}, {a2})",
        with_params(gen_nd(1), two_axes),
        positive="args",
    ),
    Op(
        "moveaxis",
        "ad.moveaxis({0}, {a1}, {a2})",
        "torch.moveaxis({0}, {a1}, {a2})",
        with_params(gen_nd(1), two_axes),
        positive="args",
    ),
    Op(
        "broadcast_to",
        "ad.broadcast_to({0}, {shape})",
        "torch.broadcast_to({0}, {shape})",
        with_params(gen_any, broadcast_params),
        positive="args",
    ),
    Op(
        "expand_dims",
        "ad.expand_dims({0}, {axis})",
        "{0}.reshape({out})",
        with_params(gen_any, expand_params),
        positive="args",
    ),
    Op(
        "unsqueeze",
        "ad.unsqueeze({0}, {axis})",
        "torch.unsqueeze({0}, {axis})",
        with_params(gen_any, lambda ch, v: {"axis": _axis(ch, len(v[0].shape) + 1)}),
        positive="args",
    ),
    Op(
        "squeeze",
        "ad.squeeze({0}, {axis})",
        "{0}.reshape({out})",
        with_params(gen_any, squeeze_params),
        positive="args",
    ),
    Op(
        "flatten",
        "ad.flatten({0}, {start}, {end})",
        "torch.flatten({0}, {start}, {end})",
        with_params(gen_nd(1), flatten_params),
        positive="args",
    ),
    Op(
        "flip",
        "ad.flip({0}, {axis})",
        "torch.flip({0}, {dims})",
        with_params(gen_any, flip_params),
        positive="args",
    ),
    Op(
        "pad",
        "ad.pad({0}, {widths})",
        "torch.nn.functional.pad({0}, {flat})",
        with_params(gen_nd(1), pad_params),
    ),
    Op(
        "concatenate",
        _listed("ad.concatenate([", "], axis={axis})"),
        _listed("torch.cat([", "], dim={axis})"),
        gen_same_but(0),
        positive="args",
    ),
    Op(
        "stack",
        _listed("ad.stack([", "], axis={axis})"),
        _listed("torch.stack([", "], dim={axis})"),
        gen_same_but(1),
        positive="args",
    ),
    Op(
        "split",
        "ad.split({0}, {sections}, axis={axis})[{k}]",
        "{0}.narrow({axis}, {start}, {length})",
        with_params(gen_nd(1), split_params),
        positive="args",
    ),
    Op(
        "getitem",
        "{0}[{key}]",
        "T.index({0}, np.s_[{key}])",
        with_params(gen_any, index_params),
        positive="args",
    ),
    Op("matmul", "{0} @ {1}", "{0} @ {1}", gen_matmul),
    Op("dot", "ad.dot({0}, {1})", "torch.dot({0}, {1})", gen_same_vector),
    Op("dot_nd", "ad.dot({0}, {1})", "torch.tensordot({0}, {1}, dims=([-1], [-2]))", gen_dot_nd),
    Op("setitem", "ad.setitem({0}, 0, {0}[-1] * 2)", "torch.cat([({0}[-1] * 2)[None], {0}[1:]])", gen_nd(1)),
    Op(
        "outer",
        "ad.outer({0}, {1})",
        "torch.outer({0}.reshape(-1), {1}.reshape(-1))",
        gen_outer,
        positive="args",
    ),
    Op("einsum", _listed("ad.einsum({spec}, ", ")"), _listed("torch.einsum({spec}, ", ")"), gen_einsum),
    Op(
        "unfold_fold",
        "ad.fold(ad.unfold({0}, {k}, stride={s}, padding={p}), {size}, {k}, stride={s}, padding={p})",
        "torch.nn.functional.fold(torch.nn.functional.unfold({0}, {k}, stride={s}, padding={p}), "
        "{size}, {k}, stride={s}, padding={p})",
        gen_unfold,
    ),
    Op(
        "argmax",
        "ad.reshape({1}, (-1,))[ad.{which}({0})]",
        "{1}.reshape(-1)[torch.{which}({0})]",
        gen_argmax,
        margin=tie_margin,
    ),
    u(
        "astype_float32",
        "ad.astype({0}, 'float32').astype('float64')",
        "{0}.float().double()",
        positive="args",
    ),
    u(
        "astype_int",
        "{0} * ad.astype({0}, 'int64')",
        "{0} * {0}.long()",
        margin=integer_margin,
    ),
    u(
        "sigmoid_far",
        "ad.sigmoid(-30.0 - {0} * {0})",
        "torch.sigmoid(-30.0 - {0} * {0})",
        positive="always",
    ),
    Op(
        "power_zero_at_zero",
        "({0} - {0}) ** 0",
        "({0} - {0}) ** 0",
        gen_any,
    ),
    Op(
        "power_one_at_zero",
        "({0} - {0}) ** 1",
        "({0} - {0}) ** 1",
        gen_any,
    ),
    # NumPy's further functions (issue 19)
    u("arcsin", "ad.arcsin(0.9 * ad.tanh({0}))", "torch.arcsin(0.9 * torch.tanh({0}))"),
    u("arccos", "ad.arccos(0.9 * ad.tanh({0}))", "torch.arccos(0.9 * torch.tanh({0}))", positive="always"),
    u("arctan", "ad.arctan({0})", "torch.arctan({0})"),
    u("sinh", "ad.sinh({0})", "torch.sinh({0})"),
    u("cosh", "ad.cosh({0})", "torch.cosh({0})", positive="always"),
    u("arcsinh", "ad.arcsinh({0})", "torch.arcsinh({0})"),
    Op("arccosh", "ad.arccosh({0} + 1)", "torch.arccosh({0} + 1)", gen_positive, positive="always"),
    u("arctanh", "ad.arctanh(0.9 * ad.tanh({0}))", "torch.arctanh(0.9 * torch.tanh({0}))"),
    Op("log2", "ad.log2({0})", "torch.log2({0})", gen_positive, margin=from_zero),
    Op("log10", "ad.log10({0})", "torch.log10({0})", gen_positive, margin=from_zero),
    u("exp2", "ad.exp2({0})", "torch.exp2({0})", positive="always"),
    u("square", "ad.square({0})", "torch.square({0})"),
    # PyTorch's derivatives of sinc divide by x: kept away from 0 as for a pole
    u("sinc", "ad.sinc({0})", "torch.sinc({0})", margin=pole_margin),
    u("reciprocal", "ad.reciprocal({0})", "torch.reciprocal({0})", margin=pole_margin, positive="args"),
    u("deg2rad", "ad.deg2rad({0}) + ad.rad2deg({0})", "torch.deg2rad({0}) + torch.rad2deg({0})"),
    u("nan_to_num", "ad.nan_to_num({0})", "torch.nan_to_num({0})", positive="args"),
    Op(
        "rounding",
        "{0} * ad.{which}({0})",
        "{0} * torch.{torch_name}({0})",
        with_params(
            gen_any,
            lambda ch, v: dict(zip(("which", "torch_name"), ch.choice(ROUNDING), strict=True)),
        ),
        margin=lambda a, p: (half_margin if p["which"] == Code("rint") else integer_margin)(a, p),
    ),
    Op("arctan2", "ad.arctan2({0}, {1})", "torch.arctan2({0}, {1})", gen_broadcast(2), margin=from_zero),
    Op("hypot", "ad.hypot({0}, {1})", "torch.hypot({0}, {1})", gen_broadcast(2), margin=from_zero),
    Op("logaddexp", "ad.logaddexp({0}, {1})", "torch.logaddexp({0}, {1})", gen_broadcast(2)),
    Op("logaddexp2", "ad.logaddexp2({0}, {1})", "torch.logaddexp2({0}, {1})", gen_broadcast(2)),
    Op(
        "remainder",
        "ad.remainder({0}, {1})",
        "torch.remainder({0}, {1})",
        gen_broadcast(2),
        margin=remainder_margin,
    ),
    Op("fmax", "ad.fmax({0}, {1})", "torch.fmax({0}, {1})", gen_broadcast(2), margin=apart),
    Op("fmin", "ad.fmin({0}, {1})", "torch.fmin({0}, {1})", gen_broadcast(2), margin=apart),
    Op(
        "sort",
        "ad.sort({0}, axis={axis})",
        "torch.sort({0}, dim={axis}).values",
        with_params(gen_nd(1), axis_param),
        margin=order_margin,
        positive="args",
    ),
    Op(
        "partition",
        "ad.sort(ad.partition({0}, {k}, axis={axis}), axis={axis})",
        "torch.sort({0}, dim={axis}).values",
        with_params(
            gen_nd(1),
            lambda ch, v: {"axis": (a := _axis(ch, len(v[0].shape))), "k": ch.integer(0, v[0].shape[a] - 1)},
        ),
        margin=order_margin,
        positive="args",
    ),
    Op(
        "median",
        "ad.median({0}, axis={axis}, keepdims={keepdims})",
        "T.median({0}, {axis}, {keepdims})",
        with_params(gen_nd(1), functools.partial(reduction_params, allow_empty=False)),
        margin=order_margin,
        positive="args",
    ),
    Op(
        "cumprod",
        "ad.cumprod({0}, axis={axis})",
        "torch.cumprod({0}, {axis})",
        with_params(gen_nd(1), axis_param),
        positive="args",
    ),
    Op(
        "diff",
        "ad.diff({0}, n={n}, axis={axis})",
        "torch.diff({0}, n={n}, dim={axis})",
        with_params(gen_nd(1), lambda ch, v: {**axis_param(ch, v), "n": ch.integer(1, 2)}),
    ),
    Op(
        "gradient",
        "ad.gradient({0}, {h}, axis={axis}, edge_order={e})",
        "torch.gradient({0}, spacing={h}, dim={axis}, edge_order={e})[0]",
        with_params(
            gen_nd(1), lambda ch, v: {**axis_param(ch, v), "h": ch.choice([1.0, 0.5]), "e": ch.integer(1, 2)}
        ),
    ),
    Op(
        "diag",
        "ad.diag({0}, {k})",
        "torch.diag({0}, {k})",
        with_params(gen_ndim_in(1, 2), choose(k=[-1, 0, 1, 2])),
        positive="",
    ),
    Op(
        "diagonal",
        lambda p: f"anp.{p['which']}({{0}}, {{k}}, {{a1}}, {{a2}})",
        lambda p: "torch.diagonal({0}, {k}, {a1}, {a2})" + (".sum(-1)" if p["which"] == "trace" else ""),
        with_params(
            gen_nd(2),
            lambda ch, v: {
                **two_axes(ch, v),
                "k": ch.integer(-1, 1),
                "which": ch.choice(["diagonal", "trace"]),
            },
        ),
        positive="args",
    ),
    Op(
        "tril",
        "ad.{which}({0}, {k})",
        "torch.{which}({0}, {k})",
        with_params(
            gen_nd(2), lambda ch, v: {"which": Code(ch.choice(["tril", "triu"])), "k": ch.integer(-1, 1)}
        ),
    ),
    Op("kron", "ad.kron({0}, {1})", "torch.kron({0}, {1})", gen_kron, positive="args"),
    Op(
        "tensordot", "ad.tensordot({0}, {1}, {axes})", "torch.tensordot({0}, {1}, dims={axes})", gen_tensordot
    ),
    Op("inner", "ad.inner({0}, {1})", "torch.inner({0}, {1})", gen_inner),
    Op(
        "cross",
        "ad.cross({0}, {1}, axis={axis})",
        "torch.linalg.cross({0}, {1}, dim={axis})",
        gen_cross,
        margin=cross_margin,
    ),
    u("ravel", "ad.ravel({0})", "{0}.reshape(-1)", positive="args"),
    Op(
        "repeat",
        "ad.repeat({0}, {r}, axis={axis})",
        "torch.repeat_interleave({0}, {r}, dim={axis})",
        with_params(gen_nd(1), lambda ch, v: {**axis_param(ch, v), "r": ch.integer(1, 3)}),
        positive="args",
    ),
    Op(
        "tile",
        "ad.tile({0}, {reps})",
        "torch.tile({0}, {reps})",
        with_params(
            gen_any, lambda ch, v: {"reps": tuple(ch.integer(1, 2) for _ in range(ch.integer(1, 3)))}
        ),
        positive="args",
    ),
    Op(
        "roll",
        "ad.roll({0}, {shift}, {axis})",
        "torch.roll({0}, {shift}, {axis})",
        with_params(
            gen_nd(1),
            lambda ch, v: {"shift": ch.integer(-3, 3), "axis": ch.choice([None, _axis(ch, len(v[0].shape))])},
        ),
        positive="args",
    ),
    Op(
        "rot90",
        "ad.rot90({0}, {k}, ({a1}, {a2}))",
        "torch.rot90({0}, {k}, ({a1}, {a2}))",
        with_params(gen_nd(2), lambda ch, v: {**two_axes(ch, v), "k": ch.integer(-1, 3)}),
        positive="args",
    ),
    Op(
        "fliplr",
        "ad.{which}({0})",
        "torch.{which}({0})",
        with_params(gen_nd(2), choose(which=[Code("fliplr"), Code("flipud")])),
        positive="args",
    ),
    Op(
        "rollaxis",
        "ad.rollaxis({0}, {axis}, {start})",
        "torch.movedim({0}, {axis}, {dest})",
        with_params(gen_nd(1), rollaxis_params),
        positive="args",
    ),
    Op(
        "take",
        "ad.take({0}, {idx}, axis={axis})",
        "T.take({0}, {idx}, {axis})",
        with_params(
            gen_nd(1),
            lambda ch, v: {
                "axis": (a := _axis(ch, len(v[0].shape))),
                "idx": [ch.integer(-v[0].shape[a], v[0].shape[a] - 1) for _ in range(ch.integer(1, 3))],
            },
        ),
        positive="args",
    ),
    Op(
        "stacks",
        _listed("ad.{which}([", "])"),
        _listed("torch.{which}([", "])"),
        lambda ch, values: (
            None
            if (picked := gen_same_but(1)(ch, values)) is None
            else (picked[0], {"n": picked[1]["n"], "which": Code(ch.choice(STACKS))})
        ),
        positive="args",
    ),
    u(
        "atleast",
        "ad.atleast_1d({0}) * 1 + ad.atleast_2d({0}) * 2 + ad.atleast_3d({0}) * 3",
        "torch.atleast_1d({0}) * 1 + torch.atleast_2d({0}) * 2 + torch.atleast_3d({0}) * 3",
    ),
    Op(
        "array_split",
        "ad.array_split({0}, {sections}, axis={axis})[{k}]",
        "torch.tensor_split({0}, {sections}, dim={axis})[{k}]",
        with_params(
            gen_nd(1),
            lambda ch, v: {
                **axis_param(ch, v),
                "sections": (n := ch.integer(1, 3)),
                "k": ch.integer(0, n - 1),
            },
        ),
        positive="args",
    ),
]


# ----------------------------------------------------------------------------- autodiff.linalg
SPD = "({0} @ {0}.mT + ad.eye({n}) * ad.arange(1.0, {n} + 1.0))"  # the autodiff twin of T.spd


def spectral_margin(kind: str) -> Callable[[list, dict], float]:
    """Distance (relative, scaled so that POLE maps to MARGIN) of a spectrum to the points where
    derivatives do not exist or Hessians blow up: repeated eigenvalues of T.spd(x) ("eigh");
    repeated or zero singular values of x ("svd"); zero singular values of x ("rank") or of its
    leading square block ("qr": R must be invertible)."""

    def margin(args: list, params: dict) -> float:
        x = args[0]
        if kind == "eigh":
            s = torch.linalg.eigvalsh(T.spd(x))
        else:
            s = torch.linalg.svdvals(x[..., : x.shape[-2]] if kind == "qr" else x)
        s = s / torch.abs(s).amax(-1, keepdim=True)
        distances = [] if kind == "eigh" else [torch.abs(s).amin()]
        if kind in ("eigh", "svd") and s.shape[-1] > 1:
            distances.append(torch.abs(torch.diff(torch.sort(s).values)).amin())
        return float(min(distances)) / POLE * MARGIN if distances else math.inf

    return margin


def gen_matrix(ch, values):
    """A stack of matrices (two axes or more) whose Gram matrix X X^T fits MAX_SIZE."""
    i = _pick(ch, values, lambda v: len(v.shape) >= 2 and size(v.shape[:-1]) * v.shape[-2] <= MAX_SIZE)
    return None if i is None else ((i,), {"n": values[i].shape[-2]})


def m(name: str, ad_code: str, torch_code: str, **kw: Any) -> Op:
    """An op of autodiff.linalg on a stack of matrices ({n}: the number of rows)."""
    return Op("linalg." + name, ad_code, torch_code, kw.pop("gen", gen_matrix), **kw)


GAUGE_FREE = {  # losses of eigenvectors / singular vectors / Q invariant under their signs
    "eigh": "(lambda e: e[1] ** 2 * e[0][..., None, :])",
    "svd": "(lambda r: (r[0] ** 2 * r[1][..., None, :]) @ r[2] ** 2)",
    "qr": "(lambda r: r[0] @ r[1] ** 2)",
}
OPS += [
    m("inv", f"ad.linalg.inv({SPD})", "torch.linalg.inv(T.spd({0}))"),
    m("solve", f"ad.linalg.solve({SPD}, {{0}})", "torch.linalg.solve(T.spd({0}), {0})"),
    m("det", f"ad.linalg.det({SPD})", "torch.linalg.det(T.spd({0}))", positive="always"),
    m("slogdet", f"ad.linalg.slogdet({SPD}).logabsdet", "torch.linalg.slogdet(T.spd({0})).logabsdet"),
    m("cholesky", f"ad.linalg.cholesky({SPD})", "torch.linalg.cholesky(T.spd({0}))"),
    m(
        "eigh",
        GAUGE_FREE["eigh"] + f"(ad.linalg.eigh({SPD}))",
        GAUGE_FREE["eigh"] + "(torch.linalg.eigh(T.spd({0})))",
        margin=spectral_margin("eigh"),
    ),
    m(
        "eigvalsh",
        f"ad.linalg.eigvalsh({SPD})",
        "torch.linalg.eigvalsh(T.spd({0}))",
        margin=spectral_margin("eigh"),
        positive="always",
    ),
    m(
        "svd",
        GAUGE_FREE["svd"] + "(ad.linalg.svd({0}, full_matrices=False))",
        GAUGE_FREE["svd"] + "(torch.linalg.svd({0}, full_matrices=False))",
        margin=spectral_margin("svd"),
    ),
    m(
        "svdvals",
        "ad.linalg.svd({0}, compute_uv=False)",
        "torch.linalg.svdvals({0})",
        margin=spectral_margin("svd"),
    ),
    m(
        "qr",
        GAUGE_FREE["qr"] + "(ad.linalg.qr({0}))",
        GAUGE_FREE["qr"] + "(torch.linalg.qr({0}))",
        margin=spectral_margin("qr"),
    ),
    m("pinv", "ad.linalg.pinv({0})", "torch.linalg.pinv({0})", margin=spectral_margin("rank")),
    m(
        "matrix_power",
        f"ad.linalg.matrix_power({SPD} / {{n}}, {{k}})",
        "torch.linalg.matrix_power(T.spd({0}) / {n}, {k})",
        gen=with_params(gen_matrix, choose(k=[0, 1, 3, -2])),
    ),
    m(
        "norm_matrix",
        "ad.linalg.norm({0}, {ord}, axis=(-2, -1), keepdims={keepdims})",
        "torch.linalg.matrix_norm({0}, {ord}, dim=(-2, -1), keepdim={keepdims})",
        gen=with_params(gen_matrix, choose(ord=["fro", "nuc", 2, -2], keepdims=[False, True])),
        margin=spectral_margin("svd"),
    ),
    Op(
        "linalg.norm_vector",
        "ad.linalg.norm({0}, {ord}, axis={axis}, keepdims={keepdims})",
        "torch.linalg.vector_norm({0}, {ord}, dim={axis}, keepdim={keepdims})",
        with_params(
            gen_nd(1),
            lambda ch, vals: (
                {"ord": ch.choice([3, 4.5]), "axis": _axis(ch, len(vals[0].shape))}
                | {"keepdims": ch.boolean()}
            ),
        ),
        positive="always",
    ),
]
ROUNDING = [(Code(a), Code(t)) for a, t in [("floor",) * 2, ("ceil",) * 2, ("trunc",) * 2, ("rint", "round")]]
STACKS = ["hstack", "vstack", "dstack", "column_stack"]
OPS_BY_NAME = {op.name: op for op in OPS}


# ----------------------------------------------------------------------------- programs
@dataclass(frozen=True)
class Step:
    op: str
    args: tuple[int, ...]
    params: dict = field(hash=False)

    def code(self, lib: str, names: Sequence[str]) -> str:
        op = OPS_BY_NAME[self.op]
        return _fill(op.ad if lib == "ad" else op.torch, names, self.params)

    def fn(self, lib: str) -> Callable:
        return _compile(self.code(lib, [f"a{i}" for i in range(len(self.args))]), len(self.args))


@dataclass(frozen=True)
class Program:
    inputs: tuple[tuple[tuple[int, ...], bool], ...]  # (shape, positive)
    steps: tuple[Step, ...]
    seed: int

    def run(self, lib: str, xs: Sequence[Any]) -> list[Any]:
        """Every value of the program: the inputs, then one per step."""
        values = list(xs)
        for step in self.steps:
            values.append(step.fn(lib)(*(values[i] for i in step.args)))
        return values

    def data(self) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """Inputs (positive ones in [0.5, inf)), weights of the output sum, tangent directions."""
        rng = np.random.default_rng(self.seed)
        xs = [rng.standard_normal(s) for s, _ in self.inputs]
        xs = [np.abs(x) + 0.5 if pos else x for x, (_, pos) in zip(xs, self.inputs, strict=True)]
        ws = [rng.standard_normal(s) for s in self.shapes()[len(self.inputs) :]]
        vs = [rng.standard_normal(s) for s, _ in self.inputs]
        return xs, ws, vs

    def shapes(self) -> list[tuple[int, ...]]:
        values = [torch.ones(s, dtype=torch.float64) for s, _ in self.inputs]
        return [tuple(v.shape) for v in self.run("torch", values)]

    def source(self, lib: str = "ad") -> str:
        n = len(self.inputs)
        names = [f"v{i}" for i in range(n + len(self.steps))]
        doc = ", ".join(f"v{i}: {s}{' > 0' if pos else ''}" for i, (s, pos) in enumerate(self.inputs))
        lines = [f"def program({', '.join(names[:n])}, w):  # {doc}"]
        for k, step in enumerate(self.steps):
            lines.append(f"    {names[n + k]} = {step.code(lib, [names[i] for i in step.args])}")
        total = " + ".join(f"({names[n + k]} * w[{k}]).sum()" for k in range(len(self.steps)))
        lines.append(f"    return {total}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"\n{self.source('ad')}\n# PyTorch reference:\n{self.source('torch')}\n"
            f"# data: Program.data() with seed {self.seed}"
        )


def generate(ch: Chooser, ops: Sequence[Op], max_steps: int, first: Op | None = None) -> Program:
    """A random program of up to max_steps steps (``first``, when given, is the first step)."""
    rank = ch.integer(0, 3)
    base = [ch.integer(1, 4) for _ in range(rank)]
    inputs = []
    for i in range(3):
        if i and not ch.boolean():  # one more input?
            break
        dims = base[ch.integer(0, rank) :]
        shape = tuple(1 if ch.integer(0, 3) == 0 else n for n in dims)
        inputs.append((shape, ch.boolean()))
    values = [Value(s, pos) for s, pos in inputs]
    steps: list[Step] = []

    def add(op: Op, step: Step) -> None:
        try:
            shape = Program(tuple(inputs), tuple(steps) + (step,), 0).shapes()[-1]
        except (RuntimeError, ValueError, IndexError, TypeError):
            return  # no valid PyTorch reference (e.g. an empty result)
        if size(shape) > MAX_SIZE or size(shape) == 0:
            return
        positive = op.positive == "always" or (
            op.positive == "args" and all(values[i].positive for i in step.args)
        )
        values.append(Value(shape, positive))
        steps.append(step)

    def one_step(ch: Chooser, k: int) -> bool:
        """Try to add a step, then say whether to go on: the flag closes the step's span, so that
        hypothesis deletes a step with its flag, and shrinks flags towards stopping."""
        for _ in range(20):
            op = first if (k == 0 and first is not None) else ch.choice(ops)
            picked = op.gen(ch, values)
            if picked is not None:
                add(op, Step(op.name, *picked))
                break
        return ch.integer(0, 7) != 0  # one more step?

    for k in range(max_steps):
        if not ch.group(lambda c, k=k: one_step(c, k)):
            break
    if not steps:  # always at least one step
        steps.append(Step("negative", (0,), {}))
    return Program(tuple(inputs), tuple(steps), ch.integer(0, 2**32 - 1))


# ----------------------------------------------------------------------------- evaluation
RTOL = 1e-7  # float64: both libraries round differently, never by more than this (relative)


def _zeros_for_none(grads: Sequence[Any], like: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    return [torch.zeros_like(x) if g is None else g for g, x in zip(grads, like, strict=True)]


def reference(prog: Program) -> dict[str, list[np.ndarray]] | None:
    """PyTorch's values, gradient, Hessian-vector product and JVPs of the program, or None when
    the program is discarded by rule (a margin below MARGIN, a value beyond LIMIT, a NaN)."""
    xs, ws, vs = prog.data()
    n = len(xs)
    tx = [torch.tensor(x, requires_grad=True) for x in xs]
    values = list(tx)
    for step in prog.steps:
        args = [values[i] for i in step.args]
        margin = OPS_BY_NAME[step.op].margin
        with torch.no_grad():
            if margin is not None and margin([a.detach() for a in args], step.params) < MARGIN:
                return None
        values.append(step.fn("torch")(*args))
    outs = values[n:]
    if not all(bool(torch.isfinite(o).all()) and float(o.detach().abs().max()) <= LIMIT for o in outs):
        return None
    total = sum((o * torch.tensor(w)).sum() for o, w in zip(outs, ws, strict=True))
    grads = _zeros_for_none(torch.autograd.grad(total, tx, create_graph=True, allow_unused=True), tx)
    dot = sum((g * torch.tensor(v)).sum() for g, v in zip(grads, vs, strict=True) if g.requires_grad)
    if isinstance(dot, torch.Tensor):
        hvp = _zeros_for_none(torch.autograd.grad(dot, tx, allow_unused=True), tx)
    else:
        hvp = [torch.zeros_like(x) for x in tx]
    primals = tuple(torch.tensor(x) for x in xs)
    tangents = tuple(torch.tensor(v) for v in vs)
    jvp = torch.func.jvp(lambda *x: tuple(prog.run("torch", x)[n:]), primals, tangents)[1]

    def f(*x):
        return sum((o * torch.tensor(w)).sum() for o, w in zip(prog.run("torch", x)[n:], ws, strict=True))

    hvp_fwd_rev = torch.func.jvp(torch.func.grad(f, argnums=tuple(range(n))), primals, tangents)[1]
    found = {
        "value": [o.numpy(force=True) for o in outs],
        "grad": [g.numpy(force=True) for g in grads],
        "hvp": [h.numpy(force=True) for h in hvp],
        "jvp": [t.numpy(force=True) for t in jvp],
        # PyTorch's rounding noise on the HVP: its two modes' disagreement
        "hvp noise": [
            np.abs(h.numpy(force=True) - k.numpy(force=True)) for h, k in zip(hvp, hvp_fwd_rev, strict=True)
        ],
    }
    finite = all(np.isfinite(a).all() for arrays in found.values() for a in arrays)
    return found if finite else None


def derivatives(prog: Program) -> dict[str, list[Any]]:
    """autodiff's values, gradient (reverse), Hessian-vector products by reverse-over-reverse
    (grad of <grad f, v>) and forward-over-reverse (``ad.hvp``, jvp of grad), and the JVPs of
    every value (``ad.jvp``), on the default device."""
    xs, ws, vs = prog.data()
    n = len(xs)
    ax = [ad.tensor(x) for x in xs]
    aw = [ad.tensor(w) for w in ws]
    av = [ad.tensor(v) for v in vs]
    argnums = tuple(range(n))

    def f(*x):
        return sum((o * w).sum() for o, w in zip(prog.run("ad", x)[n:], aw, strict=True))

    def grad_dot_v(*x):
        return sum((g * v).sum() for g, v in zip(ad.grad(f, argnums)(*x), av, strict=True))

    if n == 1:
        fwd_rev = [ad.hvp(f, ax[0], av[0])]
    else:
        fwd_rev = list(ad.jvp(ad.grad(f, argnums), ax, av)[1])
    return {
        "value": prog.run("ad", ax)[n:],
        "grad": list(ad.grad(f, argnums)(*ax)),
        "hvp rev-rev": list(ad.grad(grad_dot_v, argnums)(*ax)),
        "hvp fwd-rev": fwd_rev,
        "jvp": list(ad.jvp(lambda *x: tuple(prog.run("ad", x)[n:]), ax, av)[1]),
    }


def compare(prog: Program, got: dict[str, list[Any]], want: dict[str, list[np.ndarray]]) -> None:
    """Raise AssertionError naming the program and the first quantity that disagrees:
    |got - want| <= RTOL (|want| + scale) + 4 noise entrywise, same shape, float64.  scale: the
    largest |want| of the tensor, at least 1e-3 of the largest over the quantity and 1e-12 for
    values, 1e-6 for derivatives (an exact zero derivative may come out as the rounding noise of
    terms like 1/x that cancel).  noise, for HVPs: PyTorch's own disagreement between its
    reverse-over-reverse and forward-over-reverse results."""
    for name, arrays in got.items():
        wanted = want[name.split()[0]]
        noise = want["hvp noise"] if name.startswith("hvp") else [0] * len(wanted)
        floor = 1e-3 * max(float(np.abs(b).max(initial=0)) for b in wanted)
        for k, (a, b, e) in enumerate(zip(arrays, wanted, noise, strict=True)):
            where = f"{name} #{k} of the program below"
            if not isinstance(a, ad.Tensor) or a.dtype != np.float64 or a.shape != b.shape:
                described = f"{type(a).__name__} {getattr(a, 'dtype', '')} {getattr(a, 'shape', '')}"
                raise AssertionError(
                    f"{where}: autodiff gives {described}, PyTorch float64 {b.shape}{prog!r}"
                )
            a = a.numpy()
            scale = max(float(np.abs(b).max(initial=0)), floor, 1e-12 if name == "value" else 1e-6)
            bad = np.abs(a - b) > RTOL * (np.abs(b) + scale) + 4 * e
            if bad.any() or not np.isfinite(a).all():
                raise AssertionError(
                    f"{where}: max |autodiff - PyTorch| = {np.abs(a - b).max():.3g} (scale {scale:.3g})\n"
                    f"autodiff: {np.array2string(a, precision=10)}\n"
                    f"PyTorch:  {np.array2string(b, precision=10)}{prog!r}"
                )
