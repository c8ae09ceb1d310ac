"""Transition fit: parameter recovery, the transition epoch against a closed form, degenerate curves, CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import brentq, curve_fit

from analysis import transition as T
from benchmarks.errors import InputError, run_cli

REPO = Path(__file__).resolve().parents[1]


def curve(x, a, b, c):
    """The model written out independently of the module: a (1 - exp(-x^b / c))."""
    x = np.asarray(x, dtype=float)
    return a * (1.0 - np.exp(-np.power(x, b) / c))


def expected_epoch(b: float, c: float, r: float = 0.9) -> int:
    """Closed form: f'(t)/f'(1) = t^(b-1) exp(-(t^b - 1)/c) falls below 1 - r at the root t* of
    (b-1) ln t - (t^b - 1)/c = ln(1 - r); the first integer epoch past it is floor(t*) + 1."""
    g = lambda t: (b - 1.0) * math.log(t) - (t**b - 1.0) / c - math.log(1.0 - r)  # noqa: E731
    t_star = brentq(g, 1.0, 1e7, xtol=1e-12)
    return math.floor(t_star) + 1


def test_expected_epoch_closed_form_b1():
    """The module's transition (from parameters, and fitted from the exact curve) against the hand
    closed form: b = 1: f'(t)/f'(1) = exp(-(t-1)/c) < 0.1  <=>  t > 1 + c ln 10."""
    hand = {1.0: 4, 2.0: 6, 3.0: 8, 4.5: 12}  # 1 + c ln 10 = 3.30, 5.61, 7.91, 11.36
    x = np.arange(1, 16)
    for c, t in hand.items():
        assert T.transition_from_params(1.0, c, threshold=0.9) == t
        assert T.find_transition(x, curve(x, 0.7, 1.0, c), threshold=0.9, horizon=20)["epoch"] == t
        assert expected_epoch(1.0, c) == t  # the helper the other tests use agrees with the hand values
    assert T.transition_from_params(1.0, 4.5, threshold=0.9, horizon=11) is None  # 12 lies past the horizon


def test_derivative_matches_finite_differences():
    x = np.linspace(1, 20, 39)
    for a, b, c in [(0.7, 1.0, 3.0), (0.6, 0.5, 1.2), (0.9, 0.8, 6.0)]:
        h = 1e-5
        numeric = (curve(x + h, a, b, c) - curve(x - h, a, b, c)) / (2 * h)
        np.testing.assert_allclose(T.saturating_exp_derivative(x, a, b, c), numeric, rtol=1e-6, atol=1e-10)
        d = T.saturating_exp_derivative(x, a, b, c)
        np.testing.assert_allclose(T.relative_derivative_change(x, b, c), np.abs(d - d[0]) / d[0], rtol=1e-9)


def test_adele_weights():
    s = T.adele_sigma(12)
    assert s[0] == pytest.approx(1.0) and s[-1] == pytest.approx(0.1)
    np.testing.assert_allclose(s[1:] / s[:-1], 0.1 ** (1 / 11))  # geometric in the point index


PARAMS = [(0.7, 1.0, 3.0), (0.6, 0.8, 2.5), (0.8, 0.6, 1.5), (0.5, 0.9, 4.0), (0.9, 0.5, 1.0)]


@pytest.mark.parametrize("a,b,c", PARAMS)
def test_noise_free_recovery(a, b, c):
    x = np.arange(1, 13)
    res = T.find_transition(x, curve(x, a, b, c))
    assert (res["a"], res["b"], res["c"]) == pytest.approx((a, b, c), rel=2e-3, abs=2e-3)
    assert res["epoch"] == expected_epoch(b, c)
    assert res["rmse"] < 1e-4 and res["n_points"] == 12 and res["last_epoch"] == 12
    assert "reason" not in res


@pytest.mark.parametrize("a,b,c", PARAMS)
def test_small_noise_recovery(a, b, c):
    rng = np.random.default_rng(7)
    x = np.arange(1, 16)
    y = np.clip(curve(x, a, b, c) + rng.normal(0, 0.005, x.size), 0, 1)
    res = T.find_transition(x, y)
    assert res["a"] == pytest.approx(a, abs=0.05)
    assert res["b"] == pytest.approx(b, abs=0.12)
    assert res["c"] == pytest.approx(c, rel=0.25)
    assert abs(res["epoch"] - expected_epoch(b, c)) <= 1
    assert 0.002 < res["rmse"] < 0.01  # the noise level, not a perfect or a broken fit


def test_fit_is_adele_weighted_least_squares():
    """Same optimum as scipy's curve_fit called with ADELE's sigma/bounds convention (reference tool)."""
    rng = np.random.default_rng(3)
    x = np.arange(1, 13)
    y = curve(x, 0.65, 0.85, 2.8) + rng.normal(0, 0.01, x.size)
    y[0] += 0.05  # an early outlier: down-weighted 100x relative to the last point
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref, _ = curve_fit(
            curve, x, y, p0=(0.6, 0.9, 3.0), method="trf", sigma=np.geomspace(1, 0.1, x.size),
            absolute_sigma=True, bounds=([0, 0, 0], [1, 1, np.inf]),
        )  # fmt: skip
    res = T.find_transition(x, y)
    assert (res["a"], res["b"], res["c"]) == pytest.approx(tuple(ref), rel=1e-3, abs=1e-4)
    params, _ = T.fit_saturating_exp(x, y)
    assert tuple(params) == pytest.approx(tuple(ref), rel=1e-3, abs=1e-4)


def test_late_memorization_increase_and_decline():
    """A small late drift (0.002/epoch after epoch 12) keeps the transition within one epoch; the model
    has no drift term, so the late-weighted fit moves it later for an increase, earlier for a decline."""
    a, b, c = 0.7, 0.9, 3.0
    x = np.arange(1, 21)
    base = curve(x, a, b, c)
    late = np.maximum(x - 12, 0)
    up = T.find_transition(x, base + 0.002 * late)  # noisy labels keep being memorized
    down = T.find_transition(x, base - 0.002 * late)  # clean-label metric decays under memorization
    want = expected_epoch(b, c)
    assert want <= up["epoch"] <= want + 1
    assert want - 1 <= down["epoch"] <= want
    for res in (up, down):
        assert res["a"] == pytest.approx(a, abs=0.03)
        assert res["c"] == pytest.approx(c, rel=0.1)
        assert res["b"] == pytest.approx(b, abs=0.1)


def test_probe_interval_gives_unprobed_epoch():
    x = np.arange(3, 25, 3)  # probed every 3rd epoch: 3, 6, ..., 24
    res = T.find_transition(x, curve(x, 0.7, 1.0, 3.0))
    assert res["epoch"] == 8 and 8 not in x  # evaluated on the fitted curve at every integer epoch


def test_threshold_and_horizon():
    x = np.arange(1, 13)
    y = curve(x, 0.7, 0.8, 2.5)
    assert T.find_transition(x, y, threshold=0.5)["epoch"] == expected_epoch(0.8, 2.5, 0.5)
    assert T.find_transition(x, y, threshold=0.99)["epoch"] == expected_epoch(0.8, 2.5, 0.99)
    before = T.find_transition(x, y, horizon=expected_epoch(0.8, 2.5) - 1)
    assert before["epoch"] is None and "no transition by epoch" in before["reason"]
    assert before["a"] == pytest.approx(0.7, abs=1e-3)  # the fit is still reported
    with pytest.raises(ValueError):
        T.find_transition(x, y, threshold=1.0)


def test_prediction_beyond_last_probe():
    x = np.arange(1, 7)  # six epochs so far; the bend (epoch 8) lies ahead, as a training hook sees it
    res = T.find_transition(x, curve(x, 0.7, 1.0, 3.0))
    assert res["epoch"] == 8 and res["beyond_last_probe"] is True


def test_non_finite_points_are_dropped():
    x = np.arange(1, 14, dtype=float)
    y = curve(x, 0.7, 1.0, 3.0)
    y[4], y[9] = np.nan, np.inf
    res = T.find_transition(x, y)
    assert res["epoch"] == 8 and res["n_points"] == 11


@pytest.mark.parametrize(
    "epochs,values,needle",
    [
        ([1, 2, 3], [0.1, 0.3, 0.4], "only 3 finite"),
        (range(1, 13), [np.nan] * 12, "only 0 finite"),
        (range(1, 13), [0.4] * 12, "flat curve"),
        (range(1, 13), [0.0] * 12, "flat curve"),
        (range(1, 13), 100 * curve(np.arange(1, 13), 0.7, 1, 3), "outside [0, 1]"),
        (range(1, 13), 0.8 - 0.03 * np.arange(1, 13), "no increase"),
        (range(1, 13), 0.5 + np.random.default_rng(1).normal(0, 0.05, 12), "noisy curve"),
        (range(1, 13), 0.01 * np.arange(1, 13), "no transition by epoch 12"),  # linear: no bend in 12 epochs
        ([-1, 1, 2, 3, 4], [0, 0.1, 0.2, 0.3, 0.35], "negative epoch"),
    ],
)
def test_degenerate_curves_give_null_with_reason(epochs, values, needle, recwarn):
    res = T.find_transition(list(epochs), np.asarray(values, dtype=float), horizon=12)
    assert res["epoch"] is None
    assert needle in res["reason"]
    assert len(recwarn) == 0, [str(w.message) for w in recwarn]


def test_noise_curves_never_get_an_epoch(recwarn):
    for seed in range(20):
        y = 0.5 + np.random.default_rng(seed).normal(0, 0.05, 12)
        assert T.find_transition(np.arange(1, 13), y)["epoch"] is None, seed
    assert len(recwarn) == 0


# --------------------------------------------------------------------------- probe.csv + CLI
def write_probe(path: Path, epochs, ca, gtba_clean=None) -> Path:
    lines = ["epoch,iter,lr,loss,AP,CA,GTBA,AP_clean,CA_clean,GTBA_clean,probe_seconds"]
    for i, (e, v) in enumerate(zip(epochs, ca)):
        gc = "" if gtba_clean is None else f"{gtba_clean[i]:.6f}"
        lines.append(f"{e},{10 * e},0.01,1.0,0.1,{v:.6f},0.2,,,{gc},0.5")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_read_probe_csv(tmp_path):
    p = write_probe(tmp_path / "probe.csv", [1, 2, 3], [0.1, 0.2, 0.3])
    probe = T.read_probe_csv(p)
    np.testing.assert_array_equal(probe["epoch"], [1, 2, 3])
    np.testing.assert_allclose(probe["CA"], [0.1, 0.2, 0.3])
    assert np.isnan(probe["CA_clean"]).all() and not T.has_values(probe, "CA_clean")
    assert T.has_values(probe, "CA") and not T.has_values(probe, "nope")

    (tmp_path / "short.csv").write_text("epoch,CA\n1,0.1\n")
    assert set(T.read_probe_csv(tmp_path / "short.csv")) == {"epoch", "CA"}  # missing columns are absent


@pytest.mark.parametrize(
    "text,needle",
    [
        ("CA\n0.1\n", "no 'epoch' column"),
        ("epoch,CA\n1,0.1\n1.5,0.2\n", "line 3"),
        ("epoch,CA\n1,0.1\n1,0.2\n", "appears twice"),
        ("epoch,CA\n1,0.1\n2,abc\n", "'abc' is not a number"),
    ],
)
def test_read_probe_csv_errors(tmp_path, text, needle):
    p = tmp_path / "probe.csv"
    p.write_text(text)
    with pytest.raises(InputError) as exc:
        T.read_probe_csv(p)
    assert needle in str(exc.value) and str(p) in str(exc.value)


def test_cli_json(tmp_path, capsys):
    x = np.arange(1, 13)
    p = write_probe(tmp_path / "probe.csv", x, curve(x, 0.7, 1.0, 3.0))
    assert run_cli(T.main, ["--csv", str(p), "--column", "CA", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"epoch", "a", "b", "c", "rmse"}
    assert out["epoch"] == 8 and out["a"] == pytest.approx(0.7, abs=1e-3)

    assert run_cli(T.main, ["--csv", str(p), "--column", "CA", "--threshold", "0.5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["epoch"] == expected_epoch(1.0, 3.0, 0.5)

    # no clean labels: the column exists but is empty -> null with a reason, exit 0
    assert run_cli(T.main, ["--csv", str(p), "--column", "CA_clean", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["epoch"] is None and out["a"] is None and "only 0 finite" in out["reason"]

    assert run_cli(T.main, ["--csv", str(p), "--column", "XYZ", "--json"]) == 2
    assert "no column 'XYZ'" in capsys.readouterr().err


def test_cli_module_entry_point(tmp_path):
    x = np.arange(1, 13)
    p = write_probe(tmp_path / "probe.csv", x, curve(x, 0.7, 1.0, 3.0))
    run = subprocess.run(
        [sys.executable, "-m", "analysis.transition", "--csv", str(p), "--column", "CA", "--json"],
        capture_output=True, text=True, cwd=REPO, check=True,
    )  # fmt: skip
    assert json.loads(run.stdout)["epoch"] == 8
    human = subprocess.run(
        [sys.executable, "-m", "analysis.transition", "--csv", str(p), "--column", "CA"],
        capture_output=True, text=True, cwd=REPO, check=True,
    )  # fmt: skip
    assert "transition at epoch 8" in human.stdout
