"""landscape.classify and landscape.find_critical_point on functions whose critical points are
known exactly (Malgouyres 2024: strict and non-strict saddles), including the pairs that the Hessian
alone cannot tell apart."""

import math
import warnings

import numpy as np
import pytest

import autodiff as ad
import landscape as L


def oscillating(t):
    """x^2 + y^4 cos(pi log10 y^2): Hessian diag(2, 0) at 0, and along y a sign that flips at
    every half decade, so probing at geometric steps cannot settle the local sign."""
    return t[0] ** 2 + t[1] ** 4 * ad.cos(math.pi * ad.log(t[1] ** 2 + 1e-300) / math.log(10))


KNOWN = {
    "x^2 - y^2": (lambda t: t[0] ** 2 - t[1] ** 2, "strict saddle", (1, 0, 1)),
    "x^2 + y^2": (lambda t: t[0] ** 2 + 3 * t[1] ** 2, "strict local minimum", (0, 0, 2)),
    "-x^2 - y^2": (lambda t: -(t[0] ** 2) - t[1] ** 2, "local maximum", (2, 0, 0)),
    "x^2 - y^4": (lambda t: t[0] ** 2 - t[1] ** 4, "non-strict saddle", (0, 1, 1)),
    "x^2 + y^4": (lambda t: t[0] ** 2 + t[1] ** 4, "degenerate minimum", (0, 1, 1)),
    "monkey saddle x^3 - 3xy^2": (lambda t: t[0] ** 3 - 3 * t[0] * t[1] ** 2, "non-strict saddle", (0, 2, 0)),
    "x^4 + y^4": (lambda t: t[0] ** 4 + t[1] ** 4, "degenerate minimum", (0, 2, 0)),
    "-x^4 - y^4": (lambda t: -(t[0] ** 4) - t[1] ** 4, "local maximum", (0, 2, 0)),
    "-x^2 + y^4": (lambda t: -(t[0] ** 2) + t[1] ** 4, "strict saddle", (1, 1, 0)),
    "-x^2 - y^4": (lambda t: -(t[0] ** 2) - t[1] ** 4, "local maximum", (1, 1, 0)),
    # minimum along every line through 0 but a saddle: only the reduced function sees it
    "Peano (y - x^2)(y - 2x^2)": (
        lambda t: (t[1] - t[0] ** 2) * (t[1] - 2 * t[0] ** 2),
        "non-strict saddle",
        (0, 1, 1),
    ),
    "curved valley (x - y^2)^2 - y^4/2": (
        lambda t: (t[0] - t[1] ** 2) ** 2 - 0.5 * t[1] ** 4,
        "non-strict saddle",
        (0, 1, 1),
    ),
    "flat direction x^2 + 0 y": (lambda t: t[0] ** 2 + 0 * t[1], "degenerate minimum", (0, 1, 1)),
    "(1 - abc)^2, deep linear scalar net": (
        lambda t: (1 - t[0] * t[1] * t[2]) ** 2,
        "non-strict saddle",
        (0, 3, 0),
    ),
    "oscillating x^2 + y^4 cos(log y)": (oscillating, "undetermined", (0, 1, 1)),
}


@pytest.mark.parametrize("name", list(KNOWN))
def test_classify_known_critical_points(name):
    f, kind, inertia = KNOWN[name]
    theta = ad.zeros(3 if "abc" in name else 2)
    report = L.classify(f, theta)
    assert report.kind == kind, str(report)
    assert report.inertia == inertia
    assert report.kind in L.KINDS and report.kind in str(report)
    assert report.grad_norm <= report.grad_tol


def test_same_hessian_different_kinds_and_the_report_says_why():
    """x^2 - y^4 and x^2 + y^4 have the same Hessian diag(2, 0) at 0; probing the null
    direction separates them, and the report names the evidence."""
    saddle = L.classify(KNOWN["x^2 - y^4"][0], ad.zeros(2))
    minimum = L.classify(KNOWN["x^2 + y^4"][0], ad.zeros(2))
    np.testing.assert_array_equal(saddle.spectrum, minimum.spectrum)
    assert (saddle.kind, minimum.kind) == ("non-strict saddle", "degenerate minimum")
    assert saddle.probes[0].verdict == "descent" and np.all(saddle.probes[0].deltas < 0)
    assert {p.verdict for p in minimum.probes} == {"ascent"}
    assert "probed" in saddle.explanation and "descent" in saddle.explanation
    assert "not proof" in minimum.explanation
    undetermined = L.classify(oscillating, ad.zeros(2))
    assert {p.verdict for p in undetermined.probes} == {"inconclusive"}


def test_report_fields_tolerances_and_gap():
    report = L.classify(KNOWN["x^2 - y^2"][0], ad.tensor([0.0, 0.0]))
    assert report.eig_tol == pytest.approx(2 * np.finfo(float).eps ** (2 / 3))  # tau ||H||, ||H|| = 2
    np.testing.assert_allclose(report.eigenvalues, [-2.0, 2.0])
    assert (report.lambda_min, report.lambda_max) == (-2.0, 2.0)
    assert report.zero_gap == (0.0, 2.0)
    loose = L.classify(KNOWN["x^2 - y^2"][0], ad.tensor([0.0, 0.0]), eig_tol=3.0)
    assert loose.inertia == (0, 2, 0) and loose.eig_tol == 3.0


def test_classify_is_invariant_under_scaling_and_offsets_of_the_point():
    def f(t):
        return 5.0 + 1e4 * ((t[0] - 3) ** 2 - (t[1] - 2) ** 4)

    assert L.classify(f, ad.tensor([3.0, 2.0])).kind == "non-strict saddle"
    assert L.classify(lambda t: 1e-6 * (t[0] ** 2 - t[1] ** 4), ad.zeros(2)).kind == "non-strict saddle"


def test_not_critical_and_rosenbrock_minimum():
    def rosenbrock(t):
        return (1 - t[0]) ** 2 + 100 * (t[1] - t[0] ** 2) ** 2

    assert L.classify(rosenbrock, ad.tensor([1.0, 1.0])).kind == "strict local minimum"
    report = L.classify(rosenbrock, ad.tensor([0.5, 0.5]))
    assert report.kind == "not critical" and report.grad_norm > report.grad_tol
    assert report.probes == []


def double_well(t):
    """x^4/4 - x^2/2 + y^2/2: minima at (+-1, 0), a strict saddle at 0."""
    return t[0] ** 4 / 4 - t[0] ** 2 / 2 + t[1] ** 2 / 2


@pytest.mark.parametrize("method", ["newton", "newton-mr", "gradnorm"])
def test_find_critical_point_converges_to_saddles(method):
    for f, start, expected, kind in [
        (KNOWN["x^2 - y^2"][0], [0.3, 0.2], [0.0, 0.0], "strict saddle"),
        (double_well, [0.1, 0.5], [0.0, 0.0], "strict saddle"),
        (double_well, [0.8, 0.5], [1.0, 0.0], "strict local minimum"),
    ]:
        res = L.find_critical_point(f, ad.tensor(start), method=method)
        assert res.converged and res.grad_norm <= res.tol, res.message
        np.testing.assert_allclose(res.theta.numpy(), expected, atol=1e-8)
        assert L.classify(f, res.theta).kind == kind
        assert res.history[0] > res.history[-1] and res.method == method


@pytest.mark.parametrize("method", ["newton", "newton-mr"])
def test_newton_reaches_the_rosenbrock_minimum_through_the_valley(method):
    def rosenbrock(t):
        return (1 - t[0]) ** 2 + 100 * (t[1] - t[0] ** 2) ** 2

    res = L.find_critical_point(rosenbrock, ad.tensor([-1.2, 1.0]), method=method)
    assert res.converged and res.n_iter < 30
    np.testing.assert_allclose(res.theta.numpy(), [1.0, 1.0], atol=1e-10)


def test_gradnorm_warns_where_hg_vanishes_but_g_does_not():
    """f = x^3/3 + x + y^2 has no critical point; ||grad f||^2 = (x^2 + 1)^2 + 4y^2 has a
    minimum at 0, where H g = 0 and g = (1, 0)."""

    def f(t):
        return t[0] ** 3 / 3 + t[0] + t[1] ** 2

    with pytest.warns(RuntimeWarning, match="H g ~ 0"):
        res = L.find_critical_point(f, ad.tensor([0.5, 0.3]), method="gradnorm")
    assert not res.converged and res.grad_norm == pytest.approx(1.0, abs=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        newton = L.find_critical_point(f, ad.tensor([0.5, 0.3]), method="newton", max_iter=20)
    assert not newton.converged and newton.message
    with pytest.raises(ValueError, match="method must be one of"):
        L.find_critical_point(f, ad.zeros(2), method="bfgs")


def test_minres_solves_indefinite_and_singular_systems():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    A = (q * np.array([-3.0, -1.0, 0.5, 2.0, 4.0, 9.0])) @ q.T
    b = rng.standard_normal(6)
    At = ad.tensor(A)
    x, _ = L.minres(lambda v: (At @ ad.Tensor(v)).data, ad.tensor(b).data, rtol=1e-12)
    np.testing.assert_allclose(ad.Tensor(x).numpy(), np.linalg.solve(A, b), atol=1e-9)
    S = (q * np.array([-3.0, 0.0, 0.5, 2.0, 0.0, 9.0])) @ q.T  # singular, b in its range
    b = S @ rng.standard_normal(6)
    St = ad.tensor(S)
    x, _ = L.minres(lambda v: (St @ ad.Tensor(v)).data, ad.tensor(b).data, rtol=1e-12)
    np.testing.assert_allclose(S @ ad.Tensor(x).numpy(), b, atol=1e-9)
    np.testing.assert_allclose(ad.Tensor(x).numpy(), np.linalg.pinv(S) @ b, atol=1e-9)  # minimum norm
