"""Everything the leaderboard's threshold slider drives, from stored predictions."""
from __future__ import annotations

import numpy as np

from zoo.evaluation.curves import decision_curve
from zoo.evaluation.metrics import threshold_metrics


def at_threshold(y_true, y_score, threshold: float, weights=None) -> dict:
    """Confusion counts, metrics, the ROC point and the net benefit at one threshold (rates and net benefit
    case-weighted when the zoo stored censoring weights, as its curves and tables are; counts stay patients)."""
    y = np.asarray(y_true, dtype=int)
    p = np.asarray(y_score, dtype=float)
    ok = ~np.isnan(p)
    w = None if weights is None else np.asarray(weights, dtype=float)[ok]
    y, p = y[ok], p[ok]
    m = threshold_metrics(y, p, threshold, weights=w)
    m["fpr"] = 1 - m["specificity"] if m["specificity"] == m["specificity"] else 0.0
    m["tpr"] = m["recall"]
    t = float(np.clip(threshold, 0.01, 0.99))
    m["net_benefit"] = (float(decision_curve(y, p, np.array([round(t, 4)]), weights=w)["model"].iloc[0])
                        if len(y) else np.nan)
    m["threshold"] = float(threshold)
    m["n"] = int(len(y))
    return m
