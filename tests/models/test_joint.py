"""Joint (intermediate) fusion: one network over marrow crops, IFE lanes and the clinical row (issue 11, item 3)."""
import json

import numpy as np
import pytest

from zoo.data import PatientData
from zoo.models import create_model, model_config
from zoo.training.profiles import get_profile


@pytest.fixture(scope="module")
def fitted(tiny_cohort):
    data = PatientData.from_cohort(tiny_cohort)
    y = tiny_cohort.y
    idx = np.random.default_rng(0).permutation(len(y))
    tr, te = idx[: int(0.7 * len(y))], idx[int(0.7 * len(y)):]
    est = create_model("joint_fusion", get_profile("test"), seed=0, device="cpu").fit(data.subset(tr), y[tr])
    return est, data.subset(te)


def test_the_joint_model_predicts_with_each_modality_missing_and_says_nothing_without_any(fitted):
    est, test = fitted
    full = est.predict_proba(test)[:, 1]
    assert np.isfinite(full).all() and ((full > 0) & (full < 1)).all()
    for m in ("clinical", "marrow", "electrophoresis"):
        p = est.predict_proba(test.drop_modality(m))[:, 1]
        assert np.isfinite(p).all(), m
        assert not np.allclose(p, full), f"dropping {m} changed nothing: the network ignores it"
        assert all(m not in used for used in est.modalities_used(test.drop_modality(m)))
    nothing = test.drop_modality("clinical").drop_modality("marrow").drop_modality("electrophoresis")
    assert np.isnan(est.predict_proba(nothing)[:, 1]).all()


def test_one_patient_from_a_form_gets_the_cohort_rows_probability(fitted, tiny_cohort):
    est, test = fitted
    pid = test.ids[0]
    imgs = {m: [test.banks[m].raw(k) for k in test.images[m][0]] for m in ("marrow", "electrophoresis")}
    one = PatientData.single(test.clinical.iloc[0].to_dict(), imgs, schema=test.schema, features=test.features)
    assert est.predict_proba(one)[0, 1] == pytest.approx(est.predict_proba(test.subset([0]))[0, 1], abs=1e-5), pid


def test_saved_and_loaded_joint_model_predicts_the_same(fitted, tmp_path):
    from zoo.artifacts.model_io import load_fitted, save_fitted

    est, test = fitted
    cfg = model_config("joint_fusion")
    save_fitted(est, cfg, tmp_path / "joint")
    assert sorted(p.name for p in (tmp_path / "joint").iterdir()) == ["model.json", "prep.skops", "weights.safetensors"]
    back = load_fitted(cfg, tmp_path / "joint", device="cpu")
    np.testing.assert_allclose(back.predict_proba(test), est.predict_proba(test), atol=1e-6)


def test_the_joint_model_stands_beside_the_ensembles_in_the_zoo(test_zoo, test_zoo_dir, capsys):
    from zoo.cli import main

    assert test_zoo.manifest["models"]["joint_fusion"]["modality"] == "multimodal"
    t = test_zoo.manifest["timings_seconds"]  # the whole build's time is recorded (issue 11, item 4)
    assert t["build_total"] >= t["total"] > t["joint_fusion"] > 0 and t["resumed_models"] == 0
    assert 0 < t["evaluation_attention"] <= t["ensembles_and_evaluation"]
    assert main(["leaderboard", "--zoo", str(test_zoo_dir), "--json"]) == 0
    rows = {r["model"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["joint_fusion"]["group"] == "Joint fusion" and rows["joint_fusion"]["kind"] == "single"
    # never an ensemble member: it already fuses the modalities
    assert all("joint_fusion" not in e["members"] for e in test_zoo.manifest["ensembles"].values()
               if e.get("kind") == "late")
    abl = test_zoo.metrics()["ablation"]["joint_fusion"]["test"]
    assert set(abl) == {"all", "without_clinical", "without_electrophoresis", "without_marrow"}
    pred = test_zoo.predict_patient({"age": 70, "hgb": 95.0})
    assert 0 < pred.model_probs["joint_fusion"] < 1  # clinical values only


def test_the_joint_model_is_explained_by_modality_exactly(test_zoo, tiny_cohort):
    """Shapley values over {clinical, marrow, IFE}: they add up from the training prevalence to the prediction
    the predictor shows for the same patient."""
    from zoo.cohort.images import read_image
    from zoo.explain.patient import joint_modality_contributions

    pid = test_zoo.split()["test"][0]
    values = {f: tiny_cohort.clinical.loc[pid].get(f) for f in test_zoo.features}
    images = {m: [read_image(p) for p in tiny_cohort.image_paths(pid, m)] for m in ("marrow", "electrophoresis")}
    images = {m: v for m, v in images.items() if v}
    phi = joint_modality_contributions(test_zoo, "joint_fusion", values, images)
    shown = test_zoo.predict_patient(values, images).model_probs["joint_fusion"]
    assert phi["_full"] == pytest.approx(shown, abs=1e-9)
    assert phi["_base"] == pytest.approx(test_zoo.model("joint_fusion").prevalence_)
    assert phi["_base"] + sum(phi[m] for m in ("clinical", "marrow", "electrophoresis")) == pytest.approx(shown)
