"""Does a model beat the staging a clinician already uses? Comparisons against the best staging system.

The staging systems (ISS, R-ISS, R2-ISS, the IMS/IMWG flag; ``zoo/models/staging.py``) are scored like
every model. The reference is the one with the highest **out-of-fold** AUC on the training patients,
chosen before the test set is looked at. Against it, every other model and ensemble gets, on test and
on the external cohort:

- ΔAUC with a paired patient bootstrap CI and p-value (``paired_auc_test``: the same
  resamples for both scores), on the patients both rate, with Holm-adjusted p-values across models;
- a likelihood-ratio test of adding the model's score (its logit) to a logistic model of the stage
  (stage as categories). Both nested models are fitted **on the scored split itself** (test or
  external), unweighted: an in-sample test of whether the score carries information beyond the stage
  on those patients, not a model anyone deploys;
- the categorical net reclassification improvement across the predictor's risk bands, with its
  bootstrap CI, and the reclassification table (``zoo/evaluation/reclassification.py``).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from zoo.evaluation.bootstrap import paired_auc_test, too_few_for_interval
from zoo.evaluation.reclassification import categorical_nri, reclassification_table

CHOSEN_ON = "out-of-fold AUC on the training patients (never the test set)"
LR_FITTED_ON = ("the scored split itself (test or external), unweighted: stage-only vs stage + logit(score) "
                "logistic models on the patients both rate")


def best_staging(oof_auc: dict[str, float], reference_names: list[str]) -> str | None:
    """The staging system with the highest out-of-fold AUC (ties broken by name); None without one."""
    cands = [n for n in reference_names if np.isfinite(oof_auc.get(n, np.nan))]
    return max(cands, key=lambda n: (oof_auc[n], n)) if cands else None


def lr_test(y, stage: pd.Series | np.ndarray, score) -> dict:
    """Likelihood-ratio test of adding logit(score) to a logistic model of ``stage`` (categories)."""
    import statsmodels.api as sm
    from scipy.stats import chi2

    from zoo.evaluation.calibration import logit

    y = np.asarray(y, dtype=float)
    st = pd.Series(np.asarray(stage, dtype=object))
    s = np.asarray(score, dtype=float)
    ok = st.notna().to_numpy() & ~np.isnan(s)
    out = {"n": int(ok.sum()), "df": 1}
    if ok.sum() < 10 or len(np.unique(y[ok])) < 2:
        return {**out, "chi2": float("nan"), "p_value": float("nan"), "note": "too few patients with both"}
    if too_few_for_interval(y[ok]):  # an asymptotic test on a handful of events: no p-value, like the bootstrap's
        return {**out, "chi2": float("nan"), "p_value": float("nan"), "note": "too few of one outcome"}
    dummies = pd.get_dummies(st[ok].astype(str), drop_first=True, dtype=float)
    X0 = sm.add_constant(dummies.to_numpy(), has_constant="add")
    X1 = np.column_stack([X0, logit(s[ok])])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f0 = sm.GLM(y[ok], X0, family=sm.families.Binomial()).fit()
            f1 = sm.GLM(y[ok], X1, family=sm.families.Binomial()).fit()
    except (ValueError, np.linalg.LinAlgError, sm.tools.sm_exceptions.PerfectSeparationError) as e:
        return {**out, "chi2": float("nan"), "p_value": float("nan"), "note": f"fit failed: {type(e).__name__}"}
    stat = max(0.0, 2.0 * (f1.llf - f0.llf))
    return {**out, "chi2": float(stat), "p_value": float(chi2.sf(stat, 1)), "coef": float(f1.params[-1])}


def compare_to_staging(y: dict[str, pd.Series], preds: dict[str, pd.DataFrame], groups: dict[str, str],
                       oof_auc: dict[str, float], stages: dict[str, pd.DataFrame],
                       case_weights: dict[str, np.ndarray] | None = None, n_boot: int = 1000,
                       seed: int = 0, systems: dict[str, str] | None = None) -> tuple[dict, dict]:
    """(summary, per-model results) against the best staging system.

    ``preds[split]``: patients x models (calibrated P(PD)); ``groups``: model -> modality ('reference' for a
    staging system); ``stages[split]``: patients x staging system keys (stage labels);
    ``systems``: reference model name -> staging system key. Per-model results are keyed
    ``[model][split]`` and hold ``delta``, ``ci``, ``p_value``, ``p_holm``, ``lr_test``, ``nri`` and
    ``reclassification``.
    """
    from statsmodels.stats.multitest import multipletests

    refs = [n for n, g in groups.items() if g == "reference" and n in preds["oof"]]
    best = best_staging(oof_auc, refs)
    summary = {"systems": refs, "best": best, "chosen_on": CHOSEN_ON, "lr_test_fitted_on": LR_FITTED_ON,
               "oof_auc": {n: oof_auc.get(n) for n in refs}}
    results: dict[str, dict] = {}
    if best is None:
        return summary, results
    system = (systems or {}).get(best)
    summary["best_system"] = system
    case_weights = case_weights or {}
    for split in [s for s in ("test", "external") if s in preds]:
        yy = y[split].to_numpy(dtype=int)
        cw = case_weights.get(split)
        ref = preds[split][best].to_numpy(dtype=float)
        stage = stages[split][system].reindex(y[split].index) if split in stages and system else None
        for name in preds[split].columns:
            if name == best:
                continue
            p = preds[split][name].to_numpy(dtype=float)
            rec = {"reference": best, **paired_auc_test(yy, p, ref, n_boot, seed, case_weights=cw)}
            rec["lr_test"] = {**lr_test(yy, stage, p), "fitted_on": split} if stage is not None else None
            rec["nri"] = categorical_nri(yy, ref, p, n_boot, seed, case_weights=cw)
            rec["reclassification"] = reclassification_table(yy, ref, p)
            results.setdefault(name, {})[split] = rec
        names = [n for n in results if split in results[n] and np.isfinite(results[n][split]["p_value"])]
        if names:
            adj = multipletests([results[n][split]["p_value"] for n in names], method="holm")[1]
            for n, a in zip(names, adj):
                results[n][split]["p_holm"] = float(a)
    return summary, results


def card_rows(metrics: dict, split: str = "test", displays: dict[str, str] | None = None) -> list[dict]:
    """The staging comparison as rows for a report (model card): one row per model, flat numbers."""
    displays = displays or {}
    out = []
    for name, rec in metrics.get("models", {}).items():
        m = rec.get(split) or {}
        vs = m.get("vs_staging")
        if not vs:
            continue
        nri, lr = vs.get("nri") or {}, vs.get("lr_test") or {}
        out.append({"model": name, "display": displays.get(name, name), "reference": vs["reference"],
                    "auc": m.get("auc"), "delta_auc": vs["delta"], "delta_auc_ci": vs["ci"],
                    "p_value": vs["p_value"], "p_holm": vs.get("p_holm"), "lr_chi2": lr.get("chi2"),
                    "lr_p_value": lr.get("p_value"), "nri": nri.get("total"), "nri_ci": nri.get("total_ci")})
    return out


def leaderboard_columns(m: dict) -> dict:
    """The leaderboard's 'vs staging' columns for one model on one split (empty values without a comparison)."""
    vs = m.get("vs_staging") or {}
    nri, lr = vs.get("nri") or {}, vs.get("lr_test") or {}
    ci, nci = vs.get("ci") or [np.nan, np.nan], nri.get("total_ci") or [np.nan, np.nan]
    return {"vs_staging": vs.get("reference"), "delta_auc_vs_staging": vs.get("delta"),
            "delta_auc_vs_staging_lo": ci[0], "delta_auc_vs_staging_hi": ci[1],
            "p_vs_staging": vs.get("p_value"), "p_holm_vs_staging": vs.get("p_holm"),
            "lr_chi2_vs_staging": lr.get("chi2"), "lr_p_vs_staging": lr.get("p_value"),
            "nri_vs_staging": nri.get("total"), "nri_vs_staging_lo": nci[0], "nri_vs_staging_hi": nci[1],
            "nri_events_vs_staging": nri.get("events"), "nri_non_events_vs_staging": nri.get("non_events"),
            "reclassification_vs_staging": vs.get("reclassification")}
