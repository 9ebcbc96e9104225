"""SHAP explains the number the dashboard shows: calibrated, additive, one bar per schema variable.

Contract (issue 9, item 6):
* base + sum(values) = the calibrated P(PD) the predictor displays (a model's row, or the ensemble);
* base = the mean calibrated prediction over the training background actually used;
* the main ensemble's waterfall ends at the predictor's ensemble probability, image members held fixed;
* two seeds give close values (enough permutations);
* modality Shapley values are built from calibrated members and calibrated ensemble outputs.
"""
import numpy as np
import pandas as pd
import pytest

from zoo.api import MAIN_ENSEMBLE
from zoo.explain.patient import (explain_clinical_model, explain_ensemble_clinical, image_member_probs,
                                 modality_contributions, stored_image_probs, training_background)
from zoo.explain.shap_values import (GLOBAL, PATIENT, SchemaCodec, ShapSettings, describe, global_importance,
                                     waterfall_frame)
from zoo.models.registry import list_models

CLINICAL = list_models(modality="clinical", default_only=True, profile="test")
LIGHT = ShapSettings(max_background=25, n_permutations=2)  # additivity is exact for any setting


def _patient(cohort, zoo, i):
    pid = cohort.patient_ids[i]
    return pid, {f: cohort.clinical.loc[pid].get(f) for f in zoo.features}


def test_registry_lists_clinical_models():
    assert len(CLINICAL) >= 5 and "clinical_lr" in CLINICAL


@pytest.mark.parametrize("name", CLINICAL)
def test_every_clinical_model_sums_to_its_displayed_calibrated_probability(test_zoo, tiny_cohort, name):
    bg = training_background(test_zoo, tiny_cohort)
    pid, values = _patient(tiny_cohort, test_zoo, 3)
    X = tiny_cohort.clinical.loc[[pid], test_zoo.features]
    res = explain_clinical_model(test_zoo, name, X, bg, tiny_cohort.schema, LIGHT)
    shown = test_zoo.predict_patient(values).model_probs[name]  # the predictor's row for this model
    assert res.base_value + res.values.iloc[0].sum() == pytest.approx(shown, abs=1e-9)
    assert res.predictions.iloc[0] == pytest.approx(shown, abs=1e-9)
    model = test_zoo.model(name)
    used = bg.loc[res.background_ids]
    mean_cal = np.mean(model.predict_proba(test_zoo.clinical_frame(used))[:, 1])
    assert res.base_value == pytest.approx(mean_cal, abs=1e-9), "base = mean calibrated prediction over background"
    assert list(res.values.columns) == test_zoo.features, "one bar per schema variable (one-hot summed by masking)"
    assert not any("=" in c for c in res.values.columns)
    assert res.labels["hgb"] == "Haemoglobin (g/L)" and res.output == "probability"
    wf = waterfall_frame(res, 0, top=5)
    assert len(wf) <= 6 and wf["end"].iloc[-1] == pytest.approx(shown, abs=1e-9)
    assert (global_importance(res)["mean_abs_shap"] >= 0).all()
    assert f"Explains **{test_zoo.manifest['models'][name]['display']}** alone" in describe(res)


def test_base_is_not_the_raw_score_of_a_class_weighted_model(test_zoo, tiny_cohort):
    """The old bug: a class-weighted forest's raw base is ~0.5; the displayed base is the calibrated mean."""
    bg = training_background(test_zoo, tiny_cohort)
    X = tiny_cohort.clinical.loc[tiny_cohort.patient_ids[:1], test_zoo.features]
    res = explain_clinical_model(test_zoo, "clinical_rf", X, bg, tiny_cohort.schema, LIGHT)
    model = test_zoo.model("clinical_rf")
    rows = test_zoo.clinical_frame(bg.loc[res.background_ids])
    assert res.base_value == pytest.approx(np.mean(model.predict_proba(rows)[:, 1]), abs=1e-9)
    assert res.base_value != pytest.approx(np.mean(model.predict_raw(rows)), abs=1e-6)


def test_main_ensemble_waterfall_ends_at_the_predictors_probability(test_zoo, tiny_cohort):
    pid, values = _patient(tiny_cohort, test_zoo, 5)
    imgs = {m: tiny_cohort.read_images(pid, m) for m in ("marrow", "electrophoresis")}
    pred = test_zoo.predict_patient(values, {m: v for m, v in imgs.items() if v})
    shown = pred.ensemble_probs[MAIN_ENSEMBLE]
    X = tiny_cohort.clinical.loc[[pid], test_zoo.features]
    bg = training_background(test_zoo, tiny_cohort)
    res = explain_ensemble_clinical(test_zoo, X, pd.DataFrame([pred.model_probs], index=[pid], dtype=float), bg,
                                    tiny_cohort.schema, MAIN_ENSEMBLE, LIGHT)
    assert res.kind == "ensemble" and res.target == MAIN_ENSEMBLE
    assert res.base_value + res.values.iloc[0].sum() == pytest.approx(shown, abs=1e-9)
    assert waterfall_frame(res, 0)["end"].iloc[-1] == pytest.approx(shown, abs=1e-9)
    members = image_member_probs(test_zoo, MAIN_ENSEMBLE)
    assert members and set(res.fixed) == set(members)
    assert all(res.fixed[m] == pred.model_probs[m] for m in members), "image members held at the predictor's values"
    # base: the ensemble over the background's clinical values with this patient's images
    base = test_zoo.clinical_only_probability(bg.loc[res.background_ids], pred.model_probs, MAIN_ENSEMBLE).mean()
    assert res.base_value == pytest.approx(base, abs=1e-9)
    text = describe(res, {m: test_zoo.manifest["models"][m]["display"] for m in test_zoo.model_names})
    assert "clinical part" in text and "held fixed" in text and f"{shown:.3f}" in text


def test_explanations_are_stable_across_seeds(test_zoo, tiny_cohort):
    """With the waterfall's settings, two permutation seeds agree closely (antithetic permutations)."""
    pid, values = _patient(tiny_cohort, test_zoo, 7)
    X = tiny_cohort.clinical.loc[[pid], test_zoo.features]
    bg = training_background(test_zoo, tiny_cohort)
    img = pd.DataFrame([test_zoo.predict_patient(values).model_probs], index=[pid], dtype=float)
    runs = [explain_ensemble_clinical(test_zoo, X, img, bg, tiny_cohort.schema, MAIN_ENSEMBLE,
                                      ShapSettings(PATIENT.max_background, PATIENT.n_permutations, seed))
            for seed in (0, 1)]
    assert runs[0].base_value == runs[1].base_value, "the background is fixed; only the permutation order varies"
    a, b = (r.values.iloc[0] for r in runs)
    diff = (a - b).abs().max()
    assert a.abs().max() > 0.01, "a patient with something to explain"
    assert diff < 0.005, f"seed-to-seed difference {diff:.4f} (probability units)"
    assert diff <= 0.1 * a.abs().max()
    top = lambda s: set(s.abs().sort_values(ascending=False).index[:3])  # noqa: E731
    assert len(top(a) & top(b)) >= 2


def test_global_view_over_test_patients_uses_stored_image_predictions(test_zoo, tiny_cohort):
    ids = [p for p in test_zoo.split()["test"] if p in tiny_cohort.clinical.index][:4]
    X = tiny_cohort.clinical.loc[ids, test_zoo.features]
    img = stored_image_probs(test_zoo, ids, MAIN_ENSEMBLE, "test")
    res = explain_ensemble_clinical(test_zoo, X, img, training_background(test_zoo, tiny_cohort),
                                    tiny_cohort.schema, MAIN_ENSEMBLE, GLOBAL)
    p = test_zoo.predictions()
    stored = p[(p["split"] == "test") & (p["model"] == MAIN_ENSEMBLE)].set_index("patient_id")["prob"]
    # each patient's f(x) is the ensemble at their clinical values and stored image predictions: the zoo's test output
    assert np.allclose(res.predictions.to_numpy(), stored.reindex(ids).to_numpy(), atol=1e-6)
    assert np.allclose(res.base_values + res.values.sum(axis=1), res.predictions, atol=1e-9)
    assert len(res.background_ids) <= GLOBAL.max_background


def test_codec_round_trips_schema_levels(tiny_cohort, test_zoo):
    codec = SchemaCodec(tiny_cohort.schema, test_zoo.features)
    X = tiny_cohort.clinical[test_zoo.features].head(10)
    back = codec.decode(codec.encode(X)).set_index(X.index)
    pd.testing.assert_frame_equal(back.astype(object).where(back.notna(), None),
                                  X.astype(object).where(X.notna(), None), check_dtype=False)
    bad = X.copy()
    bad.iloc[0, bad.columns.get_loc("sex")] = "other"
    with pytest.raises(ValueError, match=r"variable 'sex': expected one of \['male', 'female'\]. Got 'other'"):
        codec.encode(bad)


def test_modality_contributions_add_up(test_zoo, tiny_cohort):
    pid, values = _patient(tiny_cohort, test_zoo, 5)
    imgs = {m: tiny_cohort.read_images(pid, m) for m in ("marrow", "electrophoresis")}
    pred = test_zoo.predict_patient(values, {m: v for m, v in imgs.items() if v})
    phi = modality_contributions(test_zoo, pred.model_probs, values, "ens_soft_vote")
    total = sum(phi[m] for m in ("clinical", "marrow", "electrophoresis"))
    assert total == pytest.approx(pred.ensemble_probs["ens_soft_vote"] - phi["_base"])
    assert phi["_full"] == pytest.approx(pred.ensemble_probs["ens_soft_vote"])


def test_modality_shapley_uses_calibrated_members(test_zoo, tiny_cohort):
    """Every coalition's value is a calibrated risk, so no modality is handed the calibration offset."""
    ens = test_zoo.ensemble(MAIN_ENSEMBLE)
    pid, values = _patient(tiny_cohort, test_zoo, 5)
    clinical_only = test_zoo.predict_patient(values)  # no images: only the clinical coalition can speak
    phi = modality_contributions(test_zoo, clinical_only.model_probs, values, MAIN_ENSEMBLE)
    assert phi["marrow"] == 0 and phi["electrophoresis"] == 0
    assert phi["_base"] == pytest.approx(ens.prior_), "empty coalition: the training prevalence"
    # v({clinical}) = the ensemble of the calibrated clinical members through its clinical-pattern recalibrator
    assert phi["_full"] == pytest.approx(test_zoo.clinical_only_probability([values], {}, MAIN_ENSEMBLE)[0])
    assert phi["_full"] == pytest.approx(clinical_only.ensemble_probs[MAIN_ENSEMBLE])
    # over the training patients, each one-modality coalition averages to the observed event rate
    p = test_zoo.predictions()
    oof = p[p["split"] == "oof"].pivot_table(index="patient_id", columns="model", values="prob", aggfunc="first")
    y = p[p["split"] == "oof"].groupby("patient_id")["y"].first().reindex(oof.index)
    P = oof[ens.members]
    for modality in sorted(set(ens.member_modality.values())):
        cols = [m for m in ens.members if ens.member_modality[m] == modality]
        has = P[cols].notna().any(axis=1).to_numpy()
        v = ens.predict_proba(P[has], modalities={modality})
        assert v.mean() == pytest.approx(y[has].mean(), abs=0.03), modality
        raw = ens.raw_proba(P[has], modalities={modality})
        assert not np.allclose(v, raw), f"{modality}: the coalition's value passes through its recalibrator"
