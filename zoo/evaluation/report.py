"""Turn stored predictions into the leaderboard's numbers and curves.

Thresholds come from out-of-fold training predictions; test and external
sets are only scored. The same bootstrap resamples are used for every model
on a split, so CIs and paired comparisons are consistent.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from zoo.evaluation.bootstrap import auc_ci, bootstrap_weights, paired_auc_test
from zoo.evaluation.curves import Curves
from zoo.evaluation.metrics import point_metrics, youden_threshold
from sklearn.metrics import roc_auc_score

ORACLE_FOR = {"clinical": "clinical", "marrow": "marrow", "electrophoresis": "electrophoresis", "ensemble": "true"}


def _auc(y, p) -> float:
    y, p = np.asarray(y), np.asarray(p, dtype=float)
    ok = ~np.isnan(p)
    return float(roc_auc_score(y[ok], p[ok])) if ok.sum() > 1 and len(np.unique(y[ok])) == 2 else float("nan")


def oracle_aucs(oracle: pd.DataFrame | None, y: pd.Series) -> dict[str, float] | None:
    if oracle is None:
        return None
    o = oracle.reindex(y.index)
    return {m: _auc(y.to_numpy(), o[f"p_{m}"].to_numpy()) for m in ("clinical", "marrow", "electrophoresis", "true")}


def evaluate(y: dict[str, pd.Series], preds: dict[str, pd.DataFrame], groups: dict[str, str], kinds: dict[str, str],
             best_single: str, n_boot: int = 1000, seed: int = 0,
             oracle: dict[str, pd.DataFrame | None] | None = None) -> tuple[dict, dict]:
    """``preds['oof'|'test'|'external']``: patients x models; ``groups``: model -> modality or 'ensemble'."""
    metrics: dict = {"models": {}, "oracle": {}, "best_single": best_single}
    curves: dict = {}
    oof = preds["oof"]
    for split in ("test", "external"):
        if split in preds and oracle and oracle.get(split) is not None:
            metrics["oracle"][split] = oracle_aucs(oracle[split], y[split])
    weights = {s: bootstrap_weights(len(y[s]), n_boot, seed) for s in ("test", "external") if s in preds}
    for name in preds["test"].columns:
        thr = youden_threshold(y["oof"].to_numpy(), oof[name].to_numpy())
        rec = {"modality": groups[name], "kind": kinds[name], "threshold": thr,
               "oof": {"auc": _auc(y["oof"].to_numpy(), oof[name].to_numpy()),
                       "n": int(oof[name].notna().sum())}}
        curves[name] = {}
        for split in ("test", "external"):
            if split not in preds:
                continue
            yy, pp = y[split].to_numpy(), preds[split][name].to_numpy()
            m = point_metrics(yy, pp, thr)
            _, lo, hi = auc_ci(yy, pp, weights=weights[split])
            m["auc_ci"] = [lo, hi]
            if kinds[name] == "ensemble" and name != best_single:
                m["vs_best_single"] = paired_auc_test(yy, pp, preds[split][best_single].to_numpy(), n_boot, seed)
            orc = metrics["oracle"].get(split)
            if orc:
                ref = orc[ORACLE_FOR[groups[name]]]
                m["oracle_auc"] = ref
                m["fraction_of_oracle"] = m["auc"] / ref if ref and not np.isnan(m.get("auc", np.nan)) else None
            rec[split] = m
            curves[name][split] = Curves.from_predictions(yy, pp).to_dict()
        metrics["models"][name] = rec
    return metrics, curves
