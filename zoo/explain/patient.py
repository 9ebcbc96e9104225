"""Explanations for one patient, composed from the zoo's stored models.

Everything here runs on demand (the dashboard caches the small results).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from zoo.api import MAIN_ENSEMBLE, Zoo
from zoo.explain.modality_shapley import MODALITIES, shapley


def training_background(zoo: Zoo, cohort) -> pd.DataFrame:
    """Training patients' clinical rows: the SHAP background and permutation-importance reference."""
    ids = [p for p in zoo.split()["train"] if p in cohort.clinical.index]
    return cohort.clinical.loc[ids, zoo.features] if ids else cohort.clinical[zoo.features]


def _shap_result(values, base, pred, X, schema, target: str, target_label: str, bg: pd.DataFrame, settings,
                 fixed: dict | None = None, kind: str = "model"):
    from zoo.explain.shap_values import EXPLAINER, ShapResult

    return ShapResult(values=values, base_values=base, output="probability", explainer=EXPLAINER,
                      labels={v: schema.label(v) for v in values.columns}, data=X, target=target,
                      target_label=target_label, kind=kind, predictions=pred, background_ids=list(bg.index),
                      n_permutations=settings.n_permutations, fixed=fixed or {})


def explain_clinical_model(zoo: Zoo, name: str, X: pd.DataFrame, background: pd.DataFrame, schema,
                           settings=None):
    """SHAP values of one clinical model's calibrated P(PD) (what its row on the predictor shows)."""
    from zoo.explain.shap_values import PATIENT, background_sample, explain_function

    settings = settings or PATIENT
    model = zoo.model(name)
    Xm = zoo.clinical_frame(X)
    bg = background_sample(background.reindex(columns=zoo.features), settings)
    values, base, pred = explain_function(lambda rows, i: model.predict_proba(zoo.clinical_frame(rows))[:, 1],
                                          Xm, bg, schema, settings)
    return _shap_result(values, base, pred, Xm, schema, name, zoo.manifest["models"][name]["display"], bg, settings)


def image_member_probs(zoo: Zoo, ensemble: str) -> list[str]:
    """The members of a late ensemble whose probabilities come from images (held fixed while explaining)."""
    ens = zoo.ensemble(ensemble)
    return [m for m in ens.members if zoo.manifest["models"][m]["modality"] != "clinical"]


def stored_image_probs(zoo: Zoo, ids: list, ensemble: str = MAIN_ENSEMBLE, split: str = "test") -> pd.DataFrame:
    """Image members' calibrated probabilities for patients of a split, as training stored them (rows = ids)."""
    members = image_member_probs(zoo, ensemble)
    p = zoo.predictions()
    p = p[(p["split"] == split) & p["model"].isin(members)]
    wide = p.pivot_table(index="patient_id", columns="model", values="prob", aggfunc="first", dropna=False)
    return wide.reindex(index=list(ids), columns=members)


def patient_image_probs(zoo: Zoo, cohort, pid) -> dict[str, float | None]:
    """Every model's P(PD) for one cohort patient, through ``predict_patient`` (the predictor's own path).

    Image keys are the file paths, as the explainability page uses, so the zoo's per-image cache is shared.
    """
    from zoo.cohort.images import read_image

    images, keys = {}, {}
    for m in ("marrow", "electrophoresis"):
        paths = cohort.image_paths(pid, m)
        if paths:
            images[m] = [read_image(p) for p in paths]
            keys[m] = [str(p) for p in paths]
    values = {f: cohort.clinical.loc[pid].get(f) for f in zoo.features}
    return zoo.predict_patient(values, images, keys).model_probs


def explain_ensemble_clinical(zoo: Zoo, X: pd.DataFrame, image_probs: pd.DataFrame, background: pd.DataFrame,
                              schema, ensemble: str = MAIN_ENSEMBLE, settings=None):
    """SHAP values of the clinical part of a late ensemble: its P(PD) with the image members held fixed.

    ``f(clinical values) = ensemble(clinical members' calibrated P(PD), this patient's image-member
    P(PD))``, the function the predictor's what-if panel moves along, so the waterfall ends at the
    ensemble probability the predictor shows. ``image_probs``: rows aligned with ``X``, one column per
    image member (NaN where the patient has no image of that modality).
    """
    from zoo.explain.shap_values import PATIENT, background_sample, explain_function

    settings = settings or PATIENT
    rec = zoo.manifest["ensembles"].get(ensemble) or {}
    if rec.get("kind") != "late":
        raise ValueError(f"Expected a late-fusion ensemble of this zoo for the clinical waterfall. Got {ensemble!r}. "
                         f"Choose one of {[e for e, r in zoo.manifest['ensembles'].items() if r['kind'] == 'late']}.")
    members = image_member_probs(zoo, ensemble)
    P = image_probs.reindex(index=X.index, columns=members)
    fixed_rows = [{m: (None if pd.isna(v) else float(v)) for m, v in P.iloc[i].items()} for i in range(len(P))]
    Xm = zoo.clinical_frame(X)
    bg = background_sample(background.reindex(columns=zoo.features), settings)
    values, base, pred = explain_function(
        lambda rows, i: zoo.clinical_only_probability(rows, fixed_rows[i], ensemble), Xm, bg, schema, settings)
    return _shap_result(values, base, pred, Xm, schema, ensemble, rec.get("display", ensemble), bg, settings,
                        fixed=fixed_rows[0] if len(fixed_rows) == 1 else {}, kind="ensemble")


def modality_contributions(zoo: Zoo, model_probs: dict[str, float | None], clinical: dict | None = None,
                           ensemble: str = MAIN_ENSEMBLE, embeddings: dict | None = None) -> dict[str, float]:
    """Exact Shapley values of clinical / marrow / IFE for this patient's ensemble probability."""
    rec = zoo.manifest["ensembles"][ensemble]
    ens = zoo.ensemble(ensemble)
    if rec["kind"] == "late":
        P = pd.DataFrame([{k: (np.nan if v is None else v) for k, v in model_probs.items()}])
        return shapley(lambda s: float(ens.predict_proba(P, modalities=set(s))[0]))
    X = zoo.clinical_frame([clinical or {}])
    emb = embeddings or {}

    def value(s):
        x = X if "clinical" in s else X.where(pd.DataFrame(False, index=X.index, columns=X.columns))
        e = {m: v for m, v in emb.items() if m in s and v is not None}
        return float(ens.predict_proba(x, e)[0, 1])

    return shapley(value, MODALITIES)


def joint_modality_contributions(zoo: Zoo, name: str, clinical: dict | None,
                                 images: dict[str, list[np.ndarray]] | None = None) -> dict[str, float]:
    """Exact Shapley values of clinical / marrow / IFE for a joint fusion model's P(PD) for one patient.

    The network was trained with modality dropout, so every coalition is a prediction it was trained to make:
    the others are marked as not collected. With no modality (or none the patient has in the coalition) the
    value is the training prevalence, as for the ensembles.
    """
    est = zoo.model(name)
    data = zoo.joint_patient(zoo.clinical_frame([clinical or {}]), images or {})
    base = float(est.prevalence_)

    def value(s):
        d = data
        for m in MODALITIES:
            if m not in s:
                d = d.drop_modality(m)
        p = float(est.predict_proba(d)[0, 1]) if s else base
        return p if np.isfinite(p) else base

    return shapley(value, MODALITIES)


def permutation_importance_table(zoo: Zoo, name: str, X: pd.DataFrame, y: np.ndarray, schema, n_repeats: int = 10,
                                 seed: int = 0) -> pd.DataFrame:
    """Drop in AUC when each variable is shuffled (scikit-learn), on the patients given (the test set)."""
    from sklearn.inspection import permutation_importance

    model = zoo.model(name)
    Xf = zoo.clinical_frame(X.to_dict("records"))
    res = permutation_importance(model.pipeline_, Xf, y, scoring="roc_auc", n_repeats=n_repeats, random_state=seed)
    df = pd.DataFrame({"variable": Xf.columns, "label": [schema.label(c) for c in Xf.columns],
                       "importance": res.importances_mean, "sd": res.importances_std})
    return df.sort_values("importance", ascending=False).reset_index(drop=True)
