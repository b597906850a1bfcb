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
from autodiff.graph import Primitive
from autodiff.ops import (
    arrange,
    composite,
    conv,
    elementwise,
    linalg,
    losses,
    matrix,
    reduce,
    sequences,
    shape,
    sorting,
    special,
    tiling,
)
from autodiff.tensor import plugins


def _accept_torch_names(fn: Any) -> Any:
    """``fn`` also taking PyTorch's ``dim=`` and ``keepdim=`` as aliases of ``axis=`` and ``keepdims=``."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for alias, name in (("dim", "axis"), ("keepdim", "keepdims")) if kwargs else ():
            if alias in kwargs:
                if name in kwargs:
                    raise TypeError(f"{fn.__name__}: give {name}= or its alias {alias}=, not both")
                kwargs[name] = kwargs.pop(alias)
        return fn(*args, **kwargs)

    return wrapper


WRAPPERS = (arrange, composite, conv, losses, matrix, sequences, sorting, special, tiling)


def _export(value: Any, module: Any) -> Any:
    """What the namespace shows for a public name of ``module``: a primitive as it is; a function
    of a module of wrappers, with PyTorch's names accepted when it takes an axis; else None."""
    if isinstance(value, Primitive):
        return value
    defined_here = inspect.isfunction(value) and value.__module__ == module.__name__
    if defined_here and module in WRAPPERS:
        parameters = list(inspect.signature(value).parameters)
        takes_axis = "axis" in parameters and parameters[0] in ("x", "tensors")
        return _accept_torch_names(value) if takes_axis else value
    return None


# Every op by its NumPy name, without a list to keep: the primitives declared in each module,
# then the public functions of the modules of wrappers (WRAPPERS), which check
# the arguments and call the primitive of the same name, so they override it.  Declaring a
# primitive or defining a public function is all it takes to add an op.
_public = {"full_like", "ones_like", "zeros_like"}
for _module in (elementwise, reduce, shape, linalg, *WRAPPERS):
    for _name, _value in vars(_module).items():
        _exported = None if _name.startswith("_") else _export(_value, _module)
        if _exported is not None:
            globals()[_name] = _exported
            _public.add(_name)

# The operators and NumPy-style methods of Tensor call into this namespace.
plugins.ops = sys.modules[__name__]

# What ``import autodiff`` shows: every op by its NumPy name and the ``*_like`` creators, without the
# internals that derivative rules call through this namespace (``ns.scatter_add``, ...), nor ``trace``:
# NumPy's trace is anp.trace (and Tensor.trace), ad.trace traces programs (issue 13).
INTERNAL = {"alias", "canonical_index", "cast", "col2im", "conv_geometry", "eye_like", "getitem", "im2col"}
INTERNAL |= {"normalize_axes", "one_axis", "pair", "permute_along_axis", "scatter_add", "sinc_derivative"}
INTERNAL |= {"check_labels", "to_device", "trace", "upper_mask_like"}
__all__ = sorted(_public - INTERNAL)
