"""The backward pass: the backpropagation algorithm of Rumelhart et al. (1986).

As in Scaman 2024, *Non-convex optimization*, section *The backpropagation algorithm*:
the forward pass has computed every ``y^(v)``; the backward pass sets ``z^(f) = seed`` at the output
and, from the output to the roots,

    z^(v) = sum over w in Children(v) of (d f^(w) / d x^(v))^T z^(w),

so that ``z^(r)`` is the gradient for every root (leaf) r.  ``z^(v)`` is the *adjoint* of v.
A vertex is processed once all its children have sent their contribution: a topological order
by dependency counts (Kahn's algorithm), computed without recursion, so graphs of any depth
work.  Each adjoint is dropped as soon as it has been passed on, and, unless the graph is
retained, each vertex forgets its parents once its rule has run, which frees what it saved.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from autodiff import backend, ops
from autodiff.creation import tensor
from autodiff.graph import interpreters, raw_namespace, set_grad_enabled
from autodiff.state import flags, shared
from autodiff.tensor import Tensor, plugins


def _grad_parents(v: Tensor) -> tuple:
    parents = v.parents
    if parents is None:
        raise RuntimeError(
            f"backward through '{v.op.name}' (shape {v.shape}) a second time: its saved values were "
            "freed by the first backward pass. Pass retain_graph=True to the first backward (or "
            "compute the forward pass again)."
        )
    return parents


def dependency_counts(outputs: Sequence[Tensor], targets: set | None) -> dict[Tensor, int]:
    """|Children(v)| in the graph the backward pass walks: for each vertex on a path from the outputs
    to a target, its number of children on such paths.  With no targets (``backward()``), every
    vertex that requires grad leads to a leaf that does: every edge counts.  So it does when every
    leaf met is a target (a Hessian-vector product's second pass).  Else a vertex is *useful* if it is
    a target or one of its parents is useful, an iterative post-order walk decides this bottom-up, and
    only edges between useful vertices count (the rest is pruned)."""
    children: dict[Tensor, int] = {}
    stack = list(outputs)
    while stack:
        for p in _grad_parents(stack.pop()):
            if isinstance(p, Tensor) and p.requires_grad:
                if p in children:
                    children[p] += 1
                elif targets is not None and p.op is None and p not in targets:
                    return _useful_counts(outputs, targets)
                else:
                    children[p] = 1
                    stack.append(p)
    return children


def _useful_counts(outputs: Sequence[Tensor], targets: set) -> dict[Tensor, int]:
    children: dict[Tensor, int] = {}
    useful: dict[Tensor, bool] = {}  # False from when v is expanded until its parents are decided
    walk: list[tuple[Tensor, bool]] = [(o, False) for o in outputs]
    while walk:
        v, done = walk.pop()
        if done:
            parents = [p for p in v.parents if isinstance(p, Tensor) and useful.get(p, False)]
            useful[v] = v in targets or bool(parents)
            for p in parents:
                children[p] = children.get(p, 0) + 1
        elif v not in useful:
            useful[v] = False
            walk.append((v, True))
            walk.extend((p, False) for p in _grad_parents(v) if isinstance(p, Tensor) and p.requires_grad)
    return children


def unbroadcast(ns: Any, c: Any, nb: int, shape: tuple) -> Any:
    """Sum ``c`` (batch axes, then a broadcast shape) back to ``batch + shape``: the adjoint of
    NumPy broadcasting.  Axes added in front of ``shape`` and axes stretched from 1 are summed."""
    extra = c.ndim - nb - len(shape)
    stretched = tuple(nb + extra + i for i, n in enumerate(shape) if n == 1 and c.shape[nb + extra + i] != 1)
    axes = tuple(range(nb, nb + extra)) + stretched
    if axes:
        c = ns.sum(c, axis=axes)
    return ns.reshape(c, tuple(c.shape[:nb]) + tuple(shape))


def _check_versions(v: Tensor, parents: tuple) -> None:
    """Raise if an argument of v was written in place after v was recorded."""
    for k, p in enumerate(parents):
        if isinstance(p, Tensor) and p.version > v.recorded_at:
            raise RuntimeError(
                f"backward through '{v.op.name}': its argument {k} (shape {p.shape}) was modified by an "
                f"in-place operation after '{v.op.name}' used it, so its gradient would be wrong. Use an "
                "out-of-place operation, or copy the tensor before modifying it."
            )


def _check_finite(v: Tensor, c: Any, parent_index: int) -> None:
    raw = c.data if isinstance(c, Tensor) else c
    if not backend.array_module(raw).isfinite(raw).all().item():
        frames = list(reversed((v.created_at or [])[-3:]))
        where = "".join(f"\n  {f.filename}:{f.lineno} in {f.name}: {f.line}" for f in frames)
        raise FloatingPointError(
            f"detect_anomaly: backward of '{v.op.name}' (output shape {v.shape}) produced NaN or inf in "
            f"the gradient of its argument {parent_index}. The op was created at (innermost first):"
            f"{where or ' (unknown)'}"
        )


def backprop(
    outputs: Sequence[Tensor],
    seeds: Sequence[Any],
    *,
    targets: Sequence[Tensor] | None = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    accumulate: bool = True,
    observer: Callable[[Tensor, Any], None] | None = None,
) -> dict[Tensor, Any]:
    """Run the backward pass from ``outputs`` with adjoints ``seeds``.

    Seeds may carry extra leading (batch) axes, and then every adjoint does: a batch of
    vector-Jacobian products in one pass.  With ``accumulate``, leaves' adjoints are added to their
    ``.grad``; the adjoints of ``targets`` are returned.  With ``create_graph`` the rules run on
    tensors and are recorded, so the result can be differentiated again (the graph is then retained
    unless ``retain_graph=False``).  ``observer(v, z)`` sees each adjoint as it is completed.
    """
    if not outputs:
        return {}
    tensor_mode = create_graph or flags.forward_levels > 0
    retain_graph = create_graph if retain_graph is None else retain_graph
    target_set = None if targets is None else set(targets)
    children = dependency_counts(outputs, target_set)
    adjoint: dict[Tensor, Any] = {}
    for o, s in zip(outputs, seeds, strict=True):
        adjoint[o] = adjoint[o] + s if o in adjoint else s
    ready = [o for o in adjoint if o not in children]
    results: dict[Tensor, Any] = {}
    stored: set[int] = set()
    ns = ops if tensor_mode else raw_namespace(backend.array_module(outputs[0].data))  # what rules run on
    anomaly = flags.anomaly
    with set_grad_enabled(create_graph):
        while ready:
            v = ready.pop()
            z = adjoint.pop(v)  # z^(v), complete: every child has contributed
            if observer is not None:
                observer(v, z)
            if target_set is not None and v in target_set:
                results[v] = z
            op = v.op
            if accumulate and (op is None or v.retains_grad):
                _accumulate(v, z, stored)
            if op is None:
                continue
            parents = v.parents
            if shared.inplace_writes != v.recorded_at:  # some tensor was written since v was made
                _check_versions(v, parents)
            if tensor_mode:
                args, out = parents, v
            else:
                args, out = v.saved, v.data
            rules, params, broadcasts = op.vjp, v.params, op.broadcasts
            nb = z.ndim - v.data.ndim  # leading batch axes of the cotangents
            for i, p in enumerate(parents):
                if not isinstance(p, Tensor) or p not in children:
                    continue
                c = rules[i](ns, z, out, *args, **params)  # (d f^(v) / d x^(p))^T z^(v)
                shape, dtype = p.data.shape, p.data.dtype
                if broadcasts and (c.shape != shape if nb == 0 else tuple(c.shape) != z.shape[:nb] + shape):
                    c = unbroadcast(ns, c, nb, shape)
                if c.dtype is not dtype and c.dtype != dtype:
                    c = c.astype(dtype)
                if anomaly:
                    _check_finite(v, c, i)
                adjoint[p] = adjoint[p] + c if p in adjoint else c
                children[p] -= 1
                if children[p] == 0:
                    ready.append(p)
            if not retain_graph:
                v.parents = v.saved = None  # forget the arguments: what only v saved is freed
    return results


def _accumulate(v: Tensor, z: Any, stored: set[int]) -> None:
    """``v.grad += z``.  A raw adjoint is kept as it is (a fresh array, or a view of one) unless
    it is a broadcast view (zero strides) or shares memory with a gradient stored already in this
    pass: then it is copied, so that no two ``.grad`` share memory."""
    if not isinstance(z, Tensor):
        z = backend.normalize(z, type(v.data))
        root = backend.memory_root(z)
        if root in stored or 0 in z.strides:
            z = z.copy()
            root = backend.memory_root(z)
        stored.add(root)
        z = Tensor(z)
    v.grad = z if v.grad is None else v.grad + z


def _seed(output: Tensor, grad: Any, name: str, tensor_mode: bool, batched: bool = False) -> Any:
    """The adjoint z^(output) that starts the pass: ones for a scalar output, else ``grad`` (with
    one extra leading axis of cotangents when ``batched``), on the output's device and dtype."""
    if not isinstance(output, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(output).__name__}")
    if not output.requires_grad:
        raise RuntimeError(
            f"{name}: the tensor (shape {output.shape}) does not require grad, so there is no graph to "
            "backpropagate through: create the inputs with requires_grad=True (or call "
            ".requires_grad_() on them), and do not compute under no_grad()"
        )
    if grad is None and not batched:
        if output.size != 1:
            raise RuntimeError(
                f"{name}: the output has shape {output.shape}, not a scalar; pass grad= (a tensor of "
                f"shape {output.shape}: the vector of the vector-Jacobian product), or reduce it first"
            )
        grad = Tensor(backend.array_module(output.data).ones_like(output.data))
    if batched and not (isinstance(grad, Tensor) and grad.shape[1:] == output.shape):
        raise RuntimeError(
            f"{name}(batched=True): each grad_output must be a Tensor of shape (batch, *{output.shape})"
        )
    if not isinstance(grad, Tensor):
        device = backend.device_of(grad) if backend.is_array(grad) else output.device
        grad = tensor(grad, dtype=output.dtype, device=device)
    if type(grad.data) is not type(output.data):
        raise ValueError(
            f"{name}: grad is on device '{grad.device}' but the output (shape {output.shape}) is on "
            f"'{output.device}'; nothing is moved implicitly: pass grad.to('{output.device}')"
        )
    if not batched and grad.shape != output.shape:
        raise RuntimeError(f"{name}: grad has shape {grad.shape} but the output has shape {output.shape}")
    grad = grad.astype(output.dtype) if grad.dtype != output.dtype and not batched else grad
    return grad if tensor_mode else grad.data


def backward(
    output: Tensor,
    grad: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    *,
    accumulate: bool = True,
    observer: Callable[[Tensor, Any], None] | None = None,
) -> None:
    """``output.backward()``: accumulate d output / d leaf into every leaf's ``.grad``
    (``observer(v, z)`` sees each adjoint as it is completed, see ``backprop``)."""
    seed = _seed(output, grad, "backward", create_graph or flags.forward_levels > 0)
    options = dict(create_graph=create_graph, accumulate=accumulate, observer=observer)
    backprop([output], [seed], retain_graph=retain_graph, **options)


def gradients(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    *,
    batched: bool = False,
    retain_graph: bool | None = None,
    create_graph: bool = False,
) -> list[Tensor]:
    """Vector-Jacobian products ``sum_k J_k^T grad_outputs[k]`` for each input, returned (not accumulated):
    PyTorch's ``torch.autograd.grad``.  With ``batched``, every grad_output has one extra leading axis (a
    batch of cotangents) and so does every result.  An input the outputs do not depend on gets zeros."""
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if not all(isinstance(x, Tensor) and x.requires_grad for x in inputs):
        raise RuntimeError("gradients: every input must be a Tensor that requires grad")
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs)
    if flags.vmap_levels and any(
        isinstance(t, interpreters.batched_type) for t in (*outputs, *inputs, *grad_outputs)
    ):  # inside vmap: on the physical tensors, one cotangent per example
        options = dict(batched=batched, retain_graph=retain_graph, create_graph=create_graph)
        return interpreters.gradients(gradients, outputs, inputs, list(grad_outputs), **options)
    tensor_mode = create_graph or flags.forward_levels > 0
    seeds = [
        _seed(o, g, "gradients", tensor_mode, batched) for o, g in zip(outputs, grad_outputs, strict=True)
    ]
    options = dict(retain_graph=retain_graph, create_graph=create_graph, accumulate=False)
    found = backprop(outputs, seeds, targets=inputs, **options)
    batch = tuple(seeds[0].shape[: seeds[0].ndim - outputs[0].ndim]) if outputs else ()  # none: zeros
    results = []
    for x in inputs:
        g = found.get(x)
        if g is None:
            g = backend.array_module(x.data).zeros(batch + tuple(x.data.shape), dtype=x.dtype)
        results.append(g if isinstance(g, Tensor) else Tensor(backend.normalize(g, type(x.data))))
    return results


plugins.backward = backward  # Tensor.backward
