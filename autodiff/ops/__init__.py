"""The op library: every differentiable function, by its NumPy name.

This module is also the *tensor namespace* of the derivative rules: when a backward pass is
recorded (``create_graph=True``) or forward-mode tangents flow through it, the rules call
``ns.exp``, ``ns.sum``, ... from here, and so are differentiated again.
"""

import functools
import inspect
import sys
from typing import Any

from autodiff.creation import full_like, ones_like, zeros_like
from autodiff.ops import arrange, composite, elementwise, linalg, reduce, shape
from autodiff.ops.arrange import (
    as_tensor,
    astype,
    broadcast_to,
    concatenate,
    cumsum,
    expand_dims,
    flatten,
    flip,
    getitem,
    moveaxis,
    pad,
    permute,
    reshape,
    setitem,
    split,
    squeeze,
    stack,
    swapaxes,
    to_device,
    transpose,
    unsqueeze,
)
from autodiff.ops.composite import (
    all,
    any,
    argmax,
    argmin,
    clip,
    dot,
    einsum,
    gelu,
    leaky_relu,
    log_sigmoid,
    log_softmax,
    logsumexp,
    matmul,
    max,
    mean,
    min,
    norm,
    outer,
    prod,
    softmax,
    std,
    sum,
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
from autodiff.ops.matrix import cross, diag, diagonal, inner, kron, tensordot, trace, tril, triu
from autodiff.ops.reduce import eye_like
from autodiff.ops.sequences import cumprod, diff, gradient, upper_mask_like
from autodiff.ops.shape import scatter_add
from autodiff.ops.sorting import argpartition, argsort, median, msort, partition, permute_along_axis, sort
from autodiff.ops.special import *  # noqa: F403  (arcsin, ..., floor, ...: NumPy's further elementwise math)
from autodiff.ops.special import sinc_derivative
from autodiff.ops.tiling import *  # noqa: F403  (repeat, tile, roll, ..., hstack, ...: NumPy's arrangements)
from autodiff.tensor import plugins


# ----------------------------------------------------------------------------- PyTorch's names
def _accept_torch_names(fn: Any) -> Any:
    """``fn`` also taking PyTorch's ``dim=`` and ``keepdim=`` as aliases of ``axis=`` and
    ``keepdims=``."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for alias, name in (("dim", "axis"), ("keepdim", "keepdims")):
            if alias in kwargs:
                if name in kwargs:
                    raise TypeError(f"{fn.__name__}: give {name}= or its alias {alias}=, not both")
                kwargs[name] = kwargs.pop(alias)
        return fn(*args, **kwargs)

    return wrapper


for _name, _fn in list(globals().items()):  # the public ops (first argument the data) with an axis
    if inspect.isfunction(_fn) and _fn.__module__ in (composite.__name__, arrange.__name__):
        _parameters = list(inspect.signature(_fn).parameters)
        if not _name.startswith("_") and "axis" in _parameters and _parameters[0] in ("x", "tensors"):
            globals()[_name] = _accept_torch_names(_fn)
cat = concatenate  # PyTorch's name: ``ad.cat(tensors, dim=0)``

# The operators and NumPy-style methods of Tensor call into this namespace.
plugins.ops = sys.modules[__name__]

# What ``import autodiff`` shows: every op by its NumPy name, without the submodules and the
# internals that derivative rules call through this namespace (``ns.scatter_add``, ...).
INTERNAL = {"arrange", "batching", "composite", "conv", "elementwise", "linalg", "reduce", "shape"}
INTERNAL |= {"matrix", "sequences", "sorting", "special", "tiling", "permute_along_axis", "upper_mask_like"}
INTERNAL |= {"sinc_derivative"}
INTERNAL |= {"trace"}  # NumPy's trace is anp.trace (and Tensor.trace): ad.trace traces programs (issue 13)
INTERNAL |= {"Any", "functools", "inspect", "plugins", "sys"}
INTERNAL |= {"cast", "col2im", "eye_like", "getitem", "im2col", "scatter_add", "to_device"}
__all__ = sorted(
    name for name in dir() if not name.startswith("_") and name not in INTERNAL and name != "INTERNAL"
)
