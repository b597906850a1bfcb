"""Backpropagation step by step: the trace of the lecture's backward pass against the adjoints
derived by hand (../shared/seeds/001_9074c1202f56cd83.txt), and the frames drawn from it."""

import math
import re
import shutil
import xml.etree.ElementTree as ET

import pytest
from test_viz import lecture

import autodiff as ad
from autodiff.viz.steps import frames

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


def by_hand():
    """z^(f) = 1, then z^(v) = sum over children w of (d f^(w) / d x^(v)) z^(w)."""
    x, y = 1.5, 0.5
    z1, z2 = x * y, x**2
    z5 = math.exp(z1) + 2 * z2
    adj = {"out": 1.0}
    adj["z5"] = math.cos(z5) * adj["out"]
    adj["z3"] = adj["z5"]
    adj["z4"] = adj["z5"]
    adj["z2"] = 2 * adj["z4"]
    adj["z1"] = math.exp(z1) * adj["z3"]
    adj["x"] = y * adj["z1"] + 2 * x * adj["z2"]
    adj["y"] = x * adj["z1"]
    return adj


def test_trace_matches_the_lecture_adjoints(device):
    x, y, out = lecture()
    trace = ad.trace_backward(out)
    hand = by_hand()
    assert [v._name for v in trace.order][0] == "out"
    assert sorted(v._name for v in trace.order) == sorted(hand)
    for step in trace:
        assert step.adjoint.item() == pytest.approx(hand[step.vertex._name], rel=1e-14), step.vertex._name
        assert trace.adjoint(step.vertex) is step.adjoint and trace.steps[step.index] is step
    # A vertex is processed only after all its children: a reverse topological order.
    position = {v: k for k, v in enumerate(trace.order)}
    for w in trace.order:
        for p in w._parents or ():
            if isinstance(p, ad.Tensor):
                assert position[w] < position[p], (w._name, p._name)
    # It is backward(): the leaves' .grad are the adjoints, and the graph is still there.
    assert x.grad.item() == pytest.approx(hand["x"], rel=1e-14) and y.grad.item() == pytest.approx(hand["y"])
    out.backward()
    assert x.grad.item() == pytest.approx(2 * hand["x"], rel=1e-14)
    with pytest.raises(KeyError, match="did not reach"):
        trace.adjoint(ad.tensor(1.0))


def test_trace_options(device):
    x, y, out = lecture()
    trace = ad.trace_backward(out, accumulate=False, retain_graph=False)
    assert x.grad is None and len(trace) == 8
    with pytest.raises(RuntimeError, match="second time"):
        out.backward()
    x, y, out = lecture()
    trace = ad.trace_backward(out, grad=ad.tensor(2.0), create_graph=True)
    z5 = trace.adjoint(out._parents[0])
    assert z5._op is not None and z5.item() == pytest.approx(2 * by_hand()["z5"], rel=1e-14)
    with pytest.raises(RuntimeError, match="does not require grad"):
        ad.trace_backward(ad.tensor(1.0))


def test_frames_highlight_one_vertex_and_fill_adjoints_in_order(device):
    x, y, out = lecture()
    trace = ad.trace_backward(out)
    shown = frames(trace)
    assert len(shown) == len(trace) + 1
    caption, first = shown[0]
    assert "Forward pass done" in caption and "adjoint" not in first and "value 0.3276" in first
    for k, (caption, dot) in enumerate(shown[1:], start=1):
        step = trace.steps[k - 1]
        lit = re.findall(r"\t(t\d+) \[([^\n]*fillcolor=\"#ffd966\".*)\]", dot)
        assert len(lit) == 1 and f"<b>{step.vertex._name}</b>" in lit[0][1]
        assert dot.count("adjoint ") == k
        assert f"z^({step.vertex._name}) = {step.adjoint.item():.4g}" in caption
    assert "seed" in shown[1][0]
    assert sum("x is a root, so d out / d x = 6.669" in caption for caption, _ in shown) == 1


@needs_dot
def test_draw_steps_writes_frames_and_an_index(tmp_path, device):
    x, y, out = lecture()
    index = ad.draw_steps(out, tmp_path / "steps")
    assert index == tmp_path / "steps" / "index.html"
    pictures = sorted(p.name for p in index.parent.glob("step_*.svg"))
    assert pictures == [f"step_{k:03d}.svg" for k in range(9)]
    assert len(list(index.parent.glob("step_*.dot"))) == 9
    for name in pictures:
        assert ET.parse(index.parent / name).getroot().tag.endswith("svg")
    page = index.read_text()
    assert page.count('"image": "step_') == 9 and "ArrowRight" in page and "Step 8/8" in page
    with pytest.raises(ValueError, match="fmt"):
        ad.draw_steps(out, tmp_path / "other", fmt="gif")
