"""Drawing graphs: the DOT text of the lecture example and of an MLP, clusters, collapsing,
big graphs, determinism, and rendering with Graphviz (skipped where ``dot`` is missing)."""

import math
import re
import shutil
import sys
import time
import xml.etree.ElementTree as ET

import pytest

import autodiff as ad
from autodiff.viz import GraphvizNotFoundError, render, rendering

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


def lecture(x_value=1.5, y_value=0.5):
    """The lecture's program (Scaman 2024), every vertex named."""
    x = ad.tensor(x_value, requires_grad=True).name("x")
    y = ad.tensor(y_value, requires_grad=True).name("y")
    z1 = (x * y).name("z1")
    z2 = (x**2).name("z2")
    z3 = ad.exp(z1).name("z3")
    z4 = (2 * z2).name("z4")
    z5 = (z3 + z4).name("z5")
    return x, y, ad.sin(z5).name("out")


def nodes(dot):
    """``{id: attribute text}`` of every node statement."""
    found = dict(re.findall(r"^\t+(\w+) \[(.*)\]$", dot, flags=re.M))
    return {k: v for k, v in found.items() if k not in ("graph", "node", "edge")}


def edges(dot):
    return re.findall(r"^\t(\w+) -> (\w+)", dot, flags=re.M)


def titled(dot, title):
    """The id of the node whose label starts with ``<b>title</b>``."""
    (found,) = [i for i, attrs in nodes(dot).items() if f"label=<<b>{title}</b>" in attrs]
    return found


def clusters(dot):
    """``{node id: (cluster titles, outermost first)}``."""
    where, path = {}, []
    for line in dot.splitlines():
        stripped = line.strip()
        if stripped.startswith("subgraph cluster_"):
            path.append(None)
        elif stripped.startswith("graph [label=<<b>") and path:
            path[-1] = re.match(r"graph \[label=<<b>(.*?)</b>>", stripped).group(1)
        elif stripped == "}" and path:
            path.pop()
        elif m := re.match(r"(\w+) \[", stripped):
            where[m.group(1)] = tuple(path)
    return where


def test_lecture_graph_nodes_edges_values_adjoints(device):
    x, y, out = lecture()
    trace = ad.trace_backward(out)
    dot = ad.to_dot(out, values=True, grads=trace)
    ids = {name: titled(dot, name) for name in ("x", "y", "z1", "z2", "z3", "z4", "z5", "out")}
    ops = {name: "op" + ids[name][1:] for name in ("z1", "z2", "z3", "z4", "z5", "out")}
    # Each operation vertex is an op node feeding its tensor node; edges are the DAG's.
    expected = {
        (ids["x"], ops["z1"]), (ids["y"], ops["z1"]), (ids["x"], ops["z2"]), (ids["z1"], ops["z3"]),
        (ids["z2"], ops["z4"]), (ids["z3"], ops["z5"]), (ids["z4"], ops["z5"]), (ids["z5"], ops["out"]),
    }  # fmt: skip
    expected |= {(ops[n], ids[n]) for n in ops}
    found = edges(dot)
    assert expected <= set(found)
    scalars = [(a, b) for a, b in found if a.startswith("c")]  # the constants 2 of x**2 and 2*z2
    assert sorted(b for _, b in scalars) == sorted([ops["z2"], ops["z4"]])
    assert len(found) == len(expected) + 2
    attrs = nodes(dot)
    op_names = {n: re.search(r"label=<<b>(\w+)</b>", attrs[ops[n]]).group(1) for n in ops}
    assert op_names == dict(z1="multiply", z2="power", z3="exp", z4="multiply", z5="add", out="sin")
    # Values y^(v) and adjoints z^(v) (4 significant digits), as derived by hand in the lecture.
    z1, z5 = 0.75, math.exp(0.75) + 4.5
    c = math.cos(z5)
    hand = {
        "out": (math.sin(z5), 1.0), "z5": (z5, c), "z4": (4.5, c), "z3": (math.exp(z1), c),
        "z2": (2.25, 2 * c), "z1": (z1, math.exp(z1) * c),
        "x": (1.5, 0.5 * math.exp(z1) * c + 2 * 1.5 * 2 * c), "y": (0.5, 1.5 * math.exp(z1) * c),
    }  # fmt: skip
    for name, (value, adjoint) in hand.items():
        label = attrs[ids[name]]
        assert f"value {value:.4g}<br/>adjoint {adjoint:.4g}>" in label, (name, label)
        assert f"shape () float64 {device}" in label
    # Kinds look different: inputs are filled yellow boxes, operations blue ellipses, the output
    # has a double border, the scalar 2 is plain text.
    assert 'fillcolor="#fff2cc"' in attrs[ids["x"]] and "shape=ellipse" in attrs[ops["z1"]]
    assert "peripheries=2" in attrs[ids["out"]] and "peripheries" not in attrs[ids["z5"]]
    assert all("shape=plain label=<2>" in attrs[a] for a, _ in scalars)
    # The argument order of a non-commutative operation is written on its edges.
    assert re.search(rf"\t{ids['x']} -> {ops['z2']} \[label=<0>\]", dot)


def test_same_program_same_bytes(device):
    def program():
        x, _, out = lecture()
        trace = ad.trace_backward(out)
        return ad.to_dot(out, values=True, grads=trace)

    first = program()
    assert first == program()
    assert first.startswith("digraph autodiff {\n\tgraph [rankdir=LR") and first.endswith("}\n")
    x, _, out = lecture()
    assert "rankdir=TB" in ad.to_dot(out, rankdir="TB")
    both = ad.to_dot([out.parents[0], out])  # several outputs: each drawn with a double border
    assert both.count("peripheries=2") == 2 and ad.to_dot([out]) == ad.to_dot(out)
    with pytest.raises(TypeError, match="Tensor or a sequence of Tensors"):
        ad.to_dot([out, 1.0])
    with pytest.raises(ValueError, match="rankdir"):
        ad.to_dot(out, rankdir="sideways")


def test_grads_true_shows_dot_grad_after_backward(device):
    x, y, out = lecture()
    out.backward(retain_graph=True)
    dot = ad.to_dot(out, grads=True)
    assert f"adjoint {x.grad.item():.4g}>" in nodes(dot)[titled(dot, "x")]
    assert "adjoint" not in nodes(dot)[titled(dot, "z5")]  # intermediates keep no .grad
    assert "adjoint" not in ad.to_dot(out)


def test_graph_freed_by_backward_is_drawn_with_a_note(device):
    x, y, out = lecture()
    out.backward()
    dot = ad.to_dot(out)
    assert "inputs freed by backward()" in nodes(dot)[titled(dot, "out")]
    assert "retain_graph=True" in dot
    assert len(nodes(dot)) == 2  # out and its op: nothing more is known


@pytest.mark.filterwarnings("ignore:.*encountered in log:RuntimeWarning")
def test_nan_and_inf_in_red_and_summaries_of_big_tensors(device):
    x = ad.tensor([1.0, -1.0, 0.0], requires_grad=True).name("x")
    y = ad.log(x).name("y")
    big = ad.arange(10.0).name("big") * y.sum()
    dot = ad.to_dot(big, values=True)
    attrs = nodes(dot)
    assert '<font color="#cc0000">value [0, nan, -inf]</font>' in attrs[titled(dot, "y")]
    assert 'color="#cc0000"' in attrs[titled(dot, "y")] and "#cc0000" not in attrs[titled(dot, "x")]
    assert "value mean 4.5 std 2.872 min 0 max 9>" in attrs[titled(dot, "big")]
    assert '<font color="#cc0000">value 10 NaN, 0 inf of 10</font>' in dot  # nan * [0..9]
    assert "shape (10,) float64" in attrs[titled(dot, "big")]


def test_parameters_named_and_clustered_by_name_scope(device):
    g = ad.random.Generator(0)
    x = g.randn(2, 3)
    w1, w2 = g.randn(3, 4).requires_grad_(), g.randn(4, 1).requires_grad_()
    with ad.name_scope("Net"):
        with ad.name_scope("layer1"):
            h = ad.tanh(x @ w1)
        with ad.name_scope("layer2"):
            out = (h @ w2).sum()
    dot = ad.to_dot(out, names={"layer1.weight": w1, "layer2.weight": w2}, collapse=False)
    where = clusters(dot)
    p1, p2 = titled(dot, "layer1.weight"), titled(dot, "layer2.weight")
    assert 'fillcolor="#d5e8d4"' in nodes(dot)[p1]  # parameters: green
    assert where[p1] == ("Net", "Net.layer1") and where[p2] == ("Net", "Net.layer2")
    data = [i for i, a in nodes(dot).items() if "<i>constant</i>" in a]
    assert len(data) == 1 and where[data[0]] == ()  # data stays outside the modules
    tanh = [i for i, a in nodes(dot).items() if "<b>tanh</b>" in a]
    assert where[tanh[0]] == ("Net", "Net.layer1")
    # Collapsed on request: one box for layer1, fed by the data, feeding layer2's matmul.
    boxed = ad.to_dot(out, names={"layer1.weight": w1}, collapse=["Net.layer1"])
    box = titled(boxed, "Net.layer1")
    assert "shape=box3d" in nodes(boxed)[box] and "2 operations: matmul, tanh" in nodes(boxed)[box]
    assert "layer1.weight" not in boxed and "<b>tanh</b>" not in boxed
    assert (data[0], box) in edges(boxed) and any(a == box for a, _ in edges(boxed))
    assert clusters(boxed)[box] == ("Net",)
    whole = ad.to_dot(out, collapse=True)
    assert list(nodes(whole)) == ["t0", "m0"] and "peripheries=2" in nodes(whole)["m0"]  # data, Net
    with pytest.raises(ValueError, match="Net.layer3.*clusters are: Net, Net.layer1, Net.layer2"):
        ad.to_dot(out, collapse=["Net.layer3"])


def test_max_nodes_collapses_modules_first_then_hides_the_far_end(device):
    x = ad.ones(2, 2)
    h = x
    for k in range(5):
        with ad.name_scope("Chain"), ad.name_scope(str(k)):
            w = ad.ones(2, 2).requires_grad_()
            h = ad.tanh(h @ w)
    out = h.sum()
    assert (
        len(re.findall(r"\bt\d+ \[", ad.to_dot(out, collapse=False))) == 17
    )  # x, 5 x (w, matmul, tanh), sum
    modules = ad.to_dot(out, max_nodes=8, collapse=False)  # 5 boxes (one per layer) + x + sum
    assert re.findall(r"<b>(Chain\.\d)</b>", modules) == [f"Chain.{k}" for k in range(5)]
    assert "module calls at depth 2 and deeper are collapsed" in modules
    outer = ad.to_dot(out, max_nodes=3, collapse=False)  # Chain as one box
    assert re.findall(r"<b>(Chain[.\d]*)</b>", outer) == ["Chain"]
    hidden = ad.to_dot(out, max_nodes=1, collapse=False)
    assert "the 1 nearest the output are drawn, 2 more are hidden" in hidden
    assert "<b>2 more hidden</b><br/>10 operations: matmul ×5, tanh ×5" in hidden
    with pytest.raises(ValueError, match="max_nodes"):
        ad.to_dot(out, max_nodes=0)


@pytest.mark.cpu_only
def test_a_chain_of_100000_operations_is_drawn_in_seconds():
    t = x = ad.tensor(0.5, requires_grad=True)
    for _ in range(100_000):
        t = ad.sin(t)
    start = time.perf_counter()
    dot = ad.to_dot(t, max_nodes=200, values=True)
    elapsed = time.perf_counter() - start
    assert elapsed < 10, elapsed
    assert "100001 vertices &gt; max_nodes=200: the 200 nearest the output are drawn, 99801 more" in dot
    assert "<b>99801 more hidden</b><br/>99800 operations: sin ×99800" in dot
    assert len(nodes(dot)) == 200 * 2 + 1
    assert ("hidden", "op99801") in edges(dot)
    del x


def test_backward_true_draws_the_recorded_gradient_graph(device):
    x = ad.tensor(1.5, requires_grad=True).name("x")
    out = ad.sin(x * x).name("out")
    with pytest.raises(ValueError, match="create_graph=True"):
        ad.to_dot(out, backward=True)
    out.backward(create_graph=True)
    dot = ad.to_dot(out, backward=True, values=True)
    where = clusters(dot)
    grad = titled(dot, "x.grad")
    assert f"value {2 * 1.5 * math.cos(2.25):.4g}" in nodes(dot)[grad]
    assert where[grad] == ("backward (create_graph=True)",) and where[titled(dot, "out")] == ()
    assert "<b>cos</b>" in dot  # sin' = cos, recorded by the backward pass
    only = ad.to_dot(out, backward="only")
    assert "<b>out</b>" not in only and "<b>sin</b>" not in only and "x.grad" in only
    (g,) = ad.gradients(out, x, create_graph=True)
    beside = ad.to_dot(out, backward=g.name("dout/dx"))
    assert "<b>dout/dx</b>" in beside and "<b>out</b>" in beside and beside == ad.to_dot(out, backward=[g])
    with pytest.raises(ValueError, match="'only'"):
        ad.to_dot(out, backward="both")


def test_names_from_a_module_and_an_mlp(device):
    nn = pytest.importorskip("nn")
    model = nn.MLP([4, 8, 3], generator=ad.random.Generator(0))
    out = model(ad.randn(2, 4, seed=1)).sum()
    trace = ad.trace_backward(out)
    dot = ad.to_dot(out, names=model, values=True, grads=trace, collapse=False)
    where = clusters(dot)
    for name, p in model.named_parameters():
        node = titled(dot, name)
        assert "adjoint" in nodes(dot)[node] and f"shape {p.shape}" in nodes(dot)[node]
        module = name.rsplit(".", 1)[0]
        assert where[node][-1].endswith("." + module), (name, where[node])
    assert {"matmul", "add", "relu", "sum"} <= set(re.findall(r"label=<<b>(\w+)</b>", dot))
    assert ad.to_dot(out, names=model, values=True, grads=trace, collapse=False) == dot
    if shutil.which("dot"):
        assert ET.fromstring(render(dot, "svg")).tag.endswith("svg")
    with pytest.raises(TypeError, match="named_parameters"):
        ad.to_dot(out, names=[1, 2])


def test_draw_returns_a_digraph_with_the_same_source(device):
    graphviz = pytest.importorskip("graphviz")
    x, y, out = lecture()
    g = ad.draw(out, values=True)
    assert isinstance(g, graphviz.Digraph)
    assert g.source == ad.to_dot(out, values=True) == out.draw(values=True).source


def test_draw_without_the_graphviz_package_names_the_extra(monkeypatch, device):
    x, y, out = lecture()
    monkeypatch.setitem(sys.modules, "graphviz", None)
    rendering._digraph_class.cache_clear()
    try:
        with pytest.raises(ImportError, match=r'pip install "autodiff-landscape\[viz\]"'):
            ad.draw(out)
        assert ad.to_dot(out).startswith("digraph")  # DOT needs no package
    finally:
        rendering._digraph_class.cache_clear()


def test_rendering_without_dot_says_how_to_install_it(monkeypatch, tmp_path, device):
    pytest.importorskip("graphviz")
    x, y, out = lecture()
    g = ad.draw(out)
    monkeypatch.setenv("PATH", str(tmp_path))
    for attempt in (lambda: g.pipe(format="svg"), lambda: render(ad.to_dot(out), "svg")):
        with pytest.raises(GraphvizNotFoundError, match="apt-get install graphviz"):
            attempt()
    with pytest.raises(GraphvizNotFoundError):
        ad.draw_steps(out, tmp_path / "steps")
    assert not (tmp_path / "steps").exists()  # refused before anything was written
    ad.viz.save(ad.to_dot(out), tmp_path / "g.dot")  # DOT files need no dot
    assert (tmp_path / "g.dot").read_text().startswith("digraph")


@needs_dot
def test_svg_is_produced_and_parses_as_xml(device):
    pytest.importorskip("graphviz")
    x, y, out = lecture()
    trace = ad.trace_backward(out)
    svg = render(ad.to_dot(out, values=True, grads=trace), "svg")
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    groups = root.iter("{http://www.w3.org/2000/svg}g")
    assert sum(1 for g in groups if g.get("class") == "node") == 8 + 6 + 2  # tensors, ops, scalars
    g = ad.draw(out, values=True, grads=trace)
    bundle = g._repr_mimebundle_()
    assert ET.fromstring(bundle["image/svg+xml"].encode()).tag.endswith("svg")
    assert g._repr_svg_() == bundle["image/svg+xml"]


def test_tensor_name_and_leaf_roles(device):
    x = ad.tensor(1.5, requires_grad=True, name="x")
    assert x.label == "x" and "name='x'" in repr(x)
    with pytest.raises(TypeError, match="name must be a str"):
        ad.tensor(1.0, name=3)
    w = ad.tensor([1.0, 2.0], requires_grad=True, name="w")
    data = ad.tensor([3.0, 4.0], name="X")
    c = ad.tensor([1.0, 1.0])
    out = ((w * data + c) * x).sum()
    dot = ad.to_dot(out, names={"w": w}, inputs=[data])
    assert "<b>x</b> <i>input</i>" in dot and "<b>w</b> <i>parameter</i>" in dot
    assert "<b>X</b> <i>input</i>" in dot and "label=<<i>constant</i>" in dot
    assert "<b>X</b> <i>constant</i>" in ad.to_dot(out)  # not passed as an input: data, no gradient
    assert "<b>data</b> <i>input</i>" in ad.to_dot(out, inputs={"data": data})
    with pytest.raises(TypeError, match="inputs"):
        ad.to_dot(out, inputs=3)


def test_models_are_drawn_one_box_per_module_call(device):
    nn = pytest.importorskip("nn")
    model = nn.MLP([4, 8, 8, 3], generator=ad.random.Generator(0))
    X = ad.randn(5, 4, seed=1, requires_grad=True).name("X")
    loss = nn.functional.mse_loss(model(X), ad.randn(5, 3, seed=2).name("target"))
    trace = ad.trace_backward(loss)
    dot = ad.to_dot(loss, names=model, inputs=[X], values=True, grads=trace)
    boxes = re.findall(r"label=<<b>(MLP\.\d)</b>", dot)
    assert sorted(boxes) == [f"MLP.{k}" for k in range(5)] and "rankdir=TB" in dot
    assert "<b>X</b> <i>input</i>" in dot and "<b>target</b> <i>constant</i>" in dot
    assert "weight" not in dot  # inside the boxes
    assert "→ shape (5, 3)<br/>value" in dot  # what leaves the last layer
    expanded = ad.to_dot(loss, names=model, collapse=False)
    assert "<b>0.weight</b> <i>parameter</i>" in expanded
    assert "too big to read; draw each module call as one box" in expanded
    assert "too big" not in dot
    # Without inputs=, X (used by MLP.0 only) is taken for one of its parameters.
    assert "<b>X</b> <i>parameter</i>" in ad.to_dot(loss, collapse=False)
    if shutil.which("dot"):
        for source in (ad.to_dot(loss, names=model), dot):
            width, height = png_size(render(source, "png"))
            assert max(width, height) <= 2000, (width, height)


def png_size(png):
    """Width and height in pixels, from the PNG header."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def test_a_drawing_too_big_to_read_suggests_collapsing(device):
    t = ad.tensor(0.5, requires_grad=True)
    for _ in range(50):
        t = ad.sin(t)
    assert "101 nodes in chains of up to 101: too big to read" in ad.to_dot(t)
    assert "too big" not in ad.to_dot(t, max_nodes=10)  # the 10 nearest the output
