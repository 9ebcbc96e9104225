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


def explain_clinical_model(zoo: Zoo, name: str, X: pd.DataFrame, background: pd.DataFrame, schema):
    from zoo.explain.shap_values import explain_clinical

    return explain_clinical(zoo.model(name), zoo.clinical_frame(X.to_dict("records")).set_index(X.index),
                            background, schema)


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
