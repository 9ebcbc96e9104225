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


# ----- issue 9: stratified bootstrap, every metric with a CI, calibration ---------------------------
def test_bootstrap_never_drops_or_loses_a_class():
    from zoo.evaluation.bootstrap import resample_weights

    y = np.array([1] * 5 + [0] * 295)  # five events: a plain bootstrap would lack them in ~8 % of resamples
    w = resample_weights(y, 500, seed=1)
    assert w.shape == (500, 300), "every resample is kept"
    assert (w.sum(axis=1) == 300).all()
    assert (w[:, y == 1].sum(axis=1) >= 1).all(), "a resample without an event is redrawn"
    auc = weighted_auc(y, np.linspace(0, 1, 300), w)
    assert np.isfinite(auc).all(), "no resample lacks a class, so no AUC is undefined"


def test_too_few_of_one_outcome_give_no_interval_rather_than_a_false_one():
    """One event in the test split: the redrawn bootstrap kept it in every resample, so a score that ranked it
    first read AUC 1.00 (1.00–1.00), and a paired test came out 'significant'. Under MIN_CLASS_FOR_INTERVAL
    patients of an outcome every interval and bootstrap p-value is undefined (shown as '—'); the point stays."""
    from zoo.evaluation.bootstrap import MIN_CLASS_FOR_INTERVAL, paired_auc_test, resample_weights
    from zoo.evaluation.report import metric_suite

    y = np.array([1] * (MIN_CLASS_FOR_INTERVAL - 1) + [0] * 40)
    p = np.r_[np.full(MIN_CLASS_FOR_INTERVAL - 1, 0.9), np.linspace(0.05, 0.5, 40)]
    W = resample_weights(y, 200, seed=0)
    assert np.isnan(W).all()
    m = metric_suite(y, p, 0.5, 0.2, W)
    assert m["auc"] == 1.0 and all(np.isnan(m[k]).all() for k in ("auc_ci", "brier_ci", "cal_slope_ci",
                                                                     "cal_intercept_ci", "sensitivity_ci",
                                                                     "scaled_brier_ci"))
    # the rule holds on the patients a model scored: a split with enough events, a model that scored two of them
    y8 = np.array([1] * 8 + [0] * 40)
    p8 = np.r_[np.full(2, 0.9), np.full(6, np.nan), np.linspace(0.05, 0.5, 40)]
    m8 = metric_suite(y8, p8, 0.5, 0.2, resample_weights(y8, 200, seed=0))
    assert m8["n_pd"] == 2 and m8["auc"] == 1.0 and np.isnan(m8["auc_ci"]).all()
    t = paired_auc_test(y, p, np.linspace(0, 1, len(y)), n_boot=200)
    assert np.isnan(t["p_value"]) and np.isnan(t["ci"]).all() and np.isfinite(t["delta"])
    enough = np.array([1] * MIN_CLASS_FOR_INTERVAL + [0] * 40)
    W = resample_weights(enough, 200, seed=0)
    assert np.isfinite(W).all()
    lo, hi = metric_suite(enough, np.r_[np.full(MIN_CLASS_FOR_INTERVAL, 0.9), np.linspace(0.05, 0.5, 40)], 0.5, 0.2,
                          W)["brier_ci"]
    assert lo < hi


def test_bootstrap_lets_the_prevalence_vary_so_calibration_in_the_large_has_a_real_ci():
    """Resampling each class to its own size would fix the prevalence: a constant predictor's
    calibration intercept would get a CI of zero width. The patient bootstrap does not."""
    from zoo.evaluation.bootstrap import resample_weights, weighted_calibration

    y = np.array([1] * 12 + [0] * 28)
    w = resample_weights(y, 400, seed=2)
    prevalence = w[:, y == 1].sum(axis=1) / w.sum(axis=1)
    assert prevalence.std() > 0.04  # about sqrt(0.3 * 0.7 / 40) = 0.072
    a, _ = weighted_calibration(y, np.full(40, 0.3), w)
    lo, hi = np.percentile(a, [2.5, 97.5])
    assert hi - lo > 1.0, "the CI of calibration-in-the-large reflects the sampling of the prevalence"


def test_vectorised_calibration_equals_statsmodels_glm():
    import statsmodels.api as sm
    from zoo.evaluation.bootstrap import weighted_calibration

    p = np.clip(P, 0.02, 0.98)
    lp = np.log(p / (1 - p))
    slope_fit = sm.GLM(Y, sm.add_constant(lp), family=sm.families.Binomial()).fit()
    citl_fit = sm.GLM(Y, np.ones((len(Y), 1)), family=sm.families.Binomial(), offset=lp).fit()
    a, b = weighted_calibration(Y, p, np.ones((1, len(Y))))
    assert a[0] == pytest.approx(citl_fit.params[0], abs=1e-6)
    assert b[0] == pytest.approx(slope_fit.params[1], abs=1e-6)


def test_metric_suite_gives_a_ci_for_every_metric_and_flags_worse_than_null():
    from zoo.evaluation.bootstrap import resample_weights
    from zoo.evaluation.report import metric_suite

    W = resample_weights(Y, 300, seed=0)
    m = metric_suite(Y, P, 0.4, float(Y.mean()), W)
    for k in ("auc", "brier", "scaled_brier", "cal_intercept", "cal_slope", "sensitivity", "specificity"):
        lo, hi = m[f"{k}_ci"]
        assert lo <= m[k] <= hi, k
    assert set(m["net_benefit"]) == {"0.10", "0.25", "0.50"}
    assert m["brier"] == pytest.approx(brier_score_loss(Y, P))
    assert m["null_brier"] == pytest.approx(Y.mean() * (1 - Y.mean()))
    bad = metric_suite(Y, 1 - P, 0.4, float(Y.mean()), W)
    assert bad["worse_than_null"] and bad["scaled_brier"] < 0


def test_net_benefit_matches_dcurves():
    from zoo.evaluation.bootstrap import weighted_net_benefit

    dca = decision_curve(Y, P, thresholds=np.array([0.1, 0.25, 0.5])).set_index("threshold")
    for t in (0.1, 0.25, 0.5):
        assert weighted_net_benefit(Y, P, t, np.ones((1, len(Y))))[0] == pytest.approx(dca.loc[t, "model"], abs=1e-9)


def test_reliability_bin_counts_match_the_bins():
    from zoo.evaluation.curves import reliability_bins

    rel = reliability_bins(Y, P, 10)
    assert rel["count"].sum() == len(Y)
    edges = np.unique(np.quantile(P, np.linspace(0, 1, 11)))
    idx = np.clip(np.searchsorted(edges, P, side="right") - 1, 0, len(edges) - 2)
    for b, (pred, obs, n) in enumerate(zip(rel["predicted"], rel["observed"], rel["count"])):
        m = idx == np.unique(idx)[b]
        assert n == m.sum() and pred == pytest.approx(P[m].mean()) and obs == pytest.approx(Y[m].mean())


def test_a_class_weighted_model_is_recalibrated_to_the_prevalence():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from zoo.evaluation.calibration import ScoreCalibrator, crossfit_calibrated

    rng = np.random.default_rng(0)
    X = rng.normal(size=(1500, 3))
    y = (rng.random(1500) < 1 / (1 + np.exp(-(X[:, 0] - 2.3)))).astype(int)  # ~12 % events
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    raw = cross_val_predict(LogisticRegression(class_weight="balanced"), X, y, cv=cv, method="predict_proba")[:, 1]
    assert raw.mean() > y.mean() + 0.2, "class weighting inflates the risks (the bug this fixes)"
    fold = np.zeros(len(y), int)
    for f, (_, va) in enumerate(cv.split(X, y)):
        fold[va] = f
    cal = crossfit_calibrated(raw, y, fold)
    assert cal.mean() == pytest.approx(y.mean(), abs=0.015)
    a, b = calibration_intercept_slope(y, cal)
    assert abs(a) < 0.2 and abs(b - 1) < 0.25
    c = ScoreCalibrator().fit(raw, y)
    again = ScoreCalibrator.from_dict(c.to_dict())
    assert np.allclose(again.predict(raw), c.predict(raw)), "the saved calibrator gives the same risks"


def test_a_slope_that_diverges_is_reported_as_not_estimable_not_as_the_clip_bound():
    from zoo.evaluation.bootstrap import weighted_calibration

    y = np.array([0] * 20 + [1] * 20)
    p = np.where(y == 1, 0.6, 0.4)  # two values that separate the outcomes: the ML slope is infinite
    _, slope = weighted_calibration(y, p, np.ones((1, len(y))))
    assert np.isnan(slope[0])
    rng = np.random.default_rng(0)
    p2 = np.clip(0.35 + 0.3 * y + rng.normal(0, 0.25, len(y)), 0.01, 0.99)  # overlapping: an MLE exists
    _, slope2 = weighted_calibration(y, p2, np.ones((1, len(y))))
    assert np.isfinite(slope2[0]) and 0 < slope2[0] < 1000


def test_recalibration_line_matches_statsmodels_on_over_confident_scores():
    """Newton from slope 1 overshot and returned NaN on over-confident scores whose MLE exists (slope ~0.1)."""
    import statsmodels.api as sm

    from zoo.evaluation.bootstrap import recalibration_lines

    rng = np.random.default_rng(7)
    t = 1 / (1 + np.exp(-rng.normal(-0.3, 1.0, 480)))
    y = (rng.random(480) < t).astype(int)
    for factor in (10.0, 3.0, 1.0, 0.5):
        p = 1 / (1 + np.exp(-factor * np.log(t / (1 - t))))
        b0, b1 = recalibration_lines(y, p, np.ones((1, len(y))))
        q = np.clip(p, 1e-6, 1 - 1e-6)  # the fit reads logits clipped at ±13.8, as the calibration slope does
        ref = sm.Logit(y, sm.add_constant(np.log(q / (1 - q)))).fit(disp=0).params
        assert b0[0] == pytest.approx(ref[0], abs=1e-5) and b1[0] == pytest.approx(ref[1], abs=1e-5), factor
    sep = np.r_[np.full(20, 0.2), np.full(20, 0.8)]
    assert np.isnan(recalibration_lines(np.r_[np.zeros(20), np.ones(20)].astype(int), sep, np.ones((1, 40)))[1][0])
