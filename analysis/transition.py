"""Early-learning transition epoch: fit a saturating exponential to a probe curve, find where it bends.

ADELE (Liu et al., CVPR 2022) and ELDET both model a train-set metric measured against the (noisy)
training labels as

    f(x) = a * (1 - exp(-x**b / c)),     a in [0, 1], b in [0, 1], c > 0,

and call the *transition* from early learning to memorization the first epoch t at which the
derivative has dropped by more than a fraction r of its value at epoch 1:

    |f'(t) - f'(1)| / f'(1) > r,         r = 0.9 by default (ADELE's ``--r_threshold``),
    f'(x) = (a * b / c) * x**(b - 1) * exp(-x**b / c)          (analytic, no finite differences).

Conventions (ADELE's code is the reference where the papers are silent: ``curve_func``, ``fit``,
``derivation`` and ``label_update_epoch`` in Kangningthu/ADELE, ``train.py``):

* Time axis. ``x`` is the number of training epochs completed when the probe was taken, i.e. the
  1-based ``epoch`` column of ``probe.csv`` (probe written after epoch k -> x = k). ADELE uses the
  same unit (its j-th record, taken every 100 iterations, sits at x ~ j * 100 / iterations-per-epoch);
  ``f(0) = 0`` is the untrained model.
* Weights. Like ADELE (``sigma=np.geomspace(1, .1, n)``) the i-th of the n points (in epoch order)
  gets residual standard deviation ``sigma_i = 10**(-i / (n - 1))``: the last point's residual counts
  10x the first one's (100x in the squared loss), so the fit follows the recent curve. The weights
  depend on the point's index, not its epoch, exactly as in ADELE.
* Fit. Bounded non-linear least squares (scipy ``least_squares``, method ``trf``, as ADELE's
  ``curve_fit(..., method='trf')``) with the analytic Jacobian, started from a data-driven guess and,
  when that fit is poor (R^2 < 0.9), also from ADELE's p0 = (1, 1, 1), keeping the lower cost.
  ``c`` has a numerical floor of 1e-6.
* Epoch of the transition. The ratio f'(t)/f'(1) = t**(b-1) * exp(-(t**b - 1)/c) does not depend on
  ``a`` and is non-increasing for t >= 1 when b <= 1, so the relative change grows monotonically from
  0 at t = 1 towards 1. We return the first *integer* epoch t (1-based, t >= 2) whose relative change
  exceeds r (strictly). ADELE counts the epochs 1..15 whose change is <= r and adds 1; with the
  monotone change that count + 1 is the same epoch, so the two agree whenever the transition lies
  inside ADELE's 15-epoch window (ADELE returns 16 when it does not; we return null instead).
* Unprobed epochs. The relative change is evaluated on the fitted curve at every integer epoch
  1, 2, ..., horizon, probed or not: with a probe interval > 1 (or a curve whose first probe is after
  epoch 1) the transition may be an epoch that was never probed, and f'(1) is the fitted curve's
  slope at epoch 1. The transition may also lie beyond the last probe (a prediction), which is what
  a training-time hook needs (ADELE switches when ``current_epoch >= update_epoch``); pass
  ``horizon`` (e.g. the schedule length) to return null when the bend is not reached by then.
* Late drift. The model saturates; a late rise (continued memorization of noisy labels) or decline
  (a clean-label metric decaying) is not in it, and the late-weighted fit then moves the transition
  later (rise) or earlier (decline): about one epoch for a drift of 0.002/epoch over 8 epochs.
* Degenerate curves give ``{"epoch": None, "reason": ...}``, never an exception or a warning:
  fewer than ``min_points`` finite probes, values outside [0, 1] (percent instead of fraction?),
  a flat curve (range < ``flat_tol``), a fitted curve that does not rise over the probed epochs
  (a decreasing curve has no early-learning phase), a failed fit, a fit that explains less than
  ``min_r2`` of the variance (unweighted R^2: noise, not a learning curve), or no transition before
  the horizon. The thresholds ``flat_tol = 1e-3`` and ``min_r2 = 0.5`` are ours (the papers do not
  handle these cases); they are arguments.

The function is pure and fast enough for a hook to call every epoch: median ~4 ms, 90th percentile
~10 ms for 4-24 point curves (one trf solve of ~9 evaluations; measured on a shared 2-core CPU).

CLI::

    python -m analysis.transition --csv probe.csv --column CA [--threshold 0.9] [--horizon 12] --json
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.optimize import OptimizeWarning, least_squares

from benchmarks.errors import InputError, open_utf8, run_cli

DEFAULT_THRESHOLD = 0.9  # ADELE's r (``--r_threshold``), also used by ELDET
MIN_POINTS = 4  # three parameters + at least one degree of freedom
FLAT_TOL = 1e-3  # a curve (or fitted rise) smaller than this is "flat"
MIN_R2 = 0.5  # weighted R^2 below this: the curve is noise, not a learning curve
MAX_HORIZON = 1000  # search bound when no horizon is given ("effectively unbounded")
C_FLOOR = 1e-6  # numerical lower bound of c (the papers only say c > 0)
VALUE_SLACK = 1e-6  # probe values may exceed [0, 1] by rounding only

PROBE_METRICS = ("AP", "CA", "GTBA", "AP_clean", "CA_clean", "GTBA_clean")


# --------------------------------------------------------------------------------------- model
def saturating_exp(x, a: float, b: float, c: float):
    """f(x) = a (1 - exp(-x^b / c))."""
    x = np.asarray(x, dtype=float)
    return a * (1.0 - np.exp(-(x**b) / c))


def saturating_exp_derivative(x, a: float, b: float, c: float):
    """f'(x) = (a b / c) x^(b-1) exp(-x^b / c), for x > 0."""
    x = np.asarray(x, dtype=float)
    return (a * b / c) * x ** (b - 1.0) * np.exp(-(x**b) / c)


def relative_derivative_change(t, b: float, c: float):
    """|f'(t) - f'(1)| / f'(1) = |1 - t^(b-1) exp(-(t^b - 1)/c)|, computed in log space (no underflow)."""
    t = np.asarray(t, dtype=float)
    log_ratio = (b - 1.0) * np.log(t) - (t**b - 1.0) / c
    return np.abs(1.0 - np.exp(log_ratio))


def adele_sigma(n: int) -> np.ndarray:
    """ADELE's per-point residual standard deviations: geometric from 1 (first point) to 0.1 (last)."""
    return np.geomspace(1.0, 0.1, n) if n > 1 else np.ones(n)


# ------------------------------------------------------------------------------------- fitting
def _residuals(p, x, y, w):
    return w * (saturating_exp(x, *p) - y)


def _jacobian(p, x, y, w):
    a, b, c = p
    xb = x**b
    e = np.exp(-xb / c)
    with np.errstate(divide="ignore", invalid="ignore"):
        xb_log = np.where(x > 0, xb * np.log(np.where(x > 0, x, 1.0)), 0.0)  # d(x^b)/db, -> 0 at x = 0
    return np.column_stack([w * (1.0 - e), w * a * e * xb_log / c, -w * a * e * xb / c**2])


def _starts(x: np.ndarray, y: np.ndarray) -> list[tuple[float, float, float]]:
    """A guess from the data (a = max y, b ~ 1, c = epoch reaching 63 % of a), then ADELE's p0 = (1, 1, 1)."""
    a0 = float(np.clip(y.max(), 0.05, 0.99))
    reached = x[y >= 0.632 * a0]
    c0 = float(max(reached[0] if reached.size else x[-1], 0.5))
    return [(a0, 0.9, c0), (1.0, 1.0, 1.0)]


def _r2(y: np.ndarray, yhat: np.ndarray) -> float:
    """Unweighted coefficient of determination of the fitted curve on the probes (nan for constant y)."""
    sst = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum((y - yhat) ** 2)) / sst if sst > 0 else float("nan")


def fit_saturating_exp(epochs, values, *, good_r2: float = 0.9) -> tuple[np.ndarray, float] | str:
    """Weighted bounded least squares of f on the points; returns ((a, b, c), cost) or a failure reason.

    The data-driven start converges in ~10 evaluations on real curves; ADELE's start is only tried
    when that fit failed or explains less than ``good_r2`` (keeps the call at a few ms).
    """
    x = np.asarray(epochs, dtype=float)
    y = np.asarray(values, dtype=float)
    w = 1.0 / adele_sigma(len(x))
    lower, upper = np.array([0.0, 0.0, C_FLOOR]), np.array([1.0, 1.0, np.inf])
    best, reason = None, "fit did not converge"
    for p0 in _starts(x, y):
        p0 = np.clip(p0, lower, [1.0, 1.0, 1e6])
        try:
            res = least_squares(
                _residuals,
                p0,
                jac=_jacobian,
                bounds=(lower, upper),
                method="trf",
                x_scale="jac",
                args=(x, y, w),
                max_nfev=2000,
            )
        except (ValueError, RuntimeError, FloatingPointError, np.linalg.LinAlgError) as exc:
            reason = f"fit failed: {exc}"
            continue
        if not np.all(np.isfinite(res.x)) or not np.isfinite(res.cost):
            continue
        if best is None or res.cost < best[1]:
            best = (res.x, float(res.cost))
        if _r2(y, saturating_exp(x, *best[0])) >= good_r2:
            break
    return best if best is not None else reason


# --------------------------------------------------------------------------------- transition
def transition_from_params(b: float, c: float, *, threshold: float = DEFAULT_THRESHOLD, horizon: int | None = None):
    """First integer epoch t in 2..horizon with relative derivative change > threshold, else None."""
    h = MAX_HORIZON if horizon is None else int(horizon)
    if h < 2:
        return None
    t = np.arange(1, h + 1, dtype=float)
    with np.errstate(all="ignore"):
        rel = relative_derivative_change(t, b, c)
    hit = np.flatnonzero(rel > threshold)
    return int(t[hit[0]]) if hit.size else None


def _null(reason: str, **extra) -> dict:
    out = {"epoch": None, "a": None, "b": None, "c": None, "rmse": None, "reason": reason}
    out.update(extra)
    return out


def find_transition(
    epochs,
    values,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    horizon: int | None = None,
    min_points: int = MIN_POINTS,
    flat_tol: float = FLAT_TOL,
    min_r2: float = MIN_R2,
) -> dict:
    """Fit f to (epoch, value) pairs and return the transition epoch.

    Returns a JSON-ready dict: ``epoch`` (int or None), ``a``, ``b``, ``c``, ``rmse`` (unweighted,
    in the metric's units), ``r2`` (unweighted R^2 of the fit on the probes), ``n_points``, ``last_epoch``,
    ``beyond_last_probe`` (the transition is a prediction past the last probed epoch) and, when
    ``epoch`` is None, ``reason``. Non-finite pairs are dropped; points are sorted by epoch.
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    x = np.asarray(epochs, dtype=float).ravel()
    y = np.asarray(values, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"epochs and values differ in length ({x.size} vs {y.size})")
    keep = np.isfinite(x) & np.isfinite(y)
    n_dropped = int(x.size - keep.sum())
    x, y = x[keep], y[keep]
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    n = int(x.size)
    info = {"n_points": n, "last_epoch": int(x[-1]) if n else None}
    dropped = f" ({n_dropped} non-finite dropped)" if n_dropped else ""
    if n < min_points:
        return _null(f"only {n} finite probe point(s){dropped}; need at least {min_points}", **info)
    if x[0] < 0:
        return _null(f"negative epoch {x[0]:g}: epochs are 1-based (0 = before training)", **info)
    if y.min() < -VALUE_SLACK or y.max() > 1.0 + VALUE_SLACK:
        return _null(f"values outside [0, 1] (min {y.min():.4g}, max {y.max():.4g}); expected fractions", **info)
    if y.max() - y.min() < flat_tol:
        return _null(f"flat curve: values vary by {y.max() - y.min():.2g} < {flat_tol:g}", **info)

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", OptimizeWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        fitted = fit_saturating_exp(x, y)
        if isinstance(fitted, str):
            return _null(fitted, **info)
        (a, b, c), _ = fitted
        yhat = saturating_exp(x, a, b, c)
        r2 = _r2(y, yhat)
        rmse = float(np.sqrt(np.mean((y - yhat) ** 2)))
        rise = float(saturating_exp(x[-1], a, b, c) - saturating_exp(x[0], a, b, c))
    params = {"a": float(a), "b": float(b), "c": float(c), "rmse": rmse, "r2": r2, **info}
    if not math.isfinite(rmse):
        return {**params, "epoch": None, "reason": "fit produced non-finite values"}
    if rise < flat_tol:
        return {
            **params,
            "epoch": None,
            "reason": f"no increase: the fitted curve rises by {rise:.2g} over epochs {x[0]:g}-{x[-1]:g}",
        }
    if not r2 >= min_r2:
        return {**params, "epoch": None, "reason": f"noisy curve: the fit explains R^2 = {r2:.2f} < {min_r2:g}"}
    epoch = transition_from_params(b, c, threshold=threshold, horizon=horizon)
    if epoch is None:
        h = MAX_HORIZON if horizon is None else int(horizon)
        return {
            **params,
            "epoch": None,
            "reason": f"no transition by epoch {h}: relative derivative change stays <= {threshold:g}",
        }
    return {"epoch": epoch, **params, "beyond_last_probe": bool(epoch > x[-1])}


# ------------------------------------------------------------------------------------ probe.csv
def read_probe_csv(path: str | Path) -> dict[str, np.ndarray]:
    """Read probe.csv into {column: float array}; ``epoch`` is required, empty/'nan' cells become NaN.

    Columns that are absent (e.g. no clean labels for a real noisy dataset) are simply absent from the
    result. Raises InputError naming the file, the line and the problem for malformed content.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("probe file not found", path=path)
    with open_utf8(path, newline="") as fh:
        reader = csv.DictReader(fh)
        fields = reader.fieldnames or []
        if "epoch" not in fields:
            raise InputError(f"no 'epoch' column (columns: {', '.join(fields) or 'none'})", path=path, where="line 1")
        cols: dict[str, list[float]] = {f: [] for f in fields if f}
        seen: set[int] = set()
        for row in reader:
            line = reader.line_num
            raw_epoch = (row.get("epoch") or "").strip()
            try:
                epoch_f = float(raw_epoch)
            except ValueError:
                raise InputError(f"epoch {raw_epoch!r} is not a number", path=path, where=f"line {line}") from None
            if not math.isfinite(epoch_f) or epoch_f != int(epoch_f) or epoch_f < 0:
                raise InputError(f"epoch {raw_epoch!r} is not a 1-based integer", path=path, where=f"line {line}")
            if int(epoch_f) in seen:
                raise InputError(f"epoch {int(epoch_f)} appears twice", path=path, where=f"line {line}")
            seen.add(int(epoch_f))
            for f in cols:
                raw = (row.get(f) or "").strip()
                if raw == "" or raw.lower() in ("nan", "none", "null", "na"):
                    cols[f].append(float("nan"))
                    continue
                try:
                    cols[f].append(float(raw))
                except ValueError:
                    raise InputError(
                        f"column {f!r}: {raw!r} is not a number", path=path, where=f"line {line}"
                    ) from None
    return {f: np.asarray(v, dtype=float) for f, v in cols.items()}


def has_values(probe: dict[str, np.ndarray], column: str) -> bool:
    """True when ``column`` exists and holds at least one finite value."""
    return column in probe and bool(np.isfinite(probe[column]).any())


# ------------------------------------------------------------------------------------------ CLI
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m analysis.transition",
        description="Fit f(x) = a(1 - exp(-x^b / c)) to one probe.csv column and print the early-learning "
        "transition epoch: the first epoch t with |f'(t) - f'(1)| / f'(1) > threshold (ADELE / ELDET).",
    )
    p.add_argument("--csv", required=True, type=Path, help="probe.csv of one training cell (columns epoch, CA, ...)")
    p.add_argument(
        "--column",
        required=True,
        help="metric column to fit, e.g. CA (localization), GTBA (classification), AP, or CA_clean/GTBA_clean",
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help="relative derivative change r in (0, 1) that marks the transition (default 0.9, as in ADELE)",
    )
    p.add_argument(
        "--horizon",
        type=int,
        default=None,
        help=f"last epoch to search (e.g. the schedule length); default {MAX_HORIZON}, i.e. unbounded",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help='print {"epoch": int|null, "a", "b", "c", "rmse"} (+ "reason" when null) as one JSON line',
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not 0.0 < args.threshold < 1.0:
        raise InputError(f"--threshold must be in (0, 1), got {args.threshold}")
    if args.horizon is not None and args.horizon < 2:
        raise InputError(f"--horizon must be >= 2 (the first epoch a transition can be at), got {args.horizon}")
    probe = read_probe_csv(args.csv)
    if args.column not in probe:
        cols = ", ".join(c for c in probe if c != "epoch")
        raise InputError(f"no column {args.column!r} (columns: {cols})", path=args.csv)
    res = find_transition(probe["epoch"], probe[args.column], threshold=args.threshold, horizon=args.horizon)
    if args.json:
        out = {k: res.get(k) for k in ("epoch", "a", "b", "c", "rmse")}
        if res["epoch"] is None:
            out["reason"] = res["reason"]
        print(json.dumps(out))
    elif res["epoch"] is None:
        print(f"{args.csv} {args.column}: no transition ({res['reason']})")
    else:
        print(
            f"{args.csv} {args.column}: transition at epoch {res['epoch']} "
            f"(a={res['a']:.4f} b={res['b']:.4f} c={res['c']:.4f}, rmse {res['rmse']:.4f}, "
            f"R^2 {res['r2']:.3f}, {res['n_points']} probes)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
