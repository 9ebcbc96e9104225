"""SHAP values of the calibrated probability the dashboard shows, one bar per schema variable.

Why this design (issue 9, item 6): a clinician reads the waterfall as "why is this patient's risk
0.42". So the function explained is the displayed number itself — a model's *calibrated*
P(PD), or the main ensemble's P(PD) with the patient's image-member probabilities held fixed —
never the raw score of the final estimator inside it (a class-weighted forest's raw score has a
base value near 0.5, not the mean risk).

How:

* **Interventional Shapley values** with shap's ``PermutationExplainer`` and an ``Independent``
  masker over a training background: a hidden variable takes a background patient's value, and
  the model is averaged over the background. Each permutation telescopes from "all hidden" to
  "all shown", so ``base + sum(values) = f(patient)`` exactly, and ``base`` is the mean of ``f``
  over the background — the mean calibrated prediction of the training patients.
* **Masking in schema-variable space.** Categorical and ordinal variables are encoded to level
  codes for the masker and decoded inside ``f``; the model's own preprocessing (ISS/R-ISS
  derivation, scaling, imputation, one-hot) runs after that. A categorical variable is one
  player, so its one-hot columns make one bar, and the explanation needs no model-space algebra.
* **Stable**: ``n_permutations`` forward-and-backward (antithetic) permutations per patient; the
  test suite checks that two seeds agree. Fewer permutations and a smaller background are used
  for the cohort-wide view (see ``GLOBAL`` and docs/BENCHMARKS.md for timings).

No exact tree/linear path is kept: TreeSHAP and LinearSHAP explain the raw estimator in its own
margin, which the calibrator then bends, so their values do not add up to the displayed risk.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from zoo.schema import Kind, Schema

EXPLAINER = "permutation (interventional, calibrated probability)"


@dataclass(frozen=True)
class ShapSettings:
    """How much work one explanation gets: background patients and permutations per patient."""

    max_background: int = 100
    n_permutations: int = 10
    seed: int = 0             # permutation order
    background_seed: int = 0  # which training patients form the background (fixed: the base must not wander)


PATIENT = ShapSettings()  # one patient's waterfall
# Every test patient (beeswarm, mean |SHAP|). Measured on a 400-patient synthetic cohort (docs/BENCHMARKS.md):
# the error against (100 background, 10 permutations) is driven by the background size, not the permutations,
# and one antithetic pair per patient with 50 background patients keeps the importance ranking (Spearman 0.998)
# at ~0.16 s per patient on 2 shared cores.
GLOBAL = ShapSettings(max_background=50, n_permutations=1)


@dataclass
class ShapResult:
    values: pd.DataFrame      # patients x schema variables (contributions to the probability)
    base_values: pd.Series    # per patient: mean of f over the background (f may depend on the patient's images)
    output: str               # always "probability": the calibrated P(PD) that is displayed
    explainer: str
    labels: dict[str, str]    # variable -> display label
    data: pd.DataFrame        # the values shown beside each contribution (as the model reads them)
    target: str = ""          # the model or ensemble explained
    target_label: str = ""
    kind: str = "model"       # "model": one clinical model; "ensemble": a late ensemble's clinical part
    predictions: pd.Series | None = None   # f(patient) = base + sum(values): the displayed probability
    background_ids: list = field(default_factory=list)
    n_permutations: int = 0
    fixed: dict = field(default_factory=dict)  # held fixed while explaining (image members' probabilities)

    @property
    def base_value(self) -> float:
        """The base of the first (or only) patient; mean over patients for a cohort-wide result."""
        return float(self.base_values.iloc[0]) if len(self.base_values) == 1 else float(self.base_values.mean())


class SchemaCodec:
    """Schema variables <-> float matrix: level codes for categorical/ordinal variables, numbers as they are.

    The masker mixes a patient's and a background patient's values column by column, so every
    variable must be one numeric column; ``decode`` gives the model back the levels it expects.
    """

    def __init__(self, schema: Schema, features: list[str]) -> None:
        self.features = list(features)
        self.levels = {f: tuple(schema[f].levels) for f in self.features
                       if schema[f].kind in (Kind.categorical, Kind.ordinal)}

    def encode(self, df: pd.DataFrame) -> np.ndarray:
        out = np.full((len(df), len(self.features)), np.nan)
        for j, f in enumerate(self.features):
            s = df[f] if f in df else pd.Series(np.nan, index=df.index)
            if f in self.levels:
                code = {lvl: float(i) for i, lvl in enumerate(self.levels[f])}
                v = s.map(lambda x: np.nan if x is None or (isinstance(x, float) and np.isnan(x))
                          else code.get(str(x), -1.0)).astype(float)
                bad = v.to_numpy() < 0
                if bad.any():
                    i = int(np.flatnonzero(bad)[0])
                    raise ValueError(f"Patient {df.index[i]}, variable {f!r}: expected one of {list(self.levels[f])}. "
                                     f"Got {s.iloc[i]!r}. Validate the cohort (python -m zoo validate) first.")
                out[:, j] = v.to_numpy()
            else:
                out[:, j] = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
        return out

    def decode(self, A: np.ndarray) -> pd.DataFrame:
        df = pd.DataFrame(np.asarray(A, dtype=float), columns=self.features)
        for f, lv in self.levels.items():
            codes = df[f].to_numpy()
            ok = ~np.isnan(codes)
            col = np.full(len(codes), np.nan, dtype=object)
            col[ok] = np.asarray(lv, dtype=object)[codes[ok].astype(int)]
            df[f] = col
        return df


def background_sample(background: pd.DataFrame, settings: ShapSettings) -> pd.DataFrame:
    """At most ``max_background`` training rows (a seeded sample); rows without any value are left out."""
    bg = background[background.notna().any(axis=1)]
    if len(bg) > settings.max_background:
        bg = bg.sample(settings.max_background, random_state=settings.background_seed)
    if bg.empty:
        raise ValueError("Expected training patients with clinical values as the SHAP background. Got none. "
                         "Retrain the zoo on a cohort with clinical data.")
    return bg


def explain_function(predict: Callable[[pd.DataFrame, int], np.ndarray], X: pd.DataFrame, background: pd.DataFrame,
                     schema: Schema, settings: ShapSettings = PATIENT) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Interventional Shapley values of ``predict`` for each row of ``X``, one player per schema variable.

    ``predict(rows, i)`` returns the probability for decoded rows that mix patient ``i``'s values
    with background values (it may depend on ``i``, e.g. through the patient's image members).
    Returns (values, base values, f(patient)).
    """
    import shap

    features = list(X.columns)
    codec = SchemaCodec(schema, features)
    A, B = codec.encode(X), codec.encode(background.reindex(columns=features))
    masker = shap.maskers.Independent(B, max_samples=len(B))
    M = len(features)
    vals = np.zeros((len(A), M))
    base = np.zeros(len(A))
    for i in range(len(A)):
        def g(Z, i=i):
            return np.asarray(predict(codec.decode(Z), i), dtype=float)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ex = shap.PermutationExplainer(g, masker, seed=settings.seed + i)
            sv = ex(A[i:i + 1], max_evals=settings.n_permutations * (2 * M + 1), silent=True)
        vals[i] = np.asarray(sv.values)[0]
        base[i] = float(np.asarray(sv.base_values).reshape(-1)[0])
    V = pd.DataFrame(vals, index=X.index, columns=features)
    b = pd.Series(base, index=X.index)
    return V, b, b + V.sum(axis=1)


def warm_up() -> float:
    """Compile shap's numba kernels now, on a toy problem; returns the seconds it took.

    Why: the first explanation in a process JIT-compiles shap's masked-model code (about 10 s idle). In a
    busy server that compile was starved for minutes and held the first reviewer's page (docs/BENCHMARKS.md,
    "Load"), so the dashboard pays it once at start, off any visitor's request.
    """
    import time

    import shap

    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    B = rng.normal(size=(8, 3))
    masker = shap.maskers.Independent(B, max_samples=len(B))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ex = shap.PermutationExplainer(lambda Z: Z.sum(axis=1), masker, seed=0)
        ex(B[:1], max_evals=7, silent=True)
    return time.perf_counter() - t0


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
    df["start"] = float(res.base_values.iloc[row]) + df["contribution"].cumsum() - df["contribution"]
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


def describe(res: ShapResult, labels: dict[str, str] | None = None) -> str:
    """One plain sentence (markdown) saying which model the waterfall explains and what its base is."""
    labels = labels or {}
    n_bg = len(res.background_ids)
    if len(res.values) == 1:
        p = float(res.predictions.iloc[0]) if res.predictions is not None else res.base_value + res.values.iloc[0].sum()
        what = f"P(PD) = **{p:.3f}** for this patient"
    else:
        what = f"P(PD) for {len(res.values)} patients"
    if res.kind == "ensemble":
        held = ", ".join(f"{labels.get(m, m)} {'—' if v is None else f'{v:.2f}'}" for m, v in res.fixed.items())
        head = (f"Explains **{res.target_label}** (the predictor's main number), clinical part: {what}, with this "
                f"patient's image-model probabilities held fixed" + (f" ({held})" if held else "") + ".")
    else:
        head = (f"Explains **{res.target_label}** alone: its calibrated {what} (its row in the predictor's member "
                "table), not the ensemble.")
    return (f"{head} Base {res.base_value:.3f} = mean calibrated prediction over {n_bg} training patients; "
            f"base + bars = the probability shown. Explainer: {res.explainer}, one bar per schema variable, "
            f"{res.n_permutations} antithetic permutations per patient.")
