"""L-BFGS in float64: torch.optim.LBFGS (torch 2.13), step for step, and an exact line search.

Signature. LBFGS is closure-driven: one ``.step(closure)`` evaluates f and ∇f several times
(up to max_eval) at points the algorithm chooses, over all parameters flattened into one
vector, with history shared across tensors. No per-tensor step(param, grad, state, hp, t)
can express that (the gradient is not known in advance), so the reference is

    lbfgs_step(x, closure_fn, state, hp) -> (x, state)

with x the flattened float64 parameter vector (torch's _gather_flat_grad order: parameters
in order, each flattened row-major), closure_fn(x) -> (loss, grad) in float64, and state the
dict torch keeps on its first parameter (func_evals, n_iter, d, t, old_dirs, old_stps, ro,
H_diag, prev_flat_grad, prev_loss, al), never mutated. ``run`` drives several steps.

torch's algorithm (torch/optim/lbfgs.py; Nocedal 1980, Math. Comp. 35; Nocedal & Wright 2006,
Alg. 7.4 two-loop recursion; minFunc's arrangement), per .step(closure):
    f, g = closure(x); stop if max|g| ≤ tolerance_grad
    repeat (n_iter < max_iter):
      first iteration ever: d = -g, H_diag = 1, empty history
      else: y = g - g_prev, s = t·d_prev, ys = yᵀs; if ys > 1e-10: push (y, s, 1/ys) dropping
            the oldest beyond history_size, H_diag = ys / yᵀy;
            d = -H g by the two-loop recursion with H0 = H_diag·I
      t = min(1, 1/‖g‖₁)·lr on the first iteration ever, else lr
      stop if gᵀd > -tolerance_change
      line_search_fn None: x += t d; re-evaluate f, g unless this is the last iteration
      "strong_wolfe": torch's port of minFunc/lswolfe.lua (c1 = 1e-4, c2 = 0.9, cubic
            interpolation of two points with derivatives, bracketing then zoom, at most
            max_eval - evals so far trials), then x += t d
      stop if n_iter = max_iter, evals ≥ max_eval, max|g| ≤ tolerance_grad,
           max|t d| ≤ tolerance_change, or |f - f_prev| < tolerance_change
The "exact" line search (this module's addition, not torch's) minimizes φ(t) = f(x + t d) by
secant steps on φ'(t) = ∇f(x + t d)ᵀd until |φ'| ≤ 1e-12|φ'(0)|: one step is exact on a
quadratic. With it and history ≥ n, L-BFGS on a strongly convex quadratic generates
conjugate directions and reaches the minimizer in at most n iterations (Nocedal 1980;
Nazareth 1979, SIAM J. Numer. Anal. 16: L-BFGS with exact line searches = CG on quadratics).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from optcheck.reference.space import Choice, Int, Real
from optcheck.reference.spec import Array, Hyper, State, Variant

SOURCE = (
    "torch.optim.LBFGS docs and torch/optim/lbfgs.py (torch 2.13, after minFunc); Nocedal "
    "1980; Nocedal & Wright 2006, Alg. 7.4 and Alg. 3.5-3.6 (strong Wolfe)"
)
STATE_KEYS = (
    "func_evals",
    "n_iter",
    "d",
    "t",
    "old_dirs",
    "old_stps",
    "ro",
    "H_diag",
    "prev_flat_grad",
    "prev_loss",
    "al",
)
# torch 2.13: LBFGS has no foreach/fused keyword; one implementation.
IMPLEMENTATIONS = ("forloop",)
SPACE = (
    Real("lr", 1e-4, 1.0, 1.0, log=True, special=(1.0,)),
    Int("max_iter", 1, 100, 20),
    # None means max_iter * 5 // 4
    Choice("max_eval", (None, 1, 5, 25, 100), None),
    Real("tolerance_grad", 1e-12, 1e-3, 1e-7, log=True),
    Real("tolerance_change", 1e-14, 1e-3, 1e-9, log=True),
    Int("history_size", 1, 100, 100),
    Choice("line_search_fn", (None, "strong_wolfe"), None),
)

Closure = Callable[[Array], tuple[float, Array]]


def _defaults(hp: Hyper) -> dict:
    max_iter = hp.get("max_iter", 20)
    max_eval = hp.get("max_eval")
    return {
        "lr": hp.get("lr", 1.0),
        "max_iter": max_iter,
        "max_eval": max_iter * 5 // 4 if max_eval is None else max_eval,
        "tolerance_grad": hp.get("tolerance_grad", 1e-7),
        "tolerance_change": hp.get("tolerance_change", 1e-9),
        "history_size": hp.get("history_size", 100),
        "line_search_fn": hp.get("line_search_fn"),
    }


# --- line searches ---------------------------------------------------------------------------


def cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None) -> float:
    """torch's _cubic_interpolate (from torch/optim polyinterp.lua): the minimizer of the
    cubic through (x1, f1, g1), (x2, f2, g2), clamped to bounds; the midpoint if none."""
    if bounds is not None:
        xmin_bound, xmax_bound = bounds
    else:
        xmin_bound, xmax_bound = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 * d1 - g1 * g2
    if d2_square >= 0:
        d2 = math.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


def strong_wolfe(obj, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """torch's _strong_wolfe, statement for statement. obj(t) -> (f, g) at x + t d.

    Returns (f_new, g_new, t, evaluations)."""
    d_norm = float(np.max(np.abs(d)))
    f_new, g_new = obj(t)
    ls_func_evals = 1
    gtd_new = float(g_new @ d)
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = cubic_interpolate(
            t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step)
        )
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new, gtd_new
        f_new, g_new = obj(t)
        ls_func_evals += 1
        gtd_new = float(g_new @ d)
        ls_iter += 1
    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = cubic_interpolate(
            bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1]
        )
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                if abs(t - max(bracket)) < abs(t - min(bracket)):
                    t = max(bracket) - eps
                else:
                    t = min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False
        f_new, g_new = obj(t)
        ls_func_evals += 1
        gtd_new = float(g_new @ d)
        ls_iter += 1
        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            bracket[high_pos], bracket_f[high_pos] = t, f_new
            bracket_g[high_pos], bracket_gtd[high_pos] = g_new, gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos] = bracket_g[low_pos]
                bracket_gtd[high_pos] = bracket_gtd[low_pos]
            bracket[low_pos], bracket_f[low_pos] = t, f_new
            bracket_g[low_pos], bracket_gtd[low_pos] = g_new, gtd_new
    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals


def exact_line_search(obj, t, d, f, g, gtd, max_ls=25, rtol=1e-12):
    """Minimize φ(t) = f(x + t d) by secant steps on φ'(t), from the points 0 and t.

    Exact after one secant step when f is quadratic (φ' is then affine). Returns
    (f_new, g_new, t, evaluations), like strong_wolfe."""
    t_prev, dphi_prev = 0.0, gtd
    f_new, g_new = obj(t)
    evals = 1
    dphi = float(g_new @ d)
    while abs(dphi) > rtol * abs(gtd) and evals < max_ls and dphi != dphi_prev:
        t, t_prev, dphi_prev = t - dphi * (t - t_prev) / (dphi - dphi_prev), t, dphi
        f_new, g_new = obj(t)
        evals += 1
        dphi = float(g_new @ d)
    return f_new, g_new, t, evals


# --- the step --------------------------------------------------------------------------------


def _two_loop(flat_grad, old_dirs, old_stps, ro, h_diag, al):
    """d = -H g with H from the stored pairs (Nocedal & Wright Alg. 7.4), torch's order."""
    q = -flat_grad
    for i in range(len(old_dirs) - 1, -1, -1):
        al[i] = float(old_stps[i] @ q) * ro[i]
        q = q + (-al[i]) * old_dirs[i]
    r = q * h_diag
    for i in range(len(old_dirs)):
        be_i = float(old_dirs[i] @ r) * ro[i]
        r = r + (al[i] - be_i) * old_stps[i]
    return r


def lbfgs_step(
    x: Array,
    closure_fn: Closure,
    state: State,
    hp: Hyper,
    *,
    first_step_scaling: bool = True,
    work: type = np.float64,
) -> tuple[Array, dict]:
    """One torch.optim.LBFGS.step(closure) on the flat float64 vector x (module doc).

    ``work``: the dtype of every vector (x, gradients, directions, history); scalars stay
    Python floats. float32 is torch's arithmetic for float32 parameters up to summation
    order: a sample of that round-off for checks.kit.closures' error model."""
    h = _defaults(hp)
    lr, max_iter, max_eval = h["lr"], h["max_iter"], h["max_eval"]
    tol_grad, tol_change = h["tolerance_grad"], h["tolerance_change"]
    line_search_fn, history_size = h["line_search_fn"], h["history_size"]
    x = np.array(x, dtype=work)
    st = dict(state)
    st.setdefault("func_evals", 0)
    st.setdefault("n_iter", 0)
    for key in ("old_dirs", "old_stps", "ro", "al"):
        if st.get(key) is not None:
            st[key] = list(st[key])

    loss, flat_grad = _eval(closure_fn, x, work)
    current_evals = 1
    st["func_evals"] += 1
    opt_cond = np.max(np.abs(flat_grad)) <= tol_grad
    if opt_cond:
        return x, st

    d, t = st.get("d"), st.get("t")
    old_dirs, old_stps, ro = st.get("old_dirs"), st.get("old_stps"), st.get("ro")
    h_diag, prev_flat_grad, prev_loss = st.get("H_diag"), st.get("prev_flat_grad"), None
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        st["n_iter"] += 1
        if st["n_iter"] == 1:
            d = -flat_grad
            old_dirs, old_stps, ro = [], [], []
            h_diag = 1
        else:
            y = flat_grad - prev_flat_grad
            s = d * t
            ys = float(y @ s)
            if ys > 1e-10:
                if len(old_dirs) == history_size:
                    old_dirs.pop(0)
                    old_stps.pop(0)
                    ro.pop(0)
                old_dirs.append(y)
                old_stps.append(s)
                ro.append(1.0 / ys)
                h_diag = ys / float(y @ y)
            if "al" not in st:
                st["al"] = [None] * history_size
            d = _two_loop(flat_grad, old_dirs, old_stps, ro, h_diag, st["al"])
        prev_flat_grad = flat_grad.copy()
        prev_loss = loss

        if st["n_iter"] == 1 and first_step_scaling:
            t = min(1.0, 1.0 / float(np.sum(np.abs(flat_grad)))) * lr
        else:
            t = lr
        gtd = float(flat_grad @ d)
        if gtd > -tol_change:
            break

        ls_func_evals = 0
        if line_search_fn is not None:
            x0 = x

            def obj(step, x0=x0, d=d):
                return _eval(closure_fn, x0 + step * d, work)

            if line_search_fn == "strong_wolfe":
                search = strong_wolfe
            elif line_search_fn == "exact":
                search = exact_line_search
            else:
                raise ValueError("only 'strong_wolfe' is supported")
            loss, flat_grad, t, ls_func_evals = search(
                obj, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals
            )
            x = x0 + t * d
            opt_cond = np.max(np.abs(flat_grad)) <= tol_grad
        else:
            x = x + t * d
            if n_iter != max_iter:
                loss, flat_grad = _eval(closure_fn, x, work)
                opt_cond = np.max(np.abs(flat_grad)) <= tol_grad
                ls_func_evals = 1
        current_evals += ls_func_evals
        st["func_evals"] += ls_func_evals

        if n_iter == max_iter or current_evals >= max_eval or opt_cond:
            break
        if np.max(np.abs(d * t)) <= tol_change:
            break
        if abs(loss - prev_loss) < tol_change:
            break

    st.update(
        d=d,
        t=t,
        old_dirs=old_dirs,
        old_stps=old_stps,
        ro=ro,
        H_diag=h_diag,
        prev_flat_grad=prev_flat_grad,
        prev_loss=prev_loss,
    )
    return x, st


def _eval(closure_fn: Closure, x: Array, work: type = np.float64) -> tuple[float, Array]:
    loss, grad = closure_fn(x)
    return float(loss), np.asarray(grad, dtype=work)


def exact_line_search_step(
    x: Array, closure_fn: Closure, state: State, hp: Hyper, work: type = np.float64
) -> tuple[Array, dict]:
    """L-BFGS with an exact line search (secant on φ'; exact on quadratics)."""
    return lbfgs_step(x, closure_fn, state, {**hp, "line_search_fn": "exact"}, work=work)


def unscaled_first_step(
    x: Array, closure_fn: Closure, state: State, hp: Hyper, work: type = np.float64
) -> tuple[Array, dict]:
    """L-BFGS whose first step is t = lr, without torch's min(1, 1/‖g‖₁) scaling."""
    return lbfgs_step(x, closure_fn, state, hp, first_step_scaling=False, work=work)


def run(step, x0: Array, closure_fn: Closure, hp: Hyper, steps: int) -> tuple[list[Array], dict]:
    """``steps`` calls of step(x, closure_fn, state, hp); the iterate after each, and the
    final state."""
    x, state, out = np.asarray(x0, dtype=np.float64), {}, []
    for _ in range(steps):
        x, state = step(x, closure_fn, state, hp)
        out.append(x.copy())
    return out, state


def constraint(hp: Hyper) -> str | None:
    """torch.optim.LBFGS's ValueErrors: only lr ≥ 0 is checked by the constructor; an unknown
    line_search_fn raises RuntimeError at the first step."""
    if not hp.get("lr", 1.0) >= 0:
        return "lr must be >= 0"
    if hp.get("line_search_fn") not in (None, "strong_wolfe"):
        return "line_search_fn must be None or 'strong_wolfe'"
    return None


VARIANTS = (
    Variant(
        "exact-line-search",
        exact_line_search_step,
        "an exact line search (secant on φ', exact on quadratics) instead of a fixed step or "
        "strong Wolfe: n-step termination on n-dim strongly convex quadratics",
        "Nocedal 1980; Nazareth 1979",
    ),
    Variant(
        "unscaled-first-step",
        unscaled_first_step,
        "first step t = lr instead of torch's min(1, 1/‖g‖₁)·lr",
        "torch/optim/lbfgs.py (what the scaling guards against); minFunc",
    ),
)


def bytes_per_element(
    hp: Hyper, itemsize: int, *, iterations: int = 20, evaluations: int = 25
) -> int:
    """Bytes per element of the flat vector that one .step(closure) moves, besides the
    closure's own traffic. Per iteration: the two-loop recursion reads s_i, y_i and reads and
    writes q (or r) twice per pair, 5 + 5 arrays, so 10·h; y = g - g_prev (3), s = t d (2),
    yᵀs and yᵀy (3), gᵀd (2), g_prev copy (2), x += t d (3): ≈ 10 h + 15 arrays. Per
    evaluation: gather the flat gradient (2), x + t d and restore x in a line search (2 + 2).
    """
    history = int(hp.get("history_size", 100))
    return itemsize * (iterations * (10 * history + 15) + evaluations * 6)
