"""The leaderboard table: every model and ensemble, grouped by modality, beside the published figures."""
from __future__ import annotations

import numpy as np
import pandas as pd

from zoo.evaluation.published import PUBLISHED_LABEL, published_for
from zoo.evaluation.staging_compare import leaderboard_columns as staging_columns

GROUP_ORDER = {"clinical": 0, "marrow": 1, "electrophoresis": 2, "multimodal": 3, "ensemble": 4, "reference": 5}
GROUP_LABEL = {"clinical": "Clinical", "marrow": "Bone marrow", "electrophoresis": "IFE",
               "multimodal": "Joint fusion", "ensemble": "Ensemble", "reference": "Staging (reference)"}


def machine_label(machine: dict | None) -> str | None:
    """'CPU (torch CPU capability, N threads[, GPU name])' of a manifest's ``build_machine``; None where no
    machine was recorded. The one wording the leaderboard, the model card and the acceptance script show."""
    m = machine or {}
    if not m.get("cpu"):
        return None
    gpu = f", GPU {m['gpu']}" if m.get("gpu") else ""
    return f"{m['cpu']} ({m.get('torch_cpu_capability') or '?'}, {m.get('torch_threads') or '?'} threads{gpu})"


def built_on(manifest: dict) -> str:
    """A caption fragment naming the machine that built the zoo ('' for zoos built before it was recorded):
    the CNNs' figures depend on the CPU's floating-point path, so two zoos compare only alongside it."""
    label = machine_label(manifest.get("build_machine"))
    return (f" Built on {label}; image models rebuilt on another machine give somewhat different figures."
            if label else "")


def sample_size_fields(metrics: dict) -> dict:
    """The cohort's sample-size check as flat leaderboard fields (the same on every row; None when not stored)."""
    ss = metrics.get("sample_size") or {}
    dev = ss.get("development") or {}
    riley = dev.get("riley") or {}
    ext = ss.get("external") or {}
    return {"dev_n": dev.get("n"), "dev_events": dev.get("events"), "candidate_parameters": dev.get("parameters"),
            "events_per_parameter": dev.get("events_per_parameter"), "riley_min_n": riley.get("n"),
            "riley_min_events": riley.get("events"), "riley_r2_cs": riley.get("r2_cs"),
            "sample_size_short": dev.get("short"), "external_events": ext.get("events"),
            "external_non_events": ext.get("non_events"), "external_events_short": ext.get("short")}


def sample_size_warnings(metrics: dict, split: str | None = None) -> list[str]:
    """Plain sentences for each shortfall: the development cohort's always, the test or external split's for that
    split.

    ``split=None`` gives every warning (``train``'s summary).
    """
    ss = metrics.get("sample_size") or {}
    out = []
    for w in ss.get("warnings") or []:
        if w["scope"] in ("external", "test") and split not in (None, w["scope"]):
            continue
        out.append(w["message"])
    return out


def leaderboard_table(zoo, split: str = "test") -> pd.DataFrame:
    from zoo.explain.attention import kept_networks  # torch-free callers of this module need not load it

    metrics = zoo.metrics()
    size = sample_size_fields(metrics)
    rows = []
    for name, rec in metrics["models"].items():
        m = rec.get(split)
        if m is None:
            continue
        mf = zoo.manifest["models"].get(name) or {}
        ens = zoo.manifest["ensembles"].get(name) or {}
        paper = mf.get("paper_name") or ("Soft voting" if name == "ens_soft_vote" else None)
        pub = published_for("ensemble" if rec["modality"] == "ensemble" else rec["modality"], paper) if paper else None
        at = m.get("at_youden", {})
        ci = lambda k: (m.get(k) or [np.nan, np.nan])  # noqa: E731
        vs = m.get("vs_best_single") or {}
        upd = m.get("after_intercept_update") or {}
        att = m.get("attention_on_target") or {}
        att_ci = lambda k: (att.get(k) or [None, None])  # noqa: E731  (as ``ci``, for the attention record)
        twin = att.get("twin") or {}
        twin_ci = lambda k: (twin.get(k) or [None, None])  # noqa: E731
        unc = m.get("uncertainty") or {}
        row = {
            "model": name, "display": mf.get("display") or ens.get("display", name),
            "group": GROUP_LABEL.get(rec["modality"], rec["modality"]), "modality": rec["modality"],
            "kind": rec["kind"], "n": m.get("n"), "n_pd": m.get("n_pd"), "auc": m.get("auc"),
            "auc_lo": ci("auc_ci")[0], "auc_hi": ci("auc_ci")[1],
            "accuracy": at.get("accuracy"), "precision": at.get("precision"), "recall": at.get("recall"),
            "f1": at.get("f1"), "sensitivity": m.get("sensitivity"), "sensitivity_lo": ci("sensitivity_ci")[0],
            "sensitivity_hi": ci("sensitivity_ci")[1], "specificity": m.get("specificity"),
            "specificity_lo": ci("specificity_ci")[0], "specificity_hi": ci("specificity_ci")[1],
            "brier": m.get("brier"), "brier_lo": ci("brier_ci")[0], "brier_hi": ci("brier_ci")[1],
            "null_brier": m.get("null_brier"), "scaled_brier": m.get("scaled_brier"),
            "scaled_brier_lo": ci("scaled_brier_ci")[0], "scaled_brier_hi": ci("scaled_brier_ci")[1],
            "worse_than_null": m.get("worse_than_null"),
            "cal_intercept": m.get("cal_intercept"), "cal_intercept_lo": ci("cal_intercept_ci")[0],
            "cal_intercept_hi": ci("cal_intercept_ci")[1], "cal_slope": m.get("cal_slope"),
            "cal_slope_lo": ci("cal_slope_ci")[0], "cal_slope_hi": ci("cal_slope_ci")[1], "ece": m.get("ece"),
            "mean_predicted": m.get("mean_predicted"), "observed_rate": m.get("observed_rate"),
            "threshold": rec.get("threshold"), "oof_auc": rec["oof"]["auc"], "oracle_auc": m.get("oracle_auc"),
            "oracle_lift": m.get("oracle_lift"), "oracle_lift_lo": ci("oracle_lift_ci")[0],
            "oracle_lift_hi": ci("oracle_lift_ci")[1],
            "delta_auc_vs_best_single": vs.get("delta"), "p_vs_best_single": vs.get("p_value"),
            "p_holm_vs_best_single": vs.get("p_holm"),
            "updated_brier": upd.get("brier"), "updated_cal_slope": upd.get("cal_slope"),
            "intercept_shift": upd.get("shift"),
            "published_auc": (pub or {}).get("auc"), "published_label": PUBLISHED_LABEL if pub else None,
            "attention_on_target": att.get("mean"), "attention_correct": att.get("correct"),
            "attention_wrong": att.get("wrong"), "attention_chance": att.get("chance"),
            "attention_target": att.get("target"), "attention_on_bands": att.get("on_bands"),
            "attention_bands_chance": att.get("bands_chance"),
            "attention_lo": att_ci("mean_ci")[0], "attention_hi": att_ci("mean_ci")[1],
            "attention_ratio": att.get("ratio"), "attention_ratio_lo": att_ci("ratio_ci")[0],
            "attention_ratio_hi": att_ci("ratio_ci")[1],
            # each fold member's ratio: the training-run spread the patient interval leaves out
            "attention_members_ratio": [r.get("ratio") for r in att.get("members", [])] or None,
            "attention_members_images": [r.get("n_images") for r in att.get("members", [])] or None,
            # the same model's randomised twin (weights re-drawn) on the same images: the floor its ratio is read
            # against, and the difference the training made (paired bootstrap CI over patients)
            "attention_twin_ratio": twin.get("twin_ratio"), "attention_twin_ratio_lo": twin_ci("twin_ratio_ci")[0],
            "attention_twin_ratio_hi": twin_ci("twin_ratio_ci")[1],
            "attention_over_twin": twin.get("difference"), "attention_over_twin_lo": twin_ci("difference_ci")[0],
            "attention_over_twin_hi": twin_ci("difference_ci")[1],
            # the model's own ratio on the images compared (where its and a twin's maps are defined), their number,
            # and each random network's ratio there: the spread between random draws the intervals leave out
            "attention_twin_trained_ratio": twin.get("ratio"), "attention_twin_images": twin.get("n_images"),
            # a network left out (its maps defined on under half the images compared) shows no figure
            "attention_twin_draws": [d.get("ratio") if d.get("kept", True) else None
                                     for d in (twin.get("draws") or []) if isinstance(d, dict)] or None,
            # how many networks the figures rest on (a kept network may still show no ratio), and over how many
            # patients: the reading of the difference counts them (zoo.explain.attention.twin_reading)
            "attention_twin_kept": kept_networks(twin.get("draws")) if twin.get("draws") else None,
            "attention_twin_patients": twin.get("n_patients"),
            "conformal_coverage": unc.get("coverage"), "conformal_coverage_lo": (unc.get("coverage_ci") or [None])[0],
            "conformal_coverage_hi": (unc.get("coverage_ci") or [None, None])[1],
            "conformal_coverage_pd": unc.get("coverage_pd"), "conformal_coverage_non_pd": unc.get("coverage_non_pd"),
            "conformal_mean_set_size": unc.get("mean_set_size"), "va_mean_width": unc.get("va_mean_width"),
        }
        for t, nb in (m.get("net_benefit") or {}).items():
            row[f"net_benefit_{t}"] = nb.get("value")
            row[f"net_benefit_{t}_lo"], row[f"net_benefit_{t}_hi"] = nb.get("ci", [np.nan, np.nan])
        for k in ("accuracy", "precision", "recall", "f1"):
            row[f"{k}_at_0.5"] = m.get("at_0.5", {}).get(k)
        row.update(staging_columns(m))  # ΔAUC, LR test and NRI against the best staging system
        row.update(size)  # is the cohort large enough (Riley et al.; ≥ 100 external events)
        row["status"], row["failure"] = "ok", None
        rows.append(row)
    for name, reason in (zoo.manifest.get("failed_models") or {}).items():
        from zoo.models.registry import model_config

        try:
            cfg = model_config(name)
            modality, display = cfg.modality, cfg.display
        except KeyError:
            modality, display = "unknown", name
        rows.append({"model": name, "display": display, "group": GROUP_LABEL.get(modality, modality),
                     "modality": modality, "kind": "single", "status": "failed", "failure": reason})
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    df["_g"] = df["modality"].map(GROUP_ORDER).fillna(9)
    df["_failed"] = df["status"] == "failed"
    return (df.sort_values(["_failed", "_g", "auc"], ascending=[True, True, False])
            .drop(columns=["_g", "_failed"]).reset_index(drop=True))


def headline(lb: pd.DataFrame, metrics: dict, split: str) -> str:
    """One sentence for a talk: the best single model and the best ensemble, each chosen on out-of-fold AUC
    (never on the split shown, which would flatter them), with that split's AUC, and what the p-values
    compare against."""
    ok = lb[lb.get("status", pd.Series("ok", index=lb.index)).fillna("ok") != "failed"]
    def _pick(rows: pd.DataFrame):
        rows = rows.dropna(subset=["oof_auc"])
        return None if rows.empty else rows.loc[rows["oof_auc"].idxmax()]

    best_single = ok[ok["model"] == metrics.get("best_single")]
    single = best_single.iloc[0] if len(best_single) else _pick(ok[~ok["modality"].isin(["ensemble", "reference"])])
    ens = _pick(ok[ok["modality"] == "ensemble"])
    where = "test" if split == "test" else "external"

    def _fmt(r) -> str:
        auc = r["auc"]
        ci = (f" (95% CI {r['auc_lo']:.2f}–{r['auc_hi']:.2f})" if pd.notna(r.get("auc_lo")) and pd.notna(r.get("auc_hi"))
              else "")
        return (f"**{r['display']}** (OOF AUC {r['oof_auc']:.3f}; {where} AUC "
                + (f"{auc:.3f}{ci}" if pd.notna(auc) else "not available") + ")")

    parts = []
    if single is not None:
        parts.append("Best single model: " + _fmt(single))
    if ens is not None:
        parts.append("best ensemble: " + _fmt(ens))
    text = "; ".join(parts) + "." if parts else "No model has an out-of-fold AUC."
    if single is not None:
        text += (f" Both are chosen on out-of-fold AUC, before the {where} patients are scored; "
                 f"“p vs best single” compares each ensemble with {single['display']}.")
    return text


def calibration_flag(intercept: float | None, slope: float | None) -> str:
    """A warning band a talk audience can read: '' when calibration looks acceptable on this split."""
    flags = []
    if intercept is not None and np.isfinite(intercept) and abs(intercept) > 0.5:
        flags.append("over-predicts" if intercept < 0 else "under-predicts")
    if slope is not None and np.isfinite(slope):
        if slope > 1.5:
            flags.append("too timid (slope > 1.5)")
        elif slope < 0.67:
            flags.append("too extreme (slope < 0.67)")
    elif slope is not None:
        flags.append("slope not estimable")
    return "⚠ " + ", ".join(flags) if flags else ""
