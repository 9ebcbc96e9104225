"""Honest training: patient-level splits, selection on OOF only, resumable, safe artifacts."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from zoo.api import Zoo
from zoo.errors import ZooIntegrityError
from zoo.training.splits import make_split
from zoo.training.trainer import Interrupted, train_zoo

CLINICAL_ONLY = ["clinical_lr", "clinical_dt", "clinical_knn"]


def test_split_is_by_patient_stratified_and_seeded():
    y = np.array([0] * 70 + [1] * 30)
    a, b = make_split(y, 0.2, 5, seed=0), make_split(y, 0.2, 5, seed=0)
    assert np.array_equal(a.test, b.test) and np.array_equal(a.fold, b.fold)
    assert len(set(a.train) & set(a.test)) == 0 and len(a.train) + len(a.test) == 100
    assert y[a.test].mean() == pytest.approx(0.3, abs=0.02)
    assert set(np.unique(a.fold)) == set(range(5))
    with pytest.raises(ValueError, match="at least 4 patients in each outcome class"):
        make_split(np.array([0] * 20 + [1] * 2))


def test_zoo_has_every_model_ensembles_and_metrics(test_zoo):
    m = test_zoo.metrics()
    from zoo.models import list_models

    assert set(test_zoo.model_names) == set(list_models(default_only=True, profile="test"))
    assert {"ens_soft_vote", "ens_weighted", "ens_stacking", "ens_fusion_lr", "ens_fusion_xgb"} <= set(m["models"])
    members = m["ensemble_members"]
    mods = [test_zoo.manifest["models"][x]["modality"] for x in members]
    assert all(mods.count(k) <= 2 for k in set(mods)), "top-2 per modality"
    for name, rec in m["models"].items():
        t = rec["test"]
        assert 0 <= t["threshold"] <= 1
        if not np.isnan(t.get("auc", np.nan)):
            lo, hi = t["auc_ci"]
            assert lo <= t["auc"] <= hi, name
        assert "external" in rec, "the external cohort is scored for every model"
    assert "oracle" in m and set(m["oracle"]["test"]) == {"clinical", "marrow", "electrophoresis", "true"}
    assert set(m["ablation"]["ens_soft_vote"]["test"]) >= {"all", "without_clinical", "without_marrow",
                                                           "without_electrophoresis"}
    assert "p_value" in m["models"]["ens_stacking"]["test"]["vs_best_single"]
    for name, rec in m["models"].items():  # clinical models beside the synthetic clinical oracle: a lift and its CI
        t = rec["test"]
        if rec["modality"] == "clinical":
            lo, hi = t["oracle_lift_ci"]
            assert t["oracle_lift"] is not None and lo < hi, name
    machine = test_zoo.manifest["build_machine"]
    assert machine["cpu"] and machine["torch_cpu_capability"] and machine["torch_threads"] >= 1


def test_selection_uses_no_test_information(tiny_cohort_dir, tmp_path):
    """Permuting the test labels leaves every OOF-based choice unchanged."""
    zoo_a = train_zoo(tiny_cohort_dir, tmp_path / "a", profile="test", models=CLINICAL_ONLY, show_bars=False)
    split = json.loads((zoo_a / "split.json").read_text())
    permuted = tmp_path / "permuted"
    shutil.copytree(tiny_cohort_dir, permuted)
    clin = pd.read_csv(permuted / "clinical.csv", dtype={"patient_id": str})
    test_rows = clin["patient_id"].isin(split["test"]).to_numpy()
    labels = clin.loc[test_rows, "progressed"].to_numpy()
    perm = np.random.default_rng(0).permutation(labels)
    assert (perm != labels).any()
    clin.loc[test_rows, "progressed"] = perm
    clin.to_csv(permuted / "clinical.csv", index=False)
    zoo_b = train_zoo(permuted, tmp_path / "b", profile="test", models=CLINICAL_ONLY, show_bars=False,
                      split_from=zoo_a / "split.json")
    assert json.loads((zoo_b / "split.json").read_text()) == split
    ma, mb = (json.loads((z / "metrics.json").read_text()) for z in (zoo_a, zoo_b))
    assert ma["ensemble_members"] == mb["ensemble_members"]
    assert ma["best_single"] == mb["best_single"]
    for name in ma["models"]:
        assert ma["models"][name]["threshold"] == mb["models"][name]["threshold"], name
        assert ma["models"][name]["oof"] == mb["models"][name]["oof"], name
    pa, pb = (pd.read_parquet(z / "predictions.parquet") for z in (zoo_a, zoo_b))
    assert np.allclose(pa["prob"], pb["prob"], equal_nan=True), "test predictions do not depend on test labels"
    # ... while the test metrics are computed once, from whichever test labels each zoo was given
    from sklearn.metrics import roc_auc_score
    for z, m in ((pa, ma), (pb, mb)):
        t = z[(z["model"] == "clinical_lr") & (z["split"] == "test")]
        assert m["models"]["clinical_lr"]["test"]["auc"] == pytest.approx(roc_auc_score(t["y"], t["prob"]))
    tb = pb[(pb["model"] == "clinical_lr") & (pb["split"] == "test")].set_index("patient_id")
    assert (tb["y"] == pd.Series(perm, index=clin.loc[test_rows, "patient_id"]).reindex(tb.index)).all()


def test_same_seed_same_clinical_results(tiny_cohort_dir, tmp_path):
    a = train_zoo(tiny_cohort_dir, tmp_path / "a", profile="test", models=["clinical_rf", "clinical_xgb"],
                  show_bars=False)
    b = train_zoo(tiny_cohort_dir, tmp_path / "b", profile="test", models=["clinical_rf", "clinical_xgb"],
                  show_bars=False)
    pa, pb = (pd.read_parquet(z / "predictions.parquet") for z in (a, b))
    assert np.array_equal(pa["prob"].to_numpy(), pb["prob"].to_numpy(), equal_nan=True)


def test_training_resumes_model_by_model(tiny_cohort_dir, tmp_path):
    out = tmp_path / "zoo"
    with pytest.raises(Interrupted):
        train_zoo(tiny_cohort_dir, out, profile="test", models=CLINICAL_ONLY, stop_after=2, show_bars=False)
    assert not (out / "manifest.json").exists(), "an interrupted zoo never looks complete"
    done = {p.name for p in (out / "models").iterdir() if not p.name.startswith(".")}
    assert done == set(CLINICAL_ONLY[:2])
    with pytest.raises(ZooIntegrityError, match="interrupted training run"):
        Zoo.load(out)
    stamps = {n: (out / "models" / n / "DONE.json").stat().st_mtime_ns for n in done}
    events = []
    train_zoo(tiny_cohort_dir, out, profile="test", models=CLINICAL_ONLY, show_bars=False, progress=events.append)
    assert {n: (out / "models" / n / "DONE.json").stat().st_mtime_ns for n in done} == stamps, "not retrained"
    assert [e["model"] for e in events if e["stage"] == "model_done" and e.get("resumed")] == CLINICAL_ONLY[:2]
    assert Zoo.load(out).model_names == CLINICAL_ONLY


def test_resume_retrains_an_image_model_whose_recipe_the_code_changed(tiny_cohort_dir, tmp_path, monkeypatch):
    """A build interrupted before a code change and resumed after it must not mix the two recipes: the image
    model whose settings changed (here the cells a cell-level model pools) is trained again, the rest kept."""
    import zoo.models.catalog as catalog

    out, models = tmp_path / "zoo", ["clinical_lr", "marrow_cell_resnet18", "clinical_dt", "clinical_knn"]
    with pytest.raises(Interrupted):
        train_zoo(tiny_cohort_dir, out, profile="test", models=models, stop_after=2, show_bars=False)
    done = json.loads((out / "models" / "marrow_cell_resnet18" / "DONE.json").read_text())
    assert done["recipe"]["max_cells_per_image"] == catalog.CELL_POOL_PER_IMAGE and done["recipe"]["pooling_rule"]

    def stamps():
        return {n: (out / "models" / n / "DONE.json").stat().st_mtime_ns
                for n in models if (out / "models" / n / "DONE.json").is_file()}

    before = stamps()
    events = []  # the same code resumes: the cell model is kept, not trained again
    with pytest.raises(Interrupted):
        train_zoo(tiny_cohort_dir, out, profile="test", models=models, stop_after=3, show_bars=False,
                  progress=events.append)
    assert [e["model"] for e in events if e["stage"] == "model_done" and e.get("resumed")] == models[:2]
    after = stamps()
    assert {n: after[n] for n in before} == before and "clinical_dt" in after
    monkeypatch.setattr(catalog, "CELL_POOL_PER_IMAGE", 8)  # code that pools other cells resumes: retrained
    events = []
    train_zoo(tiny_cohort_dir, out, profile="test", models=models, show_bars=False, progress=events.append)
    final = stamps()
    assert final["clinical_lr"] == after["clinical_lr"] and final["clinical_dt"] == after["clinical_dt"]
    assert final["marrow_cell_resnet18"] != after["marrow_cell_resnet18"]
    assert [e["model"] for e in events if e["stage"] == "model_done" and e.get("resumed")] == ["clinical_lr", "clinical_dt"]
    base = Zoo.load(out).model("marrow_cell_resnet18").base
    assert all(m.max_cells_per_image == 8 for m in getattr(base, "members", [base]))


def test_the_joint_models_recipe_holds_its_crop_limit_so_a_resumed_build_retrains_it(monkeypatch):
    """The joint model reads cell crops too: a change of which it pools must retrain it on resume, like a cell
    model (its recipe was None, so a resumed build kept it whatever the rule)."""
    import zoo.models.catalog as catalog
    from zoo.segment.cells import POOLING_RULE
    from zoo.training.profiles import get_profile
    from zoo.training.trainer import model_recipe

    prof = get_profile("test")
    now = model_recipe("joint_fusion", prof)
    assert now is not None and now["max_cells_per_image"] == catalog.CELL_POOL_PER_IMAGE
    assert now["pooling_rule"] == POOLING_RULE and "device" not in now and "progress" not in now
    monkeypatch.setattr(catalog, "CELL_POOL_PER_IMAGE", 8)
    assert model_recipe("joint_fusion", prof) != now
    assert model_recipe("clinical_lr", prof) is None


def test_resume_with_different_settings_is_refused(tiny_cohort_dir, tmp_path):
    out = tmp_path / "zoo"
    with pytest.raises(Interrupted):
        train_zoo(tiny_cohort_dir, out, profile="test", models=CLINICAL_ONLY, stop_after=1, show_bars=False)
    with pytest.raises(ZooIntegrityError, match="different settings") as err:
        train_zoo(tiny_cohort_dir, out, profile="test", models=CLINICAL_ONLY, seed=9, show_bars=False)
    assert "seed: 0 then, 9 now" in str(err.value), "the refusal names the setting that differs"
    # a run recorded by a version whose profile lacked a setting the code now has: named, not just refused
    import json

    run = json.loads((out / "run.json").read_text())
    run["seed"] = 0
    del run["profile"]["cells_per_patient"]
    (out / "run.json").write_text(json.dumps(run))
    with pytest.raises(ZooIntegrityError, match=r"profile\.cells_per_patient: absent then, 4 now"):
        train_zoo(tiny_cohort_dir, out, profile="test", models=CLINICAL_ONLY, show_bars=False)


def test_progress_reaches_the_callback(tiny_cohort_dir, tmp_path):
    events = []
    train_zoo(tiny_cohort_dir, tmp_path / "z", profile="test", models=["clinical_lr", "ife_alexnet"],
              show_bars=False, progress=events.append)
    stages = [e["stage"] for e in events]
    assert stages.count("model_start") == 2 and stages.count("model_done") == 2
    assert any(e["stage"] == "step" and "loss" in e for e in events), "CNN epochs report their loss"
