"""Failure-case review data: the main ensemble's errors on test/external patients, with context."""
from __future__ import annotations

import numpy as np
import pandas as pd

from zoo.api import MAIN_ENSEMBLE


def failure_table(zoo, split: str = "test", ensemble: str = MAIN_ENSEMBLE) -> pd.DataFrame:
    """One row per patient of ``split``: outcome, ensemble P(PD), error type, confidence, modality disagreement.

    The threshold is the ensemble's OOF-chosen (Youden) threshold. Disagreement
    is the spread (max - min) of the per-modality mean probabilities of the
    ensemble's members.
    """
    preds = zoo.predictions()
    p = preds[preds["split"] == split]
    if p.empty:
        return pd.DataFrame()
    wide = p.pivot_table(index="patient_id", columns="model", values="prob", aggfunc="first")
    y = p.groupby("patient_id")["y"].first()
    thr = zoo.metrics()["models"][ensemble]["threshold"]
    members = zoo.metrics()["ensemble_members"]
    mods = {m: zoo.manifest["models"][m]["modality"] for m in members}
    per_mod = pd.DataFrame({mod: wide[[m for m in members if mods[m] == mod]].mean(axis=1)
                            for mod in sorted(set(mods.values()))})
    df = pd.DataFrame({"y": y, "prob": wide[ensemble]})
    df["pred"] = (df["prob"] >= thr).astype(int)
    df["error"] = np.select([(df.pred == 1) & (df.y == 0), (df.pred == 0) & (df.y == 1)], ["FP", "FN"], "correct")
    df["confidence"] = (df["prob"] - thr).abs() / np.where(df["prob"] >= thr, 1 - thr, thr)
    df["disagreement"] = per_mod.max(axis=1) - per_mod.min(axis=1)
    for mod in per_mod.columns:
        df[f"p_{mod}"] = per_mod[mod]
    df["threshold"] = thr
    att = zoo.attention()
    att = att[(att["split"] == split) & att["model"].isin(members)]
    if not att.empty:
        per = att.groupby("patient_id").agg(on_target=("on_target", "mean"), chance=("target_share_of_image", "mean"))
        df["attention_on_target"] = per["on_target"].reindex(df.index)
        # "mostly off target": the CAMs put no more energy on the targets than a uniform map would
        df["attention_vs_chance"] = (per["on_target"] / per["chance"]).reindex(df.index)
    return df.sort_values(["error", "confidence"], ascending=[True, False])


def model_votes(zoo, patient_id: str, split: str = "test") -> pd.DataFrame:
    """Every model's and ensemble's P(PD) and vote (at its own OOF threshold) for one patient."""
    preds = zoo.predictions()
    p = preds[(preds["split"] == split) & (preds["patient_id"] == patient_id)].set_index("model")["prob"]
    met = zoo.metrics()["models"]
    rows = []
    for name, prob in p.items():
        thr = met[name]["threshold"]
        rows.append({"model": name, "modality": met[name]["modality"], "prob": prob, "threshold": thr,
                     "vote": None if pd.isna(prob) else ("PD" if prob >= thr else "non-PD")})
    return pd.DataFrame(rows)
