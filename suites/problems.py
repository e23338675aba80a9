"""Benchmark problems with known optima, generated from seeds (nothing is downloaded).

Every problem is pure float64 NumPy. ``Problem.instance(seed)`` builds the objective for one
seed: for seeded problems the seed draws the instance (rotation, data, initial point); for
stochastic problems a run draws its gradient noise from its own ``np.random.Generator``.
``f_star`` is computed the way the issue names (closed form, Newton's method, lstsq, a
multistart for the non-convex MLP); ``verify_f_star`` re-derives it independently with
scipy.optimize so a wrong optimum cannot hide.

Reddi, Kale & Kumar's online counterexample is an ``OnlineProblem``: its loss changes with t
and its domain is [-1, 1], so it is run by its own protocol (fixed alpha/sqrt(t), no tuning).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.optimize
from scipy.special import expit

Array = np.ndarray
FG = Callable[[Array], tuple[float, Array]]


@dataclass(frozen=True)
class Instance:
    """One seeded objective: f and its exact gradient, the optimum, a start point."""

    x0: Array
    fg: FG  # exact (f(x), grad f(x))
    f_star: float
    x_star: Array | None
    # Minibatch / noisy gradient g(x, rng) with E g = grad f; None for deterministic problems.
    sample_grad: Callable[[Array, np.random.Generator], Array] | None = None
    hessian: Array | None = None  # constant Hessian of the quadratics
    info: dict = field(default_factory=dict)

    def f(self, x: Array) -> float:
        return self.fg(x)[0]

    def grad(self, x: Array) -> Array:
        return self.fg(x)[1]


@dataclass(frozen=True)
class Problem:
    name: str
    title: str
    dim: int
    steps: int  # the default step budget (the same for every optimizer)
    stochastic: bool
    seeded: bool  # the instance itself depends on the seed
    f_star_method: str
    build: Callable[[int], Instance]
    # (mu, L) for quadratics with a seed-independent spectrum: used by the theory table.
    curvature: tuple[float, float] | None = None
    notes: str = ""

    @property
    def deterministic(self) -> bool:
        """Same trajectory for every seed: one run stands for all of them."""
        return not (self.stochastic or self.seeded)

    def instance(self, seed: int) -> Instance:
        return _instance(self.name, int(seed))


@functools.lru_cache(maxsize=64)
def _instance(name: str, seed: int) -> Instance:
    return PROBLEMS[name].build(seed)


# ---------------------------------------------------------------------------------------------
# Quadratics


def haar_rotation(d: int, rng: np.random.Generator) -> Array:
    """A Haar-distributed orthogonal matrix: QR of a Gaussian with R's diagonal made positive
    (Mezzadri 2007, sec. 5); without the sign fix Q is not Haar."""
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def _quadratic(h: Array, x0: Array, info: dict | None = None) -> Instance:
    # f = x'Hx/2 with minimiser 0: the iteration is linear and keeps its relative precision as
    # x shrinks, so contraction rates can be measured over hundreds of decades (theory table).
    def fg(x: Array) -> tuple[float, Array]:
        g = h @ x
        return 0.5 * float(x @ g), g

    return Instance(x0, fg, 0.0, np.zeros_like(x0), hessian=h, info=info or {})


def _illcond(seed: int) -> Instance:
    rng = np.random.default_rng(seed)
    eig = np.logspace(0.0, 2.0, 50)
    q = haar_rotation(50, rng)
    h = (q * eig) @ q.T
    h = 0.5 * (h + h.T)  # exactly symmetric
    return _quadratic(h, rng.standard_normal(50), {"eigenvalues": eig})


def _diag2d(seed: int) -> Instance:
    # A generic start: from (1, 1) Adam's first step, lr * sign(g), lands exactly on x* for
    # lr = 1, which would be luck, not speed.
    return _quadratic(np.diag([1.0, 100.0]), np.array([0.7, 0.45]))


def _nqm(batch: int) -> Callable[[int], Instance]:
    # Zhang et al. 2019 (NQM): H = diag(h_i), h_i = 1/i, gradient noise covariance C = H / B.
    d = 100
    h = 1.0 / np.arange(1, d + 1)
    sd = np.sqrt(h / batch)

    def build(seed: int) -> Instance:
        base = _quadratic(np.diag(h), np.ones(d))

        def sample_grad(x: Array, rng: np.random.Generator) -> Array:
            return h * x + sd * rng.standard_normal(d)

        def fg(x: Array) -> tuple[float, Array]:
            g = h * x
            return 0.5 * float(x @ g), g

        return Instance(
            base.x0, fg, 0.0, base.x_star, sample_grad, hessian=np.diag(h), info={"batch": batch}
        )

    return build


# ---------------------------------------------------------------------------------------------
# Classic test functions


def rosenbrock_fg(x: Array) -> tuple[float, Array]:
    """Chained Rosenbrock sum 100(x_{i+1} - x_i^2)^2 + (1 - x_i)^2; minimum 0 at ones."""
    a, b = x[:-1], x[1:]
    r = b - a * a
    f = float(np.sum(100.0 * r * r + (1.0 - a) ** 2))
    g = np.zeros_like(x)
    g[:-1] = -400.0 * a * r - 2.0 * (1.0 - a)
    g[1:] += 200.0 * r
    return f, g


def _rosenbrock(x0: Array) -> Callable[[int], Instance]:
    def build(seed: int) -> Instance:
        return Instance(x0.copy(), rosenbrock_fg, 0.0, np.ones_like(x0))

    return build


def beale_fg(x: Array) -> tuple[float, Array]:
    """Beale (1958): sum_i (c_i - x + x y^i)^2, c = (1.5, 2.25, 2.625); minimum 0 at (3, 0.5)."""
    u, v = x
    c = np.array([1.5, 2.25, 2.625])
    k = np.arange(1, 4)
    r = c - u + u * v**k
    f = float(r @ r)
    gu = float(2.0 * r @ (v**k - 1.0))
    gv = float(2.0 * r @ (u * k * v ** (k - 1)))
    return f, np.array([gu, gv])


# ---------------------------------------------------------------------------------------------
# Seeded data problems


def _logistic(seed: int) -> Instance:
    # L2-regularised logistic regression, labels y in {-1, 1} drawn from a logistic model.
    rng = np.random.default_rng(seed)
    n, d, lam = 400, 10, 1e-2
    a = rng.standard_normal((n, d)) * np.logspace(0.0, -1.0, d)
    w = rng.standard_normal(d) * 2.0
    y = np.where(rng.random(n) < expit(a @ w), 1.0, -1.0)

    def fg(x: Array) -> tuple[float, Array]:
        z = y * (a @ x)
        f = float(np.mean(np.logaddexp(0.0, -z)) + 0.5 * lam * (x @ x))
        g = -(a.T @ (y * expit(-z))) / n + lam * x
        return f, g

    x_star = newton_logistic(a, y, lam)
    info = {"a": a, "y": y, "lambda": lam}
    return Instance(np.zeros(d), fg, fg(x_star)[0], x_star, info=info)


def newton_logistic(a: Array, y: Array, lam: float, tol: float = 1e-13) -> Array:
    """Newton's method with backtracking; the objective is lam-strongly convex, so it converges
    quadratically and stops when the Newton decrement is at round-off level."""
    n, d = a.shape
    x = np.zeros(d)

    def f(x: Array) -> float:
        return float(np.mean(np.logaddexp(0.0, -y * (a @ x))) + 0.5 * lam * (x @ x))

    for _ in range(100):
        z = y * (a @ x)
        s = expit(-z)
        g = -(a.T @ (y * s)) / n + lam * x
        h = (a.T * (s * (1.0 - s))) @ a / n + lam * np.eye(d)
        step = np.linalg.solve(h, g)
        decrement = float(g @ step)
        if decrement < tol**2:
            break
        t, f0 = 1.0, f(x)
        while f(x - t * step) > f0 - 0.25 * t * decrement and t > 1e-10:
            t *= 0.5
        x = x - t * step
    return x


def _least_squares(seed: int) -> Instance:
    # f = |Ax - b|^2 / 2n with noisy targets (no interpolation): minibatch SGD has a noise
    # floor, which is what learning-rate schedules are for.
    rng = np.random.default_rng(seed)
    n, d, batch = 512, 20, 16
    a = rng.standard_normal((n, d)) * np.logspace(0.0, -1.0, d)
    b = a @ rng.standard_normal(d) + 0.5 * rng.standard_normal(n)

    def fg(x: Array) -> tuple[float, Array]:
        r = a @ x - b
        return float(r @ r) / (2 * n), a.T @ r / n

    def sample_grad(x: Array, rng: np.random.Generator) -> Array:
        idx = rng.integers(0, n, size=batch)
        ab = a[idx]
        return ab.T @ (ab @ x - b[idx]) / batch

    x_star = np.linalg.lstsq(a, b, rcond=None)[0]
    info = {"a": a, "b": b, "batch": batch}
    return Instance(np.zeros(d), fg, fg(x_star)[0], x_star, sample_grad, info=info)


MLP_HIDDEN = 16
MLP_LAMBDA = 1e-2


def mlp_unpack(theta: Array, hidden: int = MLP_HIDDEN) -> tuple[Array, Array, Array, float]:
    w1 = theta[: 2 * hidden].reshape(hidden, 2)
    b1 = theta[2 * hidden : 3 * hidden]
    w2 = theta[3 * hidden : 4 * hidden]
    return w1, b1, w2, float(theta[4 * hidden])


def blobs(seed: int, n: int = 200) -> tuple[Array, Array]:
    """Two overlapping Gaussian blobs in 2-D, labels +-1 (so the loss has a finite minimum)."""
    rng = np.random.default_rng(seed)
    y = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    x = rng.standard_normal((n, 2)) + np.outer(y, [1.0, 0.5])
    return x, y


def mlp_fg(theta: Array, x: Array, y: Array, lam: float = MLP_LAMBDA) -> tuple[float, Array]:
    """2-16-1 tanh network, logistic loss mean(log(1 + exp(-y s))) + lam/2 |theta|^2."""
    w1, b1, w2, b2 = mlp_unpack(theta)
    n = len(y)
    hid = np.tanh(x @ w1.T + b1)
    s = hid @ w2 + b2
    z = y * s
    f = float(np.mean(np.logaddexp(0.0, -z)) + 0.5 * lam * (theta @ theta))
    ds = -y * expit(-z) / n
    dz = np.outer(ds, w2) * (1.0 - hid * hid)
    g = np.concatenate([(dz.T @ x).ravel(), dz.sum(0), hid.T @ ds, [ds.sum()]]) + lam * theta
    return f, g


def _mlp_init(rng: np.random.Generator) -> Array:
    h = MLP_HIDDEN
    # LeCun-normal weights (variance 1/fan_in), zero biases.
    return np.concatenate(
        [rng.standard_normal(2 * h) / math.sqrt(2), np.zeros(h), rng.standard_normal(h) / 4, [0]]
    )


MLP_STARTS = 5


def _mlp(seed: int) -> Instance:
    x, y = blobs(seed)
    rng = np.random.default_rng([seed, 1])
    x0 = _mlp_init(rng)

    def fg(theta: Array) -> tuple[float, Array]:
        return mlp_fg(theta, x, y)

    # Non-convex: f* is the best local minimum of L-BFGS from x0 and seeded restarts.
    starts = [x0] + [_mlp_init(rng) for _ in range(MLP_STARTS - 1)]
    best = min((_lbfgs(fg, s) for s in starts), key=lambda r: r[0])
    return Instance(x0, fg, best[0], best[1], info={"x": x, "y": y, "lambda": MLP_LAMBDA})


def _lbfgs(fg: FG, x0: Array) -> tuple[float, Array]:
    res = scipy.optimize.minimize(
        fg, x0, jac=True, method="L-BFGS-B", options={"gtol": 1e-12, "ftol": 0, "maxiter": 20000}
    )
    return float(res.fun), res.x


# ---------------------------------------------------------------------------------------------
# The table


def _p(problem: Problem) -> tuple[str, Problem]:
    return problem.name, problem


PROBLEMS: dict[str, Problem] = dict(
    [
        _p(
            Problem(
                "quad-illcond",
                "Ill-conditioned quadratic, d=50, eig logspace(0, 2), Haar rotation",
                50,
                1000,
                stochastic=False,
                seeded=True,
                f_star_method="closed form (0 at x=0)",
                build=_illcond,
                curvature=(1.0, 100.0),
            )
        ),
        _p(
            Problem(
                "quad-diag2d",
                "Diagonal quadratic diag(1, 100) from (0.7, 0.45)",
                2,
                1000,
                stochastic=False,
                seeded=False,
                f_star_method="closed form (0 at x=0)",
                build=_diag2d,
                curvature=(1.0, 100.0),
            )
        ),
        *[
            _p(
                Problem(
                    f"nqm-b{b}",
                    f"Noisy quadratic model, d=100, h_i=1/i, C=H/B, B={b}",
                    100,
                    1000,
                    stochastic=True,
                    seeded=False,
                    f_star_method="closed form (0 at x=0)",
                    build=_nqm(b),
                    notes="Zhang et al. 2019; gradient noise from the run's seed",
                )
            )
            for b in (1, 10, 100)
        ],
        _p(
            Problem(
                "rosenbrock-2d",
                "Rosenbrock 2-D from (-1.2, 1)",
                2,
                2000,
                stochastic=False,
                seeded=False,
                f_star_method="closed form (0 at ones)",
                build=_rosenbrock(np.array([-1.2, 1.0])),
            )
        ),
        _p(
            Problem(
                "rosenbrock-2d-far",
                "Rosenbrock 2-D from (-2, 2)",
                2,
                2000,
                stochastic=False,
                seeded=False,
                f_star_method="closed form (0 at ones)",
                build=_rosenbrock(np.array([-2.0, 2.0])),
            )
        ),
        _p(
            Problem(
                "rosenbrock-10d",
                "Rosenbrock 10-D (chained) from (-1.2, 1, -1.2, 1, ...)",
                10,
                2000,
                stochastic=False,
                seeded=False,
                f_star_method="closed form (0 at ones)",
                build=_rosenbrock(np.tile([-1.2, 1.0], 5)),
                notes="has a second local minimum near x_1 = -1 (f about 3.99)",
            )
        ),
        _p(
            Problem(
                "beale",
                "Beale from (1, 1)",
                2,
                1000,
                stochastic=False,
                seeded=False,
                f_star_method="closed form (0 at (3, 0.5))",
                build=lambda seed: Instance(
                    np.array([1.0, 1.0]), beale_fg, 0.0, np.array([3, 0.5])
                ),
            )
        ),
        _p(
            Problem(
                "logistic",
                "L2-regularised logistic regression, n=400, d=10, lambda=1e-2",
                10,
                1000,
                stochastic=False,
                seeded=True,
                f_star_method="Newton's method",
                build=_logistic,
            )
        ),
        _p(
            Problem(
                "least-squares",
                "Least squares, n=512, d=20, minibatch 16",
                20,
                1000,
                stochastic=True,
                seeded=True,
                f_star_method="lstsq",
                build=_least_squares,
            )
        ),
        _p(
            Problem(
                "mlp-blobs",
                "MLP 2-16-1 tanh on two Gaussian blobs, n=200, L2 1e-2",
                4 * MLP_HIDDEN + 1,
                1000,
                stochastic=False,
                seeded=True,
                f_star_method=f"best of {MLP_STARTS} L-BFGS local minima",
                build=_mlp,
                notes="non-convex: f* is the best local minimum found; a run may go below it",
            )
        ),
    ]
)


# ---------------------------------------------------------------------------------------------
# Independent verification of f*


@dataclass(frozen=True)
class FStarCheck:
    problem: str
    seed: int
    f_star: float
    f_check: float  # what the independent method found
    method: str

    @property
    def error(self) -> float:
        """f_check - f*: negative means the independent method found a lower value."""
        return self.f_check - self.f_star


def verify_f_star(problem: Problem, seed: int = 0) -> FStarCheck:
    """Re-derive f* by a method that shares no code with how it was computed.

    Quadratics and the closed forms: scipy.optimize's own test functions where it has them
    (rosen), else trust-exact Newton on the analytic Hessian / BFGS from x0 and from x*+noise.
    Logistic (Newton) and least squares (lstsq): scipy BFGS to gtol 1e-10. MLP (L-BFGS-B
    multistart): BFGS, a different quasi-Newton method, from the same starts.
    """
    inst = problem.instance(seed)
    name = problem.name
    if name.startswith("rosenbrock"):

        def fg(x: Array) -> tuple[float, Array]:
            return float(scipy.optimize.rosen(x)), scipy.optimize.rosen_der(x)

        # From x*: scipy's rosen (independent code) and BFGS confirm the minimum value there;
        # from x0 the 10-D chain may stop at its second local minimum, which says nothing of f*.
        rng = np.random.default_rng(seed)
        start = inst.x_star + 0.1 * rng.standard_normal(problem.dim)
        res = scipy.optimize.minimize(fg, start, jac=True, method="BFGS", options={"gtol": 1e-10})
        return FStarCheck(name, seed, inst.f_star, float(res.fun), "scipy rosen + BFGS")
    if inst.hessian is not None:
        h = inst.hessian
        res = scipy.optimize.minimize(
            lambda x: 0.5 * x @ h @ x,
            inst.x0,
            jac=lambda x: h @ x,
            hess=lambda x: h,
            method="trust-exact",
            options={"gtol": 1e-14},
        )
        return FStarCheck(name, seed, inst.f_star, float(res.fun), "scipy trust-exact")
    if name == "beale":
        res = scipy.optimize.minimize(
            inst.fg, inst.x0, jac=True, method="BFGS", options={"gtol": 1e-12}
        )
        return FStarCheck(name, seed, inst.f_star, float(res.fun), "scipy BFGS from x0")
    if name == "mlp-blobs":
        rng = np.random.default_rng([seed, 1])
        starts = [_mlp_init(rng) for _ in range(MLP_STARTS)]
        starts[0] = inst.x0
        best = min(
            float(
                scipy.optimize.minimize(
                    inst.fg, s, jac=True, method="BFGS", options={"gtol": 1e-9, "maxiter": 20000}
                ).fun
            )
            for s in starts
        )
        return FStarCheck(name, seed, inst.f_star, best, "scipy BFGS from the same starts")
    res = scipy.optimize.minimize(
        inst.fg, inst.x0, jac=True, method="BFGS", options={"gtol": 1e-10, "maxiter": 10000}
    )
    return FStarCheck(name, seed, inst.f_star, float(res.fun), "scipy BFGS from x0")


# ---------------------------------------------------------------------------------------------
# Reddi, Kale & Kumar 2018, sec. 3 / sec. 5 synthetic experiment


@dataclass(frozen=True)
class OnlineProblem:
    """f_t(x) = C x if t mod P == 1 else -x * small, on [-1, 1] (t counts from 1).

    With C = 1010, P = 101, small = 10 the average gradient is (C - (P-1) small)/P = 10/101
    > 0, so the optimum is x* = -1; Adam with beta1 = 0.9, beta2 = 0.99 drifts to +1.
    """

    big: float = 1010.0
    small: float = 10.0
    period: int = 101
    lo: float = -1.0
    hi: float = 1.0
    betas: tuple[float, float] = (0.9, 0.99)
    x_star: float = -1.0

    def grad(self, t: int) -> float:
        return self.big if t % self.period == 1 else -self.small

    def loss(self, x: float, t: int) -> float:
        return self.grad(t) * x

    def project(self, x: Array) -> Array:
        return np.clip(x, self.lo, self.hi)


REDDI = OnlineProblem()
