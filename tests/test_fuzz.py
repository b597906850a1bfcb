"""The permanent fuzzer: random straight-line programs run by autodiff and by PyTorch (float64),
on the CPU and on the strict device, must agree on

* every value of the program,
* the gradient of the scalar output (reverse mode),
* the Hessian-vector product, by reverse-over-reverse (grad of <grad f, v>) and by
  forward-over-reverse (``ad.hvp``, or ``ad.jvp`` of ``ad.grad`` for several inputs),
* the JVP of every value (``ad.jvp`` against ``torch.func.jvp``),

entrywise within 1e-7 relative (``fuzzlib.compare``).  The programs (``fuzzlib.generate``) apply
ops of ``fuzzlib.OPS`` (every op of the gradcheck table, with broadcasting, axes, keepdims,
reshapes, transposes, basic and advanced indexing, matmul/einsum, reductions, where, ...) to
earlier values; hypothesis shrinks a failure to a minimal program and prints it as code, with
its PyTorch twin and the seed of its data (``Program.data()``).

Exclusion rules (by rule, never by case):

* Domains: log, log1p, sqrt, fractional powers and the base of ``power`` only take values known
  to be positive; inputs are drawn standard normal, or |normal| + 0.5 when marked positive.
* Kinks and ties: a program is discarded when an argument of a non-smooth op lies within 1e-6
  (relative) of the points where it is not differentiable and the two libraries' conventions
  may differ: 0 for relu/leaky_relu/abs/sign, the bounds of clip, ties of maximum/minimum, of
  max/min/argmax over the reduced axes and of norm(ord=inf), the two sides of a ``where``
  condition, a zero norm or std.  Poles (1/x, tan) are kept 1e-2 away so that Hessians stay well
  conditioned.
* Range: a program with a value above 1e6 in magnitude, or any non-finite PyTorch result, is
  discarded.

Each op is also checked alone (``test_each_op_alone_matches_torch``).  An op with a known bug
(``Op.known_bug``, naming the issue) is left out of the random programs and checked alone as a
strict xfail (``test_known_bugs``): the fix makes that test fail until the flag is removed.
A new primitive of ``autodiff.graph.PRIMITIVES`` or a new entry of the gradcheck table fails
``test_every_primitive_and_gradcheck_entry_is_fuzzed`` until an op covers it or ``NOT_FUZZED``
gives the reason.

Profiles: by default (CI) 300 programs of up to 8 steps per device, derandomized (the same
programs on every run).  ``pytest tests/test_fuzz.py --long`` (or ``AUTODIFF_FUZZ=long``) runs
5000 fresh random programs of up to 12 steps per device; a failure prints the hypothesis seed to
reproduce it.  Skipped without torch."""

import os

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("hypothesis")

import fuzzlib  # noqa: E402  (needs torch)
import test_ops_gradcheck as gradcheck_table  # noqa: E402
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from autodiff.graph import PRIMITIVES, Primitive, sum_of  # noqa: E402

FUZZED = [op for op in fuzzlib.OPS if not op.known_bug]
KNOWN_BUGS = [op for op in fuzzlib.OPS if op.known_bug]

# Primitives no program exercises, with the reason.
# The library's primitives (tests declare a few of their own, e.g. a deliberately wrong rule).
LIBRARY = {name for name, p in PRIMITIVES.items() if p.forward.__module__.startswith("autodiff.")}
NOT_FUZZED = {
    "to_device": "moves data between devices; a program runs on one device (tests/test_backend.py)",
    "linalg.complement": "the extra columns of a full svd or complete qr: a basis that is not unique, "
    "so not comparable with PyTorch's, and without derivative (tests/test_linalg.py)",
    "round": "round(x, decimals) has no gradient; PyTorch rounds x * 10^d differently near the ties",
}
# Names of the gradcheck table (tests/test_ops_gradcheck.py) spelled differently here.
GRADCHECK_NAMES = {
    "pow_scalar": "power_int",
    "pow_half": "power_frac",
    "sign_times": "sign",
    "concatenate_last": "concatenate",
    "astype": "astype_float32",
    "setitem_repeated": "setitem",
    "setitem_broadcast": "setitem",
    **dict.fromkeys(
        ["basic_index", "slice_newaxis", "negative_step", "bool_mask", "mixed_index"]
        + ["advanced_index", "advanced_2d", "advanced_split"],
        "getitem",
    ),
    **{"sort_flat": "sort", "msort": "sort", "median_odd": "median", "cumprod_flat": "cumprod"},
    **{
        "gradient_edge2": "gradient",
        "diag_vector": "diag",
        "diag_matrix": "diag",
        "triu": "tril",
        "trace": "diagonal",
    },
    **{"repeat_flat": "repeat", "roll_flat": "roll", "take_flat": "take", "tensordot_int": "tensordot"},
    **dict.fromkeys(["hstack", "vstack", "dstack", "column_stack"], "stacks"),
    **{name: "matmul" for name in gradcheck_table.LINALG if name.startswith("matmul")},
    **{name: "einsum" for name in gradcheck_table.LINALG if name.startswith("einsum")},
}


def profile(long: bool) -> settings:
    return settings(
        max_examples=5000 if long else 300,
        derandomize=not long,
        database=None,
        deadline=None,
        print_blob=long,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )


@st.composite
def programs(draw, ops=tuple(FUZZED), max_steps=8):
    return fuzzlib.generate(fuzzlib.Chooser(draw), ops, max_steps)


def check(prog: fuzzlib.Program) -> bool:
    """Compare autodiff with PyTorch on ``prog``; False when the program is discarded by rule."""
    want = fuzzlib.reference(prog)
    if want is None:
        return False
    fuzzlib.compare(prog, fuzzlib.derivatives(prog), want)
    return True


def fuzz(long: bool = False) -> None:
    """Run the fuzzer on the default device: hypothesis draws programs, and shrinks and prints
    the first that fails."""

    @profile(long)
    @given(programs(max_steps=12 if long else 8))
    def run(prog):
        assume(check(prog))

    run()


def test_random_programs_match_torch(device, request):
    fuzz(long=request.config.getoption("--long", False) or os.environ.get("AUTODIFF_FUZZ") == "long")


def single_op_programs(op: fuzzlib.Op, count: int) -> list[fuzzlib.Program]:
    """The first ``count`` kept programs (seeds 0, 1, ...) whose only step is ``op``."""
    found = []
    for seed in range(500):
        prog = fuzzlib.generate(fuzzlib.Chooser(seed=seed), [op], 1, first=op)
        if prog.steps[0].op == op.name and fuzzlib.reference(prog) is not None:
            found.append(prog)
            if len(found) == count:
                return found
    raise AssertionError(f"no valid program for {op.name} in 500 seeds")


@pytest.mark.cpu_only
def test_every_primitive_and_gradcheck_entry_is_fuzzed(monkeypatch):
    """A new primitive or gradcheck entry fails here until it is fuzzed or excluded with a reason."""
    seen = set()
    call = Primitive.__call__

    def recording(self, *args, **params):
        seen.add(self.name)
        return call(self, *args, **params)

    monkeypatch.setattr(Primitive, "__call__", recording)
    for seed in range(60):  # rounds of one program per op, until every primitive was called
        for op in fuzzlib.OPS:
            fuzzlib.derivatives(fuzzlib.generate(fuzzlib.Chooser(seed=seed), [op], 1, first=op))
        if not LIBRARY - seen - set(NOT_FUZZED):
            break
    assert sorted(LIBRARY - seen - set(NOT_FUZZED)) == []
    assert sorted(set(NOT_FUZZED) & seen) == []
    table = [
        *gradcheck_table.UNARY,
        *gradcheck_table.BINARY,
        *gradcheck_table.REDUCTIONS,
        *gradcheck_table.SHAPE_OPS,
        *gradcheck_table.LINALG,
        "softmax",
        "log_softmax",
    ]
    missing = [name for name in table if GRADCHECK_NAMES.get(name, name) not in fuzzlib.OPS_BY_NAME]
    assert missing == []


@pytest.mark.parametrize("op", FUZZED, ids=lambda op: op.name)
def test_each_op_alone_matches_torch(op, device):
    for prog in single_op_programs(op, 2):
        check(prog)


@pytest.mark.parametrize(
    "op",
    [
        pytest.param(op, marks=pytest.mark.xfail(strict=True, reason=op.known_bug), id=op.name)
        for op in KNOWN_BUGS
    ],
)
def test_known_bugs(op, device):
    for prog in single_op_programs(op, 3):
        check(prog)


@pytest.mark.cpu_only
@pytest.mark.parametrize("rule, quantity", [("vjp", "grad #0"), ("jvp", "jvp #0")])
def test_a_wrong_rule_is_caught_and_shrunk(monkeypatch, rule, quantity):
    """The fuzzer can fail: a wrong derivative of sin (sin for cos) is found, and the failure is
    shrunk to the one-step program, printed as code."""
    wrong = lambda ns, g, out, x: g * ns.sin(x)  # noqa: E731
    monkeypatch.setattr(PRIMITIVES["sin"], rule, (wrong,) if rule == "vjp" else sum_of(wrong))
    with pytest.raises(AssertionError, match=quantity) as failure:
        fuzz()
    program = str(failure.value).split("\n# PyTorch reference")[0].split("\n")[-3:]
    assert program == ["def program(v0, w):  # v0: ()", "    v1 = ad.sin(v0)", "    return (v1 * w[0]).sum()"]
