"""Drawing computation graphs (Graphviz DOT) and watching backpropagation happen.

import autodiff as ad
x = ad.tensor(1.5, requires_grad=True).name("x")
out = ad.sin(ad.exp(x * 0.5) + 2 * x**2)
trace = ad.trace_backward(out)            # backward(), recording every adjoint
ad.draw(out, values=True, grads=trace)    # a graphviz.Digraph (inline in Jupyter)
ad.to_dot(out)                            # DOT text, needs nothing installed
ad.draw_steps(out, "steps/")              # one picture per backward step + index.html
trace                                     # in a notebook: the steps, with a slider
ad.trace_forward(f, (1.5, 0.5), (1.0, 0.0))  # forward mode: tangents, step by step
"""

from autodiff.tensor import plugins
from autodiff.viz.dot import MAX_NODES, to_dot
from autodiff.viz.rendering import GraphvizNotFoundError, draw, render, save
from autodiff.viz.steps import BackwardTrace, Step, draw_steps, trace_backward
from autodiff.viz.tangents import ForwardTrace, TangentStep, trace_forward

plugins.draw = draw  # Tensor.draw
