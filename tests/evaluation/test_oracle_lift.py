"""Lift over chance as a share of the oracle's, with its paired bootstrap interval."""
import numpy as np
from sklearn.metrics import roc_auc_score

from zoo.evaluation.bootstrap import resample_weights
from zoo.evaluation.report import lift_over_oracle


def _cohort(n=150, seed=3):
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-1.5 * risk))).astype(int)
    oracle = 1 / (1 + np.exp(-1.5 * risk))
    model = 1 / (1 + np.exp(-(0.8 * risk + rng.normal(scale=1.0, size=n))))
    return y, model, oracle


def test_lift_is_the_ratio_of_lifts_over_chance_on_the_same_patients():
    y, p, o = _cohort()
    W = resample_weights(y, 300, seed=0)
    ao, lift, ci = lift_over_oracle(y, p, o, np.ones(len(y)), W)
    assert np.isclose(ao, roc_auc_score(y, o))
    assert np.isclose(lift, (roc_auc_score(y, p) - 0.5) / (roc_auc_score(y, o) - 0.5))
    assert ci[0] < lift < ci[1] and ci[1] - ci[0] > 0.1


def test_patients_without_a_prediction_are_left_out_of_both_aucs():
    y, p, o = _cohort()
    p = p.copy()
    p[:40] = np.nan
    ao, lift, _ = lift_over_oracle(y, p, o, np.ones(len(y)), resample_weights(y, 50, seed=0))
    assert np.isclose(ao, roc_auc_score(y[40:], o[40:]))
    assert np.isclose(lift, (roc_auc_score(y[40:], p[40:]) - 0.5) / (roc_auc_score(y[40:], o[40:]) - 0.5))


def test_the_oracle_auc_carries_the_same_case_weights_as_the_model_auc():
    """A zero censoring weight removes a patient from both AUCs, not only from the model's."""
    y, p, o = _cohort()
    cw = np.ones(len(y))
    cw[:50] = 0.0
    ao, lift, _ = lift_over_oracle(y, p, o, cw, resample_weights(y, 50, seed=0))
    assert np.isclose(ao, roc_auc_score(y[50:], o[50:]))
    assert np.isclose(lift, (roc_auc_score(y[50:], p[50:]) - 0.5) / (roc_auc_score(y[50:], o[50:]) - 0.5))


def test_the_interval_resamples_model_and_oracle_together():
    """A model that ranks exactly as the oracle has lift 1 on every resample: a zero-width interval. Resampling
    the two apart would give a wide one."""
    y, _, o = _cohort()
    ao, lift, ci = lift_over_oracle(y, o ** 2, o, np.ones(len(y)), resample_weights(y, 300, seed=1))
    assert np.isclose(lift, 1.0) and np.allclose(ci, [1.0, 1.0])


def test_one_outcome_class_gives_no_lift():
    y, p, o = _cohort()
    y = np.zeros_like(y)
    assert lift_over_oracle(y, p, o, np.ones(len(y)), np.ones((5, len(y))))[1] is None


def test_no_interval_where_the_oracle_itself_is_not_clearly_above_chance():
    """The lift's denominator near zero makes the ratio unbounded: no interval rather than a misleading one."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    o = rng.random(60)  # an oracle with no information on these patients
    p = rng.random(60)
    ao, lift, ci = lift_over_oracle(y, p, o, np.ones(60), resample_weights(y, 300, seed=0))
    assert np.isnan(ci).all()
