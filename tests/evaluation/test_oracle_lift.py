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
    """An oracle just above chance on these patients has a point lift, but its own interval reaches chance: the
    ratio is unbounded, so no interval rather than a misleading one."""
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 80)
    o = rng.random(80) + 0.08 * y  # barely informative
    p = rng.random(80) + 0.3 * y
    assert 0.53 < roc_auc_score(y, o) < 0.58
    ao, lift, ci = lift_over_oracle(y, p, o, np.ones(80), resample_weights(y, 300, seed=0))
    assert lift is not None and lift > 1 and np.isnan(ci).all()


def test_the_interval_carries_the_case_weights():
    """Zero censoring weights on 50 patients: the same interval as leaving them out of the resamples."""
    y, p, o = _cohort()
    W = resample_weights(y, 300, seed=2)
    cw = np.ones(len(y))
    cw[:50] = 0.0
    _, lift, ci = lift_over_oracle(y, p, o, cw, W)
    _, lift_kept, ci_kept = lift_over_oracle(y[50:], p[50:], o[50:], np.ones(len(y) - 50), W[:, 50:])
    assert np.isclose(lift, lift_kept) and np.allclose(ci, ci_kept)
    _, _, ci_all = lift_over_oracle(y, p, o, np.ones(len(y)), W)
    assert not np.allclose(ci, ci_all)


def test_a_few_resamples_with_the_oracle_at_chance_widen_the_interval_instead_of_vanishing():
    """Under 1 % of resamples put this oracle at or below chance: the interval exists, and those resamples count
    as unbounded lifts (dropping them would pull the upper bound down)."""
    from zoo.evaluation.bootstrap import weighted_auc

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 80)
    o = rng.random(80) + 0.2 * y
    p = rng.random(80) + 0.3 * y
    W = resample_weights(y, 400, seed=0)
    ab, aob = weighted_auc(y, p, W), weighted_auc(y, o, W)
    assert 0 < np.mean(aob <= 0.5) < 0.02
    _, lift, ci = lift_over_oracle(y, p, o, np.ones(80), W)
    dropped = np.quantile((ab[aob > 0.5] - 0.5) / (aob[aob > 0.5] - 0.5), 0.975)
    assert np.isfinite(ci).all() and ci[0] < lift < ci[1] and ci[1] > dropped
