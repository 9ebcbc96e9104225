"""Comparisons against the staging systems: ΔAUC, likelihood-ratio test, net reclassification, tables."""
import json

import numpy as np
import pandas as pd
import pytest

from zoo.evaluation.reclassification import band_index, categorical_nri, reclassification_table
from zoo.evaluation.staging_compare import best_staging, lr_test


def test_bands_are_the_predictors_bands():
    from zoo.api import risk_band

    p = np.array([0.0, 0.1, 0.2499, 0.25, 0.4, 0.5, 0.9, np.nan])
    names = ["low", "intermediate", "high"]
    assert [names[i] if i >= 0 else None for i in band_index(p)] == \
        [risk_band(v) for v in p[:-1]] + [None]


def test_nri_on_a_hand_worked_example():
    # reference: everyone intermediate. Events: 2 up, 1 down, 1 unchanged; non-events: 1 down, 3 unchanged.
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    ref = np.full(8, 0.3)
    new = np.array([0.6, 0.7, 0.1, 0.3, 0.1, 0.3, 0.3, 0.3])
    r = categorical_nri(y, ref, new, n_boot=200, seed=0)
    assert r["events"] == pytest.approx((2 - 1) / 4)
    assert r["non_events"] == pytest.approx((1 - 0) / 4)
    assert r["total"] == pytest.approx(0.5)
    assert (r["up"], r["down"]) == (2, 2)
    assert np.isnan(r["total_ci"]).all(), "four events give no interval (MIN_CLASS_FOR_INTERVAL)"
    r3 = categorical_nri(np.tile(y, 3), np.tile(ref, 3), np.tile(new, 3), n_boot=200, seed=0)
    assert r3["total"] == pytest.approx(0.5)
    lo, hi = r3["total_ci"]
    assert lo <= r3["total"] <= hi


def test_nri_leaves_out_patients_without_both_predictions():
    y = np.array([1, 0, 1, 0])
    r = categorical_nri(y, [0.3, 0.3, np.nan, 0.3], [0.6, 0.1, 0.9, np.nan], n_boot=50)
    assert r["n"] == 2 and r["total"] == pytest.approx(2.0)


def test_reclassification_table_counts_every_patient():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 50)
    ref = np.where(rng.random(50) < 0.2, np.nan, rng.random(50))
    new = np.where(rng.random(50) < 0.1, np.nan, rng.random(50))
    t = reclassification_table(y, ref, new)
    assert t["bands"] == ["low", "intermediate", "high", "no prediction"]
    all_, ev, ne = (np.array(t[k]) for k in ("all", "events", "non_events"))
    assert all_.sum() == 50 and np.array_equal(ev + ne, all_) and ev.sum() == y.sum()
    assert all_[3].sum() == np.isnan(ref).sum(), "the last row holds the patients the reference does not rate"
    assert all_[:, 3].sum() == np.isnan(new).sum()


def test_lr_test_finds_information_beyond_the_stage_and_none_in_the_stage_itself():
    rng = np.random.default_rng(1)
    n = 400
    stage = rng.choice(["I", "II", "III"], n)
    x = rng.normal(size=n)
    logit = {"I": -1.0, "II": 0.0, "III": 1.0}
    y = (rng.random(n) < 1 / (1 + np.exp(-(np.vectorize(logit.get)(stage) + 1.5 * x)))).astype(int)
    informative = 1 / (1 + np.exp(-(1.5 * x)))
    r = lr_test(y, stage, informative)
    assert r["n"] == n and r["df"] == 1 and r["p_value"] < 1e-6 and r["coef"] > 0
    stage_only = np.vectorize({"I": 0.2, "II": 0.4, "III": 0.6}.get)(stage)
    r0 = lr_test(y, stage, stage_only)
    assert r0["chi2"] == pytest.approx(0.0, abs=1e-6), "a function of the stage adds nothing to the stage"
    few = lr_test(y[:5], stage[:5], informative[:5])
    assert np.isnan(few["p_value"]) and "too few" in few["note"]


def test_best_staging_is_chosen_on_oof_auc_only():
    oof = {"ref_iss": 0.61, "ref_riss": 0.64, "ref_r2iss": np.nan, "ref_imwg": 0.58, "clinical_lr": 0.9}
    assert best_staging(oof, ["ref_iss", "ref_riss", "ref_r2iss", "ref_imwg"]) == "ref_riss"
    assert best_staging({"ref_iss": np.nan}, ["ref_iss"]) is None


# ----- on trained zoos ------------------------------------------------------------------------------
REFS = {"ref_iss", "ref_riss", "ref_r2iss", "ref_imwg"}


def _check_zoo(zoo_dir, splits=("test", "external")):
    from zoo.api import Zoo

    zoo = Zoo.load(zoo_dir)
    m = zoo.metrics()
    st = m["staging"]
    assert set(st["systems"]) == REFS
    oof = {n: m["models"][n]["oof"]["auc"] for n in REFS}
    assert st["best"] == max((n for n in REFS if np.isfinite(oof[n])), key=lambda n: (oof[n], n)), \
        "the reference is the best staging system on OOF, not on test"
    assert not set(m["ensemble_members"]) & REFS and m["best_single"] not in REFS
    split_ids = zoo.split()
    n_ext = zoo.manifest["external"]["n"] if zoo.manifest.get("external") else 0
    for split in splits:
        lb = zoo.leaderboard(split)
        ref_rows = lb[lb["modality"] == "reference"]
        assert set(ref_rows["model"]) == REFS and (ref_rows["group"] == "Staging (reference)").all()
        assert ref_rows[["auc", "auc_lo", "auc_hi"]].notna().all().all(), "every staging system has an AUC and CI"
        ens = lb[lb["kind"] == "ensemble"]
        assert len(ens) >= 5
        for _, r in ens.iterrows():
            assert r["vs_staging"] == st["best"]
            assert np.isfinite([r["delta_auc_vs_staging"], r["delta_auc_vs_staging_lo"],
                                r["delta_auc_vs_staging_hi"]]).all(), r["model"]
            assert r["delta_auc_vs_staging_lo"] <= r["delta_auc_vs_staging_hi"]
            assert np.isfinite(r["nri_vs_staging"]) and r["nri_vs_staging_lo"] <= r["nri_vs_staging_hi"]
        n_split = len(split_ids["test"]) if split == "test" else n_ext
        for name, rec in m["models"].items():
            vs = rec[split].get("vs_staging")
            if name == st["best"]:
                assert vs is None
                continue
            t = vs["reclassification"]
            all_ = np.array(t["all"])
            assert all_.sum() == n_split == t["n"], f"{name}: the table sums to the {split} set"
            assert np.array_equal(np.array(t["events"]) + np.array(t["non_events"]), all_)
            ev = np.array(t["events"])
            assert ev.sum() == rec[split]["n_pd"] + ev[:, 3].sum(), "events the model rates + events it does not"
            assert vs["lr_test"]["fitted_on"] == split
    return zoo, m


def test_clinical_only_cohort_compares_every_model_with_the_staging_systems(clinical_only_zoo_dir):
    zoo, m = _check_zoo(clinical_only_zoo_dir)
    assert {zoo.manifest["models"][n]["modality"] for n in zoo.model_names} == {"clinical", "reference"}


def test_demo_zoo_compares_every_ensemble_with_the_best_staging_system(test_zoo_dir):
    _check_zoo(test_zoo_dir)


def test_zoo_scores_staging_systems_for_new_patients(clinical_only_zoo_dir, tiny_cohort):
    from zoo.api import Zoo
    from zoo.data import PatientData

    zoo = Zoo.load(clinical_only_zoo_dir)
    test_ids = zoo.split()["test"]
    data = PatientData.from_cohort(tiny_cohort)
    scores = zoo.score(data.subset([data.ids.index(p) for p in test_ids])).probabilities
    stored = zoo.predictions()
    stored = stored[stored["split"] == "test"].pivot(index="patient_id", columns="model", values="prob")
    for name in REFS:
        assert np.allclose(scores[name].to_numpy(), stored.loc[test_ids, name].to_numpy(), equal_nan=True), \
            f"{name}: reloaded from JSON, it gives the stored test predictions"
    row = tiny_cohort.clinical.loc[test_ids[0], zoo.features].to_dict()
    pred = zoo.predict_patient({k: v for k, v in row.items() if pd.notna(v)})
    assert set(pred.stages) == {"iss", "riss", "r2iss", "imwg_hr"}
    assert pred.to_dict()["stages"] == pred.stages
    expected = stored.loc[test_ids[0], "ref_r2iss"]
    got = pred.model_probs["ref_r2iss"]
    assert (got is None and np.isnan(expected)) or got == pytest.approx(expected)
    blank = zoo.predict_patient({})
    assert blank.stages == {"iss": None, "riss": None, "r2iss": None, "imwg_hr": None}
    assert blank.model_probs["ref_r2iss"] is None, "no inputs, no stage, no staging risk"


def test_leaderboard_json_carries_the_staging_comparison(clinical_only_zoo_dir, capsys):
    from zoo.cli import main

    assert main(["leaderboard", "--zoo", str(clinical_only_zoo_dir), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    ens = [r for r in rows if r["kind"] == "ensemble"]
    assert ens and all({"delta_auc_vs_staging", "delta_auc_vs_staging_lo", "lr_p_vs_staging", "nri_vs_staging",
                        "reclassification_vs_staging"} <= set(r) for r in ens)
    assert {r["model"] for r in rows if r["kind"] == "reference"} == REFS


def test_the_lr_test_gives_no_p_value_on_a_handful_of_events():
    """An asymptotic test on three events printed a p-value beside a bootstrap one withheld for the same reason."""
    rng = np.random.default_rng(1)
    y = np.array([1] * 3 + [0] * 40)
    stage = pd.Series(rng.choice(["I", "II", "III"], len(y)))
    r = lr_test(y, stage, np.r_[np.full(3, 0.8), rng.uniform(0.05, 0.6, 40)])
    assert np.isnan(r["p_value"]) and r["note"] == "too few of one outcome"
    y5 = np.array([1] * 12 + [0] * 40)
    ok = lr_test(y5, pd.Series(rng.choice(["I", "II", "III"], len(y5))), rng.uniform(0.05, 0.9, len(y5)))
    assert np.isfinite(ok["p_value"])
