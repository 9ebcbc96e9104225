"""Everything the leaderboard's threshold slider drives, from stored predictions."""
from __future__ import annotations

import numpy as np

from zoo.evaluation.curves import decision_curve
from zoo.evaluation.metrics import threshold_metrics


def at_threshold(y_true, y_score, threshold: float) -> dict:
    """Confusion counts, metrics, the ROC point and the net benefit at one threshold."""
    y = np.asarray(y_true, dtype=int)
    p = np.asarray(y_score, dtype=float)
    ok = ~np.isnan(p)
    y, p = y[ok], p[ok]
    m = threshold_metrics(y, p, threshold)
    m["fpr"] = m["fp"] / max(m["fp"] + m["tn"], 1)
    m["tpr"] = m["recall"]
    t = float(np.clip(threshold, 0.01, 0.99))
    m["net_benefit"] = float(decision_curve(y, p, np.array([round(t, 4)]))["model"].iloc[0]) if len(y) else np.nan
    m["threshold"] = float(threshold)
    m["n"] = int(len(y))
    return m
