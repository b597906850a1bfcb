"""``autodiff.linalg``: NumPy's ``numpy.linalg`` on tensors, differentiable to any order.

    import autodiff as ad
    A = ad.randn(3, 3, seed=0, requires_grad=True)
    ad.linalg.slogdet(A).logabsdet.backward()   # A.grad = A^-T

Every function takes stacks of matrices (leading axes are batch axes) as NumPy does.  Each is a
primitive with VJP, JVP and batching rules written with the op library, so that derivatives of
derivatives work, or a composition of primitives (``norm``, ``matrix_power``, wide ``qr``).
Where a derivative does not exist, the module docstrings say what is returned: singular
matrices raise :class:`LinAlgError`; repeated eigenvalues or singular values that the loss
couples give a :class:`LinAlgWarning` and leave the undefined terms out.
"""

from autodiff.linalg._common import LinAlgError, LinAlgWarning
from autodiff.linalg.eigen import EighResult, eigh, eigvalsh
from autodiff.linalg.factor import QRResult, cholesky, qr
from autodiff.linalg.inverse import SlogdetResult, det, inv, matrix_power, pinv, slogdet, solve
from autodiff.linalg.norm import norm
from autodiff.linalg.svd import SVDResult, svd, svdvals

__all__ = [
    "EighResult",
    "LinAlgError",
    "LinAlgWarning",
    "QRResult",
    "SVDResult",
    "SlogdetResult",
    "cholesky",
    "det",
    "eigh",
    "eigvalsh",
    "inv",
    "matrix_power",
    "norm",
    "pinv",
    "qr",
    "slogdet",
    "solve",
    "svd",
    "svdvals",
]
