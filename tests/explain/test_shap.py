"""SHAP for clinical models: exact explainers where possible, additive, labelled from the schema."""
import numpy as np
import pytest

from zoo.explain.patient import explain_clinical_model, modality_contributions, training_background
from zoo.explain.shap_values import explainer_kind, global_importance, waterfall_frame

KINDS = {"clinical_lr": "linear", "clinical_rf": "tree", "clinical_gb": "tree", "clinical_xgb": "tree",
         "clinical_dt": "tree", "clinical_knn": "permutation", "clinical_svm": "permutation",
         "clinical_adaboost": "permutation"}


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_clinical_model_is_explained(test_zoo, tiny_cohort, name):
    model = test_zoo.model(name)
    assert explainer_kind(model) == KINDS[name]
    bg = training_background(test_zoo, tiny_cohort)
    X = tiny_cohort.clinical.loc[tiny_cohort.patient_ids[:3], test_zoo.features]
    res = explain_clinical_model(test_zoo, name, X, bg, tiny_cohort.schema)
    assert res.values.shape[0] == 3
    assert set(res.values.columns) <= set(test_zoo.features), "one-hot columns are summed back to variables"
    assert res.labels["hgb"] == "Haemoglobin (g/L)"
    wf = waterfall_frame(res, 0, top=5)
    assert len(wf) <= 6 and np.isclose(wf["end"].iloc[-1], res.base_value + res.values.iloc[0].sum())
    if KINDS[name] == "linear":  # exact and additive in log-odds
        p = model.predict_proba(test_zoo.clinical_frame(X.to_dict("records")))[:, 1]
        logit = np.log(p / (1 - p))
        assert np.allclose(res.base_value + res.values.sum(axis=1).to_numpy(), logit, atol=1e-6)
    assert (global_importance(res)["mean_abs_shap"] >= 0).all()


def test_modality_contributions_add_up(test_zoo, tiny_cohort):
    pid = tiny_cohort.patient_ids[5]
    values = {f: tiny_cohort.clinical.loc[pid].get(f) for f in test_zoo.features}
    imgs = {m: tiny_cohort.read_images(pid, m) for m in ("marrow", "electrophoresis")}
    pred = test_zoo.predict_patient(values, {m: v for m, v in imgs.items() if v})
    phi = modality_contributions(test_zoo, pred.model_probs, values, "ens_soft_vote")
    total = sum(phi[m] for m in ("clinical", "marrow", "electrophoresis"))
    assert total == pytest.approx(pred.ensemble_probs["ens_soft_vote"] - phi["_base"])
    assert phi["_full"] == pytest.approx(pred.ensemble_probs["ens_soft_vote"])
