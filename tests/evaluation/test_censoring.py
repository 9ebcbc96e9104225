"""Inverse-probability-of-censoring weights: they restore the 24-month risk that dropping early-censored patients
biases, and a zoo estimates them apart for its training and test patients (no test follow-up in a training
weight)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from zoo.evaluation.censoring import HORIZON_MONTHS, ipcw_weights, split_ipcw_weights


def _followup(n: int, seed: int, censor_rate: float = 0.04) -> tuple[pd.DataFrame, float]:
    """Exponential progression times (true 24-month risk known) under independent exponential censoring."""
    rng = np.random.default_rng(seed)
    hazard = -np.log(1 - 0.35) / HORIZON_MONTHS  # P(T < 24) = 0.35
    t_event = rng.exponential(1 / hazard, n)
    t_cens = rng.exponential(1 / censor_rate, n)
    months = np.minimum(t_event, t_cens)
    event = (t_event <= t_cens).astype(int)
    known = (event == 1) | (months >= HORIZON_MONTHS)
    ids = [f"P{i:05d}" for i in range(n)]
    df = pd.DataFrame({"months_to_event": months, "event": event, "known": known}, index=ids)
    df["progressed"] = ((df["event"] == 1) & (df["months_to_event"] < HORIZON_MONTHS)).astype(int)
    return df, 0.35


def test_the_weights_restore_the_24_month_risk_that_dropping_the_censored_biases():
    df, truth = _followup(20000, seed=0)
    assert (~df["known"]).mean() > 0.15, "the simulation must censor a real share early"
    w = ipcw_weights(df["months_to_event"], df["event"], df["known"])
    y = df.loc[w.index, "progressed"]
    naive = y.mean()
    weighted = float(np.average(y, weights=w))
    assert naive > truth + 0.04, "dropping early-censored non-progressors over-represents events"
    assert weighted == pytest.approx(truth, abs=0.015)
    assert w.mean() == pytest.approx(1.0)


def test_no_one_censored_early_means_every_weight_is_one():
    df, _ = _followup(300, seed=1, censor_rate=1e-6)
    df = df[df["known"]]
    w = ipcw_weights(df["months_to_event"], df["event"], df["known"])
    assert np.allclose(w, 1.0)
    assert split_ipcw_weights(df, list(df.index[:240]), list(df.index[240:])) is None


def test_test_patients_follow_up_never_shapes_a_training_weight():
    df, _ = _followup(2000, seed=2)
    kept = df.index[df["known"]]
    train, test = list(kept[: int(0.8 * len(kept))]), list(kept[int(0.8 * len(kept)):])
    w = split_ipcw_weights(df, train, test)
    assert w is not None and set(w.index) == set(train) | set(test)
    assert w[train].mean() == pytest.approx(1.0) and w[test].mean() == pytest.approx(1.0)

    moved = df.copy()
    early = [p for p in test if moved.loc[p, "event"] == 1][:50]  # test progressors: they leave the risk set
    moved.loc[early, "months_to_event"] = moved.loc[early, "months_to_event"] / 2  # of Ĝ's estimate earlier
    w2 = split_ipcw_weights(moved, train, test)
    pd.testing.assert_series_equal(w[train], w2[train])
    # the whole-cohort estimate, by contrast, moves every training weight when test follow-up changes ...
    whole = ipcw_weights(df["months_to_event"], df["event"], df["known"])
    whole2 = ipcw_weights(moved["months_to_event"], moved["event"], moved["known"])
    assert not np.allclose(whole[train], whole2[train])
    # ... and the training patients' own follow-up does move theirs (the check above can fail)
    moved_train = df.copy()
    early_events = [p for p in train if df.loc[p, "event"] == 1][:50]
    moved_train.loc[early_events, "months_to_event"] = moved_train.loc[early_events, "months_to_event"] / 2
    assert not np.allclose(split_ipcw_weights(moved_train, train, test)[train], w[train])


def test_split_weights_are_a_lifelines_fit_with_the_left_out_patients_at_the_split_s_share():
    from lifelines import KaplanMeierFitter

    df, _ = _followup(600, seed=5)
    kept = df.index[df["known"]]
    train, test = list(kept[: int(0.8 * len(kept))]), list(kept[int(0.8 * len(kept)):])
    left_out = list(df.index[~df["known"]])
    w = split_ipcw_weights(df, train, test)
    for ids, share in ((train, len(train) / len(kept)), (test, len(test) / len(kept))):
        rows = df.loc[ids + left_out]
        km = KaplanMeierFitter().fit(rows["months_to_event"], 1 - rows["event"],
                                     weights=np.r_[np.ones(len(ids)), np.full(len(left_out), share)])
        at = np.minimum(df.loc[ids, "months_to_event"].to_numpy(), HORIZON_MONTHS) - 1e-9
        raw = 1 / np.clip(km.survival_function_at_times(at).to_numpy(), 0.05, 1)
        assert np.allclose(w[ids], raw / raw.mean())


def test_weights_are_capped_at_twenty_times_before_normalising():
    # ten progressors at 1 month (Ĝ = 1 there), 185 lost at 5 months, 5 followed to 30: Ĝ(24) = 5/190, 1/Ĝ = 38
    months = pd.Series(np.r_[np.full(10, 1.0), np.full(185, 5.0), np.full(5, 30.0)])
    event = pd.Series(np.r_[np.ones(10, dtype=int), np.zeros(190, dtype=int)])
    w = ipcw_weights(months, event, (months >= HORIZON_MONTHS) | (event == 1))
    assert len(w) == 15
    assert (w.iloc[10:] / w.iloc[:10].mean()).to_numpy() == pytest.approx(np.full(5, 20.0)), "38 is capped at 20"


def test_a_tiny_split_gets_no_weights_from_a_fractional_handful():
    """The size guard counts a shared left-out patient by its share, so a test split of 3 patients does not get a
    Kaplan–Meier estimate from 3 + 30 × 0.05 'patients'."""
    df, _ = _followup(40, seed=9, censor_rate=0.06)
    kept = df.index[df["known"]]
    train, test = list(kept[3:]), list(kept[:3])
    w = split_ipcw_weights(df, train, test)
    assert w is not None and np.allclose(w[test], 1.0)


def test_each_split_still_restores_the_risk():
    df, truth = _followup(20000, seed=3)
    kept = df.index[df["known"]]
    rng = np.random.default_rng(0)
    is_test = rng.random(len(kept)) < 0.2
    train, test = list(kept[~is_test]), list(kept[is_test])
    w = split_ipcw_weights(df, train, test)
    for ids in (train, test):
        assert float(np.average(df.loc[ids, "progressed"], weights=w[ids])) == pytest.approx(truth, abs=0.025)


def test_a_zoo_stores_split_wise_weights(cohort_copy, tmp_path):
    """Trained on a cohort with early censoring, the zoo's tables carry the training patients' weights from
    their own follow-up and the test patients' from theirs, not the whole cohort's."""
    from zoo.api import Zoo
    from zoo.cohort import load_cohort
    from zoo.training.trainer import train_zoo

    path = cohort_copy / "clinical.csv"
    t = pd.read_csv(path, dtype={"patient_id": str})
    rng = np.random.default_rng(4)
    non_pd = t.index[t["progressed"] == 0]
    lost = rng.choice(non_pd, size=max(6, len(non_pd) // 5), replace=False)
    t.loc[lost, "months_to_event"] = rng.uniform(3, 20, len(lost)).round(1)
    t.loc[lost, "event"] = 0
    t.to_csv(path, index=False)
    cohort = load_cohort(cohort_copy)
    assert cohort.followup is not None and cohort.case_weights is not None
    out = train_zoo(cohort_copy, tmp_path / "zoo", profile="test", models=["clinical_lr", "ref_iss"],
                    show_bars=False)
    zoo = Zoo.load(out)
    P = zoo.predictions()
    split = zoo.files.read_json("split.json")
    stored = P[P["model"] == "clinical_lr"].set_index(["split", "patient_id"])["weight"]
    expected = split_ipcw_weights(cohort.followup, split["train"], split["test"])
    assert np.allclose(stored.loc["oof"].reindex(split["train"]), expected[split["train"]])
    assert np.allclose(stored.loc["test"].reindex(split["test"]), expected[split["test"]])
    whole = cohort.case_weights
    assert not np.allclose(stored.loc["test"].reindex(split["test"]), whole[split["test"]] / whole[split["test"]].mean())
    # the calibration band on the patient card resamples the training patients with their weights
    from zoo.evaluation.intervals import RiskIntervals

    oof = P[(P["model"] == "clinical_lr") & (P["split"] == "oof")]
    ref = RiskIntervals().fit(oof["prob"], oof["y"], oof["weight"]).band([0.3])
    assert np.array_equal(zoo.intervals("clinical_lr").band([0.3]), ref)
    assert not np.array_equal(ref, RiskIntervals().fit(oof["prob"], oof["y"]).band([0.3]))
    # so does the Venn–Abers pair, and the leaderboard's coverage figures are weighted shares of the test patients
    from zoo.evaluation.intervals import WeightedVennAbers, interval_report

    assert isinstance(zoo.intervals("clinical_lr").va_, WeightedVennAbers)
    test = P[(P["model"] == "clinical_lr") & (P["split"] == "test")]
    unc = zoo.metrics()["models"]["clinical_lr"]["test"]["uncertainty"]
    ours = RiskIntervals().fit(oof["prob"], oof["y"], oof["weight"])
    rep = interval_report(ours, test["y"].to_numpy(int), test["prob"].to_numpy(), case_weights=test["weight"].to_numpy())
    assert unc["weighted"] and unc["coverage"] == pytest.approx(rep["coverage"])
    assert unc["va_mean_width"] == pytest.approx(rep["va_mean_width"])
    late = [n for n in zoo.ensemble_names if zoo.manifest["ensembles"][n]["kind"] == "late"]
    assert late and all(zoo.ensemble(n).oof_by_pattern_ for n in late)
    for n in late:
        for pattern, v in zoo.ensemble(n).oof_by_pattern_.items():
            assert len(v["w"]) == len(v["p"]) == len(v["y"]), f"{n} {pattern}: weights misaligned"
            iv = zoo.intervals(n, pattern)
            assert iv is not None and np.isfinite(iv.band([0.3])).all()
    assert zoo.metrics()["outcome_excluded"]["development"]["ipcw"] == "split"
    # the model card's subgroup table weighs with the zoo's own test weights, not the freshly loaded cohort's
    from zoo.evaluation.subgroups import group_metrics, zoo_subgroups

    rows = zoo_subgroups(zoo, {"test": cohort}, models=["clinical_lr"], n_boot=20)
    everyone = rows[(rows["split"] == "test") & (rows["grouping"] == "sex")]
    test_rows = P[(P["model"] == "clinical_lr") & (P["split"] == "test")].set_index("patient_id")
    sex = cohort.clinical.loc[test_rows.index, "sex"]
    assert len(everyone) >= 2
    for level, r in everyone.set_index("group").iterrows():
        sel = (sex == level).to_numpy()
        ref = group_metrics(test_rows["y"].to_numpy()[sel], test_rows["prob"].to_numpy()[sel], ["g"] * int(sel.sum()),
                            0.5, weights=test_rows["weight"].to_numpy()[sel], n_boot=20).iloc[0]
        assert r["auc"] == pytest.approx(ref["auc"])
