"""The op library: every differentiable function, by its NumPy name.

This module is also the *tensor namespace* of the derivative rules: when a backward pass is
recorded (``create_graph=True``) or forward-mode tangents flow through it, the rules call
``ns.exp``, ``ns.sum``, ... from here, and so are differentiated again.
"""

import sys

from autodiff.creation import full_like, ones_like, zeros_like
from autodiff.ops import elementwise, linalg, reduce, shape
from autodiff.ops.composite import (
    all,
    any,
    argmax,
    argmin,
    as_tensor,
    astype,
    broadcast_to,
    cat,
    clip,
    concatenate,
    cumsum,
    dot,
    einsum,
    expand_dims,
    flatten,
    flip,
    gelu,
    getitem,
    leaky_relu,
    log_sigmoid,
    log_softmax,
    logsumexp,
    matmul,
    max,
    mean,
    min,
    moveaxis,
    norm,
    outer,
    pad,
    permute,
    prod,
    reshape,
    setitem,
    softmax,
    split,
    squeeze,
    stack,
    std,
    sum,
    swapaxes,
    to_device,
    transpose,
    unsqueeze,
    var,
)
from autodiff.ops.conv import col2im, fold, im2col, unfold
from autodiff.ops.elementwise import (
    abs,
    add,
    cos,
    divide,
    equal,
    exp,
    expm1,
    greater,
    greater_equal,
    isfinite,
    isnan,
    less,
    less_equal,
    log,
    log1p,
    logical_and,
    logical_not,
    logical_or,
    maximum,
    minimum,
    multiply,
    negative,
    not_equal,
    power,
    relu,
    sigmoid,
    sign,
    sin,
    softplus,
    sqrt,
    subtract,
    tan,
    tanh,
    where,
)
from autodiff.ops.reduce import eye_like
from autodiff.ops.shape import scatter_add
from autodiff.tensor import plugins

# The operators and NumPy-style methods of Tensor call into this namespace.
plugins.ops = sys.modules[__name__]

# What ``import autodiff`` shows: every op by its NumPy name, without the submodules and the
# internals that derivative rules call through this namespace (``ns.scatter_add``, ...).
INTERNAL = {"batching", "composite", "conv", "elementwise", "linalg", "reduce", "shape", "sys", "plugins"}
INTERNAL |= {"cast", "col2im", "eye_like", "getitem", "im2col", "scatter_add", "to_device"}
__all__ = sorted(
    name for name in dir() if not name.startswith("_") and name not in INTERNAL and name != "INTERNAL"
)
