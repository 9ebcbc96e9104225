"""SHAP for clinical models, labelled with schema display names.

Exact explainers where the model allows (TreeExplainer for RF/GB/XGB/DT,
LinearExplainer for LR), a model-agnostic permutation explainer otherwise
(KNN, SVM, AdaBoost). Values are computed in model space (after encoding,
imputation, one-hot) and summed back to schema variables, so one-hot
columns of a categorical variable appear as one bar.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from zoo.schema import Schema

TREE = ("RandomForestClassifier", "GradientBoostingClassifier", "XGBClassifier", "DecisionTreeClassifier")
LINEAR = ("LogisticRegression",)


@dataclass
class ShapResult:
    values: pd.DataFrame      # patients x schema variables (contributions, model output units)
    base_value: float
    output: str               # "log-odds" or "probability"
    explainer: str            # tree | linear | permutation
    labels: dict[str, str]    # variable -> display label
    data: pd.DataFrame        # the raw values shown beside each contribution


def explainer_kind(model) -> str:
    name = type(model.final_estimator).__name__
    return "tree" if name in TREE else "linear" if name in LINEAR else "permutation"


def _variable_of(feature: str) -> str:
    return feature.split("=", 1)[0]


def explain_clinical(model, X: pd.DataFrame, background: pd.DataFrame, schema: Schema,
                     max_background: int = 100, seed: int = 0) -> ShapResult:
    """SHAP values of P(PD) (or its log-odds) for the rows of ``X``."""
    import shap

    Z, names = model.transformed(X)
    B, _ = model.transformed(background.sample(min(max_background, len(background)), random_state=seed)
                             if len(background) > max_background else background)
    clf = model.final_estimator
    kind = explainer_kind(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "tree":
            ex = shap.TreeExplainer(clf)
            sv = ex(Z, check_additivity=False)
            vals = np.asarray(sv.values)
            base = np.asarray(sv.base_values)
            if vals.ndim == 3:  # sklearn forests: per-class probability contributions
                vals, base = vals[..., 1], base[..., 1] if base.ndim == 2 else base
                output = "probability"
            else:
                output = "log-odds"
        elif kind == "linear":
            ex = shap.LinearExplainer(clf, B)
            sv = ex(Z)
            vals, base, output = np.asarray(sv.values), np.asarray(sv.base_values), "log-odds"
        else:
            f = lambda z: clf.predict_proba(z)[:, 1]  # noqa: E731
            ex = shap.PermutationExplainer(f, shap.maskers.Independent(B, max_samples=len(B)), seed=seed)
            sv = ex(Z, max_evals=2 * Z.shape[1] + 1, silent=True)
            vals, base, output = np.asarray(sv.values), np.asarray(sv.base_values), "probability"
    by_feature = pd.DataFrame(vals, columns=names, index=X.index)
    by_var = by_feature.T.groupby(_variable_of, sort=False).sum().T
    return ShapResult(values=by_var, base_value=float(np.mean(base)), output=output, explainer=kind,
                      labels={v: schema.label(v) for v in by_var.columns}, data=X.reindex(columns=by_var.columns))


def waterfall_frame(res: ShapResult, row: int = 0, top: int = 10) -> pd.DataFrame:
    """One patient's contributions, largest first, the rest summed into 'other variables'."""
    s = res.values.iloc[row]
    order = s.abs().sort_values(ascending=False).index
    keep, rest = list(order[:top]), list(order[top:])
    rows = [{"variable": v, "label": res.labels[v], "value": res.data.iloc[row][v], "contribution": float(s[v])}
            for v in keep]
    if rest:
        rows.append({"variable": "other", "label": f"{len(rest)} other variables", "value": None,
                     "contribution": float(s[rest].sum())})
    df = pd.DataFrame(rows)
    df["start"] = res.base_value + df["contribution"].cumsum() - df["contribution"]
    df["end"] = df["start"] + df["contribution"]
    return df


def global_importance(res: ShapResult) -> pd.DataFrame:
    """Mean |SHAP| per variable (the bar plot) for the rows explained."""
    imp = res.values.abs().mean().sort_values(ascending=False)
    return pd.DataFrame({"variable": imp.index, "label": [res.labels[v] for v in imp.index],
                         "mean_abs_shap": imp.to_numpy()})


def beeswarm_frame(res: ShapResult, top: int = 12, max_rows: int = 4000) -> pd.DataFrame:
    """Long table (variable, contribution, normalised feature value) for a beeswarm chart."""
    imp = res.values.abs().mean().sort_values(ascending=False).index[:top]
    rows = []
    for v in imp:
        x = pd.to_numeric(res.data[v], errors="coerce")
        rng = (x.max() - x.min()) or 1.0
        norm = (x - x.min()) / rng
        rows.append(pd.DataFrame({"variable": v, "label": res.labels[v], "contribution": res.values[v].to_numpy(),
                                  "feature_value": norm.to_numpy()}))
    df = pd.concat(rows, ignore_index=True)
    return df.sample(max_rows, random_state=0) if len(df) > max_rows else df
