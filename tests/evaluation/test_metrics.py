"""Our metrics equal scikit-learn's; CIs contain the point; decision curves match hand-computed values."""
import numpy as np
import pytest
from sklearn.metrics import accuracy_score, brier_score_loss, f1_score, precision_score, recall_score, roc_auc_score

from zoo.evaluation.bootstrap import auc_ci, bootstrap_weights, paired_auc_test, weighted_auc
from zoo.evaluation.curves import Curves, decision_curve
from zoo.evaluation.metrics import (
    calibration_intercept_slope, expected_calibration_error, point_metrics, threshold_metrics, youden_threshold,
)

RNG = np.random.default_rng(42)
Y = RNG.integers(0, 2, 200)
P = np.clip(0.3 * Y + RNG.normal(0.35, 0.2, 200), 0.01, 0.99).round(2)  # rounded: ties included


def test_threshold_metrics_equal_sklearn():
    m = threshold_metrics(Y, P, 0.5)
    pred = (P >= 0.5).astype(int)
    assert m["accuracy"] == accuracy_score(Y, pred)
    assert m["precision"] == precision_score(Y, pred)
    assert m["recall"] == recall_score(Y, pred)
    assert m["f1"] == f1_score(Y, pred)
    assert m["tp"] + m["fp"] + m["tn"] + m["fn"] == len(Y)


def test_point_metrics_equal_sklearn():
    m = point_metrics(Y, P, 0.4)
    assert m["auc"] == pytest.approx(roc_auc_score(Y, P))
    assert m["brier"] == pytest.approx(brier_score_loss(Y, P))
    assert m["threshold"] == 0.4
    assert m["at_youden"] == threshold_metrics(Y, P, 0.4)


def test_weighted_auc_equals_sklearn_on_the_resampled_arrays():
    w = bootstrap_weights(len(Y), 5, seed=3)
    for b in range(5):
        idx = np.repeat(np.arange(len(Y)), w[b].astype(int))
        assert weighted_auc(Y, P, w[b:b + 1])[0] == pytest.approx(roc_auc_score(Y[idx], P[idx]))


def test_bootstrap_ci_contains_point_estimate_and_narrows_with_n():
    auc, lo, hi = auc_ci(Y, P, n_boot=1000, seed=0)
    assert auc == pytest.approx(roc_auc_score(Y, P))
    assert lo < auc < hi
    y4, p4 = np.tile(Y, 4), np.tile(P, 4)
    _, lo4, hi4 = auc_ci(y4, p4, n_boot=1000, seed=0)
    assert (hi4 - lo4) < (hi - lo)


def test_missing_predictions_are_dropped_not_imputed():
    p = P.copy()
    p[:50] = np.nan
    auc, _, _ = auc_ci(Y, p, n_boot=200)
    assert auc == pytest.approx(roc_auc_score(Y[50:], P[50:]))


def test_paired_test_detects_a_better_model_and_not_itself():
    better = np.clip(0.6 * Y + RNG.normal(0.2, 0.15, 200), 0, 1)
    res = paired_auc_test(Y, better, P, n_boot=1000)
    assert res["delta"] > 0 and res["p_value"] < 0.05
    same = paired_auc_test(Y, P, P, n_boot=200)
    assert same["delta"] == 0 and same["p_value"] == 1.0


def test_youden_threshold_maximises_j():
    t = youden_threshold(Y, P)
    j = lambda thr: threshold_metrics(Y, P, thr)["recall"] + threshold_metrics(Y, P, thr)["specificity"] - 1  # noqa
    assert all(j(t) >= j(u) - 1e-12 for u in np.unique(P))


def test_calibration_of_a_perfectly_calibrated_model():
    p = RNG.uniform(0.05, 0.95, 20000)
    y = (RNG.random(20000) < p).astype(int)
    citl, slope = calibration_intercept_slope(y, p)
    assert abs(citl) < 0.1 and abs(slope - 1) < 0.1
    assert expected_calibration_error(y, p) < 0.03
    _, slope_over = calibration_intercept_slope(y, np.clip(p * 1.6 - 0.3, 0.01, 0.99))
    assert slope_over < 0.9, "overconfident predictions have a slope below one"


def test_decision_curve_hand_checked():
    y = np.array([1, 1, 0, 0, 0, 1, 0, 0, 0, 0])
    p = np.array([0.9, 0.6, 0.7, 0.2, 0.1, 0.3, 0.05, 0.4, 0.15, 0.25])
    dca = decision_curve(y, p, thresholds=np.array([0.2, 0.5])).set_index("threshold")
    # threshold 0.2: treat p >= 0.2 -> TP = 3 (0.9, 0.6, 0.3), FP = 4 (0.7, 0.2, 0.4, 0.25); odds = 0.25
    assert dca.loc[0.2, "model"] == pytest.approx(3 / 10 - 4 / 10 * 0.25)
    # treat all: prevalence - (1 - prevalence) * odds
    assert dca.loc[0.2, "all"] == pytest.approx(0.3 - 0.7 * 0.25)
    assert dca.loc[0.5, "all"] == pytest.approx(0.3 - 0.7 * 1.0)
    assert dca.loc[0.5, "model"] == pytest.approx(2 / 10 - 1 / 10 * 1.0)
    assert (dca["none"] == 0).all()


def test_curves_from_predictions_are_plain_arrays():
    c = Curves.from_predictions(Y, P)
    d = c.to_dict()
    assert d["roc_fpr"][0] == 0 and d["roc_tpr"][-1] == 1
    assert len(d["dca_threshold"]) == 99 and len(d["cal_pred"]) == len(d["cal_obs"])
    assert all(isinstance(v, list) for v in d.values())
