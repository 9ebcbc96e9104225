"""Patient-level bootstrap for AUC: confidence intervals and paired comparisons.

Vectorised: each resample is a vector of multiplicities over patients, and
the weighted Mann-Whitney statistic is computed for all resamples at once
(ties count one half), which equals ``roc_auc_score`` on the resampled
arrays (checked in the tests) at a fraction of the cost.
"""
from __future__ import annotations

import numpy as np


def _weights(n: int, n_boot: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    w = np.zeros((n_boot, n))
    np.add.at(w, (np.arange(n_boot)[:, None], idx), 1.0)
    return w


def weighted_auc(y: np.ndarray, score: np.ndarray, w: np.ndarray) -> np.ndarray:
    """AUC for each row of weights ``w`` (B, n); NaN where a resample lacks a class."""
    uniq, inv = np.unique(score, return_inverse=True)
    onehot = np.zeros((len(score), len(uniq)))
    onehot[np.arange(len(score)), inv] = 1.0
    pos = (w * (y == 1)) @ onehot  # (B, U) positive weight at each distinct score
    neg = (w * (y == 0)) @ onehot
    neg_below = np.cumsum(neg, axis=1) - neg
    num = (pos * (neg_below + 0.5 * neg)).sum(axis=1)
    den = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def bootstrap_weights(n: int, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    return _weights(n, n_boot, seed)


def auc_ci(y_true, y_score, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05,
           weights: np.ndarray | None = None) -> tuple[float, float, float]:
    """(AUC, lower, upper): percentile bootstrap over patients."""
    y = np.asarray(y_true, dtype=int)
    p = np.asarray(y_score, dtype=float)
    ok = ~np.isnan(p)
    y, p = y[ok], p[ok]
    if len(np.unique(y)) < 2:
        return float("nan"), float("nan"), float("nan")
    point = float(weighted_auc(y, p, np.ones((1, len(y))))[0])
    w = weights[:, ok] if weights is not None else _weights(len(y), n_boot, seed)
    boots = weighted_auc(y, p, w)
    boots = boots[~np.isnan(boots)]
    lo, hi = np.quantile(boots, [alpha / 2, 1 - alpha / 2])
    return point, float(lo), float(hi)


def paired_auc_test(y_true, score_a, score_b, n_boot: int = 1000, seed: int = 0) -> dict:
    """Two-sided bootstrap p-value for AUC(a) - AUC(b) on the patients both models scored."""
    y = np.asarray(y_true, dtype=int)
    a = np.asarray(score_a, dtype=float)
    b = np.asarray(score_b, dtype=float)
    ok = ~np.isnan(a) & ~np.isnan(b)
    y, a, b = y[ok], a[ok], b[ok]
    if len(np.unique(y)) < 2:
        return {"delta": float("nan"), "p_value": float("nan"), "n": int(len(y))}
    w = _weights(len(y), n_boot, seed)
    da = weighted_auc(y, a, w) - weighted_auc(y, b, w)
    da = da[~np.isnan(da)]
    delta = float(weighted_auc(y, a, np.ones((1, len(y))))[0] - weighted_auc(y, b, np.ones((1, len(y))))[0])
    tail = min((da <= 0).sum() + 1, (da >= 0).sum() + 1) / (len(da) + 1)
    return {"delta": delta, "p_value": float(min(1.0, 2 * tail)), "n": int(len(y)),
            "ci": [float(np.quantile(da, 0.025)), float(np.quantile(da, 0.975))]}
