"""Backpropagation step by step: the trace of the lecture's backward pass against the adjoints
derived by hand (Scaman 2024), and the frames drawn from it."""

import math
import re
import shutil
import xml.etree.ElementTree as ET

import pytest
from test_viz import lecture

import autodiff as ad
from autodiff.viz import local, rendering
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
    assert [v.label for v in trace.order][0] == "out"
    assert sorted(v.label for v in trace.order) == sorted(hand)
    for step in trace:
        assert step.adjoint.item() == pytest.approx(hand[step.vertex.label], rel=1e-14), step.vertex.label
        assert trace.adjoint(step.vertex) is step.adjoint and trace.steps[step.index] is step
    # A vertex is processed only after all its children: a reverse topological order.
    position = {v: k for k, v in enumerate(trace.order)}
    for w in trace.order:
        for p in w.parents or ():
            if isinstance(p, ad.Tensor):
                assert position[w] < position[p], (w.label, p.label)
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
    z5 = trace.adjoint(out.parents[0])
    assert z5.op is not None and z5.item() == pytest.approx(2 * by_hand()["z5"], rel=1e-14)
    with pytest.raises(RuntimeError, match="does not require grad"):
        ad.trace_backward(ad.tensor(1.0))


def frame_lines(dot, title):
    """The label of the node whose label starts with ``<b>title</b>``."""
    (label,) = re.findall(rf"label=<(<b>{re.escape(title)}</b>[^\n]*?)>(?: |\]|$)", dot, flags=re.M)
    return label


def edge_label(dot, tail_title, op_name):
    """The attributes of the edge from the node titled ``tail_title`` into the ``op_name`` node."""
    tail = re.search(rf"\t(\w+) \[[^\n]*label=<<b>{re.escape(tail_title)}</b>", dot).group(1)
    heads = re.findall(rf"\t(op\d+) \[[^\n]*label=<<b>{op_name}</b>", dot)
    found = [m for h in heads for m in re.findall(rf"^\t{tail} -> {h}( \[.*\])?$", dot, flags=re.M)]
    assert len(found) == 1, (tail_title, op_name, found)
    return found[0]


def test_frames_follow_the_formula_partial_sums_and_local_derivatives(device):
    x, y, out = lecture()
    trace = ad.trace_backward(out)
    shown = frames(trace)
    assert len(shown) == len(trace) + 1
    caption, first = shown[0]
    assert "Forward pass done" in caption and "adjoint" not in first and "value 0.3276" in first
    for k, (caption, dot) in enumerate(shown[1:], start=1):
        step = trace.steps[k - 1]
        lit = re.findall(r"\t(t\d+) \[([^\n]*fillcolor=\"#ffd966\".*)\]", dot)
        assert len(lit) == 1 and f"<b>{step.vertex.label}</b>" in lit[0][1]
        assert f"z^({step.vertex.label}) = {step.adjoint.item():.4g}" in caption
    assert "seed" in shown[1][0]
    assert sum("x is a root, so d out / d x = 6.669" in caption for caption, _ in shown) == 1
    # x has two children: power sends 5.669 first (a partial sum), then multiply sends 1.
    x_lines = [frame_lines(dot, "x") for _, dot in shown]
    partial = [k for k, text in enumerate(x_lines) if "partial sum 5.669 (1 of 2 children)" in text]
    full = [k for k, text in enumerate(x_lines) if "6.669" in text]
    assert partial == [4, 5] and full and full[0] == 6  # steps 4 (power) and 6 (multiply)
    assert "adjoint 6.669 (2 of 2 children)" in x_lines[full[0]] and x_lines[-1].endswith("adjoint 6.669")
    assert (
        "1 of 2 children" in shown[partial[0]][0]
        and "∂z2/∂x = 2·x = 3, so 3 × 1.89 = 5.669" in shown[partial[0]][0]
    )
    # The local derivatives on the edges, and the edges point the way the adjoint travels.
    power = edge_label(shown[partial[0]][1], "x", "power")
    assert "∂z2/∂x = 2·x = 3<br/>3 × 1.89 = 5.669" in power and "dir=back" in power
    exp_step = next(dot for caption, dot in shown if caption.startswith("Step 5/8: z^(z3) = "))
    assert "∂z3/∂z1 = exp(z1) = 2.117" in edge_label(exp_step, "z1", "exp")
    assert "∂" not in edge_label(exp_step, "x", "power")  # only the step's own edges are labelled
    assert re.search(r"c\d+_1 -> op\d+ \[label=<1>\]", exp_step)  # the constant 2 gets no adjoint
    # The last frame is the complete picture: every adjoint as draw(grads=trace) shows it.
    complete = ad.to_dot(out, values=True, grads=trace)
    assert re.findall(r"adjoint [^<>]*", shown[-1][1]) == re.findall(r"adjoint [^<>]*", complete)


def test_terms_sum_to_the_engines_adjoints_for_tensors(device):
    g = ad.random.Generator(0)
    X = g.randn(5, 3).name("X").requires_grad_()
    W = g.randn(3, 4).name("W").requires_grad_()
    b = g.randn(4).name("b").requires_grad_()
    h = ad.tanh(X @ W + b).name("h")
    out = (h * h).sum().name("out")
    trace = ad.trace_backward(out)
    totals = {}
    for w in trace.order:
        for i, p in enumerate(w.parents if w.op is not None else ()):
            if isinstance(p, ad.Tensor):
                term = local.vjp_term(w, i, trace.adjoint(w).data)
                totals[p] = term if p not in totals else totals[p] + term
    for v, z in totals.items():
        assert ad.Tensor(z).numpy() == pytest.approx(trace.adjoint(v).numpy(), rel=1e-14, abs=1e-15), v.label
    assert totals[b].shape == (4,)  # the broadcast of b summed back
    shown = frames(trace)
    text = "".join(dot for _, dot in shown)
    assert "diag(1 - tanh²(add))" in text and "z ↦ X<sup>" not in text
    assert "z ↦ z·Wᵀ [(5, 4) ← (5, 3)]" in text and "z ↦ Xᵀ·z [(5, 4) ← (3, 4)]" in text
    assert "diag(1), summed to shape (4,)" in text
    assert "(2 of 2 children)" in "".join(frame_lines(dot, "h") for _, dot in shown)  # h * h: two edges


def lecture_function(x, y):
    z1 = (x * y).name("z1")
    z2 = (x**2).name("z2")
    z3 = ad.exp(z1).name("z3")
    z4 = (2 * z2).name("z4")
    z5 = (z3 + z4).name("z5")
    return ad.sin(z5).name("out")


def test_forward_frames_carry_the_tangents_of_a_known_jvp(device):
    hand = by_hand()
    for direction, expected in (((1.0, 0.0), hand["x"]), ((0.0, 1.0), hand["y"])):
        trace = ad.trace_forward(lecture_function, (1.5, 0.5), direction)
        _, jvp = ad.jvp(lecture_function, (ad.tensor(1.5), ad.tensor(0.5)), tuple(map(ad.tensor, direction)))
        assert trace.tangent(trace.output).item() == pytest.approx(expected, rel=1e-14)
        assert trace.tangent(trace.output).item() == pytest.approx(jvp.item(), rel=1e-14)
    x, y = 1.5, 0.5
    trace = ad.trace_forward(lecture_function, (x, y), (1.0, 0.0))
    assert [v.label for v in trace.inputs] == ["x", "y"]  # named after f's parameters
    by_name = {v.label: t.item() for v, t in trace.tangents.items()}
    zdot = {"x": 1, "y": 0, "z1": y, "z2": 2 * x, "z3": math.exp(x * y) * y, "z4": 4 * x}
    zdot["z5"] = zdot["z3"] + zdot["z4"]
    zdot["out"] = math.cos(math.exp(x * y) + 2 * x**2) * zdot["z5"]
    assert by_name == pytest.approx(zdot, rel=1e-14)
    assert [s.vertex.label for s in trace] == ["z1", "z3", "z2", "z4", "z5", "out"]  # the forward order
    shown = trace.frames()
    assert len(shown) == len(trace) + 1 and "zdot^(x) = 1, zdot^(y) = 0" in shown[0][0]
    assert "tangent" not in frame_lines(shown[0][1], "out") and "tangent 6.669" in frame_lines(
        shown[-1][1], "out"
    )
    assert "value" not in frame_lines(shown[2][1], "z2")  # computed later, with its tangent
    z2 = edge_label(shown[3][1], "x", "power")
    assert "∂z2/∂x = 2·x = 3<br/>3 × 1 = 3" in z2 and "dir=back" not in z2
    assert "This is the JVP" in shown[-1][0]
    with pytest.raises(KeyError, match="does not depend"):
        trace.tangent(ad.tensor(1.0))
    with pytest.raises(ValueError, match="2 primals but 1 tangents"):
        ad.trace_forward(lecture_function, (x, y), (1.0,))


def test_forward_trace_of_tensors_matches_jvp(device):
    g = ad.random.Generator(1)
    W, b = g.randn(3, 4), g.randn(4)
    f = lambda X, W: ad.tanh(X @ W + b).sum()
    X, V = g.randn(5, 3), g.randn(3, 4)
    trace = ad.trace_forward(f, (X, W), (ad.zeros(5, 3), V))
    _, jvp = ad.jvp(f, (X, W), (ad.zeros(5, 3), V))
    assert trace.tangent(trace.output).item() == pytest.approx(jvp.item(), rel=1e-12)


def test_create_graph_draws_the_derivative_as_a_graph_for_the_hessian(device):
    x, y, out = lecture()
    out.backward(create_graph=True)
    dot = ad.to_dot(out, backward=True, values=True)
    assert "<b>x.grad</b>" in dot and "<b>y.grad</b>" in dot and "<b>cos</b>" in dot
    assert f"value {by_hand()['x']:.4g}" in dot
    hessian = ad.hessian(lambda v: lecture_function(v[0], v[1]))(ad.tensor([1.5, 0.5]))
    row = ad.gradients(x.grad, [x, y])  # differentiating the drawn graph gives the Hessian
    assert [r.item() for r in row] == pytest.approx(hessian.numpy()[0].tolist(), rel=1e-12)


def test_frames_need_the_graph(device):
    x, y, out = lecture()
    trace = ad.trace_backward(out, retain_graph=False)
    with pytest.raises(ValueError, match="freed the graph"):
        frames(trace)


@needs_dot
def test_draw_steps_writes_frames_and_the_self_contained_page(tmp_path, device):
    x, y, out = lecture()
    trace = ad.trace_backward(out)
    index = ad.draw_steps(trace, tmp_path / "steps")
    assert index == tmp_path / "steps" / "index.html"
    pictures = sorted(p.name for p in index.parent.glob("step_*.svg"))
    assert pictures == [f"step_{k:03d}.svg" for k in range(9)]
    assert len(list(index.parent.glob("step_*.dot"))) == 9
    for name in pictures:
        assert ET.parse(index.parent / name).getroot().tag.endswith("svg")
    assert index.read_text() == trace.to_html()
    forward = ad.draw_steps(
        ad.trace_forward(lecture_function, (1.5, 0.5), (1, 0)), tmp_path / "fwd", fmt="png"
    )
    assert len(list(forward.parent.glob("step_*.png"))) == 7 and "Forward mode" in forward.read_text()
    with pytest.raises(ValueError, match="fmt"):
        ad.draw_steps(out, tmp_path / "other", fmt="gif")


def external_urls(page):
    """Every http(s) URL in the page that is not an SVG namespace declaration (xmlns="...")."""
    return [
        m.group(0)
        for m in re.finditer(r"https?://[^\s\"'<>]*", page)
        if not re.search(r'\bxmlns(:\w+)?="$', page[: m.start()][-40:])
    ]


@needs_dot
def test_repr_html_is_one_self_contained_document(device):
    x, y, out = lecture()
    trace = ad.trace_backward(out)
    page = trace._repr_html_()
    assert page.startswith("<!DOCTYPE html>") and page.count("<html") == 1 and page.count("</html>") == 1
    assert page.count("<svg") == len(trace) + 1 and "<!DOCTYPE svg" not in page and "<?xml" not in page
    assert 'xmlns="http://www.w3.org/2000/svg"' in page and external_urls(page) == []
    assert external_urls('<svg xmlns="http://www.w3.org/2000/svg"><a href="https://example.org">') == [
        "https://example.org"
    ]
    assert not re.search(r"<(img|link|iframe)\b|\bsrc=", page)  # nothing fetched
    assert 'type="range"' in page and "ArrowRight" in page and "ArrowLeft" in page
    captions = re.findall(r'data-caption="([^"]*)"', page)
    assert (
        len(captions) == len(trace) + 1
        and "Step 4/8" in captions[4]
        and "2·x = 3, so 3 × 1.89" in captions[4]
    )
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))  # frames do not clash
    forward = ad.trace_forward(lecture_function, (1.5, 0.5), (1, 0))._repr_html_()
    assert forward.count("<svg") == 7 and external_urls(forward) == []


def test_repr_html_without_dot_says_how_to_install_it(monkeypatch, device):
    monkeypatch.setattr(rendering.shutil, "which", lambda name: None)
    x, y, out = lecture()
    page = ad.trace_backward(out)._repr_html_()
    assert "apt-get install graphviz" in page and external_urls(page) == []
