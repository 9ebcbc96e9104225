"""Subgroup performance: a subgroup whose signal is removed shows it; small groups are flagged."""
import numpy as np
import pandas as pd
import pytest

from zoo.evaluation.subgroups import GROUPINGS, group_labels, group_metrics, subgroup_table
from zoo.schema import DEFAULT_SCHEMA


def _synthetic(n: int = 1600, seed: int = 3):
    """The generator's clinical table with its true clinical risk as the prediction; for women the
    prediction is shuffled among women, which keeps its distribution and removes all signal."""
    from zoo.synth.clinical import sample_clinical
    from zoo.synth.risk import clinical_component

    rng = np.random.default_rng(seed)
    df = sample_clinical(n, rng).reset_index(drop=True)
    lp = clinical_component(df)
    lp = (lp - lp.mean()) / lp.std() * 1.3  # a clearly informative score
    p = 1 / (1 + np.exp(-(lp - 0.3)))
    y = pd.Series(rng.binomial(1, p), index=df.index)
    pred = p.copy()
    women = (df["sex"] == "female").to_numpy()
    pred[women] = rng.permutation(pred[women])
    return df, y, pd.DataFrame({"model_x": pred}, index=df.index)


def test_a_subgroup_without_signal_has_an_auc_ci_covering_one_half_and_the_others_do_not():
    df, y, probs = _synthetic()
    labels = group_labels(df, DEFAULT_SCHEMA)
    t = subgroup_table(y, probs, labels, {"model_x": 0.5}, n_boot=400)
    sex = t[t["grouping"] == "sex"].set_index("group")
    assert sex.loc["female", "auc_lo"] < 0.5 < sex.loc["female", "auc_hi"], sex.loc["female"]
    assert sex.loc["male", "auc_lo"] > 0.5, sex.loc["male"]
    # every other well-populated group mixes women and men, so it keeps some signal
    others = t[(t["grouping"] != "sex") & ~t["too_few_events"] & (t["group"] != "(missing)")]
    assert len(others) >= 5 and (others["auc_lo"] > 0.5).all(), others[["grouping", "group", "auc", "auc_lo"]]
    assert t["n"].groupby(t["grouping"]).sum().eq(len(df)).all(), "each grouping partitions the patients"


def test_small_groups_are_flagged_and_unknown_labels_are_a_group_of_their_own():
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(30), np.zeros(60), np.ones(3), np.zeros(20)].astype(int)
    p = np.clip(0.5 + (y - 0.5) * 0.4 + rng.normal(0, 0.2, len(y)), 0.01, 0.99)
    g = ["a"] * 90 + [None] * 23
    t = group_metrics(y, p, g, threshold=0.5, n_boot=200).set_index("group")
    assert set(t.index) == {"a", "(missing)"}
    assert not t.loc["a", "too_few_events"] and t.loc["(missing)", "too_few_events"], "3 events < 10"
    assert t.loc["a", "n"] == 90 and t.loc["a", "events"] == 30
    assert t.loc["a", "auc_lo"] <= t.loc["a", "auc"] <= t.loc["a", "auc_hi"]
    sens = ((p[:90] >= 0.5) & (y[:90] == 1)).sum() / 30
    assert t.loc["a", "sensitivity"] == pytest.approx(sens)


def test_censoring_weights_change_the_estimates_like_the_leaderboards_do():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    p = np.clip(0.5 + (y - 0.5) * 0.3 + rng.normal(0, 0.25, 400), 0.01, 0.99)
    w = rng.uniform(0.5, 2.0, 400)
    t = group_metrics(y, p, ["all"] * 400, 0.5, weights=w, n_boot=100).iloc[0]
    assert t["auc"] == pytest.approx(roc_auc_score(y, p, sample_weight=w))
    assert t["auc"] != pytest.approx(roc_auc_score(y, p))


def test_patients_without_a_prediction_are_left_out_not_counted_as_zero():
    y = np.array([1, 0, 1, 0, 1, 0] * 10)
    p = np.where(y == 1, 0.8, 0.2).astype(float)
    p[:6] = np.nan
    t = group_metrics(y, p, ["g"] * 60, 0.5, n_boot=50).iloc[0]
    assert t["n"] == 54 and t["auc"] == 1.0


def test_the_registry_labels_every_patient_of_the_demo_schema(tiny_cohort):
    labels = group_labels(tiny_cohort.clinical, tiny_cohort.schema, extra=["fish_del17p"])
    assert list(labels.columns) == [*GROUPINGS, "fish_del17p"]
    assert set(labels["age_65"].dropna()) <= {"≥ 65", "< 65"}
    assert set(labels["fish_del17p"].dropna()) <= {"yes", "no"}
    assert labels["sex"].notna().all()
