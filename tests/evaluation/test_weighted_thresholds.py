"""Censoring weights reach the decision curve, the Youden threshold, ECE and the threshold slider, as they reach
every other metric (a statistician's review found these unweighted, 2026-12-07)."""
import numpy as np
import pytest

from zoo.evaluation.bootstrap import weighted_net_benefit
from zoo.evaluation.curves import decision_curve
from zoo.evaluation.metrics import expected_calibration_error, threshold_metrics, youden_threshold
from zoo.evaluation.threshold import at_threshold


def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.random(n)
    y = (rng.random(n) < p).astype(int)
    # weights that vary within each outcome (follow-up length does): class-constant weights would leave
    # sensitivity, specificity and so Youden's threshold unchanged by construction
    w = np.where(p > 0.5, 0.6, 1.8) * (0.5 + rng.random(n))
    return y, p, w


def test_uniform_weights_give_dcurves_own_numbers_and_unequal_weights_the_weighted_formula():
    y, p, w = _data()
    t = np.array([0.1, 0.25, 0.5])
    plain = decision_curve(y, p, t)
    assert decision_curve(y, p, t, weights=np.full(len(y), 2.0))["model"].to_numpy() == pytest.approx(plain["model"])
    wd = decision_curve(y, p, t, weights=w)
    for i, th in enumerate(t):
        assert wd["model"].iat[i] == pytest.approx(weighted_net_benefit(y, p, th, w[None, :])[0])
    prev = np.average(y, weights=w)
    assert wd["all"].to_numpy() == pytest.approx(prev - (1 - prev) * t / (1 - t))
    assert not np.allclose(wd["model"], plain["model"])


def test_youden_ece_and_the_slider_use_the_weights():
    y, p, w = _data(seed=1)
    assert youden_threshold(y, p, weights=np.ones(len(y))) == youden_threshold(y, p)
    assert youden_threshold(y, p, weights=w) != youden_threshold(y, p)
    assert expected_calibration_error(y, p, weights=w) != pytest.approx(expected_calibration_error(y, p))
    m, mw = threshold_metrics(y, p, 0.4), threshold_metrics(y, p, 0.4, weights=w)
    assert (m["tp"], m["fp"]) == (mw["tp"], mw["fp"]), "counts stay patients"
    pos = p >= 0.4
    spec = w[(y == 0) & ~pos].sum() / w[y == 0].sum()
    assert mw["specificity"] == pytest.approx(spec) and m["specificity"] != pytest.approx(spec)
    op = at_threshold(y, p, 0.4, weights=w)
    assert op["fpr"] == pytest.approx(1 - spec)
    assert op["net_benefit"] == pytest.approx(weighted_net_benefit(y, p, 0.4, w[None, :])[0])


def test_integer_weights_equal_repeating_the_rows():
    """The exact definition of a case weight: a weight of k counts the patient k times."""
    rng = np.random.default_rng(2)
    y, p = (rng.random(120) < 0.4).astype(int), rng.random(120)
    k = rng.integers(1, 4, 120)
    yr, pr = np.repeat(y, k), np.repeat(p, k)
    assert expected_calibration_error(y, p, weights=k) == pytest.approx(expected_calibration_error(yr, pr))
    assert youden_threshold(y, p, weights=k) == pytest.approx(youden_threshold(yr, pr))
    t = np.array([0.1, 0.3, 0.6])
    assert decision_curve(y, p, t, weights=k)["model"].to_numpy() == pytest.approx(
        decision_curve(yr, pr, t)["model"].to_numpy())
    a, b = threshold_metrics(y, p, 0.5, weights=k), threshold_metrics(yr, pr, 0.5)
    for key in ("accuracy", "precision", "recall", "specificity", "f1"):
        assert a[key] == pytest.approx(b[key]), key


def test_a_split_stored_without_weights_reads_as_unweighted():
    """A zoo whose external cohort has no censoring stores weight 1 there; NaN (older files) must not crash."""
    y, p, _ = _data(seed=3)
    w = np.full(len(y), np.nan)
    assert at_threshold(y, p, 0.4, weights=w) == at_threshold(y, p, 0.4)
