"""``autodiff graph``'s pictures of the two modes: --steps and --forward frames, a model drawn
one box per layer with a named loss (--loss, --target), and X labelled as the model's input."""

import re
import shutil

import pytest

from autodiff.cli import main

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
LECTURE = "z1 = x * y; z2 = x ** 2; z3 = exp(z1); z4 = 2 * z2; z5 = z3 + z4; out = sin(z5)"
MLP = "import autodiff as ad\nimport nn\nmodel = nn.MLP([4, 8, 8, 3], generator=ad.random.Generator(0))\n"


@needs_dot
def test_steps_and_forward_frames_of_the_lecture_program(tmp_path, capsys, device):
    args = ["graph", LECTURE, "--at", "x=1.5,y=0.5", "-o", str(tmp_path / "g.dot")]
    assert main([*args, "--steps", str(tmp_path / "back"), "--forward", str(tmp_path / "fwd")]) == 0
    report = capsys.readouterr().out
    assert "d out in the direction (x=1, y=0) = 6.66886610074" in report  # the default: along x
    assert "wrote 9 frames" in report and "wrote 7 frames" in report
    back = (tmp_path / "back" / "index.html").read_text()
    assert "partial sum 5.669 (1 of 2 children)" in back and "Backpropagation, step by step" in back
    forward = (tmp_path / "fwd" / "index.html").read_text()
    assert "tangent 6.669" in forward and forward.count("<svg") == 7
    assert main([*args, "--forward", str(tmp_path / "y"), "--tangent", "y=1"]) == 0
    assert "d out in the direction (x=0, y=1) = 3.0002103059" in capsys.readouterr().out


def test_forward_and_loss_errors(tmp_path, capsys, device):
    pytest.importorskip("nn")
    (tmp_path / "mlp.py").write_text(MLP)
    model = ["graph", "--model", f"{tmp_path / 'mlp.py'}:model", "--input-shape", "5,4"]
    for extra, message in [
        (["--loss", "mse"], "--loss mse needs --target"),
        (["--target", "1"], "--target goes with --loss mse"),
        (["--loss", "mse", "--target", "1,2"], "--target: 2 numbers for an output of shape (5, 3)"),
        (["--loss", "mse", "--target", "a"], "expected numbers"),
        (["--loss", "cross_entropy", "--target", "3"], "class indices in [0, 3)"),
        (["--forward", str(tmp_path / "f")], "--forward draws an expression"),
    ]:
        assert main(model + extra) == 2, extra
        assert message in capsys.readouterr().err, extra
    tangent = ["--forward", str(tmp_path / "f"), "--tangent", "z=1"]
    assert main(["graph", "x*y", "--at", "x=1,y=2", *tangent]) == 2
    assert "--tangent gives z, which the expression does not use" in capsys.readouterr().err


def test_a_model_with_a_named_loss_is_drawn_one_box_per_layer(tmp_path, capsys, device):
    pytest.importorskip("nn")
    (tmp_path / "mlp.py").write_text(MLP)
    model = ["graph", "--model", f"{tmp_path / 'mlp.py'}:model", "--input-shape", "5,4"]
    assert main([*model, "--loss", "mse", "--target", "0.5"]) == 0
    captured = capsys.readouterr()
    assert re.findall(r"label=<<b>(MLP\.\d)</b>", captured.out)
    assert "<b>X</b> <i>input</i>" in captured.out
    assert "<b>mse</b>" in captured.out and "<b>target</b> <i>constant</i>" in captured.out
    assert (
        "d mse / d X = shape (5, 4)" in captured.err and "d mse / d 0.weight = shape (8, 4)" in captured.err
    )
    assert main([*model, "--loss", "cross_entropy", "--target", "0,1,2,0,1", "--expand"]) == 0
    captured = capsys.readouterr()
    assert "<b>cross_entropy</b>" in captured.out and "<b>matmul</b>" in captured.out
    assert main(model) == 0
    captured = capsys.readouterr()
    assert "<b>sum</b>" in captured.out and "loss: the sum of the model's outputs" in captured.err
