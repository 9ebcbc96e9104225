"""Turn stored predictions into the leaderboard's numbers and curves.

Thresholds come from out-of-fold training predictions; test and external sets are only scored. The
same bootstrap resamples are used for every model on a split, so CIs and paired comparisons
are consistent. Every metric carries a 95 % CI: AUC, Brier, scaled Brier, calibration intercept and
slope, sensitivity and specificity at the threshold, and net benefit at three thresholds. Comparisons
against the best single model carry raw and Holm-adjusted p-values. On synthetic cohorts the oracle's
lift over chance, (AUC − 0.5)/(oracle − 0.5), is computed on the same patients. Each model's
per-patient uncertainty (Venn–Abers interval, 90 % conformal set; fitted on its OOF predictions) has its
coverage measured on test and external.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from zoo.evaluation.bootstrap import (
    paired_auc_test, percentile_ci, resample_weights, weighted_auc, weighted_brier, weighted_calibration,
    weighted_net_benefit, weighted_rates, withhold_if_few,
)
from zoo.evaluation.curves import Curves
from zoo.evaluation.intervals import RiskIntervals, interval_report
from zoo.evaluation.metrics import expected_calibration_error, threshold_metrics, youden_threshold

ORACLE_FOR = {"clinical": "clinical", "marrow": "marrow", "electrophoresis": "electrophoresis", "ensemble": "true",
              "reference": "clinical"}
NB_THRESHOLDS = (0.10, 0.25, 0.50)  # the band edges 0.25/0.50 and a low-threshold (rule-out) view


def _auc(y, p) -> float:
    y, p = np.asarray(y), np.asarray(p, dtype=float)
    ok = ~np.isnan(p)
    return float(roc_auc_score(y[ok], p[ok])) if ok.sum() > 1 and len(np.unique(y[ok])) == 2 else float("nan")


def oracle_aucs(oracle: pd.DataFrame | None, y: pd.Series, mask: np.ndarray | None = None) -> dict[str, float] | None:
    """AUC of each modality's oracle (true risk from that modality's information) on the same patients.

    Unweighted: the cohort's ceiling as drawn (``metrics['oracle']``). Each model's own ``oracle_auc`` is
    computed by ``lift_over_oracle`` on that model's patients with the censoring weights."""
    if oracle is None:
        return None
    o = oracle.reindex(y.index)
    keep = np.ones(len(y), bool) if mask is None else mask
    return {m: _auc(y.to_numpy()[keep], o[f"p_{m}"].to_numpy()[keep])
            for m in ("clinical", "marrow", "electrophoresis", "true") if f"p_{m}" in o}


def lift_over_oracle(y, p, oracle_p, case_weight: np.ndarray, W: np.ndarray) -> tuple[float | None, float | None,
                                                                                         list[float]]:
    """(oracle AUC, lift, 95 % CI of the lift): lift = (AUC − 0.5)/(oracle AUC − 0.5) on the same patients.

    Both AUCs carry the same case weights (censoring), and the interval resamples model and oracle together
    (the same bootstrap multiplicities ``W`` as the AUC's CI), so it shows how far a lift verdict such as
    "≥ 0.8" can move on another draw of test patients. Patients without a model prediction or an oracle
    score are left out of both AUCs (on synthetic splits the oracle covers everyone, so ``auc`` is the
    model's own). A resample where the oracle is at or below chance has an unbounded lift: it is kept in
    the quantiles at ±∞ (the sign of the model's lift), so when about 2.5 % of resamples or more are such,
    a bound is infinite and no interval is given (NaN), as none is when the point lift is undefined.
    Resamples without both classes are skipped, as for the AUC's CI.
    """
    y, p, o = np.asarray(y, dtype=int), np.asarray(p, dtype=float), np.asarray(oracle_p, dtype=float)
    ok = ~np.isnan(p) & ~np.isnan(o)
    y, p, o, cw = y[ok], p[ok], o[ok], np.asarray(case_weight, dtype=float)[ok]
    W = withhold_if_few(W[:, ok], y)
    none = [float("nan"), float("nan")]
    if len(y) == 0 or len(np.unique(y)) < 2:
        return None, None, none
    one, Wc = cw[None, :], W * cw[None, :]
    a, ao = float(weighted_auc(y, p, one)[0]), float(weighted_auc(y, o, one)[0])
    lift = (a - 0.5) / (ao - 0.5) if ao > 0.5 else None
    ab, aob = weighted_auc(y, p, Wc), weighted_auc(y, o, Wc)
    fin = np.isfinite(ab) & np.isfinite(aob)
    ab, aob = ab[fin], aob[fin]
    if lift is None or len(aob) == 0:
        return ao, lift, none
    above = aob > 0.5
    reps = np.where(above, (ab - 0.5) / np.where(above, aob - 0.5, 1.0), np.where(ab >= 0.5, np.inf, -np.inf))
    lo, hi = np.quantile(reps, [0.025, 0.975])
    return ao, lift, ([float(lo), float(hi)] if np.isfinite(lo) and np.isfinite(hi) else none)


def metric_suite(y, p, threshold: float, train_prevalence: float, W: np.ndarray,
                 case_weight: np.ndarray | None = None) -> dict:
    """Point estimates (with case weights) and 95 % bootstrap CIs (W: resample multiplicities × case weights).

    Rows where ``p`` is NaN (a modality the model needs is missing) are left out, and counted.
    """
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    cw = np.ones(len(y)) if case_weight is None else np.asarray(case_weight, dtype=float)
    ok = ~np.isnan(p)
    y, p, cw = y[ok], p[ok], cw[ok]
    W = withhold_if_few(W[:, ok], y)  # the rule on the patients this model scored, not the whole split
    out: dict = {"n": int(len(y)), "n_pd": int(y.sum()), "threshold": float(threshold),
                 "n_without_prediction": int((~ok).sum())}
    if len(y) == 0 or len(np.unique(y)) < 2:
        return {**out, "auc": float("nan"), "brier": float("nan")}
    one = cw[None, :]
    Wc = W * cw[None, :]
    null = np.full_like(p, float(np.clip(train_prevalence, 1e-6, 1 - 1e-6)))

    def both(fn, *a):
        return float(fn(y, p, *a, one)[0]), percentile_ci(fn(y, p, *a, Wc))

    out["auc"], out["auc_ci"] = float(weighted_auc(y, p, one)[0]), percentile_ci(weighted_auc(y, p, Wc))
    out["brier"], out["brier_ci"] = both(weighted_brier)
    out["null_brier"] = float(weighted_brier(y, null, one)[0])
    null_b = weighted_brier(y, null, Wc)
    sb = 1 - weighted_brier(y, p, Wc) / null_b
    out["scaled_brier"] = 1 - out["brier"] / out["null_brier"] if out["null_brier"] > 0 else float("nan")
    out["scaled_brier_ci"] = percentile_ci(sb)
    out["worse_than_null"] = bool(out["brier"] > out["null_brier"])
    a1, b1 = weighted_calibration(y, p, one)
    aB, bB = weighted_calibration(y, p, Wc)
    out["cal_intercept"], out["cal_intercept_ci"] = float(a1[0]), percentile_ci(aB)
    out["cal_slope"], out["cal_slope_ci"] = float(b1[0]), percentile_ci(bB)
    se1, sp1 = weighted_rates(y, p, threshold, one)
    seB, spB = weighted_rates(y, p, threshold, Wc)
    out["sensitivity"], out["sensitivity_ci"] = float(se1[0]), percentile_ci(seB)
    out["specificity"], out["specificity_ci"] = float(sp1[0]), percentile_ci(spB)
    out["net_benefit"] = {f"{t:.2f}": {"value": float(weighted_net_benefit(y, p, t, one)[0]),
                                       "ci": percentile_ci(weighted_net_benefit(y, p, t, Wc)),
                                       "treat_all": float(_treat_all(y, t, cw))} for t in NB_THRESHOLDS}
    out["ece"] = expected_calibration_error(y, p, weights=cw)
    out["mean_predicted"] = float(np.average(p, weights=cw))
    out["observed_rate"] = float(np.average(y, weights=cw))
    out["at_0.5"] = threshold_metrics(y, p, 0.5, weights=cw)
    out["at_youden"] = threshold_metrics(y, p, threshold, weights=cw)
    return out


def _treat_all(y, t, cw) -> float:
    prev = np.average(y, weights=cw)
    return prev - (1 - prev) * t / (1 - t)


def intercept_update(y, p, case_weight=None) -> tuple[float, np.ndarray]:
    """The standard model-updating step for a new setting: shift every logit by the cohort's CITL."""
    from zoo.evaluation.calibration import logit

    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    ok = ~np.isnan(p)
    cw = np.ones(ok.sum()) if case_weight is None else np.asarray(case_weight, dtype=float)[ok]
    a, _ = weighted_calibration(y[ok], p[ok], cw[None, :])
    shifted = np.full(len(p), np.nan)
    shifted[ok] = 1 / (1 + np.exp(-(logit(p[ok]) + a[0])))
    return float(a[0]), shifted


def evaluate(y: dict[str, pd.Series], preds: dict[str, pd.DataFrame], groups: dict[str, str], kinds: dict[str, str],
             best_single: str, n_boot: int = 1000, seed: int = 0,
             oracle: dict[str, pd.DataFrame | None] | None = None,
             case_weights: dict[str, pd.Series | None] | None = None) -> tuple[dict, dict]:
    """``preds['oof'|'test'|'external']``: patients x models; ``groups``: model -> modality or 'ensemble'.

    ``case_weights``: per split, inverse-probability-of-censoring weights (None = all ones).
    """
    from statsmodels.stats.multitest import multipletests

    metrics: dict = {"models": {}, "oracle": {}, "best_single": best_single}
    curves: dict = {}
    oof = preds["oof"]
    case_weights = case_weights or {}
    cw = {s: (case_weights.get(s).reindex(y[s].index).to_numpy(dtype=float) if case_weights.get(s) is not None
              else np.ones(len(y[s]))) for s in y}
    train_prev = float(np.average(y["oof"].to_numpy(), weights=cw["oof"]))
    metrics["train_prevalence"] = train_prev
    splits = [s for s in ("test", "external") if s in preds]
    for split in splits:
        if oracle and oracle.get(split) is not None:
            metrics["oracle"][split] = oracle_aucs(oracle[split], y[split])
    W = {s: resample_weights(y[s].to_numpy(dtype=int), n_boot, seed) for s in splits}
    for name in preds["test"].columns:
        thr = youden_threshold(y["oof"].to_numpy(), oof[name].to_numpy(), weights=cw["oof"])
        try:
            iv = RiskIntervals().fit(oof[name].to_numpy(), y["oof"].to_numpy(), cw["oof"])  # as the predictor's
        except ValueError:
            iv = None
        rec = {"modality": groups[name], "kind": kinds[name], "threshold": thr,
               "oof": {"auc": _auc(y["oof"].to_numpy(), oof[name].to_numpy()),
                       "n": int(oof[name].notna().sum()),
                       "mean_predicted": float(np.nanmean(oof[name].to_numpy())) if oof[name].notna().any() else None,
                       "prevalence": float(y["oof"][oof[name].notna()].mean()) if oof[name].notna().any() else None}}
        curves[name] = {}
        for split in splits:
            yy, pp = y[split].to_numpy(dtype=int), preds[split][name].to_numpy(dtype=float)
            m = metric_suite(yy, pp, thr, train_prev, W[split], cw[split])
            if kinds[name] == "ensemble" and name != best_single and best_single in preds[split]:
                m["vs_best_single"] = paired_auc_test(yy, pp, preds[split][best_single].to_numpy(), n_boot, seed,
                                                      case_weights=cw[split])
            orc = oracle.get(split) if oracle else None
            key = ORACLE_FOR.get(groups[name], "true")
            if orc is not None and f"p_{key}" in orc:
                o = orc[f"p_{key}"].reindex(y[split].index).to_numpy(dtype=float)
                m["oracle_auc"], m["oracle_lift"], m["oracle_lift_ci"] = lift_over_oracle(yy, pp, o, cw[split], W[split])
            if split == "external" and np.isfinite(m.get("auc", np.nan)):
                a, shifted = intercept_update(yy, pp, cw[split])
                upd = metric_suite(yy, shifted, thr, train_prev, W[split], cw[split])
                m["after_intercept_update"] = {
                    "shift": a, "brier": upd["brier"], "brier_ci": upd["brier_ci"], "scaled_brier": upd["scaled_brier"],
                    "cal_intercept": upd["cal_intercept"], "cal_slope": upd["cal_slope"],
                    "cal_slope_ci": upd["cal_slope_ci"],
                    "label": "after intercept recalibration on the external cohort itself (the standard updating "
                             "step; uses that cohort's outcomes, so it shows what updating would achieve)"}
                curves[name]["external_updated"] = Curves.from_predictions(yy, shifted, weights=cw[split]).to_dict()
            if iv is not None:
                m["uncertainty"] = interval_report(iv, yy, pp, W[split], case_weights=cw[split])
            rec[split] = m
            curves[name][split] = Curves.from_predictions(yy, pp, weights=cw[split]).to_dict()
        metrics["models"][name] = rec
    for split in splits:  # Holm across the ensembles' comparisons with the best single model, per split
        names = [n for n, r in metrics["models"].items() if r.get(split, {}).get("vs_best_single")
                 and np.isfinite(r[split]["vs_best_single"]["p_value"])]
        if names:
            raw = [metrics["models"][n][split]["vs_best_single"]["p_value"] for n in names]
            adj = multipletests(raw, method="holm")[1]
            for n, a in zip(names, adj):
                metrics["models"][n][split]["vs_best_single"]["p_holm"] = float(a)
    return metrics, curves
