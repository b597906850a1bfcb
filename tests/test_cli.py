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
    assert out.label == "out" and out.item() == pytest.approx(math.sin(z5), rel=1e-15)
    assert list(inputs) == ["x", "y"] and inputs["x"].requires_grad and out.device == device
    assert out.parents[0].label == "z5" and out.parents[0].op.name == "add"
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


# ----------------------------------------------------------------------------- mistakes (issue 11)
BAD_MODEL = "raise RuntimeError('broken on import')\n"
TRAIN = ["train", "--data", "moons", "--arch", "2,8,2", "--epochs", "1", "--no-progress"]
MISTAKES = [
    (["--activation", "swish"], "argument --activation: invalid choice: 'swish'"),
    (["--lr", "0"], "argument --lr: must be a finite number in (0, inf), got 0"),
    (["--lr", "-1"], "argument --lr: must be a finite number"),
    (["--lr", "nan"], "argument --lr: must be a finite number in (0, inf), got nan"),
    (["--lr", "inf"], "argument --lr: must be a finite number in (0, inf), got inf"),
    (["--batch-size", "0"], "argument --batch-size: must be at least 1, got 0"),
    (["--weight-decay", "-0.1"], "argument --weight-decay: must be a finite number in [0, inf)"),
    (["--momentum", "1"], "argument --momentum: must be a finite number in [0, 1), got 1"),
    (["--momentum", "-0.5"], "argument --momentum: must be a finite number in [0, 1)"),
    (["--epochs", "0"], "argument --epochs: must be at least 1, got 0"),
    (["--seed", "-1"], "argument --seed: must be at least 0, got -1"),
    (["--data", "mnist"], "data 'mnist' is read from local IDX files: give their folder (--root)"),
    (["--data", "mnist", "--root", "{tmp}/nowhere"], "is not a folder"),
    (["--data", "mnist", "--root", "{tmp}/empty"], "mnist: no file train-images-idx3-ubyte"),
    (["--arch", "2,16,5"], "the architecture ends with 5 outputs but the data has 2 classes"),
    (["--data", "digits", "--arch", "64,16,5"], "ends with 5 outputs but the data has 10 classes"),
    (["--arch", "3,16,2"], "the architecture starts with 3 inputs"),
    (["--model", "cnn", "--arch", "4,2"], "data 'moons' has no images: use the mlp or logistic model"),
    (["--arch", "2,1000000,1000000,2"], "GiB but"),
    (["--out", "{tmp}/file"], "--out {tmp}/file is a file"),
    (["--out", "{tmp}/file/run"], "--out: cannot write {tmp}/file/run/model.npz"),
    (["--out", ""], "--out is empty"),
    (["--out", "{tmp}/earlier"], "holds an earlier run (metrics.json); choose another folder or add --force"),
]
GRAPH = ["graph", "x * y", "--at", "x=1.5,y=0.5"]
GRAPH_MISTAKES = [
    (["--max-nodes", "0"], "argument --max-nodes: must be at least 1, got 0"),
    (["-o", "{tmp}/g.xyz"], "-o {tmp}/g.xyz: unknown format .xyz"),
    (["-o", "{tmp}/empty"], "unknown format (no suffix)"),
    (["-o", "{tmp}/folder.svg"], "-o {tmp}/folder.svg is a folder"),
    (["-o", "{tmp}/file/g.dot"], "-o: cannot write {tmp}/file/g.dot"),
    (["--steps", "{tmp}/file"], "--steps '{tmp}/file': give a folder name"),
    (["--steps", "{tmp}/file/steps"], "--steps: cannot write {tmp}/file/steps/index.html"),
    (["--at", "x=2"], "--at gives x twice"),
]
MODEL_MISTAKES = [
    (["--model", "{tmp}/bad.py:model", "--input-shape", "2,3"], "running {tmp}/bad.py failed: RuntimeError"),
    (["--model", "{tmp}/models.py:model", "--input-shape", "2,5"], "failed on an input of shape (2, 5)"),
    (["--model", "{tmp}/models.py:model", "--input-shape", "0"], "--input-shape: expected positive sizes"),
    (["--model", "{tmp}/models.py:Tiny.__init__", "--input-shape", "2,3"], "has no attribute"),
]
CASES = (
    [(TRAIN + argv, message) for argv, message in MISTAKES]
    + [(GRAPH + argv, message) for argv, message in GRAPH_MISTAKES]
    + [(["graph", *argv], message) for argv, message in MODEL_MISTAKES]
    + [(["graph", "ﬁ * 2", "--at", "ﬁ=1"], "--at ﬁ: Python reads this name as 'fi' (NFKC); write 'fi'")]
)


def tree(folder):
    return sorted((str(p), p.stat().st_mtime_ns) for p in folder.rglob("*"))


@pytest.mark.cpu_only
@pytest.mark.parametrize("argv, message", CASES, ids=[" ".join(argv[:1] + argv[-2:]) for argv, _ in CASES])
def test_mistakes_get_one_line_exit_2_and_nothing_written(argv, message, tmp_path, capsys):
    """Issue 11, 'Crashes': every ordinary mistake of ``autodiff train`` / ``autodiff graph``
    prints one line saying what is wrong (and how to fix it), exits with status 2, and writes
    nothing; ``train`` refuses before training (an --arch that does not fit the classes too)."""
    pytest.importorskip("nn")
    (tmp_path / "file").write_text("a file")
    (tmp_path / "empty").mkdir()
    (tmp_path / "folder.svg").mkdir()
    (tmp_path / "earlier").mkdir()
    (tmp_path / "earlier" / "metrics.json").write_text("{}")
    (tmp_path / "bad.py").write_text(BAD_MODEL)
    (tmp_path / "models.py").write_text(MODEL)
    before = tree(tmp_path)
    tmp = str(tmp_path)
    argv = [a.replace("{tmp}", tmp) for a in argv]
    if "run" not in " ".join(argv) and argv[0] == "train" and "--out" not in argv:
        argv += ["--out", str(tmp_path / "run")]
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"autodiff {argv[0]}"), err
    assert message.replace("{tmp}", tmp) in err
    assert captured.out == "" and tree(tmp_path) == before  # nothing written, nothing created


@pytest.mark.cpu_only
def test_train_stops_when_training_diverges_and_overwrites_only_with_force(tmp_path, capsys):
    out = str(tmp_path / "run")
    with pytest.warns(RuntimeWarning):
        assert main([*TRAIN, "--lr", "1e300", "--out", out]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("autodiff train: fit: the training loss is nan in epoch 1: training diverged")
    assert not (tmp_path / "run").exists()
    assert main([*TRAIN, "--out", out]) == 0
    capsys.readouterr()
    assert main([*TRAIN, "--out", out]) == 2
    assert main([*TRAIN, "--out", out, "--force", "--seed", "1"]) == 0
    assert '"seed": 1' in (tmp_path / "run" / "metrics.json").read_text()


@pytest.mark.cpu_only
def test_expressions_may_start_with_a_minus(capsys):
    assert main(["graph", "-x", "--at", "x=2"]) == 0
    assert "out = -2" in capsys.readouterr().err
    assert main(["graph", "-x*y", "--at", "x=2,y=3", "--grads"]) == 0
    assert "d out / d y = -2" in capsys.readouterr().err
    assert main(["graph", "--at", "x=2", "-x**2"]) == 0
    assert "out = -4" in capsys.readouterr().err
