"""The leaderboard table: every model and ensemble, grouped by modality, beside the published figures."""
from __future__ import annotations

import numpy as np
import pandas as pd

from zoo.evaluation.published import PUBLISHED_LABEL, published_for

GROUP_ORDER = {"clinical": 0, "marrow": 1, "electrophoresis": 2, "ensemble": 3}
GROUP_LABEL = {"clinical": "Clinical", "marrow": "Bone marrow", "electrophoresis": "IFE", "ensemble": "Ensemble"}


def leaderboard_table(zoo, split: str = "test") -> pd.DataFrame:
    metrics = zoo.metrics()
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
        row = {
            "model": name, "display": mf.get("display") or ens.get("display", name),
            "group": GROUP_LABEL.get(rec["modality"], rec["modality"]), "modality": rec["modality"],
            "kind": rec["kind"], "n": m.get("n"), "auc": m.get("auc"),
            "auc_lo": (m.get("auc_ci") or [np.nan, np.nan])[0], "auc_hi": (m.get("auc_ci") or [np.nan, np.nan])[1],
            "accuracy": at.get("accuracy"), "precision": at.get("precision"), "recall": at.get("recall"),
            "f1": at.get("f1"), "brier": m.get("brier"), "cal_slope": m.get("cal_slope"),
            "cal_intercept": m.get("cal_intercept"), "ece": m.get("ece"), "threshold": rec.get("threshold"),
            "oof_auc": rec["oof"]["auc"], "oracle_auc": m.get("oracle_auc"),
            "fraction_of_oracle": m.get("fraction_of_oracle"),
            "p_vs_best_single": (m.get("vs_best_single") or {}).get("p_value"),
            "published_auc": (pub or {}).get("auc"), "published_label": PUBLISHED_LABEL if pub else None,
            "attention_on_target": (m.get("attention_on_target") or {}).get("mean"),
            "attention_correct": (m.get("attention_on_target") or {}).get("correct"),
            "attention_wrong": (m.get("attention_on_target") or {}).get("wrong"),
            "attention_chance": (m.get("attention_on_target") or {}).get("chance"),
        }
        for k in ("accuracy", "precision", "recall", "f1"):
            row[f"{k}_at_0.5"] = m.get("at_0.5", {}).get(k)
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
