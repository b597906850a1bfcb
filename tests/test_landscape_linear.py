"""landscape.linear: the theory of deep linear networks (Achour, Malgouyres, Gerchinovitz; Baldi
and Hornik; Malgouyres 2024) checked by the engine: at every
constructed critical point the autodiff gradient vanishes, the risk is the predicted critical
value and the Hessian's signs are the theorem's; the Chitour-Liao-Couillet invariants
(Chitour 2019) drift by O(eta) under gradient descent."""

import math

import numpy as np
import pytest

import autodiff as ad
import landscape
from landscape.linear import (
    CLASSIFY_KINDS,
    AssumptionError,
    DeepLinearProblem,
    critical_value_of,
    gradient_descent,
    invariants,
    random_problem,
)

# (widths, seed): H = 2 with r_max = d_y and with a bottleneck, H = 3, H = 4 (d_y < d_x).
SHAPES = [([4, 3, 3], 0), ([5, 2, 3], 1), ([4, 3, 2, 3], 2), ([3, 4, 3, 3, 2], 3)]


def _expected_kind(problem, S, tight):
    """The decision tree applied to the construction (independently of theory_kind)."""
    r = len(S)
    if S != tuple(range(1, r + 1)):
        return "strict saddle"
    if r == problem.r_max:
        return "global minimizer"
    return "non-strict saddle" if tight else "strict saddle"


def _points(problem, rng):
    """Every (S, tight, W) the module constructs for ``problem``, and random global minimisers."""
    for S in problem.subsets():
        variants = [None]
        if len(S) < problem.r_max and problem.H >= 3:
            variants = [True, False]
        for tight in variants:
            yield S, tight, problem.critical_point(S, tight=tight, rng=rng)
    for _ in range(2):
        yield tuple(range(1, problem.r_max + 1)), None, problem.global_minimizer(rng=rng)


def _hessian_eigs(problem, theta):
    H = ad.hessian(problem.loss)(theta).numpy()
    assert np.allclose(H, H.T, atol=1e-10 * max(1.0, np.abs(H).max()))
    return np.linalg.eigvalsh((H + H.T) / 2)


# --------------------------------------------------------------------------- assumptions
@pytest.mark.cpu_only
def test_each_failing_assumption_is_named():
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((3, 8)), rng.standard_normal((2, 8))
    DeepLinearProblem(X, Y, [3, 2, 2])  # all assumptions hold
    cases = [
        (rng.standard_normal((2, 8)), rng.standard_normal((3, 8)), [2, 2, 3], "d_y <= d_x <= n"),
        (rng.standard_normal((4, 3)), rng.standard_normal((2, 3)), [4, 2, 2], "d_y <= d_x <= n"),
        (np.vstack([X[:2], X[:1]]), Y, [3, 2, 2], "Sigma_XX = X X^T is not invertible"),
        (X, np.vstack([Y[0], 2 * Y[0]]), [3, 2, 2], "Sigma_XY = X Y^T is not of full rank"),
    ]
    for Xc, Yc, widths, message in cases:
        with pytest.raises(AssumptionError, match="assumptions fail") as info:
            DeepLinearProblem(Xc, Yc, widths)
        assert message in str(info.value)
    with pytest.raises(AssumptionError, match="not distinct: delta_1 = 2 and delta_2 = 2"):
        random_problem([4, 3, 3], delta=[2.0, 2.0, 1.0], rng=0)
    with pytest.raises(ValueError, match="widths must be"):
        DeepLinearProblem(X, Y, [3, 2, 3])
    with pytest.raises(ValueError, match="one column per example"):
        DeepLinearProblem(X, Y[:, :5], [3, 2, 2])
    for bad in (np.nan, np.inf):  # not LAPACK's "SVD did not converge"
        Xb, Yb = X.copy(), Y.copy()
        Xb[1, 2] = Yb[0, 3] = bad
        with pytest.raises(ValueError, match="DeepLinearProblem: X holds NaN or inf"):
            DeepLinearProblem(Xb, Y, [3, 2, 2])
        with pytest.raises(ValueError, match="DeepLinearProblem: Y holds NaN or inf"):
            DeepLinearProblem(X, Yb, [3, 2, 2])


@pytest.mark.cpu_only
def test_random_problem_has_the_prescribed_spectrum():
    p = random_problem([5, 4, 3], n=9, delta=[4.0, 2.5, 0.5], noise=0.7, rng=3)
    assert np.allclose(p.delta, [4.0, 2.5, 0.5])
    assert np.isclose(np.trace(p.Sigma_YY), 16 + 6.25 + 0.25 + 0.49)  # sum delta^2 + noise^2
    assert np.allclose(p.W_star, np.linalg.lstsq(p.X.T, p.Y.T, rcond=None)[0].T)
    assert np.isclose(p.global_minimum_value(), 0.49)


# --------------------------------------------------------------------------- critical values
@pytest.mark.cpu_only
def test_critical_values_exact_and_shared_by_several_subsets():
    # X = I, Y = diag(sqrt 5, 2, 1): delta^2 = (5, 4, 1), tr(Sigma_YY) = 10, r_max = 2 (d_1 = 2).
    p = DeepLinearProblem(np.eye(3), np.diag([math.sqrt(5), 2.0, 1.0]), [3, 2, 3])
    assert p.r_max == 2 and np.allclose(p.delta, [math.sqrt(5), 2, 1])
    got = [(round(cv.value, 12), cv.subsets) for cv in p.critical_values()]
    assert got == [
        (1.0, ((1, 2),)),
        (4.0, ((1, 3),)),
        (5.0, ((1,), (2, 3))),  # 10 - 5 = 10 - 4 - 1: one value, two subsets
        (6.0, ((2,),)),
        (9.0, ((3,),)),
        (10.0, ((),)),
    ]
    assert p.global_minimum_value() == pytest.approx(1.0)
    assert p.plateau_values() == []  # H = 2: no non-strict saddle, hence no plateau value
    deep = DeepLinearProblem(np.eye(3), np.diag([math.sqrt(5), 2.0, 1.0]), [3, 2, 2, 3])
    assert deep.plateau_values() == pytest.approx([10.0, 5.0])
    assert deep.possible_kinds((1,)) == ("strict saddle", "non-strict saddle")
    linear = DeepLinearProblem(np.eye(3), np.diag([math.sqrt(5), 2.0, 1.0]), [3, 3])  # H = 1
    assert [cv.value for cv in linear.critical_values()] == pytest.approx([0.0])
    with pytest.raises(ValueError, match="least-squares solution"):
        linear.critical_point((1, 2))
    assert p.possible_kinds((1,)) == ("strict saddle",)  # H = 2: no non-strict saddle
    assert p.possible_kinds((2, 3)) == ("strict saddle",)
    with pytest.raises(ValueError, match="r_max = 2"):
        p.critical_value((1, 2, 3))
    with pytest.raises(ValueError, match="distinct 1-based"):
        p.critical_value((0, 1))


# --------------------------------------------------------------------------- theory vs engine
@pytest.mark.parametrize("widths, seed", SHAPES)
def test_every_critical_point_is_what_the_theorem_says(widths, seed):
    """For every S (and tight / non-tight variants): engine gradient 0, engine risk = critical
    value, theory_kind = decision tree, Hessian eigenvalues: a negative one exactly for strict
    saddles; for H = 2 no non-strict saddle at all."""
    p = random_problem(widths, rng=seed)
    rng = np.random.default_rng(seed)
    scale = float(np.trace(p.Sigma_YY))
    kinds = set()
    for S, tight, W in _points(p, rng):
        theta = ad.tensor(p.flatten(W))
        value, g = ad.value_and_grad(p.loss)(theta)
        assert np.linalg.norm(g.numpy()) < 1e-11 * scale * max(1.0, np.linalg.norm(p.flatten(W))) ** p.H
        assert value.item() == pytest.approx(p.critical_value(S), rel=1e-12, abs=1e-12 * scale)
        report = p.theory_kind(W)
        expected = _expected_kind(p, S, tight)
        assert (report.kind, report.S, report.r) == (expected, S, len(S)), str(report)
        assert report.kind in p.possible_kinds(S)
        eigs = _hessian_eigs(p, theta)
        if expected == "strict saddle":
            assert eigs[0] < -1e-3 * scale, (S, tight, eigs[:3])
        else:
            assert eigs[0] > -1e-10 * scale, (S, tight, eigs[:3])
            assert np.sum(np.abs(eigs) < 1e-10 * scale) > 0  # gauges make the Hessian singular
        kinds.add(expected)
    if p.H == 2:
        assert kinds == {"strict saddle", "global minimizer"}
    else:
        assert kinds == {"strict saddle", "non-strict saddle", "global minimizer"}


@pytest.mark.parametrize("widths, seed", SHAPES)
def test_engine_gradient_is_the_closed_form(widths, seed):
    p = random_problem(widths, rng=seed)
    theta = np.random.default_rng(seed).standard_normal(p.n_params)
    g = ad.grad(p.loss)(ad.tensor(theta)).numpy()
    assert np.allclose(g, p.flatten(p.gradient(theta)), rtol=1e-12, atol=1e-12 * np.abs(g).max())
    assert ad.gradcheck(p.loss, (ad.tensor(theta),))


@pytest.mark.cpu_only
def test_h2_has_no_tight_critical_point_below_r_max():
    p = random_problem([5, 2, 3], rng=1)
    with pytest.raises(ValueError, match="no non-strict saddle"):
        p.critical_point((1,), tight=True)
    with pytest.raises(ValueError, match="tight=False needs r"):
        p.critical_point((1, 2), tight=False)
    # W = 0 is a strict saddle for H = 2 (pivot (2, 1) not tight) ...
    zero = [np.zeros(s) for s in p.shapes]
    report = p.theory_kind(zero)
    assert report.kind == "strict saddle" and report.pivots[0].rank_first == 3 and not report.tight
    # ... and a non-strict one for H = 3: the pivot (3, 1) has the block W_2 = 0 of rank r = 0.
    q = random_problem([4, 3, 3, 3], rng=0)
    report = q.theory_kind([np.zeros(s) for s in q.shapes])
    assert report.kind == "non-strict saddle" and report.tight and report.S == ()


@pytest.mark.parametrize("loose", ["(2, 1)", "(3, 2)", None])
def test_every_pivot_matters_on_hand_built_critical_points(loose):
    """Critical points built by hand with identity gauges, outside critical_point's family:
    W_1 = [U_1^T W*; M], W_2 = diag(1, 0, 0), W_3 = [U_1, U_Q A].  A != 0 loosens the pivot (2, 1)
    (first block Sigma_XY W_3 of rank 3), M with M Sigma_XY U_Q != 0 the pivot (3, 2); either one
    loose pivot makes a strict saddle, which the Hessian confirms."""
    p = random_problem([4, 3, 3, 3], rng=0)
    rng = np.random.default_rng(0)
    U_S, U_Q = p.U[:, :1], p.U[:, 1:]
    A = rng.standard_normal((2, 2)) if loose == "(2, 1)" else np.zeros((2, 2))
    M = rng.standard_normal((2, 4)) if loose == "(3, 2)" else np.zeros((2, 4))
    W = [np.vstack([U_S.T @ p.W_star, M]), np.diag([1.0, 0.0, 0.0]), np.hstack([U_S, U_Q @ A])]
    theta = ad.tensor(p.flatten(W))
    assert np.abs(ad.grad(p.loss)(theta).numpy()).max() < 1e-12
    report = p.theory_kind(W)
    assert [str((q.i, q.j)) for q in report.pivots if not q.tight] == ([loose] if loose else [])
    eigs = _hessian_eigs(p, theta)
    if loose:
        assert report.kind == "strict saddle" and eigs[0] < -0.1
    else:
        assert report.kind == "non-strict saddle" and eigs[0] > -1e-12


@pytest.mark.cpu_only
def test_theory_report_exposes_the_reasoning():
    p = random_problem([4, 3, 3, 3], rng=0)
    loose = p.theory_kind(p.critical_point((1,), tight=False, rng=1))
    tight = p.theory_kind(p.critical_point((1,), tight=True, rng=1))
    assert loose.kind == "strict saddle" and tight.kind == "non-strict saddle"
    assert [(q.i, q.j) for q in loose.pivots] == [(3, 1), (3, 2), (2, 1)]
    (pivot,) = [q for q in loose.pivots if not q.tight]  # only (H, 1) can be loose
    assert (pivot.i, pivot.j, pivot.rank_first, pivot.rank_second) == (3, 1, 3, 3)
    assert tight.tight and all(q.tight for q in tight.pivots) and tight.pivots[0].rank_second == 1
    assert tight.critical_value == pytest.approx(p.critical_value((1,)))
    assert "non-strict saddle" in str(tight) and "(3, 1)" in str(loose) and "not tight" in str(loose)
    moved = p.flatten(p.critical_point((1,), rng=1)) + 1e-3
    report = p.theory_kind(moved)
    assert report.kind == "not critical" and report.grad_norm > 1e-5
    assert p.theory_kind(ad.tensor(p.flatten(p.global_minimizer(rng=2)))).kind == "global minimizer"


@pytest.mark.cpu_only
def test_global_minimizers_realise_the_projected_least_squares():
    for widths in ([4, 3, 2, 3], [4, 5, 4, 3], [3, 3, 3]):
        p = random_problem(widths, rng=5)
        W = p.global_minimizer(rng=6)
        P = p._chain(W, 1, p.H)
        U = p.U[:, : p.r_max]
        assert np.allclose(P, U @ U.T @ p.W_star, atol=1e-12)
        assert p.risk(W) == pytest.approx(p.global_minimum_value(), rel=1e-12)
        assert p.theory_kind(W).kind == "global minimizer"


# --------------------------------------------------------------------------- parameters
def test_flatten_unflatten_and_batched_loss():
    p = random_problem([4, 3, 2, 3], rng=0)
    W = p.critical_point((1,), rng=0)
    theta = p.flatten(W)
    assert theta.shape == (p.n_params,) == (12 + 6 + 6,)
    assert all(np.array_equal(a, b) for a, b in zip(p.unflatten(theta), W, strict=True))
    batch = np.stack([theta, theta + 0.1, theta - 0.2])
    losses = p.loss(ad.tensor(batch)).numpy()
    assert losses.shape == (3,)
    assert np.allclose(losses, [p.risk(row) for row in batch], rtol=1e-13)
    mats = p.unflatten(ad.tensor(batch))
    assert [m.shape for m in mats] == [(3, 3, 4), (3, 2, 3), (3, 3, 2)]
    with pytest.raises(ValueError, match="24 parameters"):
        p.unflatten(np.zeros(23))
    with pytest.raises(ValueError, match="expected matrices of shapes"):
        p.matrices([np.zeros((3, 4))])


def test_batched_gradient_descent_runs_independent_trajectories():
    p = random_problem([3, 2, 2], rng=1)
    rng = np.random.default_rng(1)
    starts = 0.3 * rng.standard_normal((2, p.n_params))
    theta, history = gradient_descent(p.loss, ad.tensor(starts), 1e-2, 30, record_every=10)
    assert history.shape == (3, 2)
    for k in range(2):
        single, hist = gradient_descent(p.loss, ad.tensor(starts[k]), 1e-2, 30, record_every=10)
        assert np.allclose(theta.numpy()[k], single.numpy(), rtol=1e-12)
        assert np.allclose(history[:, k], hist, rtol=1e-12)
    assert history[-1, 0] < history[0, 0]
    with pytest.raises(ValueError, match="record_every"):
        gradient_descent(p.loss, starts[0], 1e-2, 3, record_every=0)


# --------------------------------------------------------------------------- invariants
def test_one_gradient_step_changes_the_invariants_by_eta_squared():
    """W' = W - eta G gives I_j(W') - I_j(W) = eta^2 (G_{j+1}^T G_{j+1} - G_j G_j^T) exactly: the
    O(eta) term vanishes because W_{j+1}^T G_{j+1} = G_j W_j^T (Chitour-Liao-Couillet)."""
    p = random_problem([4, 3, 3, 2], rng=2)
    theta = ad.tensor(0.5 * np.random.default_rng(2).standard_normal(p.n_params))
    eta = 0.05
    G = p.unflatten(ad.grad(p.loss)(theta))
    W = p.unflatten(theta)
    before = invariants(W)
    after = invariants([w - eta * g for w, g in zip(W, G, strict=True)])
    for j, (a, b, c) in enumerate(zip(after, before, invariants(G), strict=True)):
        assert np.allclose((a - b).numpy(), eta**2 * c.numpy(), rtol=1e-10, atol=1e-12)
        assert np.abs(c.numpy()).max() > 1.0  # a real change, of order eta^2
        first_order = W[j + 1].T @ G[j + 1] - G[j] @ W[j].T
        assert np.abs(first_order.numpy()).max() < 1e-12 * np.abs(G[j].numpy()).max()


def test_gradient_descent_ends_where_the_theory_says():
    """From a generic start, gradient descent converges to a point theory_kind calls a global
    minimiser (Chitour-Liao-Couillet: trajectories converge to critical points; the saddles'
    basins are negligible), at the predicted minimum value."""
    p = random_problem([3, 3, 2], rng=7)
    start = 0.5 * np.random.default_rng(7).standard_normal(p.n_params)
    theta, losses = gradient_descent(p.loss, ad.tensor(start), 0.02, 1500, record_every=100)
    report = p.theory_kind(theta, grad_rtol=1e-6)
    assert report.kind == "global minimizer", str(report)
    assert report.loss == pytest.approx(p.global_minimum_value(), rel=1e-9)
    assert losses[0] > 2 * losses[-1]


def test_invariants_drift_linearly_in_eta_over_a_fixed_time():
    p = random_problem([3, 3, 3, 2], rng=4)
    start = 0.4 * np.random.default_rng(4).standard_normal(p.n_params)
    I0 = p.invariants(start)
    etas, drifts, T = [4e-3, 2e-3, 1e-3], [], 0.2
    for eta in etas:
        theta, losses = gradient_descent(p.loss, ad.tensor(start), eta, round(T / eta), record_every=10)
        drifts.append(max(np.abs(a - b).max() for a, b in zip(p.invariants(theta), I0, strict=True)))
        assert losses[-1] < 0.5 * losses[0]  # the flow moved a lot ...
    slope = np.polyfit(np.log(etas), np.log(drifts), 1)[0]
    assert 0.9 < slope < 1.1, (drifts, slope)  # ... while the invariants moved by O(eta)
    assert max(drifts) < 0.05 * max(np.abs(i).max() for i in I0)


# --------------------------------------------------------------------------- landscape.classify
@pytest.mark.parametrize("widths, seed", SHAPES)
def test_classify_agrees_with_the_theorem(widths, seed):
    """landscape.classify (Hessian inertia, then higher-order probing when the Hessian is PSD and
    singular) agrees with theory_kind at every constructed point: strict saddles, non-strict
    saddles (tight, H >= 3) and global minimisers ("degenerate minimum": gauges make them
    non-isolated), all with classify's default tolerances -- including the tight point of
    S = {}, where the Hessian is identically 0 (W_H = 0, a zero middle block, W_1 Sigma_XY = 0)
    and only rounding noise (~1e-16) is computed: the tolerances scale with |f| as well as with
    ||Hessian||, so that noise counts as zero."""
    p = random_problem(widths, rng=seed)
    seen = set()
    for S, tight, W in _points(p, np.random.default_rng(seed)):
        theory = p.theory_kind(W)
        report = landscape.classify(p.loss, ad.tensor(p.flatten(W)))
        assert report.kind in CLASSIFY_KINDS[theory.kind], (S, tight, theory.kind, str(report))
        seen.add(report.kind)
    assert seen >= {"strict saddle", "degenerate minimum"} | ({"non-strict saddle"} if p.H >= 3 else set())


def test_half_sum_convention_halves_every_value_and_keeps_the_points():
    """Seed 002's F = 1/2 ||W_H...W_1 X - Y||^2: the same critical points, every critical value a
    half sum of squares (exactly half of R's), engine gradient = closed form, still zero there."""
    full, half = random_problem([4, 3, 2, 3], rng=5), random_problem([4, 3, 2, 3], rng=5, half=True)
    assert half.half and "half=True" in repr(half)
    values = [v.value for v in full.critical_values()]
    assert [v.value for v in half.critical_values()] == pytest.approx([v / 2 for v in values], rel=1e-13)
    tr = float(np.trace(half.Sigma_YY))
    for S in [(), (1,), (2,), (1, 2)]:
        assert half.critical_value(S) == pytest.approx(0.5 * (tr - sum(half.delta[i - 1] ** 2 for i in S)))
    rng = np.random.default_rng(0)
    W = half.critical_point((2,), rng=rng)
    theta = ad.tensor(half.flatten(W))
    value, g = ad.value_and_grad(half.loss)(theta)
    assert value.item() == pytest.approx(half.critical_value((2,)), rel=1e-12)
    assert value.item() == pytest.approx(full.loss(theta).item() / 2, rel=1e-13)
    assert np.linalg.norm(g.numpy()) < 1e-10 * tr
    assert half.theory_kind(W).kind == full.theory_kind(W).kind == "strict saddle"
    x = rng.standard_normal(half.n_params)
    assert np.allclose(ad.grad(half.loss)(ad.tensor(x)).numpy(), half.flatten(half.gradient(x)), rtol=1e-12)
    assert half.risk(x) == pytest.approx(full.risk(x) / 2, rel=1e-13)


def test_critical_value_of_the_data_by_the_engine():
    """autodiff.linalg's solve and svd give the host theory's critical values on any device, and
    their derivative with respect to the data (checked against finite differences)."""
    p = random_problem([3, 2, 2], rng=4)
    X, Y = ad.tensor(p.X), ad.tensor(p.Y)
    for S in [(), (1,), (2,), (1, 2)]:
        assert math.isclose(critical_value_of(X, Y, S).item(), p.critical_value(S), rel_tol=1e-10)
    assert math.isclose(critical_value_of(X, Y, (1,), half=True).item(), p.critical_value((1,)) / 2)
    assert ad.gradcheck(lambda x: critical_value_of(x, Y, (2,)), (X,))
    with pytest.raises(ValueError, match="critical_value_of: S = \\(3,\\)"):
        critical_value_of(X, Y, (3,))
