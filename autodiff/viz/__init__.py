"""Drawing computation graphs (Graphviz DOT) and watching backpropagation happen.

import autodiff as ad
x = ad.tensor(1.5, requires_grad=True).name("x")
out = ad.sin(ad.exp(x * 0.5) + 2 * x**2)
trace = ad.trace_backward(out)            # backward(), recording every adjoint
ad.draw(out, values=True, grads=trace)    # a graphviz.Digraph (inline in Jupyter)
ad.to_dot(out)                            # DOT text, needs nothing installed
ad.draw_steps(out, "steps/")              # one picture per backward step + index.html
"""

from autodiff.tensor import plugins
from autodiff.viz.dot import MAX_NODES, to_dot
from autodiff.viz.rendering import GraphvizNotFoundError, draw, render, save
from autodiff.viz.steps import BackwardTrace, Step, draw_steps, trace_backward

plugins.draw = draw  # Tensor.draw
