"""DOCSTRING_PLACEHOLDER"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
import scipy.optimize
from scipy.linalg.blas import dsyrk

from ..core import specs

# Seconds of wall time between two progress lines sent to `log`.
LOG_EVERY_S = 10.0
# Factor by which the barrier parameter t grows between two centerings: 10 keeps each centering
# at ~10 Newton steps.
BARRIER_MU = 10.0
# ... and by which it shrinks when the restricted problem changes (new and refaced constraints).
RESTART_T = 10.0
# After a change the previous centre is scaled to max h = 1 - RESTART_MARGIN (strictly feasible).
RESTART_MARGIN = 1e-3
# Centering stops when half the squared Newton decrement, the predicted decrease of the barrier
# function, falls below this.
NEWTON_TOL = 1e-7
# Newton steps per centering at most (a centering that needs more is cut short; the exchange
# loop goes on from where it stopped).
MAX_NEWTON = 100
# Fixed-point ascent steps of the search at most: most starts settle in < 10.
ASCENT_STEPS = 40
# Steps at most of the climb from cells to their best neighbours across faces.
CLIMB_STEPS = 20
# Starts of the search handled together: bounds the (block, n) pattern arrays.
SEARCH_BLOCK = 4096
# A constraint with h > 1 - ACTIVE counts as active (history; the climb starts from these).
ACTIVE = 1e-3
# Second entropy word of the solver's random generator (the first is the seed): a caller who
# draws its data with the same seed does not get the solver's random directions equal to x.
SEED_SALT = 0x5BA75E
# Allowance (relative) on |mu|_TV for the crossover's vertex against the centre.
CROSSOVER_SLACK = 1e-9
# Simplex pivots at most after the crossover's pushes (each O(n^2 + n m)).
CROSSOVER_PIVOTS = 0


@dataclass(frozen=True)
class SparseSpec:
    """Solver settings of a `kind: sparse` regime: the fields are the config's keys."""

    penalty: float = 0.0  # lambda >= 0 in P(mu); 0 = the interpolating (min-TV) limit
    gap_tol: float = 1e-4  # stop when the certified relative duality gap (P - D)/P is below this
    max_iter: int = 200  # exchange iterations (restricted solve + search) at most
    starts: int = 0  # search starts per iteration (random directions); 0 = max(1000, 2n)
    certify_starts: int = 0  # starts of the final dense search; 0 = max(2000, 20n)
    init_cells: int = 0  # random directions whose cells seed the first solve; 0 = max(200, n)
    add_cells: int = 0  # violating cells added per iteration at most; 0 = n
    prune: float = 0.5  # cells whose constraint value h_s falls below this are dropped

    def __post_init__(self) -> None:
        def fail(name: str, why: str) -> None:
            raise ValueError(f"SparseSpec.{name} = {getattr(self, name)!r}: {why}")

        for name in ("max_iter", "starts", "certify_starts", "init_cells", "add_cells"):
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
    dual_bound: float  # D(p) of the feasible dual: objective - dual_bound >= the true suboptimality
    duality_gap: float  # (objective - dual_bound) / objective, >= 0 up to rounding
    dual_violation: float  # max(0, V/lambda - 1) (V - 1 for lambda = 0), V = sup |g_p| found
    train_residual: float  # max_i |f(x_i) - y_i|
    iterations: int  # exchange iterations
    converged: bool  # duality_gap <= gap_tol
    seconds: float  # wall time of solve()
    newton_steps: int  # Newton steps of the barrier, all iterations together
    # Per exchange iteration: "objective" and "gap" (of the restricted problem's centre against
    # the search's dual bound), "cells" (constraints), "active" (constraints with h > 1 - ACTIVE),
    # "refaced" (constraints found over-restrictive and replaced), "seconds" (wall time so far).
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
# Cells and faces: sign patterns, the exact cell maximum (projection on the cell's cone)
# --------------------------------------------------------------------------------------------


def _face_rows(face: np.ndarray, s: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inward normals a_i = +-x_i of the cones' active constraints, (m, d, d) padded with zeros."""
    filled = face >= 0  # (m, d)
    idx = np.maximum(face, 0)
    sign = np.where(np.take_along_axis(s, idx, axis=1), 1.0, -1.0)  # (m, d)
    a = np.where(filled[:, :, None], x[idx] * sign[:, :, None], 0.0)  # (m, d, d)
    return a, filled


def _batched_solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solutions of a batch of small systems a (k, d, d) x = b (k, d, 1); least squares for the
    (non-generic) singular ones."""
    try:
        return np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        return np.stack(
            [np.linalg.lstsq(ak, bk, rcond=None)[0] for ak, bk in zip(a, b, strict=True)]
        )


def cone_project(
    v: np.ndarray, s: np.ndarray, x: np.ndarray, max_iter: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Projection of each row v_j (m, d) on the closed cone {theta: theta.x_i >= 0 if s_ji, <= 0
    otherwise} of the cell with sign pattern s_j (m, n); x (n, d) are the training points.

    Lawson-Hanson (active set, with the step back to the last feasible multipliers, which makes
    it terminate) on the dual problem min_{mu >= 0} |v + A^T mu|^2, A the inward normals; all rows
    at once, each with at most d active constraints. Returns the projections (m, d) and the active
    constraints' indices (m, d), -1 for empty slots: the projection lies on the face where these
    are 0. The rare rows still undecided after max_iter rounds fall back to scipy's NNLS.
    """
    m, d = v.shape
    proj = v.copy()
    face = np.full((m, d), -1)
    mu = np.zeros((m, d))
    last = np.zeros(m, dtype=int)  # slot of the constraint added last
    scale = np.linalg.norm(v, axis=1)  # (m,) relative tolerance of each row
    eye = np.eye(d)
    # Rows inside their cone are done at once: only the others enter the active-set rounds.
    z = v @ x.T  # (m, n)
    active = (np.where(s, z, -z) < -1e-12 * scale[:, None]).any(axis=1)
    for _ in range(max_iter or 10 * d + 10):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        a, filled = _face_rows(face[idx], s[idx], x)  # (k, d, d), (k, d)
        gram = a @ a.transpose(0, 2, 1) + eye * (~filled)[:, None, :]  # (k, d, d)
        mu_new = -_batched_solve(gram, a @ v[idx][:, :, None])[:, :, 0]  # (k, d)
        mu_new = np.where(filled, mu_new, 0.0)
        bad = filled & (mu_new <= 0)
        inner = bad.any(axis=1)
        if inner.any():
            # Move from the feasible multipliers towards mu_new until one hits 0, and drop it.
            r = idx[inner]
            mo, mn, b = mu[r], mu_new[inner], bad[inner]
            ratio = np.where(b, mo / np.where(b, mo - mn, 1.0), np.inf)
            alpha = ratio.min(axis=1)
            mi = mo + alpha[:, None] * (mn - mo)
            drop = filled[inner] & (mi <= 1e-14 * scale[r][:, None])
            # The constraint just added dropped at once: rounding noise, the row is done.
            stuck = alpha <= 0
            drop[np.arange(r.size), last[r]] &= ~stuck
            face[r] = np.where(drop, -1, face[r])
            mu[r] = np.where(drop, 0.0, mi)
            active[r[stuck]] = False
        r = idx[~inner]
        mu[r] = mu_new[~inner]
        theta = v[r] + (a[~inner].transpose(0, 2, 1) @ mu_new[~inner][:, :, None])[:, :, 0]
        proj[r] = theta
        z = theta @ x.T  # (k, n)
        slack = np.where(s[r], z, -z)
        held = face[r] >= 0  # the face's own constraints are 0 up to rounding: not candidates
        slack[np.nonzero(held)[0], face[r][held]] = np.inf
        worst = slack.argmin(axis=1)
        add = slack[np.arange(r.size), worst] < -1e-12 * scale[r]
        active[r[~add]] = False
        r, worst = r[add], worst[add]
        empty = face[r] < 0
        full = ~empty.any(axis=1)  # cannot happen (theta = 0 is feasible); kept for safety
        active[r[full]] = False
        r, worst, slot = r[~full], worst[~full], empty[~full].argmax(axis=1)
        face[r, slot] = worst
        mu[r, slot] = 0.0
        last[r] = slot
    for j in np.flatnonzero(active):
        a = np.where(s[j], 1.0, -1.0)[:, None] * x  # (n, d)
        lam, _ = scipy.optimize.nnls(a.T, -v[j])
        proj[j] = v[j] + a.T @ lam
        on = np.flatnonzero(lam > 0)[:d]
        face[j] = -1
        face[j, : on.size] = on
    return proj, face


def _exact(
    q: np.ndarray, s: np.ndarray, o: np.ndarray, x: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact maxima of o g_q over the closed cells with patterns s (m, n): the maximisers (m, d)
    (unnormalised: Pi_{C_s}(o v_s)), the faces they lie on (m, d) and the values h (m,)."""
    v = o[:, None] * (s.astype(np.float64) @ (q[:, None] * x))  # (m, d)
    proj, face = cone_project(v, s, x)
    return proj, face, np.linalg.norm(proj, axis=1)


def _span_basis(face: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Orthonormal bases (m, d, d) of the spans of the face points x_i, i in face (m, d), as rows
    (zero rows for the empty slots): Q^T Q projects on the normal space of the face."""
    filled = face >= 0
    a = np.where(filled[:, :, None], x[np.maximum(face, 0)], 0.0)  # (m, d, d)
    gram = a @ a.transpose(0, 2, 1) + np.eye(x.shape[1]) * (~filled)[:, None, :]
    return np.linalg.solve(np.linalg.cholesky(gram), a)  # rows L^-1 A


def _keys(s: np.ndarray, face: np.ndarray, o: np.ndarray) -> np.ndarray:
    """One hashable byte string per constraint (pattern, face points, orientation)."""
    m, n = s.shape
    on_face = np.zeros((m, n), bool)
    rows, slots = np.nonzero(face >= 0)
    on_face[rows, face[rows, slots]] = True
    packed = np.packbits(np.concatenate([s, on_face, (o > 0)[:, None]], axis=1), axis=1)
    return np.ascontiguousarray(packed).view(np.dtype((np.void, packed.shape[1])))[:, 0]


@dataclass
class _Cells:
    """Constraints of the restricted dual: cell patterns s (m, n) with orientations o (m,), each
    held on a face of its cell (face (m, d): the points i with theta . x_i = 0 there, -1 for empty
    slots, filled slots first; their bits of s are cleared: relu is 0 on them either side). The
    constraint is h = |P_face(o v_s)| <= 1, P_face the projector on the face's span (identity for
    no face): the maximum of o g_q over the face's span, which is the maximum over the closed cell
    while the maximiser stays in the cell (_reface checks this)."""

    s: np.ndarray  # (m, n) bool
    o: np.ndarray  # (m,) float, +1 or -1
    face: np.ndarray  # (m, d) int
    basis: np.ndarray  # (m, d, d): _span_basis of the faces
    keys: np.ndarray  # (m,) void, for deduplication
    _sf: np.ndarray | None = field(default=None, repr=False)  # float64 copy of s, made once

    @classmethod
    def make(cls, s: np.ndarray, o: np.ndarray, face: np.ndarray, x: np.ndarray) -> _Cells:
        """Canonical (face bits cleared, filled slots first), deduplicated constraints; face
        (m, <= d) is padded to d slots."""
        d = x.shape[1]
        face = np.concatenate([face, np.full((len(face), d - face.shape[1]), -1)], axis=1)
        face = -np.sort(-face, axis=1)  # filled (>= 0) slots first
        s = s.copy()
        rows, slots = np.nonzero(face >= 0)
        s[rows, face[rows, slots]] = False
        keys = _keys(s, face, o)
        _, first = np.unique(keys, return_index=True)
        first.sort()  # first occurrences, in order: deterministic
        face = face[first]
        return cls(s[first], o[first].astype(np.float64), face, _span_basis(face, x), keys[first])

    def __len__(self) -> int:
        return len(self.o)

    @property
    def sf(self) -> np.ndarray:
        if self._sf is None:
            self._sf = self.s.astype(np.float64)
        return self._sf

    def take(self, keep: np.ndarray) -> _Cells:
        sf = None if self._sf is None else self._sf[keep]
        return _Cells(
            self.s[keep], self.o[keep], self.face[keep], self.basis[keep], self.keys[keep], sf
        )

    def union(self, other: _Cells) -> _Cells:
        """These constraints and those of other that are new."""
        new = ~np.isin(other.keys, self.keys)
        if not new.any():
            return self
        sf = None
        if self._sf is not None:
            sf = np.concatenate([self._sf, other.s[new].astype(np.float64)])
        return _Cells(
            np.concatenate([self.s, other.s[new]]),
            np.concatenate([self.o, other.o[new]]),
            np.concatenate([self.face, other.face[new]]),
            np.concatenate([self.basis, other.basis[new]]),
            np.concatenate([self.keys, other.keys[new]]),
            sf,
        )


def _values(q: np.ndarray, cells: _Cells, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Maximisers (unnormalised) P_face(o v_s) (m, d) and values h (m,) of the constraints."""
    proj = cells.o[:, None] * (cells.sf @ (q[:, None] * x))  # (m, d): o v_s
    held = np.flatnonzero(cells.face[:, 0] >= 0)  # constraints held on a face (slot 0 filled)
    if held.size:
        basis = cells.basis[held]  # (k, d, d)
        normal = basis @ proj[held][:, :, None]  # (k, d, 1): components on the face's normals
        proj[held] -= (basis.transpose(0, 2, 1) @ normal)[:, :, 0]
    return proj, np.linalg.norm(proj, axis=1)


def _reface(q: np.ndarray, cells: _Cells, x: np.ndarray) -> tuple[np.ndarray, _Cells]:
    """The constraints whose maximiser has left its cell (over-restrictive: they would cut off
    feasible duals), as a mask (m,), and their replacements: the exact maxima of their cells at q
    (_exact), held on the faces found there."""
    proj, h = _values(q, cells, x)
    z = proj @ x.T  # (m, n)
    slack = np.where(cells.s, z, -z)  # >= 0 in the closed cell (0 on the face's points)
    bad = (slack < -1e-12 * h[:, None]).any(axis=1) & (h > 0)
    _, face, _ = _exact(q, cells.s[bad], cells.o[bad], x)
    return bad, _Cells.make(cells.s[bad], cells.o[bad], face, x)


# --------------------------------------------------------------------------------------------
# Restricted problem: log-barrier method on the dual over a set of constraints
# --------------------------------------------------------------------------------------------


def _syrk(a: np.ndarray) -> np.ndarray:
    """The upper triangle of a^T a (n, n) for a (k, n) (zeros below): BLAS syrk, half the work of
    a matrix product; a C-ordered (k, n) is a Fortran-ordered (n, k), hence no copy."""
    if a.shape[0] == 0:
        return np.zeros((a.shape[1], a.shape[1]))
    return dsyrk(1.0, a.T, trans=0)


@dataclass
class _Problem:
    """Data of one solve: training points, targets, kappa = n lambda, and the fixed x x^T."""

    x: np.ndarray  # (n, d)
    y: np.ndarray  # (n,)
    kappa: float
    xx: np.ndarray  # (n, n)

    def linear(self, q: np.ndarray) -> float:
        """-y.q + (kappa/2)|q|^2: minus the dual objective in q units."""
        return float(-self.y @ q + 0.5 * self.kappa * (q @ q))


def _barrier_value(q: np.ndarray, cells: _Cells, prob: _Problem, t: float) -> float:
    h = _values(q, cells, prob.x)[1]
    if h.size and h.max() >= 1.0:
        return math.inf
    return t * prob.linear(q) - float(np.log1p(-h * h).sum())


def _barrier_terms(
    q: np.ndarray, cells: _Cells, prob: _Problem
) -> tuple[float, np.ndarray, np.ndarray]:
    """Log-barrier -sum log(1 - h^2): value, gradient (n,) and Hessian (n, n, upper triangle).

    Per constraint, with k = 2/(1 - h^2), M = diag(s) X, P the projector off the face's normals
    and Pi = P (o M^T q): gradient k o M Pi, Hessian k M P M^T + k^2 (M Pi)(M Pi)^T. Summed:
    sum k M M^T = (X X^T) o (S^T K S) (o the elementwise product), minus sum k (M Q)(M Q)^T over
    the face normals Q, plus B^T K^2 B with rows M Pi: three (rows, n) syrk updates, O(n^2 m).
    """
    x = prob.x
    proj, h = _values(q, cells, x)
    value = -float(np.log1p(-h * h).sum())
    live = h > 0  # a constraint with Pi = 0 has zero gradient and Hessian
    sf = cells.sf if live.all() else cells.sf[live]  # (l, n), no copy in the usual case
    proj, o, face, basis = proj[live], cells.o[live], cells.face[live], cells.basis[live]
    k = 2.0 / (1.0 - h[live] ** 2)  # (l,)
    b = proj @ x.T  # (l, n)
    b *= sf  # rows M Pi
    grad = b.T @ (k * o)
    b *= k[:, None]
    hess = _syrk(b)
    root = np.sqrt(k)
    hess += prob.xx * _syrk(sf * root[:, None])
    rows, slots = np.nonzero(face >= 0)
    if rows.size:
        normals = basis[rows, slots] @ x.T  # (faces, n): the normals at the training points
        normals *= sf[rows]
        normals *= root[rows, None]
        hess -= _syrk(normals)
    return value, grad, hess


def _solve_psd(hess: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """hess^-1 rhs for a PSD hess given by its upper triangle: Cholesky, with a growing ridge if
    hess is numerically singular."""
    n = len(rhs)
    ridge = 0.0
    for _ in range(12):
        try:
            factor = (scipy.linalg.cholesky(hess + ridge * np.eye(n), check_finite=False), False)
            return scipy.linalg.cho_solve(factor, rhs, check_finite=False)
        except np.linalg.LinAlgError:
            ridge = max(100.0 * ridge, 1e-14 * float(np.trace(hess)) / n)
    full = np.triu(hess) + np.triu(hess, 1).T
    return np.linalg.lstsq(full, rhs, rcond=None)[0]


def _initial_t(q: np.ndarray, cells: _Cells, prob: _Problem) -> float:
    """The t whose centering condition t (-y + kappa q) + grad barrier = 0 q fits best, in the
    Newton metric: t = -(a^T H^-1 b) / (a^T H^-1 a), a = -y + kappa q, b the barrier gradient."""
    _, grad, hess = _barrier_terms(q, cells, prob)
    a = -prob.y + prob.kappa * q
    ha = _solve_psd(hess, a)
    t = -float(ha @ grad) / float(ha @ a)
    return t if math.isfinite(t) and t > 0 else 1.0


def _center(
    q: np.ndarray, cells: _Cells, prob: _Problem, t: float, tick: Callable[[], None]
) -> tuple[np.ndarray, int]:
    """Minimise t (-y.q + (kappa/2)|q|^2) + barrier at fixed t by damped Newton from the strictly
    feasible q. Returns q and the number of Newton steps."""
    for step in range(1, MAX_NEWTON + 1):
        value, grad, hess = _barrier_terms(q, cells, prob)
        value += t * prob.linear(q)
        grad += t * (-prob.y + prob.kappa * q)
        hess[np.diag_indices_from(hess)] += t * prob.kappa
        direction = _solve_psd(hess, -grad)
        decrement = -float(grad @ direction)
        tick()
        if decrement / 2 < NEWTON_TOL:
            return q, step
        # Backtracking (Armijo, factor 1/2); the barrier is +inf outside the feasible set.
        size = 1.0
        while size > 1e-12:
            trial = q + size * direction
            if _barrier_value(trial, cells, prob, t) <= value - 0.25 * size * decrement:
                break
            size *= 0.5
        else:
            return q, step  # no decrease along the Newton direction: rounding level
        q = trial
    return q, MAX_NEWTON


@dataclass
class _Centre:
    """The primal measure of a barrier centre: one atom per constraint."""

    theta: np.ndarray  # (m, d) unit directions (zero rows where Pi = 0)
    c: np.ndarray  # (m,) signed weights o (k/t) h
    h: np.ndarray  # (m,) constraint values
    residual: np.ndarray  # (n,) y - f at the training points
    objective: float  # P (lambda > 0) or TV, of this measure
    dual: float  # the restricted dual objective at q (times lambda for lambda > 0)


def _centre_measure(
    q: np.ndarray, cells: _Cells, prob: _Problem, t: float, penalty: float
) -> _Centre:
    """At a centre, t (y - kappa q) = sum k o M Pi: the measure with one atom o (k/t) h at Pi/h
    per constraint has y - f = kappa q (= n p) while its atoms stay in their cells."""
    proj, h = _values(q, cells, prob.x)
    k = 2.0 / (1.0 - h * h)
    theta = proj / np.where(h > 0, h, 1.0)[:, None]
    c = cells.o * k * h / t
    f = (cells.sf * (theta @ prob.x.T)).T @ c  # (n,): relu(theta.x) = theta.x on the cell
    residual = prob.y - f
    tv = float(np.abs(c).sum())
    if penalty > 0:
        n = len(prob.y)
        objective = 0.5 / n * float(residual @ residual) + penalty * tv
        dual = penalty * -prob.linear(q)
    else:
        objective, dual = tv, -prob.linear(q)
    return _Centre(theta, c, h, residual, objective, dual)


# --------------------------------------------------------------------------------------------
# Search: local maxima of +-g_q by the fixed-point ascent and a climb over cells
# --------------------------------------------------------------------------------------------


def _ascend(x: np.ndarray, p: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Patterns (3k, n) of the start and of the last two iterates of theta <- normalise(sum_{i in
    s(theta)} p_i x_i) from each start (k, d), stopping at a fixed point or a 2-cycle of patterns.

    The ascent is not monotone (the maximiser of a cell's linear piece can lie in a cell where g
    is lower), hence the starts' own cells: a start where g is high is never lost.
    """
    px = p[:, None] * x  # (n, d)
    theta = starts.copy()
    first = (theta @ x.T) > 0  # (k, n)
    last = first.copy()
    prev = last.copy()
    running = np.arange(len(theta))
    for step in range(ASCENT_STEPS):
        v = last[running].astype(np.float64) @ px  # (r, d)
        norm = np.linalg.norm(v, axis=1)
        moved = norm > 0
        theta[running[moved]] = v[moved] / norm[moved, None]
        new = (theta[running] @ x.T) > 0  # (r, n)
        same = (new == last[running]).all(axis=1)
        cycle = (new == prev[running]).all(axis=1) if step else np.zeros_like(same)
        prev[running] = last[running]
        last[running] = new
        running = running[~(same | cycle | ~moved)]
        if running.size == 0:
            break
    return np.concatenate([first, last, prev])


def _unique_rows(s: np.ndarray, o: np.ndarray) -> np.ndarray:
    """Indices of the first occurrences of the distinct (pattern, orientation) rows, in order."""
    keys = _keys(s, np.full((len(o), 1), -1), o)
    _, first = np.unique(keys, return_index=True)
    first.sort()
    return first


def _neighbours(
    s: np.ndarray, o: np.ndarray, face: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cells across the faces where the cells' maxima lie: each pattern of s (m, n) with the
    signs of one, two or three of its face's points flipped (all the cells around an edge
    maximum in d = 3). Returns their patterns, orientations and the index of their source."""
    order = -np.sort(-face, axis=1)  # (m, d) filled slots first
    s_out, o_out, src_out = [s[:0]], [o[:0]], [np.zeros(0, dtype=int)]
    for mask in range(1, 8):
        bits = [j for j in range(min(3, face.shape[1])) if mask >> j & 1]
        if len(bits) != mask.bit_count():
            continue
        rows = np.flatnonzero((order[:, bits] >= 0).all(axis=1))
        flipped = s[rows].copy()
        for j in bits:
            flipped[np.arange(rows.size), order[rows, j]] ^= True
        s_out.append(flipped)
        o_out.append(o[rows])
        src_out.append(rows)
    return np.concatenate(s_out), np.concatenate(o_out), np.concatenate(src_out)


def _climb(
    x: np.ndarray, q: np.ndarray, s: np.ndarray, o: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """Monotone local search over cells: from each cell (s (m, n), o (m,)) to its best neighbour
    across the face of its exact maximum (_neighbours) while that is better and above threshold,
    CLIMB_STEPS times at most. Returns the distinct cells where the climbs end (local maxima of
    the cell values, when above threshold): their patterns, orientations, faces and values, and
    the best value scored on the way."""
    proj, face, h = _exact(q, s, o, x)
    best = float(h.max()) if h.size else 0.0
    ends = []
    for _ in range(CLIMB_STEPS):
        if o.size == 0:
            break
        nb_s, nb_o, src = _neighbours(s, o, face)
        # Only neighbours whose plain value (an upper bound) beats their source and the
        # threshold are scored: the climb is after local maxima above threshold only.
        v = nb_o[:, None] * (nb_s.astype(np.float64) @ (q[:, None] * x))  # (k, d)
        can = np.linalg.norm(v, axis=1) > np.maximum(h[src] * (1 + 1e-12), threshold)
        nb_s, nb_o, src = nb_s[can], nb_o[can], src[can]
        _, nb_face, nb_h = _exact(q, nb_s, nb_o, x)
        if nb_h.size:
            best = max(best, float(nb_h.max()))
        # Best neighbour of each cell: sorted by (source, value), the last of each source wins.
        top = np.full(o.size, -1)
        order = np.lexsort((nb_h, src))
        top[src[order]] = order
        better = np.zeros(o.size, bool)
        better[top >= 0] = nb_h[top[top >= 0]] > h[top >= 0] * (1 + 1e-12)
        ends.append((s[~better], o[~better], face[~better], h[~better]))
        nxt = top[better]
        nxt = nxt[_unique_rows(nb_s[nxt], nb_o[nxt])]  # climbs that meet go on as one
        s, o, face, h = nb_s[nxt], nb_o[nxt], nb_face[nxt], nb_h[nxt]
    ends.append((s, o, face, h))
    s, o, face, h = (np.concatenate(parts) for parts in zip(*ends, strict=True))
    first = _unique_rows(s, o)
    return s[first], o[first], face[first], h[first], best


@dataclass
class _Found:
    """Constraints found by a search (the largest value first) and the best value seen."""

    cells: _Cells
    best: float  # sup of +-g found: exact on the scored cells, else the best value at an iterate


def _search(
    x: np.ndarray,
    q: np.ndarray,
    starts: np.ndarray,
    threshold: float,
    keep: int,
    climb_from: _Cells | None = None,
) -> _Found:
    """Local maxima of +g_q and -g_q whose exact value exceeds threshold, at most `keep`, the
    largest first: the fixed-point ascent from the starts (k, d) visits cells, those whose plain
    value |v_s| (an upper bound of the exact one) exceeds threshold are climbed to local maxima
    (_climb), and so are the cells of climb_from. Below threshold, `best` is a lower bound (the
    plain values of the visited cells that contain their maximiser)."""
    n = x.shape[0]
    s_parts, o_parts = [np.zeros((0, n), bool)], [np.zeros(0)]
    if climb_from is not None:
        s_parts.append(climb_from.s)
        o_parts.append(climb_from.o)
    best = 0.0
    for start in range(0, len(starts), SEARCH_BLOCK):
        block = starts[start : start + SEARCH_BLOCK]
        for orient in (1.0, -1.0):
            visited = _ascend(x, orient * q, block)
            visited = visited[_unique_rows(visited, np.full(len(visited), orient))]
            v = orient * (visited.astype(np.float64) @ (q[:, None] * x))  # (c, d)
            plain = np.linalg.norm(v, axis=1)
            z = v @ x.T  # (c, n)
            inside = np.where(visited, z, -z).min(axis=1) >= 0  # maximiser inside the cell
            if inside.any():
                best = max(best, float(plain[inside].max()))
            high = plain > threshold
            s_parts.append(visited[high])
            o_parts.append(np.full(int(high.sum()), orient))
    s, o = np.concatenate(s_parts), np.concatenate(o_parts)
    first = _unique_rows(s, o)
    s, o, face, h, best_climb = _climb(x, q, s[first], o[first], threshold)
    best = max(best, best_climb)
    hit = np.flatnonzero(h > threshold)
    hit = hit[np.argsort(-h[hit], kind="stable")][:keep]
    return _Found(_Cells.make(s[hit], o[hit], face[hit], x), best)


# --------------------------------------------------------------------------------------------
# The final measure and its certificate
# --------------------------------------------------------------------------------------------


def _random_directions(k: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """k directions (k, d) uniform on S^{d-1}."""
    g = rng.standard_normal((k, d))
    return g / np.linalg.norm(g, axis=1, keepdims=True)


def merge_atoms(
    theta: np.ndarray, c: np.ndarray, x: np.ndarray, tol: float = 1e-9
) -> tuple[np.ndarray, np.ndarray]:
    """Atoms of one sign in one closed cell merged into one, at u/|u| with weight |u|, u =
    sum_j c_j theta_j (the cell of theta is its pattern {i: theta.x_i > tol}).

    relu is linear on a closed cell, so f at the training points moves by at most tol |c| (atoms
    within tol of a circle) and |mu|_TV does not increase. Zero weights are dropped.
    """
    nonzero = c != 0
    theta, c = theta[nonzero], c[nonzero]
    pattern = (theta @ x.T) > tol
    keys = _keys(pattern, np.full((c.size, 1), -1), c)
    _, first, group = np.unique(keys, return_index=True, return_inverse=True)
    u = np.zeros((first.size, theta.shape[1]))
    np.add.at(u, group, c[:, None] * theta)
    norm = np.linalg.norm(u, axis=1)  # (groups,)
    order = np.argsort(first)  # first-occurrence order: deterministic
    return (u / norm[:, None])[order], (np.sign(c[first]) * norm)[order]


class _Basis:
    """A basis B = a[:, basis] of the columns of a (n, k) with its explicit inverse, updated in
    O(n^2) per column exchange and recomputed every REFRESH exchanges (rounding)."""

    REFRESH = 256

    def __init__(self, a: np.ndarray, basis: np.ndarray) -> None:
        self.a, self.basis = a, basis.copy()
        self.refresh()

    def refresh(self) -> None:
        self.inv = np.linalg.inv(self.a[:, self.basis])  # (n, n)
        self.updates = 0

    def exchange(self, slot: int, j: int, u: np.ndarray) -> None:
        """Column j (u = B^-1 a_j) replaces the column at `slot`."""
        self.basis[slot] = j
        if self.updates >= self.REFRESH:
            self.refresh()
            return
        row = self.inv[slot] / u[slot]  # (n,)
        self.inv -= np.outer(u, row)
        self.inv[slot] += row
        self.updates += 1


def _vertex(a: np.ndarray, b: np.ndarray, w: np.ndarray, max_pivots: int) -> np.ndarray:
    """An optimal vertex of min sum_j w_j subject to a w = b, w >= 0, from a feasible w (k,).

    Crossover as in interior-point LP solvers (Megiddo 1991): a basis of n columns is chosen among
    the support of w (pivoted QR of the columns scaled by w: the heavy ones first), then every
    other column of the support is pushed to 0 (the lightest together first, while possible)
    along the edge that keeps a w = b and does not increase sum w (decreasing w_j if its reduced cost 1 - 1^T B^-1 a_j is >= 0, increasing it
    otherwise), exchanging it into the basis when a basic weight hits 0 first; from the vertex
    reached, the primal simplex method (Dantzig's rule, Bland's when stalled) to optimality.
    Returns the weights (k,), at most n nonzero, fitting b exactly also when the starting w fits
    it only up to rounding (the pushes keep a w fixed; the last solve fits b).
    """
    n, k = a.shape
    w = w.copy()
    support = np.flatnonzero(w > 0)
    _, r, order = scipy.linalg.qr(a[:, support] * w[support], mode="economic", pivoting=True)
    rank = int((np.abs(np.diag(r)) > 1e-10 * abs(r[0, 0])).sum())
    basis = support[order[:rank]]
    if rank < n:  # complete with columns outside the support (at weight 0)
        rest = np.setdiff1d(np.arange(k), basis)
        q_b = np.linalg.qr(a[:, basis])[0]
        resid = a[:, rest] - q_b @ (q_b.T @ a[:, rest])
        _, r2, order2 = scipy.linalg.qr(resid, mode="economic", pivoting=True)
        basis = np.concatenate([basis, rest[order2[: n - rank]]])
    state = _Basis(a, basis)
    in_basis = np.zeros(k, bool)
    in_basis[state.basis] = True
    pushes = support[~in_basis[support]]
    pushes = pushes[np.argsort(w[pushes], kind="stable")]  # lightest first
    # Most of a centre's weights are tiny (the inactive constraints'): the lightest columns are
    # pushed together (their combined edge) when that keeps w_B >= 0 without increasing sum w.
    count = pushes.size
    while count > 0:
        batch = pushes[:count]
        w_b = w[state.basis] + state.inv @ (a[:, batch] @ w[batch])
        if w_b.min() >= 0 and w_b.sum() <= w[state.basis].sum() + w[batch].sum():
            w[state.basis] = w_b
            w[batch] = 0.0
            break
        count //= 2
    for j in pushes:
        if in_basis[j] or w[j] == 0:
            continue
        u = state.inv @ a[:, j]  # (n,)
        w_b = w[state.basis]
        tol = 1e-12 * np.abs(u).max()
        direction = 1.0 if 1.0 - u.sum() < 0 else -1.0  # sign of the change of w_j
        block = (direction * u > tol) if direction > 0 else (u < -tol)
        ratio = np.where(block, w_b / np.where(block, np.abs(u), 1.0), np.inf)
        slot = int(np.argmin(ratio))
        step = float(ratio[slot])
        if direction < 0 and w[j] <= step:
            w[state.basis] = w_b + w[j] * u
            w[j] = 0.0
            continue
        w[state.basis] = w_b - direction * step * u
        w[j] += direction * step
        leaving = state.basis[slot]
        w[leaving] = 0.0
        in_basis[leaving], in_basis[j] = False, True
        state.exchange(slot, j, u)
    stalled, best = 0, math.inf
    ones = np.ones(n)
    for _ in range(max_pivots):
        w_b = np.maximum(state.inv @ b, 0.0)  # exact fit of the current basis
        total = float(w_b.sum())
        stalled = stalled + 1 if total >= best - 1e-15 * best else 0
        best = min(best, total)
        price = 1.0 - (ones @ state.inv) @ a  # (k,) reduced costs
        price[state.basis] = 0.0
        entering = np.flatnonzero(price < -1e-11)
        if entering.size == 0:
            break
        j = entering[0] if stalled > 20 else entering[np.argmin(price[entering])]
        u = state.inv @ a[:, j]
        up = u > 1e-12 * np.abs(u).max()
        if not up.any():
            break  # an unbounded edge cannot exist (costs 1, w >= 0): rounding
        ratio = np.where(up, w_b / np.where(up, u, 1.0), np.inf)
        state.exchange(int(np.argmin(ratio)), j, u)
    state.refresh()
    # Without clipping: a degenerate vertex can give -1e-12-ish weights, atoms of the other sign
    # that cost their |w| and keep the fit exact.
    out = np.zeros(k)
    out[state.basis] = np.linalg.solve(a[:, state.basis], b)  # backward stable: tiny residual
    return out


def _crossover(
    centre: _Centre, x: np.ndarray, y: np.ndarray, penalty: float
) -> tuple[np.ndarray, np.ndarray]:
    """A measure with at most n atoms at least as good as a barrier centre, or the centre's.

    The centre spreads weight over every constraint that is nearly active (the continuous problem
    is close to degenerate: g_q stays within ~1e-4 of its bound on many cells), so it has more
    atoms than a vertex of the problem. With the centre's (merged) atom directions and signs
    fixed, min |mu|_TV subject to fitting the centre's predictions (y itself for penalty = 0) is a
    linear programme of which the centre is a feasible point: _vertex finds a vertex no worse,
    with at most n atoms. Kept if it fits to 1e-9 (relative) and its |mu|_TV does not exceed the
    centre's (up to CROSSOVER_SLACK: for penalty = 0 the centre fits y only up to its centering
    error); else the merged centre is returned.
    """
    theta, c = merge_atoms(centre.theta, centre.c, x)
    # The centre's predictions for penalty > 0; for penalty = 0, y itself (exact interpolation).
    target = y - centre.residual if penalty > 0 else y
    features = relu_features(theta, x) * np.sign(c)  # (n, m) sign-flipped: weights >= 0
    n = len(y)
    if c.size < n:
        return theta, c
    w = _vertex(features, target, np.abs(c), max_pivots=CROSSOVER_PIVOTS)
    misfit = np.abs(features @ w - target).max()
    tv, tv_centre = float(np.abs(w).sum()), float(np.abs(c).sum())
    if misfit > 1e-9 * np.abs(target).max() or tv > (1 + CROSSOVER_SLACK) * tv_centre:
        return theta, c
    on = w != 0
    return theta[on], (np.sign(c) * w)[on]


def _dense_search(
    x: np.ndarray,
    p: np.ndarray,
    bound: float,
    rng: np.random.Generator,
    starts: int,
    extra: np.ndarray,
    keep: int,
    climb_from: _Cells | None = None,
) -> _Found:
    """The search from `starts` random directions and the rows of `extra` (k, d); its `best`
    also covers the values of g at `starts` further random directions (a check on the ascent)."""
    d = x.shape[1]
    begin = np.concatenate([_random_directions(starts, d, rng), extra])
    found = _search(x, p, begin, bound, keep, climb_from)
    sample = _random_directions(starts, d, rng)
    for start in range(0, starts, SEARCH_BLOCK):
        g = np.maximum(sample[start : start + SEARCH_BLOCK] @ x.T, 0.0) @ p  # (block,)
        found.best = max(found.best, float(np.abs(g).max()))
    return found


def dual_sup(
    x: np.ndarray,
    p: np.ndarray,
    bound: float,
    rng: np.random.Generator,
    starts: int,
    extra: np.ndarray,
) -> float:
    """sup_theta |sum_i p_i relu(theta . x_i)| as found by a dense search, exact when it exceeds
    bound: the exact maxima of the cells where the ascent and climb end from `starts` random
    directions and the rows of `extra` (k, d), and the values at `starts` random directions."""
    return _dense_search(x, p, bound, rng, starts, extra, keep=0).best


# --------------------------------------------------------------------------------------------
# The solver
# --------------------------------------------------------------------------------------------


class _Progress:
    """Sends a line to `log` at most every LOG_EVERY_S seconds (and on demand)."""

    def __init__(self, log: Callable[[str], None] | None, begin: float) -> None:
        self.log, self.begin, self.last = log, begin, begin
        self.status = "starting"

    def __call__(self, force: bool = False) -> None:
        now = time.perf_counter()
        if self.log is not None and (force or now - self.last >= LOG_EVERY_S):
            self.log(f"sparse: {now - self.begin:7.1f} s  {self.status}")
            self.last = now


def _dual_bound(q: np.ndarray, y: np.ndarray, penalty: float, sup: float) -> float:
    """D of the dual point q (p = penalty q, or q itself for penalty 0) scaled to feasibility,
    given sup |g_q| = sup."""
    if penalty > 0:
        p = penalty * q * min(1.0, 1.0 / sup) if sup > 0 else penalty * q
        return float(p @ y) - 0.5 * len(y) * float(p @ p)
    return float(q @ y) / max(1.0, sup)


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
    n, d = x.shape
    penalty = float(spec.penalty)
    rng = np.random.default_rng([int(seed), SEED_SALT])
    progress = _Progress(log, begin)
    starts = spec.starts or max(1000, 2 * n)
    certify_starts = spec.certify_starts or max(2000, 20 * n)
    add_cells = spec.add_cells or n
    prob = _Problem(x, y, n * penalty, x @ x.T)
    history: dict[str, list[float]] = {
        k: [] for k in ("objective", "gap", "cells", "active", "refaced", "seconds")
    }
    no_face = np.full((n, 1), -1)

    # Seed constraints: the cells of random directions and of the data points (each point lies
    # in its own: for penalty = 0 a point in no cell would leave the restricted dual unbounded).
    seeds = np.concatenate([x, _random_directions(spec.init_cells or max(200, n), d, rng)])
    s0 = (seeds @ x.T) > 0
    cells = _Cells.make(s0, np.ones(len(s0)), np.full((len(s0), 1), -1), x)
    if not y.any():  # mu = 0 is optimal
        zero = np.zeros(0)
        return _finish(x, y, spec, np.zeros((0, d)), zero, y * 0, 0.0, rng, 0, 0, history, begin)
    q = y * 0.5 / _values(y, cells, x)[1].max()
    t = _initial_t(q, cells, prob)
    newton, iteration, dense_sup = 0, 0, None
    for iteration in range(1, spec.max_iter + 1):
        while True:  # path following until the barrier's own gap is small
            progress.status = f"iteration {iteration}: centering at t = {t:.2e}, {len(cells)} cells"
            q, steps = _center(q, cells, prob, t, progress)
            newton += steps
            centre = _centre_measure(q, cells, prob, t, penalty)
            if centre.objective - centre.dual < 0.25 * spec.gap_tol * centre.objective:
                break
            if steps == MAX_NEWTON:
                break  # not centred: search from here, and restart at a smaller t
            t *= BARRIER_MU
        # Over-restrictive constraints (maximiser out of its cell) are replaced: until none is
        # active, the centre's measure is not a measure of relu atoms and its objective is not
        # attained.
        bad, refaced = _reface(q, cells, x)
        active = centre.h > 1 - ACTIVE
        # Violators of the dual constraint: from random directions and the atoms, and climbing
        # from the active constraints' cells.
        atoms = centre.theta[active] * cells.o[active, None]
        begin_at = np.concatenate([_random_directions(starts, d, rng), atoms])
        found = _search(x, q, begin_at, 1.0, add_cells, cells.take(active))
        sup = max(found.best, float(centre.h.max()))
        gap = (centre.objective - _dual_bound(q, y, penalty, sup)) / centre.objective
        if gap <= spec.gap_tol and not (bad & active).any():
            # Confirm with the dense search of the certificate; its violators are added if any.
            extra = np.concatenate([x, atoms])
            found = _dense_search(
                x, q, 1.0, rng, certify_starts, extra, add_cells, cells.take(active)
            )
            sup = max(sup, found.best)
            gap = (centre.objective - _dual_bound(q, y, penalty, sup)) / centre.objective
            dense_sup = sup
        for key, value in (
            ("objective", centre.objective),
            ("gap", gap),
            ("cells", len(cells)),
            ("active", int(active.sum())),
            ("refaced", int(bad.sum())),
            ("seconds", time.perf_counter() - begin),
        ):
            history[key].append(value)
        progress.status = (
            f"iteration {iteration}: objective {centre.objective:.8g}, gap {gap:.2e}, "
            f"{int(active.sum())} active constraints of {len(cells)}, {int(bad.sum())} refaced"
        )
        progress()
        if dense_sup is not None and gap <= spec.gap_tol:
            break
        dense_sup = None
        # The next restricted problem: refaced constraints, less the far inactive ones, plus the
        # violators, plus the data points' cells of points no constraint sees.
        cells = cells.take((centre.h >= spec.prune) & ~bad).union(refaced).union(found.cells)
        unseen = ~cells.s.any(axis=0)
        if penalty == 0 and unseen.any():
            cells = cells.union(
                _Cells.make(s0[:n][unseen], np.ones(int(unseen.sum())), no_face[unseen], x)
            )
        h = _values(q, cells, x)[1]
        if h.max() > 1 - RESTART_MARGIN:
            q = q * (1 - RESTART_MARGIN) / h.max()
        t /= RESTART_T

    theta, c = _crossover(centre, x, y, penalty)
    return _finish(
        x, y, spec, theta, c, q, dense_sup, rng, iteration, newton, history, begin, progress
    )


def _finish(
    x: np.ndarray,
    y: np.ndarray,
    spec: SparseSpec,
    theta: np.ndarray,
    c: np.ndarray,
    q: np.ndarray,
    sup_q: float | None,
    rng: np.random.Generator,
    iterations: int,
    newton: int,
    history: dict[str, list[float]],
    begin: float,
    progress: _Progress | None = None,
) -> SparseResult:
    """Objective, certificate and result of the final measure (theta, c).

    The dual points are q (penalty 0), or (y - f)/n and penalty q (penalty > 0); sup_q, the sup
    of |g_q| found by the solver's last dense search (None: none was made at this q), is reused
    for q, and (y - f)/n gets its own.
    """
    n, d = x.shape
    penalty = float(spec.penalty)
    residual = y - relu_features(theta, x) @ c
    tv = float(np.abs(c).sum())
    if penalty > 0:
        objective = 0.5 / n * float(residual @ residual) + penalty * tv
    else:
        objective = tv
    # The dual point of the brief for penalty > 0 is p = (y - f)/n; the barrier's own p = penalty q
    # is often better (f fits the centre's predictions, which match n penalty q only up to the
    # centering error, ~1e-4 relative): both are certified by a dense search and the larger D kept.
    extra = np.concatenate([x, theta * np.sign(c)[:, None]])
    starts = spec.certify_starts or max(2000, 20 * n)
    points = [residual / n, penalty * q] if penalty > 0 else [q]
    bound = penalty if penalty > 0 else 1.0
    dual, sup = -math.inf, math.inf
    for k, p in enumerate(points):
        last = k == len(points) - 1  # the point q
        if last and sup_q is not None:
            sup_p = bound * sup_q
        else:
            sup_p = dual_sup(x, p, bound, rng, starts, extra)
        dual_p = _dual_bound(p / bound, y, penalty, sup_p / bound)
        if dual_p > dual:
            dual, sup = dual_p, sup_p
    gap = (objective - dual) / objective if objective > 0 else 0.0
    result = SparseResult(
        theta=theta,
        c=c,
        penalty=penalty,
        objective=objective,
        tv=tv,
        dual_bound=dual,
        duality_gap=gap,
        dual_violation=max(0.0, sup / bound - 1.0),
        train_residual=float(np.abs(residual).max()) if n else 0.0,
        iterations=iterations,
        converged=bool(gap <= spec.gap_tol),
        seconds=time.perf_counter() - begin,
        newton_steps=newton,
        history={k: np.asarray(v, dtype=np.float64) for k, v in history.items()},
    )
    if progress is not None:
        progress.status = (
            f"done: objective {objective:.10g}, gap {gap:.2e}, dual violation "
            f"{result.dual_violation:.1e}, {c.size} atoms, residual {result.train_residual:.1e}, "
            f"{iterations} iterations, {newton} Newton steps"
        )
        progress(force=True)
    return result
