"""The feature regime's limit (sparse.solve) against independent references: a linear programme
over a fine fixed grid of directions, a Lasso over a fixed grid, and the dual certificate
recomputed by brute force (random directions in d >= 3, a fine grid of the circle in d = 2)."""

import numpy as np
import pytest
import scipy.optimize

from sparsefeatures.sphere import data as sphere
from sparsefeatures.sphere import measures, sparse
from sparsefeatures.sphere.kinds import sparse as sparse_kind
from sparsefeatures.sphere.runs import RunContext, RunFailed

from .conftest import brute_dual_sup

D = 3
GRID = 20_000  # fixed directions of the reference LP on S^2 (spacing ~0.025 rad)
CIRCLE = 2000  # equispaced directions of the reference LP on S^1 (spacing ~0.003 rad)
LASSO_GRID = 4000  # fixed directions of the reference Lasso
# The continuous optimum is at most the grid's; the grid's is above it by its discretisation.
GRID_RTOL = 0.05
# Certified gaps are at most gap_tol; rounding on top.
GAP_ATOL = 1e-9
# Rounds of the penalised solves (they certify in 2-9).
BOUNDS_ROUNDS = 20
TEACHER = {"kind": "teacher", "activation": "abs", "power": 1, "width": 1000}
RELU_TEACHER = {"kind": "teacher", "activation": "relu", "power": 1, "width": 2000}


def data(n: int, target: dict, seed: int = 0, d: int = D):
    return sphere.make_split(target, "t", d, seed, "train", n)


def grid_lp_tv(x: np.ndarray, y: np.ndarray, directions: int, seed: int = 0) -> float:
    """min sum |c_j| s.t. sum_j c_j relu(theta_j . x_i) = y_i over fixed random directions."""
    theta = sphere.uniform_sphere(directions, x.shape[1], np.random.default_rng(seed))
    a = np.maximum(x @ theta.T, 0.0)  # (n, m)
    m = a.shape[1]
    res = scipy.optimize.linprog(
        np.ones(2 * m), A_eq=np.hstack([a, -a]), b_eq=y, bounds=(0, None), method="highs"
    )
    assert res.status == 0
    return float(res.fun)


def circle_lp_tv(x: np.ndarray, y: np.ndarray) -> float:
    """grid_lp_tv on CIRCLE equispaced directions of S^1."""
    phi = np.linspace(0, 2 * np.pi, CIRCLE, endpoint=False)
    a = np.maximum(x @ np.stack([np.cos(phi), np.sin(phi)]), 0.0)  # (n, m)
    m = a.shape[1]
    res = scipy.optimize.linprog(
        np.ones(2 * m), A_eq=np.hstack([a, -a]), b_eq=y, bounds=(0, None), method="highs"
    )
    assert res.status == 0
    return float(res.fun)


def test_interpolating_limit_beats_the_grid_lp_and_certifies_its_gap():
    x, y = data(32, {"kind": "constant"})
    result = sparse.solve(x, y, sparse.SparseSpec(penalty=0.0), seed=0)
    reference = grid_lp_tv(x, y, GRID)
    assert result.converged and result.duality_gap <= 1e-4 + GAP_ATOL
    assert result.train_residual < 1e-8  # interpolates
    assert result.n_atoms <= len(y)  # a basic solution: at most n atoms
    tv = float(np.abs(result.c).sum())
    assert tv == pytest.approx(result.objective, rel=1e-12)
    assert tv <= reference * (1 + 1e-9)  # continuous directions can only do better ...
    assert tv >= reference * (1 - GRID_RTOL)  # ... by the grid's discretisation at most
    assert result.dual_bound <= result.objective * (1 + GAP_ATOL)
    np.testing.assert_allclose(np.linalg.norm(result.theta, axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(
        result.predict(x), np.maximum(x @ result.theta.T, 0.0) @ result.c, rtol=1e-12
    )


def grid_lasso_objective(x: np.ndarray, y: np.ndarray, lam: float, directions: int) -> float:
    """(1/2n)|y - A c|^2 + lam |c|_1 at scikit-learn's Lasso solution over fixed directions."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import Lasso

    theta = sphere.uniform_sphere(directions, x.shape[1], np.random.default_rng(0))
    a = np.maximum(x @ theta.T, 0.0)  # (n, m)
    # (Its solution may be inexact: its objective then bounds the optimum from above all the more.)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        lasso = Lasso(alpha=lam, fit_intercept=False, tol=1e-8, max_iter=20_000).fit(a, y)
    return 0.5 * np.mean((a @ lasso.coef_ - y) ** 2) + lam * np.abs(lasso.coef_).sum()


@pytest.mark.parametrize(
    ("target", "n", "lam"),
    [({"kind": "constant"}, 40, 1e-4), (TEACHER, 40, 1e-3), (TEACHER, 24, 1e-4)],
    ids=["constant", "teacher", "teacher-small"],
)
def test_penalised_objective_and_bounds_hold_independently(target, n, lam):
    """lambda > 0: P recomputed from the atoms; weak duality for the feasible dual point
    p = (y - f)/n scaled by a brute-force sup, and for the solver's own dual bound; the solve
    certifies, and its objective is at most a Lasso's over a fine fixed grid."""
    x, y = data(n, target)
    result = sparse.solve(x, y, sparse.SparseSpec(penalty=lam, max_iter=BOUNDS_ROUNDS), seed=0)
    f = result.predict(x)
    primal = 0.5 * np.mean((f - y) ** 2) + lam * np.abs(result.c).sum()
    assert primal == pytest.approx(result.objective, rel=1e-10)
    p = (y - f) / n
    p *= min(1.0, lam / brute_dual_sup(p, x))
    assert y @ p - 0.5 * n * p @ p <= primal * (1 + GAP_ATOL)
    assert result.dual_bound <= primal * (1 + GAP_ATOL)
    assert result.converged
    assert primal <= grid_lasso_objective(x, y, lam, LASSO_GRID) * (1 + 1e-6)


def test_restricted_lasso_is_exact_on_the_solvers_pools(monkeypatch):
    """The restricted Lasso on the pools a solve builds (directions at maxima of |g_p| next to the
    atoms: nearly collinear features, some exactly dependent) meets the Lasso's optimality
    conditions (correlation n lambda sign(c_j) on the support, at most n lambda off it), from
    zero and from a dense warm start, and is not above coordinate descent's objective (which
    stalled there: 138 weighted columns and a 1.5e-3 violation on such a pool)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import Lasso

    pools = []
    solve_lasso = sparse._lasso

    def recording(phi, y, lam, c0):
        pools.append(phi)
        return solve_lasso(phi, y, lam, c0)

    monkeypatch.setattr(sparse, "_lasso", recording)
    x, y = data(128, TEACHER)
    n, lam = len(y), 1e-3
    sparse.solve(x, y, sparse.SparseSpec(penalty=lam, max_iter=4), seed=0)
    phi = pools[-1]
    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cd = Lasso(alpha=lam, fit_intercept=False, tol=1e-12, max_iter=10**5).fit(phi, y).coef_
    cd_objective = 0.5 / n * np.sum((y - phi @ cd) ** 2) + lam * np.abs(cd).sum()
    for c0 in (np.zeros(phi.shape[1]), 1e-3 * rng.standard_normal(phi.shape[1])):
        c, objective = solve_lasso(phi, y, lam, c0)
        corr = phi.T @ (y - phi @ c) / n
        on = c != 0
        assert 0 < on.sum() <= n
        np.testing.assert_allclose(corr[on], lam * np.sign(c[on]), rtol=0, atol=1e-9 * lam)
        # (A column within sparse.DEPENDENT of the support's span that cannot enter is skipped:
        # its excess is of the order of that rounding.)
        assert np.abs(corr[~on]).max() <= lam * (1 + 1e-6)
        assert objective == pytest.approx(
            0.5 / n * np.sum((y - phi @ c) ** 2) + lam * np.abs(c).sum(), rel=1e-12
        )
        assert objective <= cd_objective * (1 + 1e-12)


def highs_restricted(phi: np.ndarray, y: np.ndarray, big_m: float) -> float:
    """min sum |c_j| + big_m sum |a_i| s.t. phi c + a = y, by HiGHS's dual simplex."""
    n, m = phi.shape
    eye = np.eye(n)
    res = scipy.optimize.linprog(
        np.concatenate([np.ones(2 * m), np.full(2 * n, big_m)]),
        A_eq=np.hstack([phi, -phi, eye, -eye]),
        b_eq=y,
        bounds=(0, None),
        method="highs-ds",
    )
    assert res.status == 0
    return float(res.fun)


@pytest.mark.parametrize("correctors", [0, sparse.IPM_CORRECTORS])
@pytest.mark.parametrize("repeat", [False, True])
def test_interior_point_matches_highs_on_a_restricted_problem(repeat, correctors, monkeypatch):
    """The restricted problem (lambda = 0) on a pool of random directions: the interior point's
    dual point is feasible and its objective HiGHS's optimum (strong duality), its weights
    interpolate at that objective, with and without the centrality correctors. With a data point
    repeated under another label no measure interpolates: the artificial columns carry the
    difference, at the same optimum as HiGHS's."""
    monkeypatch.setattr(sparse, "IPM_CORRECTORS", correctors)
    x, y = data(64, TEACHER)
    if repeat:
        x, y = np.concatenate([x, x[:1]]), np.concatenate([y, y[:1] + 0.5])
    pool = sphere.uniform_sphere(400, D, np.random.default_rng(2))
    phi = np.maximum(x @ pool.T, 0.0)
    c, a, p = sparse._interior_point(phi, y, 10.0)
    reference = highs_restricted(phi, y, 10.0)
    assert float(y @ p) == pytest.approx(reference, rel=1e-7)
    assert np.abs(c).sum() + 10.0 * np.abs(a).sum() == pytest.approx(reference, rel=1e-6)
    assert np.abs(phi.T @ p).max() <= 1 + 1e-8 and np.abs(p).max() <= 10 * (1 + 1e-8)
    assert np.abs(phi @ c + a - y).max() <= 1e-6 * np.abs(y).max()
    assert (np.abs(a).max() > 0.1) == repeat


def test_centrality_correctors_take_fewer_interior_point_steps(monkeypatch):
    """The restricted problem of a pool of random directions (d = 5, n = 256): one normal matrix
    (one syrk) per step; the centrality correctors reach the same optimum in fewer steps."""
    x, y = data(256, {"kind": "constant"}, d=5)
    phi = np.maximum(x @ sphere.uniform_sphere(1500, 5, np.random.default_rng(3)).T, 0.0)
    steps, optima, calls, syrk = {}, {}, [], sparse.dsyrk
    monkeypatch.setattr(sparse, "dsyrk", lambda *a, **k: calls.append(1) or syrk(*a, **k))
    for correctors in (0, sparse.IPM_CORRECTORS):
        monkeypatch.setattr(sparse, "IPM_CORRECTORS", correctors)
        optima[correctors] = float(y @ sparse._interior_point(phi, y, sparse.BIG_M)[2])
        steps[correctors] = len(calls)
        calls.clear()
    assert optima[0] == pytest.approx(optima[sparse.IPM_CORRECTORS], rel=1e-8)
    assert steps[sparse.IPM_CORRECTORS] < steps[0] < sparse.IPM_STEPS


def test_exact_search_on_the_circle_beats_a_fine_grid_lp():
    """d = 2, where the search is exact: the continuous optimum is below a fine grid's, and the
    certificate holds against a brute-force sup on a finer grid."""
    x, y = data(64, {"kind": "constant"}, d=2)
    result = sparse.solve(x, y, sparse.SparseSpec(), seed=0)
    assert result.converged and result.train_residual < 1e-8
    reference = circle_lp_tv(x, y)
    assert result.objective <= reference * (1 + result.duality_gap + 1e-9)
    assert result.objective >= reference * (1 - GRID_RTOL)
    p = result.dual_point
    assert y @ p / brute_dual_sup(p, x) <= result.objective * (1 + GAP_ATOL)
    # The exact search finds the sup itself: the brute force finds no more.
    assert brute_dual_sup(p, x) <= (1 + result.dual_violation) * (1 + 1e-9)


def test_the_circle_at_n_1024_certifies_without_cycling():
    """d = 2, n = 1024, where the first restricted solve cycled (100 n pivots on reduced costs at
    the rounding of g_p) and the artificial columns took 43 rounds to leave (205,600 pivots in
    all): with the breakpoints in the first pool and pricing above the rounding it certifies in a
    few n pivots (the certificate against a brute force: test_exact_search_on_the_circle_...)."""
    x, y = data(1024, {"kind": "constant"}, d=2)
    result = sparse.solve(x, y, sparse.SparseSpec(), seed=0)
    assert result.converged and result.train_residual < 1e-8
    assert result.pivots <= 10 * len(y)


def test_the_first_basis_is_feasible_pool_columns_or_else_the_artificial_ones():
    """Pool features spanning R^n: the first basis is n pool columns signed so that their weights
    are positive (B w = y, w >= 0, no artificial column). With a data point repeated they cannot
    span R^n: the artificial columns start, and the solve still certifies."""
    x, y = data(64, TEACHER)
    extra = sphere.uniform_sphere(200, D, np.random.default_rng(1))
    simplex = sparse._Simplex(x, y, np.concatenate([x, extra]))
    assert not simplex.artificial.any() and (simplex.w >= 0).all()
    assert np.abs(simplex.columns() @ simplex.w - y).max() < 1e-10
    x, y = np.concatenate([x, x[:1]]), np.concatenate([y, y[:1]])
    assert sparse._Simplex(x, y, np.concatenate([x, extra])).artificial.all()
    result = sparse.solve(x, y, sparse.SparseSpec(), seed=0)
    assert result.converged and result.train_residual < 1e-8


def test_the_crossover_basis_takes_the_tight_directions_while_well_conditioned():
    """The crossover's first basis from two pools: the first's columns while its pivoted QR stays
    above rcond, completed from the second's. The first pool here: 10 directions and copies of
    them 1e-10 away (a basis with both has condition number ~1e10); the basis takes each direction
    or its copy, not both, 14 columns of the second, and is feasible (B w = y, w >= 0) and well
    conditioned."""
    n = 24
    x, y = data(n, TEACHER)
    rng = np.random.default_rng(2)
    first = sphere.uniform_sphere(10, D, rng)
    copies = first + 1e-10 * rng.standard_normal(first.shape)
    copies /= np.linalg.norm(copies, axis=1, keepdims=True)
    second = np.concatenate([x, sphere.uniform_sphere(100, D, rng)])
    simplex = sparse._Simplex(
        x, y, np.concatenate([first, copies]), second, rcond=sparse.CROSSOVER_RCOND
    )
    basis = simplex.columns()
    assert not simplex.artificial.any() and (simplex.w >= 0).all()
    np.testing.assert_allclose(basis @ simplex.w, y, rtol=0, atol=1e-10)
    assert np.linalg.cond(basis) < 1e6
    distance = lambda a, b: np.abs(a[:, None, :] - b[None, :, :]).max(axis=2)  # noqa: E731
    taken = distance(simplex.theta, first).min(axis=0) == 0
    copy_taken = distance(simplex.theta, copies).min(axis=0) == 0
    assert (taken ^ copy_taken).all()  # each direction or its copy, not both
    assert (distance(simplex.theta, second).min(axis=1) == 0).sum() == n - 10


def test_the_crossover_from_the_interior_points_support_ends_at_the_pools_optimum(monkeypatch):
    """relu teacher, d = 4, n = 64, seed 0: the crossover's simplex method on its first pool (the
    interior point's support) already ends at the optimum of the last restricted problem, HiGHS's
    on the whole pool. From the directions tight at the interior point's dual point instead, its
    optimum on them was 32x the pool's, and the whole pool then took thousands of pivots at
    n = 1024."""
    crossovers = []

    class Recording(sparse._Simplex):
        def __init__(self, x, y, *pools, rcond=sparse.CRASH_RCOND):
            super().__init__(x, y, *pools, rcond=rcond)
            if rcond == sparse.CROSSOVER_RCOND:
                crossovers.append((pools, []))

        def optimise(self, pool, phi):
            super().optimise(pool, phi)
            if crossovers:
                weights = np.linalg.solve(self.columns(), self.y)
                crossovers[-1][1].append(float(np.abs(weights).sum()))

    monkeypatch.setattr(sparse, "_Simplex", Recording)
    x, y = data(64, RELU_TEACHER, 0, d=4)
    result = sparse.solve(x, y, sparse.SparseSpec(), seed=0)
    assert result.converged and result.n_atoms <= 64
    [((support, pool), (first_tv, final_tv))] = crossovers
    phi = np.maximum(x @ pool.T, 0.0)
    optimum = highs_restricted(phi, y, 1e3)
    assert first_tv == pytest.approx(optimum, rel=1e-8)
    assert final_tv == pytest.approx(optimum, rel=1e-8)
    assert len(support) < len(pool)


def test_a_basis_whose_weights_drifted_negative_changes_the_columns_signs():
    """The simplex method's weights clip rounding at 0, and over thousands of pivots they drift
    from B^-1 y. Here the drift is made: 5 basic columns' signs flipped, so that their weights in
    B w = y turn negative. A refresh changes those columns' signs back: B w = y with w >= 0, where
    clipping the weights at 0 would miss y."""
    n = 24
    x, y = data(n, TEACHER)
    pool = np.concatenate([x, sphere.uniform_sphere(100, D, np.random.default_rng(3))])
    simplex = sparse._Simplex(x, y, pool)
    assert not simplex.artificial.any()
    sigma, w = simplex.sigma.copy(), simplex.w.copy()
    wrong = np.argsort(-w)[:5]
    simplex.sigma[wrong] *= -1.0
    assert (np.linalg.solve(simplex.columns(), y)[wrong] < 0).all()
    simplex.refresh()
    np.testing.assert_array_equal(simplex.sigma, sigma)
    np.testing.assert_allclose(simplex.columns() @ simplex.w, y, rtol=0, atol=1e-10)
    np.testing.assert_allclose(simplex.w, w, rtol=1e-8)


def test_the_simplex_method_stops_at_its_optimum_without_pivoting_on_rounding():
    """d = 2, |t|^2 teacher, n = 512: one round of 748 pivots certifies. The simplex method
    refreshes an optimal basis only where its weights drifted negative: refreshing every optimal
    one, the multipliers recomputed from scratch priced out columns by rounding and the pivots
    cycled up to the guard (51,200 pivots, 66 s)."""
    n = 512
    x, y = data(n, {**TEACHER, "power": 2}, seed=2, d=2)
    result = sparse.solve(x, y, sparse.SparseSpec(), seed=2)
    assert result.converged and result.pivots < 4 * n


def test_the_atoms_interpolate_to_rounding_on_an_ill_conditioned_circle():
    """d = 2, relu teacher, n = 1024: the basis has condition number ~1e9, and the weights the
    pivots had updated missed the data by 2.6e-9 (2.4e-6 from the artificial columns: the run
    failed); solved afresh from the final basis they miss it by 3e-10, and the bound stands
    against a brute-force sup (up to the rounding of g_p: |p|_1 is 3e6 here)."""
    x, y = data(1024, RELU_TEACHER, d=2)
    result = sparse.solve(x, y, sparse.SparseSpec(), seed=0)
    assert result.converged and result.train_residual < 1e-9 * np.abs(y).max()
    rounding = 1e-15 * np.abs(result.dual_point).sum()
    assert brute_dual_sup(result.dual_point, x) <= 1 + result.dual_violation + rounding
    assert result.dual_bound <= result.objective


@pytest.mark.parametrize(
    ("target", "n", "d", "lam"),
    [
        ({"kind": "constant"}, 48, 5, 0.0),
        (TEACHER, 32, 3, 0.0),
        (TEACHER, 48, 2, 0.0),
        (TEACHER, 40, 2, 1e-3),
        ({"kind": "constant"}, 32, 3, 1e-3),
        (RELU_TEACHER, 256, 5, 0.0),
    ],
    ids=[
        "constant-d5",
        "teacher-d3",
        "teacher-d2",
        "teacher-d2-penalty",
        "constant-penalty",
        "relu-teacher-d5-crossover",
    ],
)
def test_certifies_and_the_certificate_survives_brute_force(target, n, d, lam):
    """Certified (gap <= gap_tol) on teachers, in d = 2 and 5 and with a penalty; the dual point's
    sup found by brute force is at most the solver's (up to rounding), so its bound stands. The
    relu teacher at d = 5, n = 256: the crossover from a basis of the interior point's largest
    weights (condition number 1.9e11) once ended on atoms missing the data by 0.18."""
    x, y = data(n, target, d=d)
    spec = sparse.SparseSpec(penalty=lam)
    result = sparse.solve(x, y, spec, seed=0)
    assert result.converged and result.duality_gap <= spec.gap_tol
    bound = lam if lam > 0 else 1.0
    assert brute_dual_sup(result.dual_point, x) <= bound * (1 + result.dual_violation) + 1e-12
    assert result.dual_bound <= result.objective * (1 + GAP_ATOL)
    if lam == 0:
        assert result.train_residual < 1e-8 and result.n_atoms <= n


def test_the_dense_search_starts_at_the_atoms_whatever_their_weights_sign(monkeypatch):
    """The dense searches start at each atom, where |g_p| = 1 and violations cluster. An atom of
    negative weight sits at theta, not -theta: g_p(-theta) = g_p(theta) - theta . X^T p, and here
    (d = 8, n = 32, relu teacher) X^T p = 1.8 with 11 atoms of negative weight."""
    x, y = data(32, RELU_TEACHER, 1, d=8)

    class FirstSearch(Exception):
        pass

    def stop_at_the_first(x, p, rng, starts, extra, near=sparse.CERTIFY_NEAR):
        raise FirstSearch(p, extra)

    monkeypatch.setattr(sparse, "_dense_search", stop_at_the_first)
    with pytest.raises(FirstSearch) as first:
        sparse.solve(x, y, sparse.SparseSpec(), seed=1)
    p, atoms = first.value.args
    g = np.maximum(atoms @ x.T, 0.0) @ p
    assert (g < 0).sum() >= 5 and np.linalg.norm(x.T @ p) > 0.5  # the case the test is about
    np.testing.assert_allclose(np.abs(g), 1.0, rtol=0, atol=1e-6)


def test_the_certificate_survives_a_second_search_in_high_dimension():
    """d = 10: the dual constraint's maxima have basins of ~1e-5 of the sphere, which random
    directions do not hit; the solver's sup must stand against a second search (the ascent from
    200,000 other random starts, and brute force). Before the solver's final search
    scaled with d, this case certified 5e-5 with a true gap of 2e-3."""
    n, d = 128, 10
    x, y = data(n, {"kind": "constant"}, d=d)
    result = sparse.solve(x, y, sparse.SparseSpec(), seed=0)
    assert result.converged
    starts = sphere.uniform_sphere(200_000, d, np.random.default_rng(12345))
    _, g = sparse._ascend(x, result.dual_point, starts)
    found = max(float(np.abs(g).max()), brute_dual_sup(result.dual_point, x))
    assert found <= (1 + result.dual_violation) * (1 + 1e-9)


def test_the_search_ends_on_local_maxima_also_at_kinks():
    """The ascent's end points are local maxima of |g_p|: no direction within 1e-7..1e-3 rad of
    one (random tangents) has a larger |g_p|. g_p's maxima mostly sit on kinks theta . x_j = 0;
    an ascent that stops at the first kink it meets ends below them (here: 499 of 500; with
    rejected steps quartered rather than cut short of the first kink crossed, 10)."""
    rng = np.random.default_rng(0)
    d, n = 3, 64
    x = sphere.uniform_sphere(n, d, rng)
    p = rng.standard_normal(n) / n
    theta, g = sparse._ascend(x, p, sphere.uniform_sphere(500, d, rng))
    np.testing.assert_allclose(g, np.maximum(theta @ x.T, 0.0) @ p, rtol=0, atol=1e-13)
    angles = np.geomspace(1e-7, 1e-3, 200)[:, None]
    below = 0
    for t, value in zip(theta, g, strict=True):
        z = rng.standard_normal((200, d))
        z -= (z @ t)[:, None] * t
        z /= np.linalg.norm(z, axis=1, keepdims=True)
        near = np.cos(angles) * t + np.sin(angles) * z
        below += np.abs(np.maximum(near @ x.T, 0.0) @ p).max() > abs(value) + 1e-12
    assert below <= 5  # 1%: starts still moving after ASCENT_STEPS steps


@pytest.mark.parametrize("d", [5, 7])
def test_the_search_comes_to_the_kinks_in_few_steps(d):
    """A rejected step crossed a kink (|g_p| grows along a step inside a cell): the next one ends
    just short of the first kink crossed, so a start settles on its kinks in a few steps. Here at
    most 25% of 1000 starts still move after 60 steps (119 at d = 5, 194 at d = 7); quartering
    the step at each rejection, 753 and 760 (halving the distance to a kink every two steps):
    above d = 5 most starts ran out of steps short of the vertices where teachers' maxima sit."""
    rng = np.random.default_rng(0)
    x = sphere.uniform_sphere(128, d, rng)
    p = rng.standard_normal(128) / 128
    starts = sphere.uniform_sphere(1000, d, rng)
    early, _ = sparse._ascend(x, p, starts, 60)
    settled, g = sparse._ascend(x, p, starts)
    np.testing.assert_allclose(g, np.maximum(settled @ x.T, 0.0) @ p, rtol=0, atol=1e-13)
    assert (np.abs(settled - early).max(axis=1) > 1e-9).sum() <= 250


def test_merging_atoms_keeps_the_predictor_on_the_data_and_the_tv():
    """Atoms of one sign in one cell merge into one; f at the data is unchanged, TV not larger."""
    x, _ = data(20, {"kind": "constant"})
    rng = np.random.default_rng(3)
    theta = sphere.uniform_sphere(5, D, rng)
    # Three near copies of each atom (same cell), of one sign each.
    theta = np.repeat(theta, 3, axis=0) + 1e-4 * rng.standard_normal((15, D))
    theta /= np.linalg.norm(theta, axis=1, keepdims=True)
    c = np.repeat([1.0, -2.0, 0.5, -0.3, 3.0], 3) * rng.uniform(0.5, 1.5, 15)
    merged_theta, merged_c = sparse.merge_atoms(theta, c, x)
    assert merged_c.size < c.size
    np.testing.assert_allclose(
        sparse.relu_features(merged_theta, x) @ merged_c,
        sparse.relu_features(theta, x) @ c,
        atol=1e-12,
    )
    assert np.abs(merged_c).sum() <= np.abs(c).sum() * (1 + 1e-12)


def test_same_seed_same_result():
    x, y = data(24, {"kind": "constant"})
    a = sparse.solve(x, y, sparse.SparseSpec(), seed=5)
    b = sparse.solve(x, y, sparse.SparseSpec(), seed=5)
    np.testing.assert_array_equal(a.theta, b.theta)
    np.testing.assert_array_equal(a.c, b.c)


def test_progress_lines_per_round_at_the_shared_rate(monkeypatch):
    from sparsefeatures.core import progress

    x, y = data(24, {"kind": "constant"})
    quiet: list[str] = []
    result = sparse.solve(x, y, sparse.SparseSpec(), seed=0, log=quiet.append)
    assert len(quiet) == 1 and quiet[0].startswith("sparse: ") and "done:" in quiet[0]
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.0)  # a line every round
    lines: list[str] = []
    sparse.solve(x, y, sparse.SparseSpec(), seed=0, log=lines.append)
    rounds = [line for line in lines if " round " in line and "objective" in line]
    assert len(rounds) == result.iterations
    assert "done:" in lines[-1]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"penalty": -1.0}, "penalty"),
        ({"gap_tol": 0.0}, "gap_tol"),
        ({"max_iter": 0}, "max_iter"),
        ({"starts": 1.5}, "starts"),
        ({"prune": 1.0}, "prune"),
    ],
)
def test_spec_validation_names_the_field(changes, field):
    with pytest.raises(ValueError, match=f"SparseSpec.{field} = "):
        sparse.SparseSpec(**changes)


def test_unknown_config_keys_are_named():
    with pytest.raises(ValueError, match="unknown SparseSpec fields \\['gaptol'\\]"):
        sparse.spec_from_config({"kind": "sparse", "gaptol": 1e-3})


def constant_run_context() -> RunContext:
    """A regime run's context: the constant target, 32 training and 50 test points."""
    train = sphere.dataset("c", {"kind": "constant"}, D, 0, "train", 32)
    test = sphere.dataset("c", {"kind": "constant"}, D, 0, "test", 50)
    measures_spec = {"rotation_angle": 0.1, "atom_threshold": 1e-3}
    return RunContext(train=train, test=test, seed=0, measures=measures_spec)


def test_an_uncertified_solve_is_not_a_result():
    """A run stopped above its gap tolerance raises, and the pipeline records it as failed."""
    context = constant_run_context()
    with pytest.raises(RunFailed, match="above gap_tol 1e-12 after 1 iterations"):
        sparse_kind.run({"kind": "sparse", "max_iter": 1, "gap_tol": 1e-12}, context)


def test_no_leaving_row_raises_and_a_linalg_error_out_of_solve_fails_the_run(monkeypatch):
    """An entering column that no basis row can leave for (its Delta = B^-1 phi_q rounds to
    <= 0: here a zero column) raises LinAlgError (d = 2, |t| teacher, n = 2048 meets one in its
    first round; solve() then hands the restricted problem to HiGHS), and a LinAlgError that
    leaves solve() (HiGHS failing too) makes the pipeline record the run as failed."""
    n = 24
    x, y = data(n, TEACHER)
    simplex = sparse._Simplex(x, y, x)

    def singular(*args, **kwargs):
        simplex._pivot(np.zeros((1, D)), np.zeros((n, 1)), np.array([2.0]), stop=1)

    with pytest.raises(np.linalg.LinAlgError, match="no basis row can leave"):
        singular()
    monkeypatch.setattr(sparse, "solve", singular)
    with pytest.raises(RunFailed, match="linear algebra failed: sparse: no basis row can leave"):
        sparse_kind.run({"kind": "sparse"}, constant_run_context())


@pytest.mark.parametrize(
    "d, n, method",
    [
        (2, 128, "_pivot"),
        (3, 64, "_pivot"),
        (2, 128, "refresh"),
        (2, 128, "solve_weights"),
        (3, 64, "solve_weights"),
    ],
)
def test_where_the_simplex_method_fails_highs_takes_over(monkeypatch, d, n, method):
    """A simplex method whose pivots, inverse or final weights raise LinAlgError (on its first
    pivot: at d = 2 in the rounds, at d = 3 in the crossover; on its first inverse: the first
    basis at d = 2; on its final weights, once the pivots are done) leaves the restricted problem
    to HiGHS: the solve still certifies, at the objective the simplex method reaches, and its
    dual point passes the brute-force check."""
    x, y = data(n, TEACHER, d=d)
    reference = sparse.solve(x, y, sparse.SparseSpec(), seed=0)
    lines = []

    def fails(self, *args, **kwargs):
        raise np.linalg.LinAlgError(f"sparse: {method} failed (test)")

    monkeypatch.setattr(sparse._Simplex, method, fails)
    result = sparse.solve(x, y, sparse.SparseSpec(), seed=0, log=lines.append)
    assert any("HiGHS" in line for line in lines)
    assert result.converged
    assert (result.pivots > 0) == (method == "solve_weights")
    assert result.train_residual < 1e-8 and result.n_atoms <= n
    # Both within gap_tol of the optimum, so within 2 gap_tol of each other.
    assert abs(result.tv - reference.tv) <= 2e-4 * reference.tv
    # g_p is rounded by ~1e-16 |p|_1 (|p|_1 = 6.6e4 for the simplex method's multipliers at d = 2).
    rounding = 1e-12 + 1e-15 * np.abs(result.dual_point).sum()
    assert brute_dual_sup(result.dual_point, x) <= 1 + result.dual_violation + rounding
    assert result.dual_bound <= result.objective * (1 + GAP_ATOL)


@pytest.mark.slow
def test_gradient_descent_converges_to_the_limit(one_torch_thread):
    """A wide mean-field network trained with the same penalty is a measure mu: its loss is the
    limit's objective P(mu), which it approaches from above; its predictor and its atom count
    approach the limit's.
    (benchmarks/compare_gd_sparse.py runs n = 16..256; here one small n, ~10^5 steps.)"""
    import torch

    from sparsefeatures.sphere.network import NetworkSpec, train

    n, lam = 16, 1e-3
    x, y = data(n, {"kind": "constant"})
    x_test, y_test = sphere.make_split({"kind": "constant"}, "t", D, 0, "test", 2000)
    limit = sparse.solve(x, y, sparse.SparseSpec(penalty=lam), seed=0)
    assert limit.converged
    spec = NetworkSpec(width=10 * n, penalty=lam, max_steps=100_000, rel_tol=1e-9, device="cpu")
    net = train(torch.from_numpy(x), torch.from_numpy(y), spec, 0)
    fit = 0.5 * np.mean((net.predict(torch.from_numpy(x)).numpy() - y) ** 2)
    objective = fit + lam * float(net.w.abs().mean())  # (1/H) sum |w_h| = |mu|_TV
    bound = limit.objective * (1 - limit.duality_gap)  # the limit's certified lower bound
    assert bound <= objective <= 1.01 * limit.objective
    test_gd = np.mean((net.predict(torch.from_numpy(x_test)).numpy() - y_test) ** 2)
    test_limit = np.mean((limit.predict(x_test) - y_test) ** 2)
    assert test_gd == pytest.approx(test_limit, rel=0.2)
    # Atoms: neurons grouped by sign pattern on the data, as for the networks' atom counts.
    x_t = torch.from_numpy(x)
    atoms_limit = measures.n_atoms(torch.from_numpy(limit.theta), torch.from_numpy(limit.c), x_t)
    assert measures.n_atoms(net.theta, net.w, x_t) == pytest.approx(atoms_limit, rel=0.2)
