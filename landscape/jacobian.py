"""The Jacobian of theta -> f_theta(X) and what its spectrum says.

``param_jacobian`` builds the (n out) x p matrix ``D f_theta(X)`` from per-sample gradients:
``vmap(jacrev(f))`` over a chunk of samples, f the model on one example as a function of its
parameters (``nn.functional_call``); vmap gives each example its own copy of the parameters, so
one batched backward pass with one-hot cotangents gives every row of the chunk, no loop over
samples.

Its rank is the *functional dimension* of Malgouyres 2024: near a
generic theta, the image {f_theta'(X)} is a manifold of dimension rk(D f_theta(X)) and the
pre-image {theta' : f_theta'(X) = f_theta(X)} one of dimension p - rk.  ``ntk`` is the kernel
``K = J J^T`` of the notes on why optimisation works (the Gram matrix K_Theta whose
smallest eigenvalue controls the gradient of the square loss), which also gives the
Polyak-Lojasiewicz constant (``landscape.pl``).

Memory: the dense J is 8 n out p bytes in float64 (40,000 x 25,720 is 8 GB).  For large
problems ``functional_dimension(..., method="stream")`` (NumPy's rank rule, decided from a Gram
matrix and a refinement of its unresolved window) and ``ntk`` never hold J: J^T J (p x p) is
accumulated in place over chunks of samples, J J^T (m x m, m = n out) over parameter tensors,
each block of J computed in chunks of samples (blocked algebra in ``landscape._blocked``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import autodiff as ad
from autodiff import backend
from autodiff.tensor import Tensor
from landscape import _blocked
from landscape._blocked import (
    Cholesky,
    Tridiagonal,
    add_gram,
    correction,
    gaussian,
    smallest_subspace,
    symmetrise,
)
from landscape._core import MEMORY_BUDGET, check_finite, host, jvp_many, progress, xp_of
from landscape.lanczos import lanczos
from landscape.params import ParamSpace, _nn, check_model


def _space(routine: str, model: Any) -> ParamSpace:
    check_model(routine, model)
    return ParamSpace(model)


def _inputs(space: ParamSpace, X: Any, dtype: Any, routine: str) -> Tensor:
    X = X if isinstance(X, Tensor) else ad.tensor(X, device=space.device)
    if X.device != space.device:
        raise ValueError(f"{routine}: X is on '{X.device}' but the model on '{space.device}'")
    if X.ndim == 0 or X.shape[0] == 0:
        raise ValueError(f"{routine}: X must hold at least one example along axis 0, got shape {X.shape}")
    check_finite(routine, "X", X)
    return X.astype(dtype) if backend.is_floating(X.dtype) and X.dtype != dtype else X


def _values(space: ParamSpace, theta: Any, dtype: Any, routine: str) -> dict[str, Tensor]:
    theta = space.theta() if theta is None else space._check(theta, routine)
    check_finite(routine, "theta (the parameters)", theta)
    return {n: v.detach().astype(dtype) for n, v in space.unflatten(theta).items()}


def _out_dim(space: ParamSpace, values: dict[str, Tensor], X: Tensor) -> int:
    with ad.no_grad():
        out = _nn().functional_call(space.model, values, X[:1])
    return max(out.size, 1)


def _blocks(
    space: ParamSpace,
    X: Tensor,
    values: dict[str, Tensor],
    names: Sequence[str],
    chunk_size: int | None,
    memory_budget: int,
) -> Iterator[tuple[int, int, Any]]:
    """For each chunk of samples [lo, hi): the rows ``lo * out : hi * out`` of J restricted to
    the parameters ``names`` (raw array (c out, sum of their sizes)), rows ordered sample-major
    (row i out + k is output k of sample i): ``vmap(jacrev(f))`` over the examples of the chunk,
    f the model on one example as a function of those parameters."""
    n = X.shape[0]
    xp = xp_of(X)
    dim = _out_dim(space, values, X)
    width = sum(space.sizes[space.names.index(name)] for name in names)
    if chunk_size is None:
        chunk_size = max(1, memory_budget // (3 * dim * width * X.dtype.itemsize))

    def outputs(x: Tensor, *params: Tensor) -> Tensor:  # f_theta(x) for one example x, flat (out,)
        call = _nn().functional_call(
            space.model, {**values, **dict(zip(names, params, strict=True))}, x[None]
        )
        return ad.reshape(call, (dim,))

    argnums = tuple(range(1, len(names) + 1))
    jacobians = ad.vmap(ad.jacrev(outputs, argnums), in_axes=(0, *[None] * len(names)))
    for lo in range(0, n, chunk_size):
        hi = min(lo + chunk_size, n)
        with ad.enable_grad():
            grads = jacobians(X[lo:hi], *[values[name] for name in names])  # each (c, out, *shape)
        rows = [xp.reshape(g.data, (hi - lo, dim, -1)) for g in grads]
        block = rows[0] if len(rows) == 1 else xp.concatenate(rows, axis=2)  # (c, out, width)
        yield lo, hi, xp.reshape(block, ((hi - lo) * dim, width))


def param_jacobian(
    model: Any,
    X: Any,
    theta: Any = None,
    chunk_size: int | None = None,
    dtype: Any = "float64",
    memory_budget: int = MEMORY_BUDGET,
) -> Tensor:
    """``J = D_theta f_theta(X)``, shape (n out, p): row ``i * out + k`` is the gradient of
    output k on example i, columns in ParamSpace order.  Per-sample gradients, ``chunk_size``
    examples per batched backward pass (default: as many as fit in ``memory_budget`` bytes),
    computed in ``dtype`` (float64 by default) at ``theta`` (default: the model's parameters)."""
    dtype = backend.resolve_dtype(dtype)
    return _jacobian(
        _space("param_jacobian", model), X, theta, chunk_size, dtype, memory_budget, "param_jacobian"
    )


def _jacobian(
    space: ParamSpace, X: Any, theta: Any, chunk_size: int | None, dtype: Any, budget: int, routine: str
) -> Tensor:
    """J (see :func:`param_jacobian`), refusals naming ``routine``."""
    X = _inputs(space, X, dtype, routine)
    values = _values(space, theta, dtype, routine)
    xp = xp_of(X)
    jac = None
    for lo, hi, block in _blocks(space, X, values, space.names, chunk_size, budget):
        if jac is None:
            dim = block.shape[0] // (hi - lo)
            jac = xp.zeros((X.shape[0] * dim, space.p), dtype=dtype)
        jac[lo * dim : hi * dim] = block
    check_finite(routine, "the Jacobian (the model's outputs or derivatives)", jac)
    return Tensor(jac)


def _tall_blocks(
    space: ParamSpace,
    X: Tensor,
    values: dict,
    names: Sequence[str],
    rows: bool,
    chunk_size: Any,
    budget: int,
    bar: Any,
) -> Iterator[Any]:
    """Row blocks of the tall orientation T of J restricted to ``names``: T = J by chunks of
    samples when ``rows``, else T = J^T by parameter tensors (J_g^T, g in ``names``, each J_g
    (m x p_g) filled in place from chunks of samples).  ``bar`` advances by samples processed."""
    xp = xp_of(X)
    for group in [names] if rows else [[name] for name in names]:
        jg = None
        for lo, hi, block in _blocks(space, X, values, group, chunk_size, budget):
            bar.update(hi - lo)
            if rows:
                yield block
                continue
            dim = block.shape[0] // (hi - lo)
            if jg is None:
                jg = xp.empty((X.shape[0] * dim, block.shape[1]), dtype=block.dtype)
            jg[lo * dim : hi * dim] = block
        if not rows:
            yield jg.T


def _batched(blocks: Iterator[Any], total: int, budget: int) -> Iterator[tuple[int, Any]]:
    """Consecutive row blocks (of T, or of J) gathered into batches of up to 8 ``budget`` bytes
    (at most ``total`` rows), for products with a large inner dimension: (first row, rows).  A
    batch is a view of one buffer, valid until the next is asked for; a block larger than the
    buffer passes alone."""
    buffer, start, fill = None, 0, 0
    for block in blocks:
        if buffer is None:
            rows = min(total, max(1, 8 * budget // (block.shape[1] * block.itemsize)))
            buffer = xp_of(block).empty((rows, block.shape[1]), dtype=block.dtype)
        if fill and fill + block.shape[0] > buffer.shape[0]:
            yield start, buffer[:fill]
            start, fill = start + fill, 0
        if block.shape[0] > buffer.shape[0]:
            yield start, block
            start += block.shape[0]
            continue
        buffer[fill : fill + block.shape[0]] = block
        fill += block.shape[0]
    if fill:
        yield start, buffer[:fill]


def _gram(blocks: Iterator[Any], total: int, budget: int) -> Any:
    """T^T T summed over row blocks of T (J^T J from sample blocks, J J^T from J_g^T blocks; T
    has ``total`` rows), batched (:func:`_batched`), each batch added to the lower triangle in
    place (no k x k temporary)."""
    gram = None
    for _, rows in _batched(blocks, total, budget):
        if gram is None:
            gram = xp_of(rows).zeros((rows.shape[1], rows.shape[1]), dtype=rows.dtype)
        add_gram(gram, rows)
    symmetrise(gram)
    return gram


def _gram_outputs(
    space: ParamSpace, X: Tensor, values: dict, names: Sequence[str], chunk_size: Any, budget: int
) -> Any:
    """J J^T (m x m) restricted to the parameters ``names``: the sum over parameter tensors g of
    J_g J_g^T, each J_g (m x p_g) assembled from chunks of samples."""
    blocks = _tall_blocks(space, X, values, names, False, chunk_size, budget, progress(0, "", enabled=False))
    return _gram(blocks, 1, budget)


@dataclass
class FunctionalDimension:
    """The numerical rank of J = D f_theta(X) and the evidence for it: ``singular_values``
    (host, descending), the threshold ``tol`` on them, the ``gap`` sigma_r / sigma_{r+1} at the
    decision (inf when nothing is dropped or sigma_{r+1} = 0), the ``largest_gap`` (i, ratio):
    the largest sigma_i / sigma_{i+1} for i <= r, the decision's gap included and the noise
    below the threshold excluded (i = r means the threshold sits in the widest gap of the
    resolved spectrum; i < r points at a clearer cut above it), ``ambiguous`` when the decision
    gap is below :data:`CLEAR_GAP` (a warning says so), the ``shape`` (m, p) of J, the
    ``method`` ("svd", "stream" or "gram") and the ``rule`` in words."""

    rank: int
    singular_values: np.ndarray
    tol: float
    gap: float
    largest_gap: tuple[int, float]
    ambiguous: bool
    shape: tuple[int, int]
    method: str
    rule: str

    def __int__(self) -> int:
        return self.rank

    def __str__(self) -> str:
        m, p = self.shape
        return (
            f"functional dimension {self.rank} of J ({m} x {p}, {self.method}); "
            f"gap sigma_r/sigma_(r+1) = {self.gap:.3g}{' (ambiguous)' if self.ambiguous else ''}; "
            f"rule: {self.rule}"
        )


CLEAR_GAP = 10.0  # a decision gap sigma_r / sigma_(r+1) below this is reported as ambiguous


def _gap(sv: np.ndarray, rank: int) -> float:
    """sigma_r / sigma_{r+1}: inf when nothing is dropped, sigma_{r+1} = 0 or J = 0; 1 when the
    threshold drops every nonzero value (no gap to show)."""
    if rank >= sv.size or sv[rank] == 0:
        return float("inf")
    return float(sv[rank - 1] / sv[rank]) if rank else 1.0


def _largest_gap(sv: np.ndarray, rank: int, gap: float) -> tuple[int, float]:
    """The widest sigma_i / sigma_{i+1} with i <= rank (1-based), never inside the noise."""
    if rank < 2:
        return rank, gap
    ratios = [*(sv[: rank - 1] / sv[1:rank]), gap]
    i = int(np.nanargmax(ratios))  # NaN: values not computed (spectrum=False)
    return i + 1, float(ratios[i])


def _decision(sv: np.ndarray, rank: int, cut: float) -> tuple[float, tuple[int, float], bool]:
    """The gap at the decision, the widest gap at or above it, and whether it is ambiguous
    (a RuntimeWarning then says so)."""
    gap = _gap(sv, rank)
    widest = _largest_gap(sv, rank, gap)
    ambiguous = gap < CLEAR_GAP
    if ambiguous:
        hint = (
            f"; the widest gap above it is {widest[1]:.3g} at rank {widest[0]} (pass tol to decide there)"
            if widest[0] != rank
            else ""
        )
        warnings.warn(
            f"functional_dimension: ambiguous rank {rank}: sigma_r / sigma_(r+1) = {gap:.3g} < "
            f"{CLEAR_GAP:g} at the threshold {cut:.3g}{hint}",
            RuntimeWarning,
            stacklevel=3,
        )
    return gap, widest, ambiguous


class _Products:
    """J and J^T applied to blocks of directions without J: reverse passes (``vjp`` with a batch
    of cotangents) and forward passes (``jvp`` with a batch of tangents) of the model over many
    examples at once.  One direction costs about one pass of the network over the n examples
    (~n p multiply-adds for an MLP), where a product with the rows of J costs n out p: ``out``
    times fewer.  J is the per-example Jacobian (as :func:`_blocks` makes it): the model is
    called on all the examples together when its outputs on an example do not depend on the
    others (checked on the first two), else per example through vmap, whose reverse pass makes
    each example's gradient before their sum, so that examples then go in chunks.  Directions
    (and examples) go ``budget`` bytes at a time."""

    def __init__(self, space: ParamSpace, X: Tensor, values: dict, budget: int):
        self.X, self.dim, self.p = X, _out_dim(space, values, X), space.p
        self.theta = ad.concatenate([ad.reshape(values[name], (-1,)) for name in space.names], axis=0)
        n, size = X.shape[0], self.theta.dtype.itemsize
        self.chunk = max(1, budget // (4 * size * max(n * self.dim, self.p)))

        def together(x: Tensor, theta: Tensor) -> Tensor:  # sample-major rows
            return ad.reshape(space.call(theta, x), (-1,))

        alone = ad.vmap(lambda x, theta: ad.reshape(space.call(theta, x[None]), (-1,)), in_axes=(0, None))
        with ad.no_grad():
            a, b = host(together(X[:2], self.theta).data), host(alone(X[:2], self.theta).data).ravel()
        batch_free = np.allclose(a, b, rtol=1e-10, atol=1e-12 * np.abs(b).max(initial=0))
        self.outputs = together if batch_free else lambda x, theta: ad.reshape(alone(x, theta), (-1,))
        rows = n if batch_free else max(1, budget // (size * self.p * self.chunk))
        self.spans = [(lo, min(lo + rows, n)) for lo in range(0, n, rows)]
        self.pullbacks: dict[int, Callable] = {}

    def __call__(self, vectors: Any, bar: Any, transpose: bool = False) -> Any:
        """``J vectors`` (vectors p x w) or, with ``transpose``, ``J^T vectors`` (m x w)."""
        xp, w, d = xp_of(vectors), vectors.shape[1], self.dim
        out = xp.zeros((self.p if transpose else self.X.shape[0] * d, w), dtype=vectors.dtype)
        with ad.enable_grad():
            for k, (e0, e1) in enumerate(self.spans):
                x = self.X[e0:e1]
                if transpose and k not in self.pullbacks:
                    self.pullbacks[k] = ad.vjp(lambda theta, x=x: self.outputs(x, theta), self.theta)[1]
                for lo in range(0, w, self.chunk):
                    hi = min(lo + self.chunk, w)
                    if transpose:
                        cotangents = Tensor(xp.ascontiguousarray(vectors[e0 * d : e1 * d, lo:hi].T))
                        out[:, lo:hi] += self.pullbacks[k](cotangents, batched=True)[0].data.T
                    else:
                        tangents = Tensor(xp.ascontiguousarray(vectors[:, lo:hi].T))
                        image = jvp_many(lambda theta, x=x: self.outputs(x, theta), self.theta, tangents)[1]
                        out[e0 * d : e1 * d, lo:hi] = image.data.T
                    bar.update(hi - lo)
        return out


def _refine(
    space: ParamSpace,
    X: Tensor,
    values: dict,
    rows: bool,
    basis: Any,
    correct: Callable[[Any, Any], Any],
    show: bool,
    budget: int,
) -> np.ndarray:
    """The singular values of T on span(basis) (descending, host), after one correction of the
    basis that removes, to first order, its components along eigenvectors of T^T T outside it:
    ``correct(basis, residual)`` solves G d = residual for d orthogonal to the basis (see
    :func:`functional_dimension`).  T = J (``rows``) or J^T; three products with J or J^T
    (:class:`_Products`), none holding J."""
    xp, w = xp_of(basis), basis.shape[1]
    product = _Products(space, X, values, budget)
    bar = progress(3 * w * len(product.spans), "functional_dimension: refinement", "direction", show)
    try:
        image = product(basis, bar, transpose=not rows)  # T basis
        normal = product(image, bar, transpose=rows)  # T^T T basis, exact (not G basis)
        residual = normal - xp.matmul(basis, xp.matmul(basis.T, normal))
        basis = basis - correct(basis, residual)  # near-orthonormal: the step is small
        image = product(basis, bar, transpose=not rows)
    finally:
        bar.close()
    factor = xp.linalg.cholesky(xp.matmul(basis.T, basis))  # basis = Q factor^T (Cholesky-QR)
    image = xp.matmul(image, xp.linalg.inv(factor.T))  # T Q
    return np.sort(host(xp.linalg.svd(image, compute_uv=False)))[::-1]


def _largest_eigenvalue(gram: Any) -> float:
    """lambda_max of the Gram matrix: the top Ritz value of Lanczos, up to 64 steps, stopped when
    its residual (which bounds its error) is below 1e-12 of it."""
    xp, k = xp_of(gram), gram.shape[0]

    def converged(run: Any) -> bool:
        theta, vectors = run.ritz()
        return abs(run.last_beta * vectors[-1, -1]) <= 1e-12 * theta[-1]

    start = gaussian(k, 1, gram)[:, 0]
    run = lanczos(
        lambda q: xp.matmul(gram, q), start, min(k, 64), stop=converged, name="functional_dimension"
    )
    return float(run.ritz()[0][-1])


def _tridiagonal_route(gram: Any) -> bool:
    """Whether the spectrum goes through :class:`landscape._blocked.Tridiagonal` (NumPy arrays
    with SciPy installed, float64, beyond one block) rather than ``eigh`` (CuPy, no SciPy)."""
    if xp_of(gram) is not np or gram.dtype != np.float64 or gram.shape[0] <= _blocked.NB:
        return False
    try:
        import scipy.linalg  # noqa: F401
    except ImportError:
        return False
    return True


def _stream_spectrum(
    space: ParamSpace,
    X: Tensor,
    values: dict,
    m: int,
    chunk_size: Any,
    budget: int,
    show: bool,
    spectrum: bool,
) -> tuple[np.ndarray, int]:
    """The singular values of J (descending, host; NaN where not computed when not
    ``spectrum``) and the number b recomputed from J (see :func:`functional_dimension`)."""
    rows = space.p <= m
    n = X.shape[0]
    passes = 1 if rows else len(space.names)
    bar = progress(n * passes, "functional_dimension: Gram pass", "sample", show)
    try:
        blocks = _tall_blocks(space, X, values, space.names, rows, chunk_size, budget, bar)
        gram = _gram(blocks, max(m, space.p), budget)
    finally:
        bar.close()
    check_finite("functional_dimension", f"the Gram matrix of J ({'J^T J' if rows else 'J J^T'})", gram)
    k, eps, xp = gram.shape[0], float(np.finfo(gram.dtype).eps), xp_of(gram)
    tridiagonal = Tridiagonal(gram) if spectrum and _tridiagonal_route(gram) else None  # in G's place
    if tridiagonal is not None:
        lam = tridiagonal.values()  # ascending
    elif spectrum:
        lam, vectors = xp.linalg.eigh(gram)  # ascending
        del gram
    lam_max = lam[-1].item() if spectrum else _largest_eigenvalue(gram)
    if not lam_max > 0:  # J = 0
        return np.zeros(k), 0
    shift = max(m, space.p) * eps * lam_max  # the Gram matrix's resolution (NumPy's rule on it)
    window = 2 * shift  # eigenvalues of the Gram matrix below this are not told from zero
    if spectrum:
        sv = np.sqrt(np.clip(host(lam)[::-1], 0, None))
        w = k if k <= _blocked.NB else int(xp.sum(lam < window).item())
        if w == 0:  # every sigma_i > sqrt(window), far above tol
            return sv, 0
        if tridiagonal is not None:  # G = Q T Q^T: the window's vectors Q z, the correction in T's frame
            tridiagonal.set_shift(shift)
            z = tridiagonal.vectors(w)
            basis = tridiagonal.q(z.copy())

            def correct(basis: Any, residual: Any) -> Any:
                rotated = tridiagonal.q(residual.copy(), transpose=True)
                return tridiagonal.q(correction(tridiagonal, z, rotated, sweeps=2))

        else:
            scale = xp.zeros_like(lam)
            scale[w:] = 1 / lam[w:]  # G^-1 outside the window
            basis = vectors[:, :w]

            def correct(basis: Any, residual: Any) -> Any:
                return xp.matmul(vectors, scale[:, None] * xp.matmul(vectors.T, residual))

        low = _refine(space, X, values, rows, basis, correct, show, budget)
        sv[k - w :] = low
        return np.sort(sv)[::-1], w
    chol = Cholesky(gram, shift)  # overwrites the Gram matrix
    basis = smallest_subspace(chol, window, gaussian(k, k if k <= _blocked.NB else 32, gram))
    low = _refine(
        space,
        X,
        values,
        rows,
        basis,
        lambda basis, residual: correction(chol, basis, residual),
        show,
        budget,
    )
    if low.size == k:  # the block is R^k: the singular values of J itself
        return low, k
    sv = np.full(k, np.nan)
    sv[0] = np.sqrt(lam_max)
    sv[k - low.size :] = low
    return sv, low.size


def functional_dimension(
    model: Any,
    X: Any,
    tol: float | None = None,
    method: str = "svd",
    theta: Any = None,
    chunk_size: int | None = None,
    dtype: Any = "float64",
    memory_budget: int = MEMORY_BUDGET,
    progress_bar: bool = True,
    spectrum: bool = True,
) -> FunctionalDimension:
    """The rank of ``D f_theta(X)`` (the functional dimension of Malgouyres 2024), decided in ``dtype``.

    Rule (``method="svd"``, the dense J): rank = #{sigma_i > tol}, with the default
    ``tol = sigma_max * max(m, p) * eps`` (NumPy's matrix_rank rule), eps of the precision J
    was computed in.

    ``method="stream"`` decides by the same rule without holding J (at scale: 10,000 x 25,720
    and beyond).  Let T be the tall orientation of J (J when p <= m, else J^T; k = min(m, p)).
    Pass 1 streams row blocks of T (chunks of samples, or one parameter tensor at a time) into
    the k x k Gram matrix G = T^T T, in place.  Its eigenvalues lambda_i = sigma_i^2 carry an
    error ~eps lambda_max (forming G squares the condition number): G resolves them above
    mu = max(m, p) eps lambda_max (NumPy's rule applied to G), far above the threshold
    tol^2 = (max(m, p) eps)^2 lambda_max, so only the window lambda < 2 mu is recomputed from J
    (on digit inputs it holds thousands of values: their inputs are nearly low-rank).  The
    window's eigenvectors V lean towards every eigenvector j outside it by eps lambda_max /
    lambda_j, which lifts their singular values by up to eps sigma_max^2 / sigma_j (above tol);
    one correction step removes that: with Z = T^T T V from J (exact products, not G), the d
    solving G d + V y = Z - V V^T Z, V^T d = 0 (Jacobi-Davidson's correction equation), then
    the singular values of T (V - d) on their span (passes 2-4).  Measured on a 180 x 74 matrix
    with 9 zero singular values (tol 2.2e-13): up to 3e-11 uncorrected, below 1e-15 corrected.

    With ``spectrum=True`` (default) every other value is sqrt(lambda_i) (relative error ~eps
    lambda_max / lambda_i): on NumPy with SciPy, G is reduced in place to a tridiagonal T = Q^T G Q
    (``dsytrd``, most of ``eigh``'s cost for the eigenvalues alone), the eigenvalues are T's, V
    is Q times the window's eigenvectors of T (MRRR, ``dstemr``), and d is solved in T's
    coordinates (O(k) per column), so no k x k eigenvector matrix is made (it cost ``eigh`` twice
    the time of the eigenvalues: 173 s of the 254 s at 1,000 digit images); elsewhere (CuPy, no
    SciPy) V and d come from ``eigh(G)``, d from G^-1 outside the window.  With
    ``spectrum=False`` no k x k eigen-decomposition is made (at k =
    25,720, G, eigh's copy and the eigenvectors are 5.3 GB each): G is factored in place (G +
    mu I = L L^T, blocked Cholesky, ``landscape._blocked``), V by subspace iteration on
    (G + mu I)^-1 from 32 columns, the block doubling while its largest Ritz value is below
    3 mu or it is more than half window, d from the factor, lambda_max by Lanczos; the values
    above the block are not computed (NaN in ``singular_values``, all above the block's and
    counted in the rank; the block's are Ritz values, upper bounds, exact at the bottom).  When
    k <= 512 (one block, ``landscape._blocked.NB``) everything is recomputed: the values are
    those of J.  Memory: k^2 dtype numbers (G, its tridiagonal form or its factor) plus, through
    ``eigh``, its copy and the eigenvectors; a buffer of 8 ``memory_budget`` bytes of rows of T
    (when m < p, one parameter tensor's m x p_g block of J); T V (max(m, p) x w).  J itself never
    exists: after the Gram pass, products with J and J^T are forward and reverse passes of the
    model carrying a batch of directions (:class:`_Products`).
    ``memory_budget`` bounds the bytes of per-sample gradients alive at once; a tqdm bar
    (``progress_bar``) shows each pass that lasts more than 2 s.

    ``method="gram"`` takes the eigenvalues lambda of the Gram matrix alone; forming it squares
    the condition number, so its default threshold is ``lambda > lambda_max * max(m, p) * eps``,
    i.e. ``sigma > sigma_max sqrt(max(m, p) eps)``: singular values below ~1e-7 sigma_max cannot
    be told from zero that way, and it may disagree with the SVD.  A given ``tol`` is a threshold
    on sigma in every method.  The gap sigma_r / sigma_{r+1} is reported: a large gap means a
    clear decision; below :data:`CLEAR_GAP` the result is marked ``ambiguous`` and a
    RuntimeWarning says so.  The full singular spectrum is ``singular_values``.
    """
    if method not in ("svd", "stream", "gram"):
        raise ValueError(f"functional_dimension: method must be 'svd', 'stream' or 'gram', not {method!r}")
    if tol is not None and not (isinstance(tol, int | float) and 0 <= tol < float("inf")):
        raise ValueError(f"functional_dimension: tol must be a finite number >= 0 (or None), not {tol!r}")
    space = _space("functional_dimension", model)
    dtype = backend.resolve_dtype(dtype)
    if not backend.is_floating(dtype):
        raise ValueError(f"functional_dimension: dtype must be floating (float64, float32), not {dtype}")
    eps = float(np.finfo(dtype).eps)
    numpy_rule = "sigma > sigma_max * max(m, p) * eps"
    if method == "svd":
        jac = _jacobian(space, X, theta, chunk_size, dtype, memory_budget, "functional_dimension")
        m, p = jac.shape
        sv = np.sort(host(xp_of(jac).linalg.svd(jac.data, compute_uv=False)))[::-1]
        cut = sv[0] * max(m, p) * eps if tol is None else tol
        rule = numpy_rule if tol is None else f"sigma > {tol:g}"
    else:
        X = _inputs(space, X, dtype, "functional_dimension")
        values = _values(space, theta, dtype, "functional_dimension")
        m, p = X.shape[0] * _out_dim(space, values, X), space.p
        side = "J^T J" if p <= m else "J J^T"
        if method == "stream":
            sv, w = _stream_spectrum(space, X, values, m, chunk_size, memory_budget, progress_bar, spectrum)
            cut = sv[0] * max(m, p) * eps if tol is None else tol
            if w < sv.size and np.isnan(sv[-w - 1]) and cut >= sv[-w]:
                raise ValueError(
                    f"functional_dimension: tol={tol:g} lies above the {w} singular values computed "
                    "(spectrum=False); pass spectrum=True to decide there"
                )
            rule = (numpy_rule if tol is None else f"sigma > {tol:g}") + (
                f" (eig({side}); {w} of its {min(m, p)} eigenvalues recomputed from J: those below "
                f"2 max(m, p) eps lambda_max, or all when k <= {_blocked.NB})"
                if spectrum
                else f" (the {w} smallest of eig({side}) recomputed from J; the others, above them, not "
                "computed (NaN))"
            )
        else:
            blocks = _tall_blocks(
                space,
                X,
                values,
                space.names,
                p <= m,
                chunk_size,
                memory_budget,
                progress(0, "", enabled=False),
            )
            gram = _gram(blocks, max(m, p), memory_budget)
            check_finite("functional_dimension", f"the Gram matrix of J ({side})", gram)
            lam = np.sort(host(xp_of(gram).linalg.eigvalsh(gram)))[::-1]
            sv = np.sqrt(np.clip(lam, 0, None))
            cut = sv[0] * np.sqrt(max(m, p) * eps) if tol is None else tol
            rule = (
                f"eig({side}) > lambda_max * max(m, p) * eps (sigma > sigma_max sqrt(max(m, p) eps))"
                if tol is None
                else f"sigma > {tol:g} (on eig({side}))"
            )
    rank = int(np.sum(sv > cut) + np.sum(np.isnan(sv)))  # NaN: not computed, above the threshold
    gap, widest, ambiguous = _decision(sv, rank, float(cut))
    return FunctionalDimension(
        rank, sv, float(cut), gap, widest, ambiguous, (m, p), method, f"{rule}, eps={eps:.3g}"
    )


@dataclass
class NTK:
    """The kernel ``K = J J^T`` (m x m Tensor, m = n out, rows sample-major), its eigenvalues
    (host, ascending) and the smallest, ``lambda_min`` (= sigma_min(J^T)^2)."""

    kernel: Tensor
    eigenvalues: np.ndarray
    lambda_min: float


def ntk(
    model: Any,
    X: Any,
    params: Sequence[str] | None = None,
    theta: Any = None,
    chunk_size: int | None = None,
    dtype: Any = "float64",
) -> NTK:
    """The empirical neural tangent kernel ``K(x_i, x_j) = J_i J_j^T`` on the examples X, and
    its smallest eigenvalue (the Spanish slides: the Gram matrix K_Theta whose lambda_min bounds the
    gradient of the square loss from below).  ``params`` restricts J to some parameter tensors
    (the slides' K restricted to the output layer is ``params=["2.weight"]`` for an MLP with one
    hidden layer).  Accumulated over parameter tensors; never holds all of J."""
    space = _space("ntk", model)
    dtype = backend.resolve_dtype(dtype)
    names = list(space.names if params is None else params)
    unknown = [n for n in names if n not in space.names]
    if unknown:
        raise KeyError(f"ntk: unknown parameters {unknown}; the model's are {space.names}")
    X = _inputs(space, X, dtype, "ntk")
    values = _values(space, theta, dtype, "ntk")
    gram = _gram_outputs(space, X, values, names, chunk_size, MEMORY_BUDGET)
    check_finite("ntk", "the kernel J J^T", gram)
    eigenvalues = host(xp_of(gram).linalg.eigvalsh(gram))
    return NTK(Tensor(gram), eigenvalues, float(eigenvalues[0]))
