"""Performance by subgroup: does the model work as well for women, for ISS III, for patients without a gel?

A reviewer's question, answered on the held-out patients only (test, external), never on training rows.
Point estimates go through fairlearn's ``MetricFrame`` (n, events, AUC, sensitivity and specificity at the
model's out-of-fold threshold, with the patients' censoring weights); each group's AUC carries a 95 %
percentile-bootstrap CI over that group's own patients, and its calibration intercept (calibration in the
large: does the model over- or under-estimate risk in this group?) comes from the same weighted fit as
the leaderboard's. A group with fewer than ``MIN_EVENTS`` events (or non-events) is still listed, flagged
"too few events": its AUC would be noise, so pages grey it out and the forest plot leaves it out.

The subgroup variables are a registry (one entry per grouping), so the dashboard's choices, the model
card and the tests read the same definitions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from zoo.evaluation.bootstrap import (
    percentile_ci, resample_weights, weighted_auc, weighted_calibration, weighted_rates,
)
from zoo.schema import Kind, Schema

MIN_EVENTS = 10
UNKNOWN = "(missing)"  # not a level any schema variable can take


@dataclass(frozen=True)
class Grouping:
    name: str
    display: str
    labels: Callable[[pd.DataFrame, Schema], pd.Series]  # one label per patient (None: unknown)


def _column(col: str) -> Callable[[pd.DataFrame, Schema], pd.Series]:
    def f(clinical: pd.DataFrame, schema: Schema) -> pd.Series:
        if col not in clinical:
            return pd.Series(None, index=clinical.index, dtype=object)
        return _levels(clinical[col], schema[col] if col in schema else None)
    return f


def _levels(s: pd.Series, var) -> pd.Series:
    """Readable group labels: a binary 0/1 as no/yes, a whole-number float without its '.0'."""
    def one(v):
        if pd.isna(v):
            return None
        if var is not None and var.kind is Kind.binary:
            return "yes" if float(v) == 1 else "no"
        return str(int(v)) if isinstance(v, float) and float(v).is_integer() else str(v)
    return s.map(one).astype(object)


def _age_65(clinical: pd.DataFrame, schema: Schema) -> pd.Series:
    a = pd.to_numeric(clinical.get("age", pd.Series(np.nan, index=clinical.index)), errors="coerce")
    return pd.Series(np.where(a.isna(), None, np.where(a >= 65, "≥ 65", "< 65")), index=clinical.index, dtype=object)


def _staging(system: str) -> Callable[[pd.DataFrame, Schema], pd.Series]:
    def f(clinical: pd.DataFrame, schema: Schema) -> pd.Series:
        from zoo.schema.derived import derive_staging_systems

        return derive_staging_systems(clinical, schema.ldh_uln)[system].astype(object)
    return f


GROUPINGS: dict[str, Grouping] = {g.name: g for g in (
    Grouping("sex", "Sex", _column("sex")),
    Grouping("age_65", "Age ≥ 65", _age_65),
    Grouping("iss", "ISS", _staging("iss")),
    Grouping("riss", "R-ISS", _staging("riss")),
    Grouping("isotype", "Heavy-chain isotype", _column("mprotein_heavy")),
)}
# two more that are not clinical columns: the validation site, and which modalities the patient had
SITE, PATTERN = "site", "modality_pattern"
DISPLAY = {**{g.name: g.display for g in GROUPINGS.values()}, SITE: "Site", PATTERN: "Modalities available"}


def categorical_choices(schema: Schema, clinical: pd.DataFrame) -> list[str]:
    """Schema variables a user may add as a subgrouping: categorical, ordinal or binary columns present."""
    return [v.name for v in schema if v.kind in (Kind.categorical, Kind.ordinal, Kind.binary)
            and v.name in clinical and v.name not in GROUPINGS]


def group_labels(clinical: pd.DataFrame, schema: Schema, extra: list[str] | tuple[str, ...] = ()) -> pd.DataFrame:
    """One column per grouping (registry entries, then the user's extra variables); None where unknown."""
    cols = {name: g.labels(clinical, schema) for name, g in GROUPINGS.items()}
    for v in extra:
        if v in clinical and v not in cols:
            cols[v] = _levels(clinical[v], schema[v] if v in schema else None)
    return pd.DataFrame(cols, index=clinical.index)


def group_metrics(y, p, groups, threshold: float, weights=None, n_boot: int = 1000, seed: int = 0,
                  min_events: int = MIN_EVENTS) -> pd.DataFrame:
    """One row per group: n, events, AUC (95 % CI), calibration intercept, sensitivity, specificity.

    ``groups``: a label per patient (None/NaN: "(missing)", reported as its own group). Patients without a
    prediction (NaN) are left out, as in the leaderboard. ``weights``: censoring weights (None: all 1).
    """
    from fairlearn.metrics import MetricFrame
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    g = pd.Series(groups).reset_index(drop=True).astype(object).where(lambda s: s.notna(), UNKNOWN).astype(str)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    ok = ~np.isnan(p)
    y, p, w, g = y[ok], p[ok], w[ok], g[ok.tolist()].reset_index(drop=True)
    if not len(y):
        return pd.DataFrame(columns=["group", "n", "events", "auc", "auc_lo", "auc_hi", "cal_intercept",
                                     "sensitivity", "specificity", "too_few_events"])

    def auc(yt, yp, sample_weight=None):
        return float(roc_auc_score(yt, yp, sample_weight=sample_weight)) if len(np.unique(yt)) == 2 else np.nan

    def rate(which: int):  # 0: sensitivity, 1: specificity, weighted as the leaderboard's
        def f(yt, yp, sample_weight=None):
            return float(weighted_rates(yt, yp, threshold, np.asarray(sample_weight, dtype=float)[None, :])[which][0])
        return f

    sw = {"sample_weight": w}
    mf = MetricFrame(
        metrics={"n": lambda yt, yp: len(yt), "events": lambda yt, yp: int(np.sum(yt)), "auc": auc,
                 "sensitivity": rate(0), "specificity": rate(1)},
        y_true=y, y_pred=p, sensitive_features=g.rename("group"),
        sample_params={"auc": sw, "sensitivity": sw, "specificity": sw})
    out = mf.by_group.reset_index()
    rows = []
    for i, r in out.iterrows():
        m = (g == r["group"]).to_numpy()
        yg, pg, wg = y[m], p[m], w[m]
        events, non_events = int(yg.sum()), int(len(yg) - yg.sum())
        lo = hi = cal = np.nan
        if events and non_events:
            W = resample_weights(yg, n_boot, seed + i) * wg[None, :]
            lo, hi = percentile_ci(weighted_auc(yg, pg, W))
            cal = float(weighted_calibration(yg, pg, wg[None, :])[0][0])
        rows.append({"group": r["group"], "n": int(r["n"]), "events": events, "auc": r["auc"], "auc_lo": lo,
                     "auc_hi": hi, "cal_intercept": cal, "sensitivity": r["sensitivity"],
                     "specificity": r["specificity"], "too_few_events": min(events, non_events) < min_events})
    return pd.DataFrame(rows)


def subgroup_table(y: pd.Series, probs: pd.DataFrame, labels: pd.DataFrame, thresholds: dict[str, float],
                   weights: pd.Series | None = None, displays: dict[str, str] | None = None,
                   n_boot: int = 1000, seed: int = 0, grouping_displays: dict[str, str] | None = None) -> pd.DataFrame:
    """Every (model, grouping, group) row for one validation split.

    ``y``: outcomes indexed by patient; ``probs``: one column per model (same index); ``labels``: one
    column per grouping (``group_labels``, plus ``site``/``modality_pattern`` when known).
    """
    frames = []
    labels = labels.reindex(y.index)
    for model in probs.columns:
        for grouping in labels.columns:
            t = group_metrics(y.to_numpy(), probs[model].reindex(y.index).to_numpy(), labels[grouping],
                              thresholds.get(model, 0.5),
                              None if weights is None else weights.reindex(y.index).fillna(1.0).to_numpy(),
                              n_boot, seed)
            t.insert(0, "model", model)
            t.insert(1, "display", (displays or {}).get(model, model))
            t.insert(2, "grouping", grouping)
            t.insert(3, "grouping_display", {**DISPLAY, **(grouping_displays or {})}.get(grouping, grouping))
            frames.append(t)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


SPLIT_SITE = {"test": "internal (hold-out test)", "external": "external site"}


def reported_models(zoo) -> list[str]:
    """The main ensemble, its members and the best single model: what the card and the tab report."""
    from zoo.api import MAIN_ENSEMBLE

    names = []
    if MAIN_ENSEMBLE in zoo.manifest["ensembles"]:
        names = [MAIN_ENSEMBLE, *zoo.ensemble(MAIN_ENSEMBLE).members]
    best = zoo.manifest.get("best_single")
    names += [best] if best else []
    known = set(zoo.model_names) | set(zoo.ensemble_names)
    return [n for n in dict.fromkeys(names) if n in known]


def zoo_subgroups(zoo, cohorts: dict, models: list[str] | None = None, extra: tuple[str, ...] = (),
                  n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Subgroup rows for a zoo's stored test/external predictions, labelled from the cohorts' clinical tables.

    ``cohorts``: split -> ``Cohort`` (the training cohort for ``test``, the external one for ``external``);
    a split without its cohort is skipped. Besides the registry's groupings and ``extra`` variables, each
    split gets the modalities the main ensemble used per patient, and a pooled ``held-out`` split compares
    the sites. Patients missing from a cohort's table are labelled "(missing)", never dropped.
    """
    from zoo.api import MAIN_ENSEMBLE

    models = models or reported_models(zoo)
    P = zoo.predictions()
    metrics = zoo.metrics()
    thresholds = {m: (metrics["models"].get(m) or {}).get("threshold", 0.5) for m in models}
    displays = zoo.displays
    used = (zoo.files.read_parquet("ensemble_modalities.parquet") if zoo.files.has("ensemble_modalities.parquet")
            else pd.DataFrame(columns=["patient_id", "split", "ensemble", "modalities"]))
    parts, pooled = [], []
    for split in ("test", "external"):
        cohort = cohorts.get(split)
        rows = P[(P["split"] == split) & P["model"].isin(models)]
        if cohort is None or rows.empty:
            continue
        probs = rows.pivot_table(index="patient_id", columns="model", values="prob", aggfunc="first")
        y = rows.groupby("patient_id")["y"].first().astype(int)
        probs = probs.reindex(index=y.index, columns=[m for m in models if m in probs.columns])
        clin = cohort.clinical.reindex(y.index)
        labels = group_labels(clin, cohort.schema, extra)
        u = used[(used["split"] == split) & (used["ensemble"] == MAIN_ENSEMBLE)].set_index("patient_id")["modalities"]
        if len(u):
            labels[PATTERN] = u.reindex(y.index).astype(object)
        # the weights the zoo's own tables used (predictions.parquet): a zoo estimates its test patients' censoring
        # weights from their follow-up alone, which a freshly loaded cohort's whole-cohort weights are not
        w = (rows.groupby("patient_id")["weight"].first().reindex(y.index).astype(float)
             if "weight" in rows and not np.allclose(rows["weight"].to_numpy(float), 1.0) else None)
        names = {v: cohort.schema[v].display for v in extra if v in cohort.schema}
        t = subgroup_table(y, probs, labels, thresholds, w, displays, n_boot, seed, names)
        t.insert(0, "split", split)
        parts.append(t)
        pooled.append((y, probs, pd.DataFrame({SITE: SPLIT_SITE[split]}, index=y.index), w))
    if len(pooled) == 2:  # the site comparison needs both sites' patients in one table
        y = pd.concat([p[0] for p in pooled])
        keys = [f"{i}:{pid}" for i, p in enumerate(pooled) for pid in p[0].index]  # ids may repeat across sites
        probs = pd.concat([p[1] for p in pooled]).set_axis(keys)
        labels = pd.concat([p[2] for p in pooled]).set_axis(keys)
        w = (None if all(p[3] is None for p in pooled) else
             pd.concat([p[3] if p[3] is not None else pd.Series(1.0, index=p[0].index) for p in pooled]).set_axis(keys))
        t = subgroup_table(y.set_axis(keys), probs, labels, thresholds, w, displays, n_boot, seed)
        t.insert(0, "split", "held-out")
        parts.append(t)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
