"""The ``autodiff`` command and its expression parser: the lecture example end to end, hostile
input refused with a caret under the offending character, and nothing of it executed."""

import ast
import builtins
import math
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autodiff as ad
from autodiff.cli import build_parser, main
from autodiff.viz.expression import ExpressionError, evaluate, parse

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
LECTURE = "z1 = x * y; z2 = x ** 2; z3 = exp(z1); z4 = 2 * z2; z5 = z3 + z4; out = sin(z5)"
AT = ["--at", "x=1.5,y=0.5"]


def build(text, **values):
    return evaluate(parse(text), values or {"x": 1.5, "y": 0.5})


def test_expressions_build_graphs_with_the_engine(device):
    out, inputs = build(LECTURE)
    z5 = math.exp(0.75) + 4.5
    assert out._name == "out" and out.item() == pytest.approx(math.sin(z5), rel=1e-15)
    assert list(inputs) == ["x", "y"] and inputs["x"].requires_grad and out.device == device
    assert out._parents[0]._name == "z5" and out._parents[0]._op.name == "add"
    one_line, _ = build("sin(exp(x*y) + 2*x**2)")
    assert one_line.item() == out.item()
    for text, expected in [
        ("-x + +y - 2", -3.0), ("x ** -2", 1.5**-2), ("2 ** 3 * x", 12.0), ("x / y / 2", 1.5),
        ("relu(-x) + tanh(y) + log(x) + sqrt(x)", math.tanh(0.5) + math.log(1.5) + math.sqrt(1.5)),
        ("maximum(x, y) * minimum(x, y) + sum(x) + mean(y)", 0.75 + 2.0), ("pi * x", math.pi * 1.5),
        ("z = x\nz * z", 2.25), ("sigmoid(x) + softplus(y) + abs(-y) + cos(x) + tan(y) + expm1(y) + log1p(x)",
         1 / (1 + math.exp(-1.5)) + math.log1p(math.exp(0.5)) + 0.5 + math.cos(1.5) + math.tan(0.5)
         + math.expm1(0.5) + math.log1p(1.5)),
    ]:  # fmt: skip
        value, _ = build(text)
        assert value.item() == pytest.approx(expected, rel=1e-14), text


def refusal(text, **values):
    with pytest.raises(ExpressionError) as caught:
        build(text, **values)
    return caught.value


@pytest.mark.cpu_only
@pytest.mark.parametrize(
    "text, message, column",
    [
        ("__import__('os').system('echo pwned')", "attribute access", 17),
        ("__import__('os')", "unknown function '__import__'", 0),
        ("x.__class__", "attribute access", 2),
        ("open('f').read()", "attribute access", 10),
        ("(lambda: x)()", "lambda", 1),
        ("x + (lambda: 1)", "lambda", 5),
        ("[c for c in x]", "'ListComp' is not allowed", 0),
        ("x[0]", "indexing", 0),
        ("x if y else 2", "conditional", 0),
        ("x < y", "comparison", 0),
        ("x; import os", "import", 3),
        ("x ** 1e9", "exponent is too large", 5),
        ("y * x ** -101", "exponent is too large", 9),
        ("x ** 100 + 1", None, None),
        ("1e999 * x", "too large for a float64", 0),
        ("9" * 400 + " * x", "too large for a float64", 0),
        ("'a' * x", "strings are not allowed", 0),
        ("True * x", "bool constants", 0),
        ("1j * x", "complex constants", 0),
        ("x % 2", "the operator 'Mod'", 0),
        ("~x", "the operator 'Invert'", 0),
        ("sin(x, y)", "sin() takes 1 argument, got 2", 0),
        ("sin(x=1)", "no keyword arguments", 6),
        ("sin(*x)", "*-unpacking", 4),
        ("sin + x", "'sin' is a function", 0),
        ("_x + x", "names starting with '_'", 0),
        ("a = b = x", "one name", 0),
        ("x += 1", "'AugAssign'", 0),
        ("pi = 3; x", "constant and cannot be assigned", 0),
        ("sin(x", "'(' was never closed", 3),
        ("x + $", "syntax error", 4),
        ("θ * x +", "syntax error", 7),
        ("x * z", "no value for the variable 'z'", 4),
        ("2 + 3", "does not depend on any variable", 0),
        ("", "empty", 0),
        ("x\0", "NUL", 1),
        ("(" * 101 + "x" + ")" * 101, "nested more than 100 deep", 100),
        ("x" + "+x" * 600, "more than 1000 parts", None),
        ("x + " * 600 + "x", "longer than 2000 characters", None),
    ],
    ids=lambda value: value[:24] if isinstance(value, str) else None,
)
def test_hostile_or_wrong_input_is_refused_with_a_caret(text, message, column):
    if message is None:
        assert build(text)[0].item() == pytest.approx(1.5**100 + 1)
        return
    error = refusal(text, x=1.5, y=0.5, θ=1.0)
    assert message in str(error)
    if column is not None:
        assert error.offset == column
        line, caret = str(error).splitlines()[-2:]
        if len(text) < 80:
            assert line == "  " + text.replace("\0", " ") and caret == "  " + " " * column + "^"


@pytest.mark.cpu_only
def test_the_caret_finds_its_line_and_window():
    error = refusal("z1 = x * y\nz2 = z1.real\nz2")
    assert str(error).splitlines()[-2:] == ["  z2 = z1.real", "          ^"]
    error = refusal("x + " * 30 + "y.imag")
    line, caret = str(error).splitlines()[-2:]
    assert line.startswith("  ...") and line.endswith("y.imag") and caret.index("^") == line.index("imag")


HOSTILE = [
    "__import__", "(", ")", "'os'", ".", "system", "x", "y", "lambda", ":", "**", "9", "99999", "e9",
    "[", "]", ",", "+", "-", "*", "/", "sin", "exec", "eval", "open", "=", ";", "\n", " ", "if",
    "else", "import", "os", "__class__", "__subclasses__", "{", "}", "@", "~", "0x1", "1j", '"', "\\",
    "#", "__builtins__", "globals()", "getattr", "1e308", "relu", "z", "**-", "0.5",
]  # fmt: skip


@pytest.mark.cpu_only
@settings(max_examples=300, deadline=None)
@given(st.one_of(st.lists(st.sampled_from(HOSTILE), max_size=25).map("".join), st.text(max_size=40)))
def test_fuzzed_input_is_built_or_refused_and_never_run(text):
    """Whatever the text, the parser either builds a graph or raises ExpressionError, and no
    text reaches eval, exec or a compile other than ast.parse's."""
    original_compile = builtins.compile

    def ast_only(source, *args, **kwargs):
        flags = args[2] if len(args) > 2 else kwargs.get("flags", 0)
        assert flags & ast.PyCF_ONLY_AST, "compile() was asked for code, not a syntax tree"
        return original_compile(source, *args, **kwargs)

    def forbidden(*args, **kwargs):
        raise AssertionError("user text reached eval/exec/os.system")

    with pytest.MonkeyPatch.context() as m:
        m.setattr(builtins, "compile", ast_only)
        m.setattr(builtins, "eval", forbidden)
        m.setattr(builtins, "exec", forbidden)
        m.setattr(os, "system", forbidden)
        try:
            out, _ = build(text, x=1.5, y=0.5, z=2.0)
        except ExpressionError as error:
            assert "^" in str(error).splitlines()[-1]
        else:
            assert isinstance(out, ad.Tensor) and out.requires_grad


def test_graph_command_prints_dot_and_the_gradient(capsys, device):
    assert main(["graph", LECTURE, *AT, "--grads"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("digraph autodiff {") and "adjoint 6.669" in captured.out
    assert "<b>z5</b>" in captured.out and "value 0.3276" in captured.out
    assert "d out / d x = 6.66886610074" in captured.err and "d out / d y = 3.0002103059" in captured.err
    assert main(["graph", "x * y", "--at", "x=2", "--at", "y=3", "--no-values"]) == 0
    captured = capsys.readouterr()
    assert "value" not in captured.out and "adjoint" not in captured.out and "out = 6" in captured.err


def test_graph_command_errors(capsys, tmp_path, device):
    target = tmp_path / "pwned"
    assert main(["graph", f"__import__('os').system('touch {target}')", *AT]) == 2
    err = capsys.readouterr().err
    assert err.startswith("autodiff graph: only functions can be called") and err.rstrip().endswith("^")
    assert not target.exists()
    for argv, message in [
        (["graph", "x * y", "--at", "x=1"], "no value for the variable 'y'"),
        (["graph", "x * y", *AT, "--at", "w=1"], "--at gives w, which the expression does not use"),
        (["graph", "x", "--at", "x=one"], "'one' is not a number"),
        (["graph", "x", "--at", "1=2"], "expected name=number"),
        (["graph", *AT], "give an expression"),
        (["graph", "x", "--model", "m:m"], "not both"),
        (["graph", "x", "--at", "x=1", "--input-shape", "1,2"], "--input-shape goes with --model"),
        (["graph", "--model", "m.py:model"], "--model needs --input-shape"),
        (["graph", "--model", str(tmp_path / "none.py") + ":m", "--input-shape", "2"], "no file"),
        (["graph", "--model", "no_such_module_here:m", "--input-shape", "2"], "cannot import"),
    ]:
        assert main(argv) == 2, argv
        assert message in capsys.readouterr().err, argv


def test_graph_command_writes_dot_files(tmp_path, capsys, device):
    assert main(["graph", LECTURE, *AT, "-o", str(tmp_path / "g.dot")]) == 0
    assert (tmp_path / "g.dot").read_text().startswith("digraph autodiff {")
    assert f"wrote {tmp_path / 'g.dot'}" in capsys.readouterr().out


@needs_dot
def test_graph_command_renders_svg_and_steps(tmp_path, capsys, device):
    argv = ["graph", LECTURE, *AT, "--grads", "-o", str(tmp_path / "g.svg"), "--steps", str(tmp_path / "s")]
    assert main(argv) == 0
    assert ET.parse(tmp_path / "g.svg").getroot().tag.endswith("svg")
    assert (tmp_path / "s" / "index.html").exists() and (tmp_path / "s" / "step_008.svg").exists()
    assert "wrote 9 frames" in capsys.readouterr().out


MODEL = """
import autodiff as ad

class Tiny:
    def __init__(self):
        self.w = ad.randn(3, 2, seed=1).requires_grad_()

    def named_parameters(self):
        return [("layer.weight", self.w)]

    def __call__(self, x):
        with ad.name_scope("Tiny"):
            return ad.tanh(x @ self.w)

model = Tiny()
"""


def test_graph_command_draws_a_model(tmp_path, capsys, device):
    (tmp_path / "models.py").write_text(MODEL)
    spec = f"{tmp_path / 'models.py'}:model"
    assert main(["graph", "--model", spec, "--input-shape", "4,3", "--grads", "--expand"]) == 0
    captured = capsys.readouterr()
    assert "<b>Tiny</b>" in captured.out and "<b>layer.weight</b>" in captured.out
    assert "d sum / d layer.weight = shape (3, 2), norm" in captured.err
    assert main(["graph", "--model", f"{tmp_path / 'models.py'}:Tiny", "--input-shape", "4,3"]) == 0
    capsys.readouterr()
    assert main(["graph", "--model", f"{tmp_path / 'models.py'}:nothing", "--input-shape", "4,3"]) == 2
    assert "has no attribute 'nothing'" in capsys.readouterr().err


def test_graph_command_draws_an_nn_mlp(tmp_path, capsys, device):
    pytest.importorskip("nn")
    (tmp_path / "mlp.py").write_text("import nn\nmodel = nn.MLP([4, 8, 3])\n")
    assert main(["graph", "--model", f"{tmp_path / 'mlp.py'}:model", "--input-shape", "2,4", "--expand"]) == 0
    out = capsys.readouterr().out
    assert "subgraph cluster_" in out and "<b>matmul</b>" in out and "<b>relu</b>" in out


@pytest.mark.cpu_only
def test_sub_commands_and_python_dash_m():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert "graph" in commands
    try:
        import nn.cli  # noqa: F401

        assert "train" in commands
    except ImportError:
        assert "train" not in commands
    done = subprocess.run(
        [sys.executable, "-m", "autodiff", "graph", "x * y", "--at", "x=2,y=3"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout.startswith("digraph autodiff {"), done.stderr
    assert "d out / d y = 2" in done.stderr
