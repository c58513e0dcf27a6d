"""The feature regime's limit: the sparse measure of ReLU atoms that mean-field training reaches.

For f_mu(x) = integral relu(theta . x) dmu(theta), theta on the unit sphere S^{d-1}, solve

    min_mu  P(mu) = (1/2n) sum_i (f_mu(x_i) - y_i)^2 + lambda |mu|_TV      (lambda > 0), or
    min_mu  |mu|_TV  subject to  f_mu(x_i) = y_i                           (lambda = 0),

the convex problem on measures whose minimiser mean-field gradient descent reaches in the wide
limit (Bach 2017, "Breaking the curse of dimensionality with convex neural networks", JMLR 18;
Chizat & Bach 2018). Its dual is, with g_p(theta) = sum_i p_i relu(theta . x_i),

    max_p  y.p - (n/2)|p|^2   s.t. |g_p(theta)| <= lambda for all theta   (lambda > 0),
    max_p  y.p                s.t. |g_p(theta)| <= 1 for all theta        (lambda = 0):

a semi-infinite programme, solved by an exchange (column generation) method (Hettich & Kortanek
1993, "Semi-infinite programming: theory, methods, and applications", SIAM Review 35), as in
Boyd, Schiebinger & Recht 2017 ("The alternating descent conditional gradient method") and
Chizat 2022 ("Sparse optimization on measures with over-parameterized gradient descent"):

1. Restricted problem on a pool of directions. lambda = 0, d >= 3: a primal-dual interior-point
   method (Mehrotra's predictor-corrector with Gondzio's centrality correctors; artificial columns
   of cost BIG_M keep it feasible where the pool's features do not span R^n), each round from
   scratch: a step is one n x n normal matrix, n^2 m flops in BLAS 3, and 17-20 steps solve a round
   on average (d = 3 and 5, n = 512..2048), where the revised simplex method needed 4-6 n pivots of
   n^2 + n m flops in BLAS 2. Its dual point p is the round's. The interior point spreads weight
   over all the tight directions; at the end the simplex method started from a basis of the
   directions that carry its weight (crossover: Megiddo 1991, "On finding primal- and dual-optimal
   bases", ORSA J. Comput. 3) gives the vertex: at most n atoms.
   lambda = 0, d = 2: the revised simplex method in every round (dense explicit basis inverse,
   n x n, updated in O(n^2) per pivot, Devex pricing, warm across rounds; started from n pool
   columns picked by a pivoted QR and signed to be feasible, or from the artificial columns; each
   recomputation of the inverse changes the sign of a column whose weight B^-1 y came out
   negative, so B w = y holds with w >= 0 however far the updates drifted), whose multipliers are
   p: one or two rounds certify, on bases too ill-conditioned for an interior point's normal
   equations. Where a basis is too ill-conditioned even for the explicit inverse (no row can
   leave, or a singular basis: LinAlgError), in the first basis, the rounds, the crossover or the
   final weights, HiGHS's dual simplex method (its LU factors kept stable by threshold pivoting)
   solves the restricted problem instead. Once the atoms interpolate, pool directions not tight
   (|g_p| < 1) for POOL_AGE rounds leave the pool.
   lambda > 0: an exact Lasso (an active-set method, warm across rounds); p = (y - f)/n.
2. Pricing: directions where |g_p| exceeds its bound join the pool. g_p is linear on each sign
   pattern cell, g_p(theta) = theta . v(theta), v = sum_{i: theta.x_i > 0} p_i x_i, so the
   ascent theta <- +-v(theta)/|v(theta)| (damped where |g_p| would decrease; on a kink it
   reaches, along the kink) from many starts (random, the atoms, the data) ends on local
   maxima. In d = 2 the search is exact: on each of the 2n arcs between the breakpoints
   theta . x_i = 0, |g_p| is largest at v_arc's direction if inside, else at an end (and the
   first pool holds the breakpoints, whose features span every direction's).
3. Any dual point scaled by s <= bound / sup|g_p| is feasible: D(s p) is a lower bound. When a
   round's bound is near the objective (within CONFIRM_GAPS 2^(d - 3) gap_tol) and above the
   certified one, a dense search (random starts, starts near the atoms, the data) confirms it,
   and its violators join the pool. The certificate is the best confirmed bound of all rounds
   (the rounds' dual points scatter around the optimum while the primal only decreases). When it
   is within gap_tol of the objective, a final dense search of certify_starts starts
   (4 x 2^(d - 3) times the confirming one's, and as many times its starts near each atom: the
   maxima's basins shrink with d) checks it once more; the solve stops if it still is, else goes
   on with the violators found. dual_violation is the certificate's sup|g_p| / bound - 1. At the
   end the simplex's weights are solved afresh from its basis, and atoms of one sign in one cell
   are merged (f at the data unchanged, TV not larger). lambda = 0: the final bound is D(s p)
   for the values f_mu(x_i) the atoms take (within train_residual of y), so the gap bounds the
   atoms' distance to the least TV of any measure taking those values, exactly (weak duality for
   y itself would need |p|_1 train_residual, and |p|_1 reaches 3e6).

Outside d = 2 the certificate is as good as the dense search: a maximum it misses is not seen.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.linalg
from scipy.linalg.blas import dger, dsyrk

from ..core import specs
from ..core.progress import Throttled

# Second entropy word of the solver's random generator (the first is the seed): a caller who
# draws its data with the same seed does not get the solver's random directions equal to x.
SEED_SALT = 0x5BA75E
# Ascent steps at most, kinks held included: of the dense searches (measured in d = 6, n = 256:
# 40 steps left the starts short of the maxima reached at 160; 400 found no larger one), and of
# a round's search, whose violators need not be maxima (160 there: +60% time at d = 5, n = 512).
ASCENT_STEPS = 160
ROUND_STEPS = 40
# A start stops when its target is within this of it (the maximum of its cell on its face); a
# step fraction below it means a kink (held, or the end at d - 1 kinks held).
ASCENT_TOL = 1e-10
# Times a start settled on a kink leaves it to go on off the kink (then settles there for good).
RELEASES = 2
# Violations of the dual constraint are most often near the atoms, where it is tight: the final
# dense search also starts CERTIFY_NEAR x 2^(d - 3) directions at each of these angles (radians)
# from each atom, the confirming ones CONFIRM_NEAR (below). Measured in d = 10, n = 128: 1% of
# such starts reached the largest violation, 0.01% of random starts. Their basins shrink with d
# as the random starts' do: with CERTIFY_NEAR at every d, a relu teacher at d = 6, n = 256
# certified 2.5e-5 where a second search found a true gap of 7.0e-4 (a violator next to an atom,
# reached from 3 of 14,400 starts near the atoms and 1 of 200,000 random ones).
NEAR_ANGLES = (0.01, 0.03, 0.1)
CERTIFY_NEAR = 4
# Starts of the ascent handled together: SEARCH_ELEMENTS / n, so that its (block, n) arrays stay
# at 16 MB (a dense search at d = 5, n = 2048: 5.9 s in blocks of 1024 for 6.9 s in blocks of
# 2048; at n = 1024 blocks of 512, 1024 and 2048 within 10%).
SEARCH_ELEMENTS = 2**21
# A rejected ascent step is cut to end KINK_MARGIN (of its length) short of the first kink it
# crossed; kinks within HELD of both its ends are those it holds.
KINK_MARGIN = 1e-6
HELD = 1e-9
# A pool column enters the basis when |g_p| > 1 + max(PIVOT_TOL, PRICE_ROUNDING |p|_1) (relative
# reduced cost): g_p = sum_i p_i relu(theta . x_i) is rounded by about 1e-16 |p|_1 (more after the
# incremental updates), and while artificial columns are basic |p|_1 can reach 1e7 (d = 2,
# n = 1024). Pivots on rounding then cycled: the first restricted solve made 100 n pivots
# (period 4000, the objective back to the same value) where this tolerance ends it in 1028.
PIVOT_TOL = 1e-9
PRICE_ROUNDING = 1e-13
# Ratio test: basis rows with Delta_k below this (relative to max |Delta|) cannot leave; and the
# Harris tolerance on the weights that lets the largest pivot among near-ties leave. Directions in
# one cell have features in a d-dimensional space, so an entering column is often a combination
# of basic ones up to rounding: at 1e-9 a degenerate row with Delta ~1e-8 left, and the basis
# became singular (d = 2, n = 1024); at 1e-7 that solve certifies.
PIVOT_MIN = 1e-7
HARRIS = 1e-12
# lambda = 0, the interior-point method: it stops when the complementarity z.s is below IPM_TOL
# of the dual objective and the dual residual below IPM_TOL, or after IPM_STEPS steps; each step
# goes IPM_STEP of the way to the boundary; IPM_SHIFT: the normal matrix's first diagonal shift.
# Measured (d = 3, n = 512 and 1024): 14-25 steps a round. Each round from scratch, to IPM_TOL:
# measured at d = 5 (one thread, two solves at once), the alternatives were slower. Rounds solved
# to a tolerance a tenth of the outer gap (Gondzio, Gonzalez-Brevis & Munari 2013, "New
# developments in the primal-dual column generation technique", EJOR 224), the last one exactly
# for the crossover: n = 1024, seeds 0 / 1, 352 / 354 steps for 453 / 479, but 22 / 22 rounds for
# 19 / 20 and 130 / 133 s for 107 / 110 s; a hundredth (thousandth) of it: the constant target
# faster, teachers' rounds doubled (ended at max_iter; README). A warm start from the previous
# round's iterate at relative gap 1e-1 (1e-2), new columns at slack 1: n = 256, 24 (36) steps a
# round for 21. The
# normal matrix in single precision (ssyrk, twice as fast) while the gap is above 1e-2: 27 steps a
# round for 21; all but its 1.5 n columns of largest weight in single precision: at d = 5 as many
# steps, at d = 3 (n = 1024) no round converged. The normal matrix over the 2n (3n) columns of
# largest z_j/s_j |phi_j|^2 of ~5.5 n: as it is, no round converged in IPM_STEPS (n = 256); as the
# preconditioner of conjugate gradients on the whole one, ~20 iterations a solve and no faster
# (n = 1024); in a dual-feasible method, with the columns that cut the last step short, 28 steps
# for 20 (d = 5, n = 512), and no convergence in 200 steps on a late round.
IPM_TOL = 1e-9
IPM_STEPS = 100
# Each step also takes up to IPM_CORRECTORS centrality correctors (Gondzio 1996, "Multiple
# centrality corrections in a primal-dual method for linear programming", Comput. Optim. Appl.
# 6): more solves with the step's Cholesky factor (2 n m + n^2 flops each, beside its n^2 m),
# each kept while it lengthens the step. Measured (one thread, two solves at once): d = 5,
# n = 512, seeds 0 / 1: 364 / 402 steps for 529 / 541, interior point 9.6 / 10.9 s for 15.4 /
# 15.3 s; n = 1024, seeds 0-3: 368 / 398 / 357 / 415 steps for 453 / 479 / 519 / 539; n = 2048,
# seed 0: 378 for 474, 530 s for 621 s (the solve 746 s for 769 s: a round more, 19 for 18, whose
# searches took 184 s for 123 s); d = 3, n = 1024, seeds 2 / 3: 182 / 168 for 217 / 241. Two
# correctors: 395 / 402 steps at n = 512; eight: 395 / 402.
IPM_CORRECTORS = 4
CENTRAL_RANGE = (0.1, 10.0)
CORRECTOR_GAIN = 0.1
IPM_STEP = 0.99
IPM_SHIFT = 1e-14
# Pool directions with |g_p| >= 1 - IPM_TIGHT at the interior point's p are its tight ones: the
# rounds' and dense searches start there (the atoms' role). Starting the searches at the n
# directions of largest weight instead, a second search (200,000 other random starts) found true
# gaps of 8.2e-4 (d = 6, n = 128, relu teacher; certified 1.8e-5) and 7.5e-4 (d = 8, n = 64;
# 5.2e-5); from the tight ones, 9.3e-6 (4.7e-6) and 5.6e-5 (4.1e-5).
IPM_TIGHT = 1e-8
# The crossover prices the interior point's support first (pool directions whose weight |c_j| is
# above CROSSOVER_SUPPORT of the largest), then the whole pool, from a basis of the support's
# features (CROSSOVER_RCOND). Measured on the last restricted problems of 8 solves (d = 3..6,
# n = 128..1024, constant, relu and |t| teachers) and a d = 3, n = 2048 round's (pool 11,241):
# from the tight directions the simplex method's optimum on them was at times far above the
# pool's (|mu|_TV 12.1 for 5.31, d = 5, n = 1024, seed 0), and the whole pool then took 9613
# pivots (27.9 s; 9756 and 170 s at n = 2048); from the support, 409 (1.2 s; 975 and 9.5 s), and
# 48-975 pivots in all 9 cases, at most 1.3 s at n = 1024, the same |mu|_TV to 2e-11. The
# support within 1e-5 of the largest made 1354-2823 pivots at n = 1024 and 2048.
# From the 2n columns of largest weight, scaled by their weights, the first basis had condition
# number 1.9e11 (d = 5, n = 256, relu teacher) and 3.1e9 (d = 3, n = 2048), and the atoms missed
# the data by 0.18 and 2.3e-3: the support's columns are taken unscaled.
CROSSOVER_SUPPORT = 1e-4
# Simplex pivots between two recomputations of the basis inverse from scratch (rounding).
REFRESH = 400
# Pivots per restricted solve at most, in units of n (measured: ~10 n in the first, fewer after).
MAX_PIVOTS = 100
# lambda = 0: a pool direction whose |g_p| has been below (1 - TIGHT) times the bound for more than
# POOL_AGE rounds leaves the pool (not while an artificial column carries weight: at d = 2 the atoms
# then never interpolated). An interior-point step costs n^2 m for a pool of m (a pivot n m), and
# the pool grew by n a round (to ~12 n at d = 3, n = 1024) while the atoms stay few. Measured with
# the simplex method's rounds (one thread, seed 0): d = 3, n = 512: 29.0 s -> 23.1 s; d = 5, n =
# 512: 64.7 s -> 41.1 s, pivots and rounds unchanged. d = 3, n = 512, seeds 0-2: 91.7 s without,
# 63.2 / 67.9 / 75.7 s at POOL_AGE = 2 / 3 / 5; at 2 and 1 the rounds vary more (11-14; 17 at 1).
# With the interior point's rounds (d = 5, n = 1024, seed 0, two solves at once): 150 / 134 /
# 107 s at POOL_AGE = 1 / 2 / 3 (31 / 23 / 19 rounds).
POOL_AGE = 3
TIGHT = 1e-7
# Partial pricing: pool columns with |g_p| below NEAR (times the bound) are priced only when the
# others are optimal.
NEAR = 0.9
# Random starts of the final dense search (certify_starts = 0): max(CERTIFY_STARTS,
# CERTIFY_PER_POINT n) 2^(d - 3): the basins of the maxima shrink with d. Measured in d = 7,
# n = 256 (d = 10, n = 128): a maximum whose basin holds 1.5e-5 (3.5e-5) of the sphere, missed by
# 5120 (2560) starts, left a true gap of 3e-4 (1e-3) where 4e-5 (1e-4) was certified; 82,000
# (328,000) starts find it.
CERTIFY_STARTS, CERTIFY_PER_POINT = 4000, 20
# Of a dense search that confirms a round's bound: max(CONFIRM_STARTS, CONFIRM_PER_POINT n)
# random starts and CONFIRM_NEAR near each atom per angle, a quarter of the final one's at d = 3:
# the final search checks the certificate that the confirming ones pick. Measured (one thread,
# two solves at once) against confirming searches of the final one's size at d = 3: d = 5,
# n = 1024, seeds 0 / 1: 81.3 / 87.7 s against 104.1 / 112.7 s, 20 / 21 rounds against 20 / 22;
# d = 3, n = 1024: 39.3 s against 42.9 s. A sixteenth (d = 5, seed 0): 111.5 s, 24 rounds, the
# final search finding more twice.
CONFIRM_STARTS, CONFIRM_PER_POINT, CONFIRM_NEAR = 1000, 5, 1
# A round's dual bound is confirmed by the dense search when it is within CONFIRM_GAPS 2^(d - 3)
# gap_tol of the objective (and above the certified bound): rounds far from the end are not worth
# a search, but the violators it finds join the pool, and the higher d the more of them the
# rounds' own searches miss. Measured with the interior point's rounds (one thread, two or three
# solves at once): 2 for 20 takes d = 3, n = 1024 from 149 s (12 rounds) to 99 s (10), d = 5,
# n = 1024 from 133 s (19) to 125 s (22), but d = 7, n = 128, |t| teacher from 62 s (98 rounds)
# to 105 s (193), and a second search then finds a true gap of 2.7e-4 for 6.8e-5.
CONFIRM_GAPS = 2
# lambda = 0: the atoms must interpolate to this (relative to max |y|) to be certified.
INTERPOLATION_TOL = 1e-6
# Initial cost of the artificial columns (lambda = 0; they start the basis only where the first
# pool's features do not span R^n), x10 while one stays in the optimal basis
# with no violator found, or with the objective moved by less than STALL (relative) in a round:
# d = 2, |t| teacher, n = 1024 spent 8 rounds with the objective moving by 1e-8 before the search
# ran dry (50.8 s; 14.9 s with the stall rule).
BIG_M = 1e3
STALL = 1e-6
# lambda = 0: the first basis is n pool columns when the n-th diagonal entry of the pool
# features' pivoted QR is above CRASH_RCOND of the first, else the artificial columns. The
# crossover's: the support's directions the QR takes while their entries stay above
# CROSSOVER_RCOND of the first, completed from the whole pool. Measured on the tight directions
# (relu teacher, d = 4, n = 128, seed 2; d = 5, n = 256, seed 0): their QR went down to 1.6e-10
# and 6.7e-9; taking all of them (condition number 7.4e10) the simplex method's atoms missed the
# data by 1.3; with CROSSOVER_RCOND = 1e-8 (3.5e8, 6.8e8) 260 and 575 pivots gave the vertex
# (HiGHS's optimum on the same pool to 1e-10), at 1e-9 (7.0e9) the first 1.7e-8 above it.
CRASH_RCOND = 1e-12
CROSSOVER_RCOND = 1e-8
# HiGHS (the fallback of the simplex method, _highs_vertex): its primal feasibility tolerance.
# Its default, 1e-7, left the atoms 7.8e-8 off the data at d = 2, |t| teacher, n = 2048, where
# the optimum moves with y at a rate up to |p|_1 ~ 1e6: |mu|_TV came out 3.5e-5 below the
# certified optimum of the values y (at 1e-9: 6.5e-13 off the data).
HIGHS_FEASIBILITY = 1e-9
# Lasso (lambda > 0): steps of the active-set method at most (each adds, drops or trades one
# column); a column enters when its correlation exceeds n lambda by more than LASSO_TOL of it;
# a column whose squared distance from the span of the support's is below DEPENDENT of its squared
# norm is dependent on them.
LASSO_STEPS = 100_000
LASSO_TOL = 1e-9
DEPENDENT = 1e-10


@dataclass(frozen=True)
class SparseSpec:
    """Solver settings of a `kind: sparse` regime: the fields are the config's keys."""

    penalty: float = 0.0  # lambda >= 0 in P(mu); 0 = the interpolating (min-TV) limit
    gap_tol: float = 1e-4  # stop when the certified relative duality gap (P - D)/P is below this
    max_iter: int = 300  # exchange rounds (restricted solve + search) at most
    starts: int = 0  # random search starts per round; 0 = max(1000, 2n)
    certify_starts: int = 0  # starts of the final dense search; 0 = max(4000, 20n) 2^(d-3)
    add_columns: int = 0  # violating directions added to the pool per round at most; 0 = n
    prune: float = 0.5  # pool directions with |g_p| below prune * bound are dropped

    def __post_init__(self) -> None:
        def fail(name: str, why: str) -> None:
            raise ValueError(f"SparseSpec.{name} = {getattr(self, name)!r}: {why}")

        for name in ("max_iter", "starts", "certify_starts", "add_columns"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                fail(name, "must be an integer")
            if value < 0:
                fail(name, "must be >= 0")
        for name in ("penalty", "gap_tol", "prune"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                fail(name, "must be a number")
            if not math.isfinite(value):
                fail(name, "must be finite")
        if self.penalty < 0:
            fail("penalty", "must be >= 0")
        if not 0 < self.gap_tol < 1:
            fail("gap_tol", "must be in (0, 1)")
        if self.max_iter < 1:
            fail("max_iter", "must be >= 1")
        if not 0 <= self.prune < 1:
            fail("prune", "must be in [0, 1)")


def spec_from_config(regime: dict) -> SparseSpec:
    """SparseSpec from a config regime entry, ignoring its `kind` key; unknown keys are errors."""
    return specs.from_config(SparseSpec, regime)


def relu_features(theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """relu(x_i . theta_j) (n, m) for rows x (n, d) and atoms theta (m, d)."""
    return np.maximum(x @ theta.T, 0.0)


@dataclass
class SparseResult:
    """The measure mu = sum_j c_j delta_{theta_j} and its certificate."""

    theta: np.ndarray  # (m, d) unit atom directions
    c: np.ndarray  # (m,) signed atom weights
    penalty: float  # lambda
    objective: float  # P(mu) (lambda > 0) or |mu|_TV (lambda = 0)
    tv: float  # |mu|_TV = sum_j |c_j|
    dual_point: np.ndarray  # (n,) the dual point p of the certificate, before its scaling
    dual_bound: float  # D of the scaled feasible dual point: objective - dual_bound >= error
    duality_gap: float  # (objective - dual_bound) / objective, >= 0 up to rounding
    dual_violation: float  # max(0, sup|g_p| / bound - 1) found by the final dense search
    train_residual: float  # max_i |f(x_i) - y_i|
    iterations: int  # exchange rounds
    converged: bool  # duality_gap <= gap_tol
    seconds: float  # wall time of solve()
    pivots: int  # simplex pivots, lambda = 0: the rounds' (d = 2) or the crossover's; else 0
    # Per round: "objective" (restricted problem), "gap" (against the round's search), "pool"
    # (candidate directions), "seconds" (wall time so far).
    history: dict[str, np.ndarray]

    @property
    def n_atoms(self) -> int:
        return int(self.c.size)

    def predict(self, x: np.ndarray, block: int = 8192) -> np.ndarray:
        """f_mu at the rows of x (k, d), in blocks of rows so that (block, m) fits in memory."""
        x = np.asarray(x, dtype=np.float64)
        out = np.empty(len(x))
        for start in range(0, len(x), block):
            out[start : start + block] = (
                relu_features(self.theta, x[start : start + block]) @ self.c
            )
        return out


# --------------------------------------------------------------------------------------------
# Pricing: the directions where |g_p| is largest
# --------------------------------------------------------------------------------------------


def _random_directions(k: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """k directions (k, d) uniform on S^{d-1}."""
    g = rng.standard_normal((k, d))
    return g / np.linalg.norm(g, axis=1, keepdims=True)


def _search_block(n: int) -> int:
    """Search starts handled together for n data points: SEARCH_ELEMENTS / n, at least 1."""
    return max(1, SEARCH_ELEMENTS // n)


def _ascend(
    x: np.ndarray, p: np.ndarray, starts: np.ndarray, steps: int = ASCENT_STEPS
) -> tuple[np.ndarray, np.ndarray]:
    """Monotone ascent of |g_p| from starts (k, d): the directions reached (k, d) and g_p there
    (k,), signed. Each step moves a fraction alpha of the way to the maximiser +-P v/|P v| of the
    linear extension of the current cell on the current face (P: the projection onto the face,
    the identity at first; alpha = 1: the fixed point, exact on a cell), accepted if |g_p| does
    not decrease. |g_p| grows along the step while it stays in the cell, so a rejected step
    crossed a kink: alpha is cut to end just short of the first one it crossed (_short_of_kink),
    and a start comes to a kink in a few steps. When alpha falls below ASCENT_TOL the start sits
    on a kink theta . x_j = 0 that |g_p| decreases across: it holds that kink (P projects x_j
    out) and goes on along it, up to d - 1 kinks (a vertex of the arrangement). The maxima of
    |g_p| mostly sit on kinks: stopping at the first kink reached left most starts below them
    (d = 6, n = 256: 0 of 40,000 random starts above the certified bound, against 15 with the
    kinks held, up to a violation 10x the certified one). Quartering alpha at each rejection
    instead came to a kink by halving the distance every two steps, and most starts ran out of
    steps before the vertex: on the certified dual point of a solve (|t| teacher, d = 7,
    n = 128), four dense searches of 40,000 starts found sup |g_p| - 1 of 6.3e-5 to 3.8e-4 (63-71
    violating cells); with the cut, 5.3e-4 in each (612-631 cells), 5 kinks held there."""
    d = x.shape[1]
    # v = sum_i [theta . x_i > 0] p_i x_i, the mask times p x: the mask times p, then x, made one
    # (block, n) product more (a dense search at d = 5, n = 2048: 8.8-9.7 s for 7.4-7.9 s).
    px = p[:, None] * x
    theta_all, g_all = starts.copy(), np.zeros(len(starts))
    block = _search_block(len(x))
    for lo in range(0, len(starts), block):
        theta = starts[lo : lo + block].copy()
        k = len(theta)
        face = np.broadcast_to(np.eye(d), (k, d, d)).copy()  # (k, d, d) projection P
        held = np.zeros(k, dtype=np.int64)  # kinks held by each start
        released = np.zeros(k, dtype=np.int64)  # faces left by each start
        v = ((theta @ x.T) > 0) @ px  # (k, d): v of each start's cell
        g = np.einsum("kd,kd->k", theta, v)  # (k,) g_p(theta)
        alpha = np.ones(k)
        live = np.arange(k)  # the starts still moving
        for _ in range(steps):
            th, vl, gl, al = theta[live], v[live], g[live], alpha[live]
            up_v = np.einsum("kij,kj->ki", face[live], np.where(gl < 0, -1.0, 1.0)[:, None] * vl)
            target = up_v / np.maximum(np.linalg.norm(up_v, axis=1, keepdims=True), 1e-300)
            trial = th + al[:, None] * (target - th)
            trial /= np.maximum(np.linalg.norm(trial, axis=1, keepdims=True), 1e-300)
            trial_dots = trial @ x.T
            trial_side = trial_dots > 0
            v_trial = trial_side @ px
            g_trial = np.einsum("kd,kd->k", trial, v_trial)
            up = np.abs(g_trial) >= np.abs(gl)
            at_max = np.abs(target - th).max(axis=1) <= ASCENT_TOL  # whatever alpha
            accept = live[up]
            theta[accept], v[accept], g[accept] = trial[up], v_trial[up], g_trial[up]
            next_alpha = np.minimum(1.0, 2 * al)
            down = np.flatnonzero(~up)
            if down.size:
                next_alpha[down] = _short_of_kink(
                    th[down], target[down], al[down], trial_dots[down], trial_side[down], x
                )
            alpha[live] = next_alpha
            # Settled: at the maximum of the cell on the face, or at a kink with d - 1 kinks held
            # already. (A small accepted step near a kink is not a maximum: alpha grows again.)
            stuck = ~up & (alpha[live] < ASCENT_TOL)
            done = at_max | (stuck & (held[live] >= d - 1))
            # A start settled on a face leaves it (at most RELEASES times): the maximum of |g_p|
            # on a kink need not be a maximum off it.
            release = np.flatnonzero(done & (held[live] > 0) & (released[live] < RELEASES))
            if release.size:
                rows = live[release]
                face[rows] = np.eye(d)
                held[rows], alpha[rows], released[rows] = 0, 1.0, released[rows] + 1
                done[release] = False
            hold = np.flatnonzero(stuck & ~done)
            if hold.size:
                # The kink the rejected step crossed nearest to theta joins the face. It can be one
                # held already, its dot with theta rounded to the other side: the start then
                # settles short of its vertex. Of 20,000 random starts on a certified dual point,
                # 40% (d = 6, n = 128, relu teacher) and 50% (d = 7, |t| teacher) end where a step
                # of 1e-6 rad increases |g_p|, none of the top 1%. Leaving the held kinks out, and
                # a settled start's kinks only on their uphill sides, brought that to 11% and 24%
                # (2% and 3% in 320 steps) but doubled the dense searches' time (d = 6, n = 256:
                # 28.6 s for 17.1 s) and moved no certificate: on four solves (d = 5..8), each with
                # and without that change, a second search of 100,000 starts found the certified
                # sup |g_p| in all eight.
                dots = th[hold] @ x.T
                crossed = (dots > 0) != trial_side[hold]
                j = np.argmin(np.where(crossed, np.abs(dots), np.inf), axis=1)
                rows = live[hold]
                normal = np.einsum("kij,kj->ki", face[rows], x[j])
                size = np.linalg.norm(normal, axis=1)
                fresh = crossed[np.arange(hold.size), j] & (size > 1e-12)
                done[hold[~fresh]] = True  # no new kink to hold: settled
                rows, normal = rows[fresh], normal[fresh] / size[fresh, None]
                face[rows] -= normal[:, :, None] * normal[:, None, :]
                on_face = np.einsum("kij,kj->ki", face[rows], theta[rows])
                theta[rows] = on_face / np.linalg.norm(on_face, axis=1, keepdims=True)
                v[rows] = ((theta[rows] @ x.T) > 0) @ px
                g[rows] = np.einsum("kd,kd->k", theta[rows], v[rows])
                alpha[rows], held[rows] = 1.0, held[rows] + 1
            live = live[~done]
            if not live.size:
                break
        theta_all[lo : lo + k], g_all[lo : lo + k] = theta, g
    return theta_all, g_all


def _short_of_kink(
    theta: np.ndarray,
    target: np.ndarray,
    alpha: np.ndarray,
    trial_dots: np.ndarray,
    trial_side: np.ndarray,
    x: np.ndarray,
) -> np.ndarray:
    """For steps (k,) from theta (k, d) a fraction alpha of the way to target (k, d), whose
    normalised end has dots trial_dots (k, n) with the data (side: trial_side): the fraction
    (k,) that ends KINK_MARGIN short of the first kink the step crossed; alpha / 4 where it
    crossed none (kinks within HELD of both ends, those held, aside)."""
    start = theta @ x.T
    rows, cols = np.nonzero((start > 0) != trial_side)
    # The step's chord theta + t (target - theta), t <= alpha, meets kink j at t = alpha a / (a - b)
    # (a, b: x_j . theta and x_j . the chord's end, the normalised end's dot times its norm).
    chord = np.linalg.norm(theta + alpha[:, None] * (target - theta), axis=1)
    a, b = start[rows, cols], trial_dots[rows, cols] * chord[rows]
    crossed = np.maximum(np.abs(a), np.abs(b)) > HELD
    rows, a, b = rows[crossed], a[crossed], b[crossed]
    first = np.full(len(theta), np.inf)
    np.minimum.at(first, rows, a / (a - b))
    return np.where(np.isfinite(first), alpha * first * (1 - KINK_MARGIN), alpha / 4)


def _breakpoints(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """d = 2: the directions with theta . x_i = 0, as angles (2n,) sorted in [0, 2 pi) and as
    unit vectors (2n, 2)."""
    phi = np.arctan2(x[:, 1], x[:, 0])
    cuts = np.sort(np.mod(np.concatenate([phi + np.pi / 2, phi - np.pi / 2]), 2 * np.pi))
    return cuts, np.stack([np.cos(cuts), np.sin(cuts)], axis=1)


def _arcs(x: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """d = 2: the local maxima of |g_p| on the circle, exactly: candidate directions (k, 2) and
    g_p there (k,). g_p is linear on each arc between the 2n breakpoints theta . x_i = 0."""
    cuts, ends = _breakpoints(x)
    width = np.diff(np.append(cuts, cuts[0] + 2 * np.pi))  # (2n,) arc lengths
    mid_phi = cuts + width / 2
    mid = np.stack([np.cos(mid_phi), np.sin(mid_phi)], axis=1)
    v = ((mid @ x.T) > 0) * p @ x  # (2n, 2): g = theta . v on each arc
    # The maximiser of +-theta . v over the arc is +-v/|v| where that lies inside the arc.
    inner = []
    for sign in (1.0, -1.0):
        u = sign * v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-300)
        offset = np.mod(np.arctan2(u[:, 1], u[:, 0]) - cuts, 2 * np.pi)
        inner.append(u[offset < width])
    candidates = np.concatenate([ends, *inner])
    return candidates, relu_features(candidates, x).T @ p


def _search(
    x: np.ndarray, p: np.ndarray, starts: np.ndarray, steps: int = ASCENT_STEPS
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate maximisers of |g_p| (k, d) with g_p there (k,): exact in d = 2."""
    return _arcs(x, p) if x.shape[1] == 2 else _ascend(x, p, starts, steps)


def _distinct(
    theta: np.ndarray, g: np.ndarray, x: np.ndarray, keep: int
) -> tuple[np.ndarray, np.ndarray]:
    """The `keep` largest |g| among theta, one per sign of g and sign pattern on x."""
    order = np.argsort(-np.abs(g), kind="stable")
    theta, g = theta[order], g[order]
    keys = np.packbits(np.concatenate([(theta @ x.T) > 0, (g > 0)[:, None]], axis=1), axis=1)
    _, first = np.unique(keys, axis=0, return_index=True)
    first = np.sort(first)[:keep]
    return theta[first], g[first]


def _near(atoms: np.ndarray, per_angle: int, rng: np.random.Generator) -> np.ndarray:
    """per_angle directions at each angle of NEAR_ANGLES from each row of atoms (k, d), towards
    random tangent directions: (per_angle * len(NEAR_ANGLES) * k, d)."""
    out = []
    for angle in NEAR_ANGLES:
        for _ in range(per_angle):
            z = rng.standard_normal(atoms.shape)
            z -= np.einsum("kd,kd->k", z, atoms)[:, None] * atoms
            z /= np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-300)
            out.append(math.cos(angle) * atoms + math.sin(angle) * z)
    return np.concatenate(out)


def _dense_search(
    x: np.ndarray,
    p: np.ndarray,
    rng: np.random.Generator,
    starts: int,
    extra: np.ndarray,
    near: int = CERTIFY_NEAR,
) -> tuple[float, np.ndarray, np.ndarray]:
    """sup |g_p| as found (exact in d = 2) by the search from `starts` random directions, the
    rows of `extra` (k, d) (the atoms) and `near` directions near each at each of NEAR_ANGLES,
    and the data; and by g_p at `starts` further random directions; with the search's
    candidates (k, d) and g_p there (k,)."""
    d = x.shape[1]
    close = _near(extra, near, rng) if d > 2 else np.zeros((0, d))  # d = 2: exact
    begin_at = np.concatenate([_random_directions(starts, d, rng), extra, close, x])
    cand, g = _search(x, p, begin_at)
    best = float(np.abs(g).max())
    sample = _random_directions(starts, d, rng)
    block = _search_block(len(x))
    for lo in range(0, starts, block):
        best = max(best, float(np.abs(relu_features(sample[lo : lo + block], x).T @ p).max()))
    return best, cand, g


def dual_sup(
    x: np.ndarray, p: np.ndarray, rng: np.random.Generator, starts: int, extra: np.ndarray
) -> float:
    """sup_theta |g_p(theta)| as found by the dense search (_dense_search), exact in d = 2."""
    return _dense_search(x, p, rng, starts, extra)[0]


def merge_atoms(
    theta: np.ndarray, c: np.ndarray, x: np.ndarray, tol: float = 1e-9
) -> tuple[np.ndarray, np.ndarray]:
    """Atoms of one sign in one closed cell merged into one, at u/|u| with weight |u|, u =
    sum_j |c_j| theta_j (the cell of theta is its pattern {i: theta.x_i > tol}).

    relu is linear on a closed cell, so f at the training points moves by at most tol |c| (atoms
    within tol of a circle) and |mu|_TV does not increase. Zero weights are dropped.
    """
    nonzero = c != 0
    theta, c = theta[nonzero], c[nonzero]
    keys = np.packbits(np.concatenate([(theta @ x.T) > tol, (c > 0)[:, None]], axis=1), axis=1)
    _, first, group = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    u = np.zeros((first.size, theta.shape[1]))
    np.add.at(u, group.reshape(-1), np.abs(c)[:, None] * theta)
    sign = np.sign(c[first])  # (groups,)
    norm = np.linalg.norm(u, axis=1)
    order = np.argsort(first)  # first-occurrence order: deterministic
    return (u / norm[:, None])[order], (sign * norm)[order]


# --------------------------------------------------------------------------------------------
# Restricted problems
# --------------------------------------------------------------------------------------------


class _Simplex:
    """min sum_k cost_k w_k s.t. B w = y, w >= 0, over a basis of n signed columns: atoms
    sigma relu(X theta) (cost 1) or artificial columns sigma e_i (cost big_m). Keeps B^-1 (n, n),
    the weights w and the simplex multipliers p = B^-T cost."""

    def __init__(
        self, x: np.ndarray, y: np.ndarray, *pools: np.ndarray, rcond: float = CRASH_RCOND
    ) -> None:
        n, d = x.shape
        self.x, self.y, self.big_m = x, y, BIG_M
        self.theta = np.zeros((n, d))  # (n, d) atom directions (rows of artificials unused)
        self.sigma = np.where(y < 0, -1.0, 1.0)  # (n,) column signs
        self.artificial = np.ones(n, dtype=bool)  # artificial column k is sigma_k e_k
        self.pivots, self.since_refresh = 0, 0
        self._crash(pools, rcond)
        self.refresh()

    def _crash(self, pools: tuple[np.ndarray, ...], rcond: float) -> bool:
        """The first basis: n columns of the pools, when their features span R^n, each signed so
        that its weight in B w = y is positive (columns of either sign are allowed, so any
        nonsingular basis is feasible); else the artificial columns. The columns are those QR with
        column pivoting takes first (Businger & Golub 1965, "Linear least squares solutions by
        Householder transformations", Numer. Math. 7) while its diagonal entries stay above rcond
        of the first: well conditioned among the pool's. Each pool after the first adds the columns
        of its features projected off the span of those taken (twice: Giraud, Langou & Rozloznik
        2005, "The loss of orthogonality in the Gram-Schmidt orthogonalization process", Comput.
        Math. Appl. 50). From the artificial columns the first restricted solve needed ~14 n
        pivots (d = 3, n = 1024) and at d = 2 their cost drove |p|_1 to 1e7, near cycling (the
        stall rule, BIG_M). Whether a basis of pool columns was found."""
        n = len(self.y)
        span, taken, first = np.zeros((n, 0)), [], None  # span: orthonormal, of the taken columns
        for pool in pools:
            if not len(pool):
                continue
            phi = relu_features(pool, self.x)
            for _ in range(2):
                phi -= span @ (span.T @ phi)
            q, r, order = scipy.linalg.qr(phi, mode="economic", pivoting=True)
            size = np.abs(np.diag(r))
            first = size[0] if first is None else first
            k = min(int(np.count_nonzero(size > rcond * first)), n - span.shape[1])
            taken.append(pool[order[:k]])
            span = np.hstack([span, q[:, :k]])
            if span.shape[1] == n:
                break
        if span.shape[1] < n:
            return False
        theta = np.concatenate(taken)
        w = np.linalg.solve(relu_features(theta, self.x), self.y)
        self.theta = theta
        self.sigma = np.where(w < 0, -1.0, 1.0)
        self.artificial[:] = False
        return True

    def columns(self) -> np.ndarray:
        """B (n, n)."""
        b = relu_features(self.theta, self.x) * self.sigma
        art = np.flatnonzero(self.artificial)
        b[:, art] = 0.0
        b[art, art] = self.sigma[art]
        return b

    def cost(self) -> np.ndarray:
        return np.where(self.artificial, self.big_m, 1.0)

    def refresh(self) -> None:
        """B^-1, w and p afresh from the basis (rounding), with the columns' signs repaired."""
        self.inv = np.linalg.inv(self.columns())
        w = self.inv @ self.y
        self.inv[self._flip_negative(w)] *= -1.0
        self.w = np.maximum(w, 0.0)
        self.p = self.inv.T @ self.cost()
        self.since_refresh = 0

    def _negative(self, w: np.ndarray) -> np.ndarray:
        """The weights in w = B^-1 y below -INTERPOLATION_TOL max|y| / n: those that clipping at
        0 would not leave within the interpolation tolerance (features are at most 1, so the
        weights clipped above it move f at the data by at most INTERPOLATION_TOL max|y| in all).
        The pivots clip the weights' rounding at 0, and over thousands of pivots on an
        ill-conditioned basis the clipped w drifted from B^-1 y: at d = 3, n = 4096 three weights
        reached -2.7e-3 within 400 pivots, and the atoms missed the data by 1.4e-3."""
        return w < -INTERPOLATION_TOL * float(np.abs(self.y).max()) / len(self.y)

    def _flip_negative(self, w: np.ndarray) -> np.ndarray:
        """The columns _negative finds in w = B^-1 y change sign (in sigma and w; mask returned):
        B w = y then holds with w >= 0, where clipping w at 0 broke it."""
        flip = self._negative(w)
        self.sigma[flip] *= -1.0
        w[flip] *= -1.0
        return flip

    def solve_weights(self) -> None:
        """w solved afresh from the basis (LU), as the final weights: the pivots' updates drift
        with B's condition number, up to 1e9 (d = 2, relu teacher, n = 1024: the atoms missed the
        data by 2.6e-9, and by 2.4e-6 from the artificial columns, above the interpolation
        tolerance; solved, by 3e-10)."""
        w = np.linalg.solve(self.columns(), self.y)
        self._flip_negative(w)
        self.w = np.maximum(w, 0.0)

    def optimise(self, pool: np.ndarray, phi: np.ndarray) -> None:
        """Pivots until no column of the pool (directions (m, d), features phi (n, m)) prices
        out, pricing the columns with |g_p| > NEAR only until those are optimal (partial
        pricing: the others rarely enter and cost the most); or MAX_PIVOTS n pivots have been
        made (a guard against cycling: the round's bounds hold at any basis). An optimal basis
        whose weights B^-1 y have drifted negative (_negative) is refreshed, its signs repaired,
        and priced again. (Not every optimal basis: the multipliers recomputed from scratch price
        out columns by rounding, and at d = 2, |t|^2 teacher, n = 1024 the pivots then cycled up
        to the MAX_PIVOTS guard, 102,400 pivots and 253 s for 2778 and 8.4 s.)"""
        stop = self.pivots + MAX_PIVOTS * len(self.y)
        while self.pivots < stop:
            g = phi.T @ self.p  # (m,)
            if np.abs(g).max() <= 1 + self.tol():
                if not self._negative(self.inv @ self.y).any():
                    return
                self.refresh()
                continue
            near = np.flatnonzero(np.abs(g) > NEAR)
            self._pivot(pool[near], phi[:, near], g[near], stop)

    def _pivot(self, pool: np.ndarray, phi: np.ndarray, g: np.ndarray, stop: int) -> None:
        """Pivots until no column of (pool, phi) with prices g prices out. The entering column
        maximises (|g_j| - 1)^2 / gamma_j, gamma the Devex reference weights (Forrest & Goldfarb
        1992, "Steepest-edge simplex algorithms for linear programming", Math. Programming 57):
        half the pivots of Dantzig's rule here."""
        gamma = np.ones(len(g))  # (m,)
        while self.pivots < stop:
            excess = np.abs(g) - 1
            tol = self.tol()
            if excess.max() <= tol:
                return
            q = int(np.argmax(np.where(excess > tol, excess * excess / gamma, -1.0)))
            sigma = 1.0 if g[q] > 0 else -1.0
            delta = self.inv @ (sigma * phi[:, q])  # (n,)
            eligible = delta > PIVOT_MIN * np.abs(delta).max()
            if not eligible.any():
                # The restricted problem is bounded (|mu|_TV >= 0): no row can leave only
                # where rounding hides it, on a basis too ill-conditioned to pivot on.
                raise np.linalg.LinAlgError(
                    "sparse: no basis row can leave for the entering column (an ill-conditioned "
                    "basis)"
                )
            ratio = np.where(eligible, (self.w + HARRIS) / np.where(eligible, delta, 1.0), np.inf)
            ties = eligible & (self.w / np.where(eligible, delta, 1.0) <= ratio.min())
            r = int(np.argmax(np.where(ties, delta, -np.inf)))
            step = max(self.w[r] / delta[r], 0.0)
            self.w = np.maximum(self.w - step * delta, 0.0)
            self.w[r] = step
            reduced = 1.0 - sigma * g[q]  # < 0
            pivot_row = self.inv[r] / delta[r]
            alpha = pivot_row @ phi  # (m,) the pivot row on the pool, over delta_r
            gamma = np.maximum(gamma, alpha * alpha * gamma[q])
            self.p += reduced * pivot_row
            g += reduced * alpha
            # inv -= delta pivot_row^T in place (BLAS ger on the transpose, Fortran-ordered).
            dger(-1.0, pivot_row, delta, a=self.inv.T, overwrite_a=True)
            self.inv[r] = pivot_row
            self.theta[r], self.sigma[r], self.artificial[r] = pool[q], sigma, False
            self.pivots += 1
            self.since_refresh += 1
            if self.since_refresh >= REFRESH:
                self.refresh()
                g = phi.T @ self.p
                gamma[:] = 1.0

    def tol(self) -> float:
        """The pricing tolerance at the current multipliers."""
        return _price_tol(self.p)

    def measure(self) -> tuple[np.ndarray, np.ndarray]:
        on = ~self.artificial & (self.w > 0)
        return self.theta[on], (self.sigma * self.w)[on]

    def infeasible(self) -> bool:
        """Whether an artificial column carries weight beyond INTERPOLATION_TOL (the atoms do not
        interpolate yet; a rounding weight stays where the features do not span R^n)."""
        return bool((self.w[self.artificial] > INTERPOLATION_TOL * np.abs(self.y).max()).any())


def _boundary_step(v: np.ndarray, dv: np.ndarray) -> float:
    """The largest step t <= 1 with v + t dv >= 0, for v > 0."""
    down = dv < 0
    return min(1.0, float((-v[down] / dv[down]).min())) if down.any() else 1.0


def _shifted_cholesky(normal: np.ndarray) -> tuple[np.ndarray, bool] | None:
    """The Cholesky factor (scipy.linalg.cho_factor) of normal + shift I, shift = IPM_SHIFT max
    diag(normal), x100 until it exists (None past max diag(normal)). Late on an interior point's
    ratios z/s span 1e-20..1e20 and the rounding of its normal matrix can leave it indefinite
    (d = 3, n = 1024); a shifted step is still a descent direction."""
    diagonal = np.diag_indices(len(normal))
    top = float(normal[diagonal].max())
    shift, added = IPM_SHIFT * top, 0.0
    while shift <= top:
        normal[diagonal] += shift - added
        added = shift
        try:
            return scipy.linalg.cho_factor(normal, lower=True, check_finite=False)
        except (np.linalg.LinAlgError, ValueError):
            shift *= 100
    return None


def _interior_point(
    phi: np.ndarray, y: np.ndarray, big_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """lambda = 0, the restricted problem on a pool with features phi (n, m):

        min sum_j |c_j| + big_m sum_i |a_i|  s.t.  phi c + a = y,

    a the artificial columns (zero once the pool's atoms interpolate y; they keep the problem
    feasible and the normal matrix nonsingular), by Mehrotra's predictor-corrector method
    (Mehrotra 1992, "On the implementation of a primal-dual interior point method", SIAM J.
    Optim. 2; Nocedal & Wright 2006, "Numerical Optimization", Algorithm 14.3), with Gondzio's
    centrality correctors (IPM_CORRECTORS), on the standard form c = u - v, a = a+ - a-, all
    >= 0. A step costs one normal matrix phi diag(d_u + d_v) phi^T + diag(d_a+ + d_a-) (n^2 m,
    one BLAS syrk) and its Cholesky factor.
    Returns c (m,), a (n,) and the dual point p (n,) (|phi^T p| <= 1, |p| <= big_m up to
    IPM_TOL), whose y.p is the optimum up to the complementarity z.s <= IPM_TOL y.p. A z = y
    holds at the start and each step keeps it up to the rounding of the normal equations
    (1e-7..1e-6 of max |y| late on, larger than IPM_TOL: not a stopping rule): the weights are
    the crossover's start, the dual point is what the round uses."""
    n, m = phi.shape
    cost = np.concatenate([np.ones(2 * m), np.full(2 * n, big_m)])

    def primal(z: np.ndarray) -> np.ndarray:  # A z
        return phi @ (z[:m] - z[m : 2 * m]) + z[2 * m : 2 * m + n] - z[2 * m + n :]

    def adjoint(p: np.ndarray, g: np.ndarray) -> np.ndarray:  # A^T p, given g = phi^T p
        return np.concatenate([g, -g, p, -p])

    def newton(z, s, ratio, factor, r_primal, r_dual, r_comp) -> tuple[np.ndarray, ...]:
        # S dz + Z ds = r_comp, A dz = -r_primal, A^T dp + ds = -r_dual (ratio = z / s, factor:
        # the normal matrix's), with phi^T dp and the step lengths to the boundary.
        rhs = -r_primal - primal(ratio * r_dual + r_comp / s)
        dp = scipy.linalg.cho_solve(factor, rhs, check_finite=False)
        g_dp = phi.T @ dp
        ds = -r_dual - adjoint(dp, g_dp)
        dz = r_comp / s - ratio * ds
        return dz, ds, dp, g_dp, _boundary_step(z, dz), _boundary_step(s, ds)

    # Mehrotra's starting point: the least-norm solution of A z = y (A A^T = 2 phi phi^T + 2 I)
    # and p = 0, shifted inside the orthant.
    gram = 2.0 * (phi @ phi.T)
    gram[np.diag_indices(n)] += 2.0
    q = scipy.linalg.solve(gram, y, assume_a="pos")
    z = adjoint(q, phi.T @ q)
    p, s = np.zeros(n), cost.copy()
    z += max(-1.5 * float(z.min()), 0.0)
    zs = float(z @ s)
    z, s = z + 0.5 * zs / float(s.sum()), s + 0.5 * zs / float(z.sum())
    # The (n, m) products are memory-bound beside the syrk: phi is scaled into one buffer, and
    # phi^T p follows p's steps (one product a step fewer). At d = 3, n = 2048, m = 11,241: 20.7 s
    # a round for 25.6 s, the same objective to 2e-13.
    scaled = np.empty_like(phi)
    g = np.zeros(m)  # phi^T p
    for _ in range(IPM_STEPS):
        r_primal = primal(z) - y
        r_dual = adjoint(p, g) + s - cost
        if float(z @ s) <= IPM_TOL * abs(float(y @ p)) and np.abs(r_dual).max() <= IPM_TOL:
            break
        ratio = z / s
        np.multiply(phi, np.sqrt(ratio[:m] + ratio[m : 2 * m]), out=scaled)
        # syrk on the transposed view, Fortran-ordered: scaled is not copied (at d = 3, n = 2048,
        # m = 11,241: 0.50 s a step for 0.62 s, the same matrix).
        normal = dsyrk(1.0, scaled.T, lower=1, trans=1)
        diagonal = np.diag_indices(n)
        normal[diagonal] += ratio[2 * m : 2 * m + n] + ratio[2 * m + n :]
        factor = _shifted_cholesky(normal)
        if factor is None:
            break  # (not seen) the normal matrix is not finite: the point reached so far

        direction = functools.partial(newton, z, s, ratio, factor, r_primal, r_dual)
        # The predictor (affine) direction, then Mehrotra's corrector towards sigma mu.
        zs = z * s
        mu = float(z @ s) / len(z)
        dz, ds, dp, g_dp, step_z, step_s = direction(-zs)
        mu_affine = float((z + step_z * dz) @ (s + step_s * ds)) / len(z)
        target = (mu_affine / mu) ** 3 * mu
        r_comp = -zs + target - dz * ds
        dz, ds, dp, g_dp, step_z, step_s = direction(r_comp)
        # Gondzio's centrality correctors: at the trial step (twice the step, at most 1), the
        # products z_j s_j outside CENTRAL_RANGE times the target are moved to it, while that
        # lengthens the step by CORRECTOR_GAIN of what the trial step asked for.
        low, high = CENTRAL_RANGE[0] * target, CENTRAL_RANGE[1] * target
        for _ in range(IPM_CORRECTORS):
            trial_z, trial_s = min(1.0, 2 * step_z), min(1.0, 2 * step_s)
            products = (z + trial_z * dz) * (s + trial_s * ds)
            push = np.maximum(np.clip(products, low, high) - products, -high)
            corrected = direction(r_comp + push)
            reached, wanted = min(step_z, step_s), min(trial_z, trial_s)
            if min(corrected[4:]) < reached + CORRECTOR_GAIN * (wanted - reached):
                break
            r_comp = r_comp + push
            dz, ds, dp, g_dp, step_z, step_s = corrected
        z = z + IPM_STEP * step_z * dz
        p, s = p + IPM_STEP * step_s * dp, s + IPM_STEP * step_s * ds
        g += IPM_STEP * step_s * g_dp
    return z[:m] - z[m : 2 * m], z[2 * m : 2 * m + n] - z[2 * m + n :], p


def _highs_vertex(
    pool: np.ndarray, phi: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """lambda = 0, the restricted problem min |c|_1 s.t. phi c = y on a pool of directions (m, d)
    with features phi (n, m), by HiGHS's dual simplex method (Huangfu & Hall 2018,
    "Parallelizing the dual revised simplex method", Math. Prog. Comput. 10), whose LU factors
    are kept stable by threshold pivoting: a vertex, as its atoms theta (k, d) and weights c (k,),
    and its multipliers p (n,). The fallback where _Simplex's explicit inverse fails on an
    ill-conditioned basis: at d = 2, |t| teacher, n = 2048 (data points 1e-6 apart) the simplex
    method failed after 2052 pivots (29 s), HiGHS took 186 s, and the solve certified a gap of
    2.4e-6 in its first round. Raises LinAlgError when HiGHS reports no optimum (no interpolant
    on the pool)."""
    import scipy.optimize  # here only: a fallback, and 0.2 s of every run's start
    import scipy.sparse

    m = phi.shape[1]
    result = scipy.optimize.linprog(
        np.ones(2 * m),
        A_eq=scipy.sparse.csc_array(np.hstack([phi, -phi])),
        b_eq=y,
        bounds=(0, None),
        method="highs-ds",
        options={"primal_feasibility_tolerance": HIGHS_FEASIBILITY},
    )
    if result.status != 0:
        raise np.linalg.LinAlgError(f"sparse: HiGHS found no vertex ({result.message})")
    c = result.x[:m] - result.x[m:]
    on = c != 0
    return pool[on], c[on], np.asarray(result.eqlin.marginals, dtype=np.float64)


def _price_tol(p: np.ndarray) -> float:
    """The relative violation of |g_p| <= bound that counts at the dual point p: PIVOT_TOL, or
    the rounding of g_p (PRICE_ROUNDING |p|_1) where that is larger."""
    return max(PIVOT_TOL, PRICE_ROUNDING * float(np.abs(p).sum()))


def _stationary(a: np.ndarray, y: np.ndarray, rhs: np.ndarray) -> tuple[np.ndarray | None, int]:
    """z with a^T (y - a z) = rhs for columns a (n, s), and -1; or (None, k) when column k of a
    lies (within DEPENDENT) in the span of the columns before it."""
    if not a.shape[1]:
        return np.zeros(0), -1
    gram = a.T @ a
    try:
        low = np.linalg.cholesky(gram)
    except np.linalg.LinAlgError:
        return None, a.shape[1] - 1
    # low_kk^2: the squared distance of column k from the span of the columns before it.
    ratio = np.diag(low) ** 2 / np.maximum(np.diag(gram), 1e-300)
    k = int(np.argmin(ratio))
    if ratio[k] <= DEPENDENT:
        return None, k
    return scipy.linalg.cho_solve((low, True), a.T @ y - rhs), -1


def _lasso(
    phi: np.ndarray, y: np.ndarray, penalty: float, c0: np.ndarray
) -> tuple[np.ndarray, float]:
    """argmin (1/2n)|y - phi c|^2 + penalty |c|_1 over c (m,) from c0, and the objective.

    An active-set method (Lawson & Hanson 1974, "Solving least squares problems", ch. 23, on the
    signed columns; the feature-sign search of Lee, Battle, Raina & Ng 2007, "Efficient sparse
    coding algorithms", NIPS): on a support S with signs s, the stationary point solves
    phi_S^T (y - phi_S c_S) = n penalty s; while a sign disagrees, c steps towards it up to the
    first zero crossing, whose column leaves. Then the column whose correlation |phi_j^T r| most
    exceeds n penalty enters, until none does (within LASSO_TOL): exact on the pool. A column
    entering in the span of the support's (directions in one cell have features in a
    d-dimensional space) trades weight with them at a fixed fit while that lowers |c|_1.
    Coordinate descent (scikit-learn's Lasso) stalled here, its columns nearly collinear: d = 3,
    n = 256, penalty 1e-3, 138 columns carried weight where 31 do, 13 rounds instead of 6."""
    n = len(y)
    level = n * penalty
    c = c0.copy()
    skip = np.zeros(len(c), dtype=bool)  # entering columns that could not enter
    enter, enter_sign = -1, 0.0
    for _ in range(LASSO_STEPS):
        support = np.flatnonzero(c)
        signs = np.sign(c[support])
        if enter >= 0:
            support, signs = np.append(support, enter), np.append(signs, enter_sign)
        z, dependent = _stationary(phi[:, support], y, level * signs)
        if z is None and enter >= 0 and dependent == support.size - 1:
            # phi_enter = phi_rest a: c_enter = sigma t, c_rest -= sigma t a keeps the fit and
            # changes |c|_1 at the rate 1 - sigma s.a (< 0 when the column prices out).
            rest = support[:-1]
            move = enter_sign * np.linalg.lstsq(phi[:, rest], phi[:, enter], rcond=None)[0]
            shrink = move * signs[:-1] > 0
            if 1.0 - float(signs[:-1] @ move) < 0 and shrink.any():
                t = np.where(shrink, np.abs(c[rest]) / np.where(shrink, np.abs(move), 1.0), np.inf)
                k = int(np.argmin(t))
                c[rest] -= t[k] * move
                c[rest[k]] = 0.0
                c[enter] = enter_sign * t[k]
                enter = -1
                continue
        if z is None or (enter >= 0 and z[-1] * enter_sign <= 0):
            if enter >= 0:  # the entering column would not move (rounding): not this call
                skip[enter], enter = True, -1
            else:  # a warm start's support not independent: its column leaves
                c[support[dependent]] = 0.0
            continue
        enter = -1
        wrong = z * signs <= 0
        if wrong.any():
            now = c[support]
            t = np.where(wrong, now / np.where(wrong, now - z, 1.0), np.inf)
            k = int(np.argmin(t))
            c[support] = now + t[k] * (z - now)
            c[support[k]] = 0.0
            continue
        c[support] = z
        corr = phi.T @ (y - phi @ c)
        excess = np.where((c != 0) | skip, -np.inf, np.abs(corr) - level)
        j = int(np.argmax(excess))
        if excess[j] <= LASSO_TOL * level:
            break
        enter, enter_sign = j, float(np.sign(corr[j]))
    r = y - phi @ c
    return c, 0.5 / n * float(r @ r) + penalty * float(np.abs(c).sum())


# --------------------------------------------------------------------------------------------
# The solver
# --------------------------------------------------------------------------------------------


def _dual_bound(p: np.ndarray, y: np.ndarray, penalty: float, sup: float) -> float:
    """D at the best feasible multiple s p of the dual point p, given sup |g_p| = sup."""
    if penalty == 0:
        return float(p @ y) / sup if sup > 0 else 0.0
    top = penalty / sup if sup > 0 else math.inf
    pp = float(p @ p)
    s = min(max(float(p @ y) / (len(y) * pp), 0.0), top) if pp > 0 else 0.0
    return s * float(p @ y) - 0.5 * len(y) * s * s * pp


def solve(
    x: np.ndarray,
    y: np.ndarray,
    spec: SparseSpec,
    seed: int,
    log: Callable[[str], None] | None = None,
) -> SparseResult:
    """The minimiser of P(mu) (module docstring) for inputs x (n, d) on the unit sphere and
    targets y (n,), with its certificate. Deterministic for a given seed (and BLAS)."""
    begin = time.perf_counter()
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64).reshape(-1)
    if x.ndim != 2 or len(x) != len(y) or len(y) == 0:
        raise ValueError(f"x must be (n, d) and y (n,) with n >= 1, got {x.shape} and {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("x and y must be finite")
    if not np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-8):
        raise ValueError("the rows of x must be unit vectors (inputs on the sphere)")
    if x.shape[1] < 2:
        raise ValueError("inputs must have d >= 2")
    n, d = x.shape
    penalty = float(spec.penalty)
    bound = penalty if penalty > 0 else 1.0
    rng = np.random.default_rng([int(seed), SEED_SALT])
    progress = Throttled(log, "sparse", begin)
    # Fewer or more starts both lengthened the solve (d = 5, n = 1024, seeds 0 / 1, one thread, two
    # solves at once): 1024 starts 125 / 148 s (21 / 24 rounds), 2048 (= 2n, the default) 107 /
    # 110 s (19 / 20), 32,768 704 / 691 s (63 / 62: more violators a round, more rounds).
    starts = spec.starts or max(1000, 2 * n)
    confirm_starts = max(CONFIRM_STARTS, CONFIRM_PER_POINT * n)
    by_dimension = 2 ** max(d - 3, 0)  # the maxima's basins shrink with d: searches miss more
    certify_starts = (
        spec.certify_starts or max(CERTIFY_STARTS, CERTIFY_PER_POINT * n) * by_dimension
    )
    certify_near = CERTIFY_NEAR * by_dimension
    confirm_gaps = CONFIRM_GAPS * by_dimension
    add = spec.add_columns or n
    history: dict[str, list[float]] = {k: [] for k in ("objective", "gap", "pool", "seconds")}

    # The pool starts with the data points' directions and random ones; in d = 2 with the data's
    # and the 2n breakpoints. relu is linear on each closed arc between two breakpoints, so their
    # features span those of every direction and the first restricted problem is feasible when the
    # full one is: without them (n = 1024) the artificial columns left after 43 rounds (67 s). The
    # exact search adds the arcs' inner maxima. Random directions as well doubled the time (one
    # thread, n = 2048, constant target: 49.5 s for 24.7 s). The breakpoints alone were faster
    # still (22.5 s) but certified looser vertices (gap 2e-5..8e-5 for 2e-6..1e-5), whose test MSE
    # was 1.2-1.5x that of a solve to gap_tol 1e-6, against 0.8-0.9x with the data's directions
    # (n = 1024, seeds 0 and 1; n = 2048, seed 0).
    if d == 2:
        pool = np.concatenate([x, _breakpoints(x)[1]])
    else:
        pool = np.concatenate([x, _random_directions(max(200, n), d, rng)])
    c_pool = np.zeros(len(pool))  # lambda > 0: the Lasso's weights on the pool
    idle = np.zeros(len(pool), dtype=np.int64)  # rounds since each direction was tight
    # lambda = 0: the simplex method in d = 2, where one round mostly certifies (the first pool's
    # breakpoints) and its bases are ill-conditioned (|p|_1 ~ 3e6: the interior point's normal
    # equations lost the dual point, gap 0.95 after 50 rounds, relu teacher, n = 1024); the
    # interior point in d >= 3, with the artificial columns' cost big_m and the last restricted
    # problem's pool, features and support (the crossover's start).
    # Where the simplex method meets a basis too ill-conditioned for its explicit inverse
    # (LinAlgError), HiGHS solves the restricted problems from then on (_highs_vertex).
    vertices = penalty == 0 and d == 2
    simplex = None
    if vertices:
        try:
            simplex = _Simplex(x, y, pool)
        except np.linalg.LinAlgError as error:
            progress(f"first basis: {error}; HiGHS from here", force=True)
    interior = penalty == 0 and d > 2
    pivots = 0  # the simplex method's, up to its failure if it failed
    big_m, solved = BIG_M, None
    found = np.zeros((0, d))  # the last round's violators: starts of the next search
    theta, c, p = np.zeros((0, d)), np.zeros(0), np.zeros(n)
    iteration, sup, objective = 0, 0.0, 0.0
    # The largest lower bound confirmed by a dense search, with its dual point and sup |g_p|: the
    # certificate. Any round's dual point gives one (weak duality), and the rounds' dual points
    # scatter around the optimum while the primal only decreases: the best of them certifies
    # sooner than the last one.
    certified = None  # (dual bound, p, sup)
    for iteration in range(1, spec.max_iter + 1) if y.any() else ():
        phi = relu_features(pool, x)  # (n, m)
        if simplex is not None:
            try:
                simplex.optimise(pool, phi)
            except np.linalg.LinAlgError as error:
                progress(f"round {iteration}: {error}; HiGHS from here", force=True)
                pivots, simplex = simplex.pivots, None
        if simplex is not None:
            theta, c = simplex.measure()
            p = simplex.p.copy()
            objective = float(np.abs(c).sum())
            infeasible = simplex.infeasible()
        elif vertices:
            theta, c, p = _highs_vertex(pool, phi, y)
            objective = float(np.abs(c).sum())
            infeasible = False  # (HiGHS raises where the pool's atoms cannot interpolate)
        elif interior:
            c_pool, artificial, p = _interior_point(phi, y, big_m)
            objective = float(y @ p)  # the restricted optimum, up to IPM_TOL
            infeasible = bool(np.abs(artificial).max() > INTERPOLATION_TOL * np.abs(y).max())
        else:
            infeasible = False
            c_pool, objective = _lasso(phi, y, penalty, c_pool)
            on = c_pool != 0
            theta, c = pool[on], c_pool[on]
            p = (y - phi @ c_pool) / n
        g_pool = phi.T @ p
        if interior:
            # The atoms, as search starts: the tight directions (the interior point spreads weight
            # over all of them, and a vertex's atoms are some of them).
            tight = np.abs(g_pool) >= 1 - IPM_TIGHT
            theta, c = pool[tight], c_pool[tight]
            weight = np.abs(c_pool)
            support = weight > CROSSOVER_SUPPORT * weight.max() if weight.any() else tight
            solved = (pool, phi, support)
        # Search from random directions, the atoms and the last violators. The atoms are their own
        # directions theta whatever their weights' signs (|g_p| is at its bound there); not the
        # antipodes -theta of those of negative weight: g_p(-theta) = g_p(theta) - theta . X^T p,
        # and X^T p reaches 0.9-1.8 at d = 6..8, n = 64..128 on teachers.
        begin_at = np.concatenate([_random_directions(starts, d, rng), theta, found])
        cand, g = _search(x, p, begin_at, ROUND_STEPS)
        sup = max(float(np.abs(g).max()), float(np.abs(g_pool).max()))
        dual = -math.inf if infeasible else _dual_bound(p, y, penalty, sup)
        round_gap = (objective - dual) / objective if not infeasible else math.inf
        best = certified[0] if certified is not None else -math.inf
        # A round whose bound could certify, or improve the certificate near the end: confirm it
        # by the dense search (its violators join the next round's).
        if dual > best and objective - dual <= confirm_gaps * spec.gap_tol * objective:
            dense, cand_dense, g_dense = _dense_search(
                x, p, rng, confirm_starts, theta, CONFIRM_NEAR
            )
            sup = max(sup, dense)
            dual = _dual_bound(p, y, penalty, sup)
            if dual > best:
                certified = (dual, p, sup)
            cand, g = np.concatenate([cand, cand_dense]), np.concatenate([g, g_dense])
        best = certified[0] if certified is not None else -math.inf
        gap = (objective - best) / objective if not infeasible else math.inf
        for key, value in zip(
            history, (objective, round_gap, len(pool), time.perf_counter() - begin), strict=True
        ):
            history[key].append(value)
        progress(
            f"round {iteration}: objective {objective:.10g}, gap {round_gap:.2e} (certified "
            f"{gap:.2e}), pool {len(pool)}"
        )
        if gap <= spec.gap_tol and d > 2:
            # Outside d = 2 the dual constraint is only searched: the certificate's dual point is
            # searched once more, from certify_starts starts. A violation found there weakens
            # its bound, and its directions join the pool.
            _, p_cert, sup_cert = certified
            wide, cand_wide, g_wide = _dense_search(
                x, p_cert, rng, certify_starts, theta, certify_near
            )
            if wide > sup_cert:
                certified = (_dual_bound(p_cert, y, penalty, wide), p_cert, wide)
                gap = (objective - certified[0]) / objective
                cand, g = np.concatenate([cand, cand_wide]), np.concatenate([g, g_wide])
                # The rounds' searches missed a maximum: twice the starts from now on.
                starts, confirm_starts = 2 * starts, min(2 * confirm_starts, certify_starts)
                progress(f"round {iteration}: the final search finds more (gap {gap:.2e})")
        if gap <= spec.gap_tol:
            break
        tol = _price_tol(p) if penalty == 0 else PIVOT_TOL
        violating = np.abs(g) > bound * (1 + tol)
        stalled = len(history["objective"]) > 1 and (
            abs(history["objective"][-2] - objective) <= STALL * objective
        )
        if infeasible and (stalled or (not violating.any() and sup <= bound * (1 + tol))):
            big_m *= 10  # an artificial column too cheap to leave: raise its cost
            if simplex is not None:
                simplex.big_m = big_m
                try:
                    simplex.refresh()
                except np.linalg.LinAlgError as error:
                    progress(f"round {iteration}: {error}; HiGHS from here", force=True)
                    pivots, simplex = simplex.pivots, None
        found, _ = _distinct(cand[violating], g[violating], x, add)
        # Keep the pool's near-active directions (lambda = 0: tight in the last POOL_AGE rounds)
        # and the Lasso's support; add the violators.
        keep = np.abs(g_pool) >= spec.prune * bound
        idle = np.where(np.abs(g_pool) >= (1 - TIGHT) * bound, 0, idle + 1)
        if penalty > 0:
            keep |= c_pool != 0
        elif not infeasible:
            keep &= idle <= POOL_AGE
        pool = np.concatenate([pool[keep], found])
        c_pool = np.concatenate([c_pool[keep], np.zeros(len(found))])
        idle = np.concatenate([idle[keep], np.zeros(len(found), dtype=np.int64)])

    if solved is not None:
        # The vertex: the simplex method on the interior point's support, from a basis of it
        # (crossover), then on the whole pool.
        pool, phi, support = solved
        try:
            simplex = _Simplex(x, y, pool[support], pool, rcond=CROSSOVER_RCOND)
            simplex.optimise(pool[support], phi[:, support])
            simplex.optimise(pool, phi)
        except np.linalg.LinAlgError as error:
            progress(f"crossover: {error}; HiGHS's vertex instead", force=True)
            pivots, simplex = simplex.pivots if simplex is not None else 0, None
            theta, c, _ = _highs_vertex(pool, phi, y)
    if simplex is not None:
        try:
            simplex.solve_weights()
        except np.linalg.LinAlgError as error:
            # (pool: the last restricted problem's; after max_iter rounds, the next one's.)
            progress(f"final weights: {error}; HiGHS's vertex instead", force=True)
            pivots, simplex = simplex.pivots, None
            theta, c, _ = _highs_vertex(pool, relu_features(pool, x), y)
    if simplex is not None:
        theta, c = simplex.measure()
        pivots = simplex.pivots
        if simplex.infeasible():
            theta, c = np.zeros((0, d)), np.zeros(0)  # no interpolating measure was found
    theta, c = merge_atoms(theta, c, x)
    residual = y - relu_features(theta, x) @ c
    tv = float(np.abs(c).sum())
    objective = 0.5 / n * float(residual @ residual) + penalty * tv if penalty > 0 else tv
    if not y.any():
        p, sup = np.zeros(n), 0.0
    elif certified is not None:
        _, p, sup = certified
    else:
        sup = dual_sup(x, p, rng, certify_starts, theta)
    # lambda = 0: the bound is that for the values the atoms take at the data (within
    # train_residual of y), which they interpolate exactly. The optimum moves with y at a rate
    # up to |p|_1, 3e6 at d = 2, n = 1024 (teachers): a residual of 1e-9 can move it by more
    # than gap_tol.
    dual = _dual_bound(p, y - residual if penalty == 0 else y, penalty, sup)
    gap = (objective - dual) / objective if objective > 0 else 0.0
    if (
        penalty == 0
        and residual.size
        and np.abs(residual).max() > INTERPOLATION_TOL * np.abs(y).max()
    ):
        gap = math.inf  # the atoms do not interpolate: no primal point to certify
    result = SparseResult(
        theta=theta,
        c=c,
        penalty=penalty,
        objective=objective,
        tv=tv,
        dual_point=p,
        dual_bound=dual,
        duality_gap=gap,
        dual_violation=max(0.0, sup / bound - 1.0),
        train_residual=float(np.abs(residual).max()),
        iterations=iteration,
        converged=bool(gap <= spec.gap_tol),
        seconds=time.perf_counter() - begin,
        pivots=pivots,
        history={k: np.asarray(v, dtype=np.float64) for k, v in history.items()},
    )
    progress(
        f"done: objective {objective:.10g}, gap {gap:.2e}, dual violation "
        f"{result.dual_violation:.1e}, {c.size} atoms, residual {result.train_residual:.1e}, "
        f"{iteration} rounds",
        force=True,
    )
    return result
