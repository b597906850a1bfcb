"""autodiff: reverse- and forward-mode automatic differentiation, written to be read.

    import autodiff as ad
    x = ad.tensor(1.5, requires_grad=True)
    y = ad.sin(ad.exp(x * 0.5) + 2 * x**2)
    y.backward()
    x.grad

The engine (``engine.py``) is the backpropagation algorithm of the lecture
(Scaman 2024, *Non-convex optimization*); the op library (``ops/``) is the
table of primitives with their derivative rules; ``transforms.py`` holds grad, jvp, jacrev, hessian, ...
"""

from autodiff import linalg, random
from autodiff.backend import (
    devices,
    get_default_device,
    get_default_dtype,
    set_default_device,
    set_default_dtype,
)
from autodiff.check import GradcheckError, gradcheck, gradgradcheck
from autodiff.creation import (
    arange,
    eye,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    tensor,
    zeros,
    zeros_like,
)
from autodiff.engine import gradients
from autodiff.graph import (
    Primitive,
    detect_anomaly,
    enable_grad,
    is_grad_enabled,
    name_scope,
    no_grad,
    set_grad_enabled,
)
from autodiff.ops import *  # noqa: F403  (every op by its NumPy name)
from autodiff.program import Program, TracingError, compile, trace
from autodiff.random import manual_seed, rand, randn
from autodiff.tensor import Tensor
from autodiff.transforms import (
    grad,
    hessian,
    hvp,
    jacfwd,
    jacobian,
    jacrev,
    jvp,
    value_and_grad,
    vjp,
)
from autodiff.viz import draw, draw_steps, to_dot, trace_backward, trace_forward
from autodiff.vmap import vmap

float16, float32, float64 = "float16", "float32", "float64"
int32, int64, bool_ = "int32", "int64", "bool"
