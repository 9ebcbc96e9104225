"""Ensembles use the members that are available and say which; modality Shapley values are exact."""
import numpy as np
import pandas as pd
import pytest

from zoo.explain.modality_shapley import shapley
from zoo.models.ensembles import SoftVoting, Stacking, WeightedVoting, late_fusion_from_dict, top_k_per_modality

MEMBERS = ["c1", "c2", "m1", "i1"]
MOD = {"c1": "clinical", "c2": "clinical", "m1": "marrow", "i1": "electrophoresis"}


def _oof(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    P = pd.DataFrame({m: np.clip(0.5 + (y - 0.5) * s + rng.normal(0, 0.2, n), 0.01, 0.99)
                      for m, s in zip(MEMBERS, [0.2, 0.1, 0.3, 0.4])})
    return P, y


@pytest.mark.parametrize("cls", [SoftVoting, WeightedVoting, Stacking])
def test_missing_modalities_use_available_members(cls):
    P, y = _oof()
    ens = cls(MEMBERS, MOD).fit(P, y)
    row = pd.DataFrame([{"c1": 0.7, "c2": 0.6, "m1": np.nan, "i1": np.nan}])
    p = ens.predict_proba(row)
    assert 0 < p[0] < 1
    assert ens.members_used(row) == [["c1", "c2"]] and ens.modalities_used(row) == [["clinical"]]
    none = pd.DataFrame([{m: np.nan for m in MEMBERS}])
    assert ens.predict_proba(none)[0] == pytest.approx(y.mean()), "no member available: the training prevalence"
    clone = late_fusion_from_dict(ens.to_dict())
    full = P.iloc[:20]
    assert np.allclose(clone.predict_proba(full), ens.predict_proba(full))


def test_soft_voting_is_the_mean_of_available_members():
    ens = SoftVoting(MEMBERS, MOD).fit(*_oof())
    row = pd.DataFrame([{"c1": 0.2, "c2": 0.4, "m1": 0.9, "i1": np.nan}])
    assert ens.predict_proba(row)[0] == pytest.approx(0.5)
    assert ens.predict_proba(row, modalities={"clinical"})[0] == pytest.approx(0.3)


def test_weighted_voting_prefers_informative_members():
    P, y = _oof(2000)
    ens = WeightedVoting(MEMBERS, MOD).fit(P, y)
    w = dict(zip(MEMBERS, ens.weights_))
    assert w["i1"] > w["c2"] and sum(ens.weights_) == pytest.approx(1.0)


def test_stacking_has_a_meta_model_per_availability_pattern():
    P, y = _oof()
    ens = Stacking(MEMBERS, MOD).fit(P, y)
    assert set(ens.meta_) == {"clinical", "electrophoresis", "marrow", "clinical+electrophoresis",
                              "clinical+marrow", "electrophoresis+marrow", "clinical+electrophoresis+marrow"}


def test_membership_is_top2_per_modality_by_oof_auc():
    auc = {"c1": 0.6, "c2": 0.7, "c3": 0.65, "m1": 0.55, "i1": 0.8, "i2": np.nan}
    mod = {"c1": "clinical", "c2": "clinical", "c3": "clinical", "m1": "marrow", "i1": "electrophoresis",
           "i2": "electrophoresis"}
    assert top_k_per_modality(auc, mod, 2) == ["c2", "c3", "i1", "m1"]


def test_modality_shapley_is_exact_and_efficient():
    P, y = _oof()
    ens = SoftVoting(MEMBERS, MOD).fit(P, y)
    row = P.iloc[[3]]
    phi = shapley(lambda s: float(ens.predict_proba(row, modalities=set(s))[0]))
    assert sum(phi[m] for m in ("clinical", "marrow", "electrophoresis")) == pytest.approx(phi["_full"] - phi["_base"])
    assert phi["_base"] == pytest.approx(y.mean())
    additive = shapley(lambda s: float(len(s)))
    assert all(additive[m] == pytest.approx(1.0) for m in ("clinical", "marrow", "electrophoresis"))


def test_predict_patient_without_images_uses_clinical_members_only(test_zoo, tiny_cohort):
    pid = tiny_cohort.patient_ids[0]
    values = {f: tiny_cohort.clinical.loc[pid].get(f) for f in test_zoo.features}
    pred = test_zoo.predict_patient(values)
    for ens in ("ens_soft_vote", "ens_weighted", "ens_stacking", "ens_fusion_lr"):
        assert pred.modalities_used[ens] == ["clinical"], ens
    image_models = [n for n in pred.model_probs if test_zoo.manifest["models"][n]["modality"] in ("marrow", "electrophoresis")]
    assert image_models and all(pred.model_probs[n] is None for n in image_models)
    imgs = {m: tiny_cohort.read_images(pid, m) for m in ("marrow", "electrophoresis")}
    full = test_zoo.predict_patient(values, {m: v for m, v in imgs.items() if v})
    used = full.modalities_used["ens_soft_vote"]
    assert "clinical" in used and len(used) >= 2
    assert set(used) == {test_zoo.manifest["models"][m]["modality"] for m in full.members_used["ens_soft_vote"]}
    assert full.model_probs["marrow_cell_resnet18"] is not None, "cell-level model runs on uploads"


def test_predict_patient_shared_preprocessing_matches_each_model_on_its_own(test_zoo, tiny_cohort):
    """The predictor runs each distinct fitted clinical preprocessing once and derives the stages once; every
    clinical model, staging system and fusion ensemble must give what it gives when called on its own."""
    for pid in tiny_cohort.patient_ids[:4]:
        values = {f: tiny_cohort.clinical.loc[pid].get(f) for f in test_zoo.features}
        values = {k: v for k, v in values.items() if pd.notna(v)}
        pred = test_zoo.predict_patient(values)
        X = test_zoo.clinical_frame([values])
        checked = 0
        for name in test_zoo.model_names:
            if test_zoo.manifest["models"][name]["modality"] in ("clinical", "reference"):
                own = float(test_zoo.model(name).predict_proba(X)[0, 1])
                assert (pred.model_probs[name] is None and np.isnan(own)) or pred.model_probs[name] == pytest.approx(own)
                checked += 1
        for e in test_zoo.ensemble_names:
            if test_zoo.manifest["ensembles"][e]["kind"] != "late":
                own = float(test_zoo.ensemble(e).predict_proba(X, {})[0, 1])
                assert pred.ensemble_probs[e] == pytest.approx(own), e
                checked += 1
        assert checked >= 12


def test_the_joint_model_reads_the_clinical_models_preprocessing_once_and_answers_as_on_its_own(
        test_zoo, tiny_cohort, monkeypatch):
    """The joint model's fitted clinical preprocessing is the clinical models' (same fingerprint), so the
    predictor and batch scoring run it once for all of them; the joint's answer must not change."""
    from zoo.data import PatientData

    joint = [n for n in test_zoo.model_names if test_zoo.manifest["models"][n]["family"] == "joint"]
    clinical = [n for n in test_zoo.model_names if test_zoo.manifest["models"][n]["modality"] == "clinical"]
    assert joint and clinical
    fp = test_zoo.model(clinical[0]).preprocessor_fingerprint()
    pids = tiny_cohort.patient_ids[:4]
    own = {}
    for pid in pids:
        values = {f: tiny_cohort.clinical.loc[pid].get(f) for f in test_zoo.features}
        X = test_zoo.clinical_frame([values])
        own[pid] = {n: float(test_zoo.model(n).predict_proba(test_zoo.joint_patient(X, {}))[0, 1]) for n in joint}
    data = PatientData.from_cohort(tiny_cohort).subset(list(range(len(pids))))  # with their smears and gels
    blank = data.clinical.copy()
    blank.iloc[0] = np.nan  # one patient with images only: the shared design's row must not be read for them
    data = PatientData(data.ids, blank, data.images, data.banks, data.schema, data.features, data.cells,
                       data.eval_cells)
    X = test_zoo.clinical_frame(data.clinical.reindex(columns=test_zoo.features).to_dict("records"))
    as_scored = PatientData(data.ids, X.set_axis(data.ids), data.images, data.banks, data.schema, test_zoo.features,
                            data.cells, data.eval_cells)
    own_batch = {n: test_zoo.model(n).predict_proba(as_scored)[:, 1] for n in joint}
    for n in joint:
        assert test_zoo.model(n).preprocessor_fingerprint() == fp, "the joint model's preprocessing is not shared"
        test_zoo._prep_key(n, test_zoo.model(n))  # the zoo keeps the key: taken before the patch below alters prep_
        monkeypatch.setattr(test_zoo.model(n).prep_, "transform",
                            lambda *a, **k: pytest.fail("the joint model ran its own clinical preprocessing"))
    for pid in pids:
        values = {f: tiny_cohort.clinical.loc[pid].get(f) for f in test_zoo.features}
        pred = test_zoo.predict_patient(values)
        for n in joint:
            assert pred.model_probs[n] == pytest.approx(own[pid][n], abs=1e-9), (pid, n)
    scored = test_zoo.score(data).probabilities
    for n in joint:
        np.testing.assert_allclose(scored.loc[list(data.ids), n].to_numpy(), own_batch[n], atol=1e-9)
        assert np.isfinite(own_batch[n][0]), "the patient without clinical values is still predicted from images"
        base = getattr(test_zoo.model(n), "base", test_zoo.model(n))
        with pytest.raises(ValueError, match="Z_clin of shape"):  # one row short: refused, not misaligned
            base.predict_proba(as_scored, Z_clin=np.zeros((len(pids) - 1, 3)))


def test_a_preprocessing_without_a_fingerprint_runs_on_its_own_and_the_prediction_still_comes(
        test_zoo, tiny_cohort, monkeypatch):
    """A fingerprint that cannot be computed must not break the predictor: that model is simply not shared."""
    joint = next(n for n in test_zoo.model_names if test_zoo.manifest["models"][n]["family"] == "joint")
    pid = tiny_cohort.patient_ids[0]
    values = {f: tiny_cohort.clinical.loc[pid].get(f) for f in test_zoo.features}
    expect = test_zoo.predict_patient(values).model_probs[joint]

    def refuse(*a, **k):
        raise ValueError("Expected a fitted preprocessing nested at most 64 levels deep (a reference cycle?).")

    base = getattr(test_zoo.model(joint), "base", test_zoo.model(joint))
    monkeypatch.setattr(type(base), "preprocessor_fingerprint", refuse)
    monkeypatch.setattr(test_zoo, "_prep_keys", {})
    assert test_zoo.predict_patient(values).model_probs[joint] == pytest.approx(expect, abs=1e-9)
    assert test_zoo._prep_keys[joint] == f"not shared: {joint}"


def test_cell_model_test_predictions_do_not_use_annotations(test_zoo, tiny_cohort_dir, tmp_path):
    """Test-set figures of the cell-level model describe what a user gets: the ground-truth annotation
    points (which only prompt training crops) can be deleted without changing a single test prediction."""
    import shutil

    import numpy as np

    from zoo.cohort.loader import load_cohort
    from zoo.data import PatientData

    name = "marrow_cell_resnet18"
    copy = tmp_path / "no_annotations"
    shutil.copytree(tiny_cohort_dir, copy)
    assert (copy / "annotations").is_dir()
    shutil.rmtree(copy / "annotations")
    cohort = load_cohort(copy)
    test_ids = [p for p in test_zoo.split()["test"] if p in cohort.patient_ids]
    data = PatientData.from_cohort(cohort).subset([cohort.patient_ids.index(p) for p in test_ids])
    got = test_zoo.model(name).predict_proba(data)[:, 1]
    P = test_zoo.predictions()
    stored = P[(P["model"] == name) & (P["split"] == "test")].set_index("patient_id")["prob"].reindex(test_ids)
    ok = ~np.isnan(stored.to_numpy())
    assert ok.sum() >= 5
    assert np.allclose(got[ok], stored.to_numpy()[ok], atol=1e-5)
