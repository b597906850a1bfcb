"""landscape: the geometry of loss landscapes, computed through autodiff.

Every routine takes a scalar function ``f`` of a flat parameter vector ``theta`` (any plain
function of a 1-D tensor, or ``ParamSpace(model).loss(loss_fn, X, Y)``), or a model and inputs:

* curvature: :func:`hessian`, :func:`hvp`, :func:`ggn_vp`, :func:`hessian_eigs` (Lanczos),
  :func:`hessian_trace` (Hutchinson, Hutch++), :func:`spectral_density` (SLQ);
* curvature the way researchers use it: exact :func:`ggn_diag` and :func:`hessian_diag` (a
  second-order backward pass through nn layers), :func:`hessian_diag_estimate`,
  :func:`individual_gradients`, :func:`per_sample_grad_norms`, :func:`grad_variance`,
  :func:`kfac` (KFAC/KFLR), and :class:`CurvatureOperator` (Hessian, GGN, empirical Fisher over
  a whole data set, on a block of parameters);
* Jacobian geometry: :func:`param_jacobian`, :func:`functional_dimension`, :func:`ntk`,
  :mod:`landscape.relu` (activation patterns, positive rescalings), :func:`pl_constant`,
  :func:`pl_ratio`;
* critical points: :func:`classify`, :func:`find_critical_point`;
* surfaces and paths: :func:`random_directions` (filter-normalised), :func:`surface`,
  :func:`trajectory_pca`, :func:`interpolate`, :func:`connect` (Bezier, polygonal chain, NEB);
* many independent jobs: :func:`sweep` (local processes or a Dask cluster).

Every routine refuses NaN or inf, in its inputs (theta, X, vectors) or in the values it computes
(f, the gradient, Hessian products, the Jacobian), with :class:`NonFiniteError` (a ValueError)
naming the routine: no kind, rank or spectrum is reported from non-finite numbers.

Mathematics from Malgouyres 2024 (critical points, saddles, functional dimension, ReLU
rescaling), Scaman 2024 (PL condition) and the slides *¿Por qué la solución al problema de
optimalidad funciona?* (the kernel K); see docs/references.md.  Decisions (ranks, signs of
eigenvalues) are made in float64 with their tolerance and gap reported.
"""

from landscape import linear, relu
from landscape._core import NonFiniteError
from landscape.critical import KINDS, CriticalPointReport, Probe, classify
from landscape.curvature import ggn_vp, hessian, hvp, tangent_chunk
from landscape.density import SpectralDensity, TraceEstimate, hessian_trace, plot_density, spectral_density
from landscape.diagonals import (
    DiagEstimate,
    ggn_diag,
    grad_variance,
    hessian_diag,
    hessian_diag_estimate,
    individual_gradients,
    per_sample_grad_norms,
)
from landscape.directions import TrajectoryPCA, random_directions, trajectory_pca
from landscape.jacobian import NTK, FunctionalDimension, functional_dimension, ntk, param_jacobian
from landscape.kfac import KFAC, KroneckerBlock, kfac
from landscape.lanczos import EigResult, hessian_eigs, lanczos
from landscape.operators import CurvatureOperator
from landscape.params import ParamSpace
from landscape.paths import (
    BatchNormRefresh,
    Curve,
    PathResult,
    batchnorm_refresh,
    connect,
    evaluate_path,
    interpolate,
)
from landscape.pl import PLConstant, pl_constant, pl_ratio
from landscape.search import SearchResult, find_critical_point, minres
from landscape.surfaces import Surface, surface
from landscape.sweeps import SweepError, SweepResult, sweep
