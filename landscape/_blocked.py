"""Blocked dense linear algebra on a k x k Gram matrix that may fill most of the memory: updates,
Cholesky factorisation and solves in place, by blocks of ``NB`` columns, so that no second k x k
array is ever allocated (``xp.linalg.cholesky`` and ``eigh`` copy their input), and the flops go
to matrix products (BLAS 3).  Used by ``functional_dimension(method="stream")``; every function
takes raw device arrays and works through their namespace ``xp``."""

from __future__ import annotations

import math
from typing import Any

import autodiff as ad
from autodiff import backend
from landscape._core import xp_of

NB = 512  # columns per block: products of k x 512 panels run near the peak of BLAS 3


def add_gram(gram: Any, rows: Any) -> None:
    """``gram += rows^T rows`` on the lower triangle only (syrk by column blocks); temporaries
    are k x NB."""
    xp, k = xp_of(gram), gram.shape[0]
    for j0 in range(0, k, NB):
        j1 = min(j0 + NB, k)
        gram[j0:, j0:j1] += xp.matmul(rows[:, j0:].T, rows[:, j0:j1])


def symmetrise(gram: Any) -> None:
    """Copy the lower triangle onto the upper one, in place."""
    k = gram.shape[0]
    for j0 in range(0, k, NB):
        j1 = min(j0 + NB, k)
        gram[j0:j1, j1:] = gram[j1:, j0:j1].T


class Cholesky:
    """``G + shift I = L L^T`` computed in place of G (lower triangle; the upper one is left
    alone), right-looking by blocks of NB columns; the diagonal blocks are also kept inverted
    for the solves.  Raises the backend's LinAlgError when G + shift I is not positive definite."""

    def __init__(self, gram: Any, shift: float):
        xp, k = xp_of(gram), gram.shape[0]
        self.factor, self.shift, self.diagonal, self.inverse = gram, shift, [], []
        index = xp.arange(k)
        gram[index, index] += shift
        for j0 in range(0, k, NB):
            j1 = min(j0 + NB, k)
            block = xp.linalg.cholesky(gram[j0:j1, j0:j1])
            inverse = xp.linalg.inv(block)
            self.diagonal.append(block)
            self.inverse.append(inverse)
            if j1 < k:
                panel = xp.matmul(gram[j1:, j0:j1], inverse.T)  # L21 = A21 L11^-T
                gram[j1:, j0:j1] = panel
                for i0 in range(j1, k, NB):  # A22 -= L21 L21^T, lower triangle
                    i1 = min(i0 + NB, k)
                    gram[i0:, i0:i1] -= xp.matmul(panel[i0 - j1 :], panel[i0 - j1 : i1 - j1].T)

    def _blocks(self) -> list[tuple[int, int]]:
        k = self.factor.shape[0]
        return [(j0, min(j0 + NB, k)) for j0 in range(0, k, NB)]

    def solve(self, rhs: Any) -> Any:
        """``(G + shift I)^-1 rhs`` (rhs k x b): forward then backward substitution by blocks."""
        xp, out, low = xp_of(rhs), rhs.copy(), self.factor
        blocks = self._blocks()
        for n, (j0, j1) in enumerate(blocks):
            part = out[j0:j1] - xp.matmul(low[j0:j1, :j0], out[:j0]) if j0 else out[j0:j1]
            out[j0:j1] = xp.matmul(self.inverse[n], part)
        for n, (j0, j1) in reversed(list(enumerate(blocks))):
            part = out[j0:j1] - xp.matmul(low[j1:, j0:j1].T, out[j1:]) if j1 < out.shape[0] else out[j0:j1]
            out[j0:j1] = xp.matmul(self.inverse[n].T, part)
        return out

    def upper(self, x: Any) -> Any:
        """``L^T x`` (x k x b), by blocks."""
        xp, low, out = xp_of(x), self.factor, xp_of(x).empty_like(x)
        for n, (j0, j1) in enumerate(self._blocks()):
            out[j0:j1] = xp.matmul(self.diagonal[n].T, x[j0:j1]) + xp.matmul(low[j1:, j0:j1].T, x[j1:])
        return out

    def product(self, x: Any) -> Any:
        """``G x`` as ``L (L^T x) - shift x``."""
        xp, low, y = xp_of(x), self.factor, self.upper(x)
        out = xp.empty_like(x)
        for n, (j0, j1) in enumerate(self._blocks()):
            out[j0:j1] = xp.matmul(self.diagonal[n], y[j0:j1]) + xp.matmul(low[j0:j1, :j0], y[:j0])
        return out - self.shift * x

    def rayleigh(self, basis: Any) -> Any:
        """``basis^T G basis`` (b x b) as ``(L^T basis)^T (L^T basis) - shift I``."""
        xp, upper = xp_of(basis), self.upper(basis)
        return xp.matmul(upper.T, upper) - self.shift * xp.eye(basis.shape[1], dtype=basis.dtype)


def correction(chol: Cholesky, basis: Any, residual: Any, sweeps: int = 1) -> Any:
    """The d (k x b) with ``G d + basis y = residual`` and ``basis^T d = 0`` (the correction
    equation of Jacobi-Davidson for Ritz values near 0): each sweep solves it with G + shift I in
    place of G (the saddle point eliminated by the Schur complement basis^T (G + shift)^-1
    basis), then Richardson sweeps on ``residual - G d`` remove the shift's error, which shrinks by
    shift / (lambda + shift) per sweep on an eigenvector of G outside the basis."""
    xp, b = xp_of(basis), basis.shape[1]
    solved = chol.solve(xp.concatenate([residual, basis], axis=1))
    lifted = solved[:, b:]  # (G + shift)^-1 basis
    schur = xp.linalg.inv(xp.matmul(basis.T, lifted))

    def saddle(solution: Any) -> Any:  # (G + shift)^-1 v with its basis part eliminated
        return solution - xp.matmul(lifted, xp.matmul(schur, xp.matmul(basis.T, solution)))

    step = saddle(solved[:, :b])
    for _ in range(sweeps):
        step = step + saddle(chol.solve(residual - chol.product(step)))
    return step


def smallest_subspace(chol: Cholesky, cut: float, start: Any, leak: float = 1e-5, limit: int = 500) -> Any:
    """An orthonormal k x b basis whose span holds the invariant subspace of G for its
    eigenvalues below ``cut``, in the order of its Ritz values (ascending), with b larger than
    that subspace: subspace iteration on ``(G + shift I)^-1`` from ``start`` (k x b0).  The block
    doubles while more than half of its Ritz values are below ``cut`` or the largest, theta_b,
    is below 1.5 cut (unless it is all of R^k); with rho = (cut + shift) / (theta_b + shift) the
    convergence factor, the iteration then goes on until rho^t <= ``leak`` (the component of an
    eigenvector outside the block left in it) and for at least 3 steps, or ``limit`` steps.  A
    small block with more steps costs less than a large one: a step costs ~3 k^2 b flops."""
    xp, k = xp_of(start), start.shape[0]
    basis, steps = start, 0
    for _ in range(limit):
        basis = xp.linalg.qr(chol.solve(basis))[0]
        theta, rotation = xp.linalg.eigh(chol.rayleigh(basis))
        basis = xp.matmul(basis, rotation)
        b, top = basis.shape[1], theta[-1].item()
        inside = int(xp.sum(theta < cut).item())
        if b < k and (top < 1.5 * cut or 2 * inside > b):
            basis, steps = xp.concatenate([basis, gaussian(k, min(b, k - b), basis)], axis=1), 0
            continue
        steps += 1
        rate = math.log(leak) / math.log((cut + chol.shift) / (top + chol.shift))
        if b == k or steps >= max(3, rate):  # 3: fresh columns take more than the rate says
            break
    return basis


def gaussian(k: int, b: int, like: Any) -> Any:
    """k x b standard normal numbers (seeded by the sizes) on ``like``'s device and dtype."""
    return ad.random.Generator([k, b]).randn(k, b, dtype=like.dtype, device=backend.device_of(like)).data


class Tridiagonal:
    """``G = Q T Q^T`` with T tridiagonal (LAPACK's ``dsytrd``, in place of G) and Q kept as
    Householder reflectors, applied by blocks in the compact WY form ``I - V S V^T`` (Schreiber
    and Van Loan 1989), so that Q x costs matrix products.  Tridiagonalisation is most of
    ``eigh``'s work on the eigenvalues; the eigenvectors, ``eigh``'s other half, are then only
    computed where asked (MRRR on T, Dhillon and Parlett 2004) and carried back by Q.  NumPy only
    (needs SciPy's LAPACK wrappers); ``G + shift I`` is solved in T's coordinates in O(k)."""

    shift = 0.0  # of the solves (:meth:`set_shift`)

    def __init__(self, gram: Any):
        from scipy.linalg import lapack

        # gram.T: the same symmetric matrix, Fortran-ordered, so that LAPACK works in its place;
        # the workspace LAPACK asks for (SciPy's default, k, runs the unblocked code: twice the time)
        work = int(lapack.dsytrd_lwork(gram.shape[0], lower=1)[0])
        factor, self.diag, self.off, tau, info = lapack.dsytrd(gram.T, lower=1, lwork=work, overwrite_a=1)
        if info:
            raise ValueError(f"functional_dimension: dsytrd failed (info={info})")
        xp, k = xp_of(gram), gram.shape[0]
        for j0 in range(0, k, NB):  # reflector i: column i under the diagonal, v[i + 1] = 1
            j1 = min(j0 + NB, k)
            factor[:j1, j0:j1] = xp.tril(factor[:j1, j0:j1], -j0 - 1)
        index = xp.arange(k - 1)
        factor[index + 1, index] = 1.0
        self.blocks = []
        for j0 in range(0, k - 1, NB):
            j1 = min(j0 + NB, k - 1)
            v = factor[j0 + 1 :, j0:j1]
            self.blocks.append((j0, v, _triangular_factor(v, tau[j0:j1])))
        self.factor = factor

    def values(self) -> Any:
        """Every eigenvalue of G, ascending (``dsterf`` on T)."""
        from scipy.linalg import eigvalsh_tridiagonal

        return eigvalsh_tridiagonal(self.diag, self.off, lapack_driver="sterf")

    def vectors(self, count: int) -> Any:
        """The eigenvectors of T for its ``count`` smallest eigenvalues (k x count, MRRR)."""
        from scipy.linalg import eigh_tridiagonal

        pick = {"select": "i", "select_range": (0, count - 1), "lapack_driver": "stemr"}
        return eigh_tridiagonal(self.diag, self.off, **pick)[1]

    def q(self, x: Any, transpose: bool = False) -> Any:
        """``Q x`` (or ``Q^T x``) for x k x b: the blocks of reflectors in turn, in place of x."""
        for j0, v, s in self.blocks if transpose else reversed(self.blocks):
            part = x[j0 + 1 :]
            part -= v @ ((s.T if transpose else s) @ (v.T @ part))
        return x

    def set_shift(self, shift: float) -> None:
        """Solve with T + shift I from now on: its LDL^T factors (``dpttrf``), made once."""
        from scipy.linalg import lapack

        self.shift = shift
        self.ldl = lapack.dpttrf(self.diag + shift, self.off)[:2]

    def solve(self, rhs: Any) -> Any:
        """``(T + shift I)^-1 rhs`` (positive definite tridiagonal: ``dpttrs``)."""
        from scipy.linalg import lapack

        return lapack.dpttrs(*self.ldl, rhs)[0]

    def product(self, x: Any) -> Any:
        """``T x``."""
        out = self.diag[:, None] * x
        out[:-1] += self.off[:, None] * x[1:]
        out[1:] += self.off[:, None] * x[:-1]
        return out


def _triangular_factor(v: Any, tau: Any) -> Any:
    """The upper triangular S with ``H_0 H_1 ... H_(b-1) = I - V S V^T``, ``H_i = I - tau_i v_i
    v_i^T`` (LAPACK's ``dlarft``, forward and columnwise)."""
    b = tau.shape[0]
    inner, s = v.T @ v, xp_of(v).zeros((b, b), dtype=v.dtype)
    for i in range(b):
        s[i, i] = tau[i]
        s[:i, i] = -tau[i] * (s[:i, :i] @ inner[:i, i])
    return s
