"""Curvature operators of a model's loss over a whole data set, on a chosen block of parameters.

``CurvatureOperator(model, loss_fn, data, kind, params)`` is the matrix of ``kind`` in the
parameters selected by ``params`` (names or shell patterns such as ``"0.*"``; the others held
fixed), for the data-set loss ``f = sum_b (n_b / N) loss_fn(model(X_b), Y_b)`` over the batches
of ``data`` (a DataLoader, any re-iterable of (X, Y), or one (X, Y) pair): the mean loss over the
data set when ``loss_fn`` averages over its batch (nn's losses do).  Products are summed exactly
over the batches, accumulated in float64:

* ``"hessian"``: H v, by reverse-over-reverse through the gradient's graph (recorded once per
  batch, and kept when there is one batch, so that repeated products reuse it);
* ``"ggn"``: the generalised Gauss-Newton ``J^T H_loss J v`` (:func:`landscape.ggn_vp`);
* ``"fisher"``: the empirical Fisher ``(1/N) sum_n grad l_n grad l_n^T v`` of the per-example
  losses l_n (one forward-mode and one reverse pass per batch: ``J^T r (r . J v)`` row by row,
  r the gradient of the loss in the output, scaled by n_b for a mean over the batch).

Every spectral routine (:func:`hessian_eigs`, :func:`hessian_trace`, :func:`spectral_density`,
:func:`hessian_diag_estimate`) accepts an operator in place of ``f``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from typing import Any

import autodiff as ad
import nn
from autodiff.tensor import Tensor
from landscape._core import check_finite, jvp_many, like
from landscape.curvature import Linearisation, ggn_vp
from landscape.params import ParamSpace

KINDS = ("hessian", "ggn", "fisher")


def select(routine: str, space: ParamSpace, params: Any) -> list[str]:
    """The parameter names of ``space`` chosen by ``params``: None (all), a name, a shell pattern
    (``"0.*"``, ``"*.bias"``) or a list of them, in the model's order.  A pattern that matches
    nothing is an error naming the parameters there are."""
    if params is None:
        return list(space.names)
    patterns = [params] if isinstance(params, str) else list(params)
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(name, pattern) for name in space.names):
            raise ValueError(
                f"{routine}: params pattern {pattern!r} matches no parameter; the model has "
                f"{', '.join(space.names)}"
            )
    return [n for n in space.names if any(fnmatch.fnmatchcase(n, pat) for pat in patterns)]


def batches(routine: str, data: Any, progress: bool = False) -> Iterator[tuple[Any, Any]]:
    """The (X, Y) batches of ``data``: one pair, or each item of a re-iterable (a DataLoader);
    a one-shot iterator is refused (products pass over the data many times).  With
    ``progress``, a tqdm bar counts the batches."""
    if isinstance(data, tuple | list) and len(data) == 2 and isinstance(data[0], Tensor):
        items: Any = [data]
    elif iter(data) is data:
        raise TypeError(
            f"{routine}: data is a one-shot iterator; give a DataLoader, a list of (X, Y) batches "
            "or one (X, Y) pair, which can be passed over once per product"
        )
    else:
        items = data
    if progress:
        try:
            from tqdm.auto import tqdm
        except ImportError as error:
            raise ImportError(f"{routine}: progress=True needs tqdm: pip install tqdm") from error
        items = tqdm(items, desc=routine, leave=False)
    for item in items:
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise TypeError(f"{routine}: each batch must be a pair (X, Y), got {type(item).__name__}")
        yield item[0], item[1]


def weighted_sum(
    routine: str, data: Any, part: Callable[[Any, Any], Tensor], progress: bool = False
) -> Tensor:
    """``sum_b (n_b / N) part(X_b, Y_b)`` over the batches, accumulated in float64."""
    total, count = None, 0
    for X, Y in batches(routine, data, progress):
        n = X.shape[0]
        value = part(X, Y).astype("float64") * n
        total = value if total is None else total + value
        count += n
    if total is None:
        raise ValueError(f"{routine}: the data has no batch")
    return total / count


class CurvatureOperator:
    """The ``kind`` matrix ("hessian", "ggn", "fisher") of the loss over ``data`` in the parameters
    ``params`` of ``model`` (see the module's docstring): ``p``, ``names`` (selected, in order),
    ``theta`` (their current values, flat), ``matvec(V)`` for V (p,) or (k, p), ``dense()``."""

    def __init__(
        self,
        model: Any,
        loss_fn: Callable[[Tensor, Any], Tensor],
        data: Any,
        kind: str = "hessian",
        params: Any = None,
        progress: bool = False,
    ):
        if kind not in KINDS:
            raise ValueError(f"CurvatureOperator: kind must be one of {KINDS}, not {kind!r}")
        self.space = ParamSpace(model)
        self.names = select("CurvatureOperator", self.space, params)
        self.kind, self.loss_fn, self.data, self.progress = kind, loss_fn, data, progress
        values = self.space.unflatten(self.space.theta())
        self.fixed = {n: v for n, v in values.items() if n not in self.names}
        self.shapes = {n: self.space.shapes[self.space.names.index(n)] for n in self.names}
        self.theta = ad.concatenate([ad.reshape(values[n], (-1,)) for n in self.names], axis=0).detach()
        self.p = self.theta.shape[0]
        self.n_matvec = 0
        self._single: Linearisation | None = None

    def __repr__(self) -> str:
        return f"CurvatureOperator(kind={self.kind!r}, p={self.p}, params={self.names})"

    def output(self, theta: Tensor, X: Any) -> Tensor:
        """The model's output at the selected parameters ``theta`` (the others fixed)."""
        values, offset = dict(self.fixed), 0
        for name in self.names:
            size = self.space.sizes[self.space.names.index(name)]
            values[name] = ad.reshape(theta[offset : offset + size], self.shapes[name])
            offset += size
        return nn.functional_call(self.space.model, values, X)

    def loss(self, X: Any, Y: Any) -> Callable[[Tensor], Tensor]:
        """The batch loss as a function of the selected parameters."""
        return lambda theta: self.loss_fn(self.output(theta, X), Y)

    def _product(self, X: Any, Y: Any, vs: Tensor) -> Tensor:
        if self.kind == "hessian":
            if self._single is not None:
                return self._single(vs)
            lin = Linearisation(self.loss(X, Y), self.theta)
            if isinstance(self.data, tuple | list) and len(self.data) == 2:
                self._single = lin  # one batch: keep its gradient graph for the next products
            return lin(vs)
        if self.kind == "ggn":
            return ggn_vp(lambda t: self.output(t, X), lambda z: self.loss_fn(z, Y), self.theta, vs)
        z, jv = jvp_many(lambda t: self.output(t, X), self.theta, vs)
        with ad.enable_grad():
            leaf = Tensor(z.detach().data, requires_grad=True)
            (r,) = ad.gradients(self.loss_fn(leaf, Y), [leaf])
        axes = tuple(range(2, jv.ndim))
        weights = ad.sum(jv.detach() * r, axis=axes, keepdims=True) if axes else jv.detach() * r
        _, vjp_fn = ad.vjp(lambda t: self.output(t, X), self.theta)
        (fv,) = vjp_fn(r * weights * z.shape[0], batched=True)
        return fv.detach()

    def matvec(self, v: Any) -> Tensor:
        """The product with v (p,) or the k products with the rows of V (k, p), summed over the
        batches (float64)."""
        v = like(self.theta, v, "CurvatureOperator.matvec")
        vs = v if v.ndim == 2 else ad.reshape(v, (1, -1))
        out = weighted_sum(
            "CurvatureOperator", self.data, lambda X, Y: self._product(X, Y, vs), self.progress
        )
        check_finite("CurvatureOperator", f"the {self.kind} product", out)
        self.n_matvec += vs.shape[0]
        return out if v.ndim == 2 else out[0]

    def __matmul__(self, v: Any) -> Tensor:
        return self.matvec(v)

    def dense(self, chunk: int = 64) -> Tensor:
        """The whole (p, p) matrix, ``chunk`` columns per pass over the data (p up to ~10^4)."""
        eye = ad.eye(self.p, dtype=self.theta.dtype, device=self.theta.device)
        parts = [self.matvec(eye[lo : lo + chunk]) for lo in range(0, self.p, chunk)]
        return ad.concatenate(parts, axis=0).mT if len(parts) > 1 else parts[0].mT
