"""Point metrics from predictions: scikit-learn for everything it offers.

Thresholded metrics are reported at 0.5 and at the Youden threshold chosen
on out-of-fold training predictions, never on the data being scored.
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.metrics import (
    accuracy_score, brier_score_loss, f1_score, precision_score, recall_score, roc_auc_score, roc_curve,
)

EPS = 1e-6


def _clean(y_true, y_score) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=int)
    p = np.asarray(y_score, dtype=float)
    ok = ~np.isnan(p)
    return y[ok], p[ok]


def case_weights(y_score, weights) -> np.ndarray | None:
    """Case weights (inverse-probability-of-censoring) for the rows ``_clean`` keeps; None when absent or all
    equal, so unweighted cohorts take scikit-learn's (and dcurves') plain path."""
    if weights is None:
        return None
    w = np.asarray(weights, dtype=float)[~np.isnan(np.asarray(y_score, dtype=float))]
    w = np.where(np.isfinite(w), w, 1.0)  # a split stored without weights: unweighted rows
    return None if len(w) == 0 or np.allclose(w, w[0]) else w


def youden_threshold(y_true, y_score, weights=None) -> float:
    """Threshold maximising sensitivity + specificity - 1 (chosen on OOF predictions; case-weighted when the
    cohort has censoring weights, as every other metric is)."""
    w = case_weights(y_score, weights)
    y, p = _clean(y_true, y_score)
    if len(np.unique(y)) < 2:
        return 0.5
    fpr, tpr, thr = roc_curve(y, p, sample_weight=w)
    j = int(np.argmax(tpr - fpr))
    return float(np.clip(thr[j], 0.0, 1.0))


def threshold_metrics(y_true, y_score, threshold: float, weights=None) -> dict[str, float]:
    """Rates at ``threshold`` (case-weighted when ``weights`` differ); tp/fp/tn/fn stay patient counts."""
    w = case_weights(y_score, weights)
    y, p = _clean(y_true, y_score)
    pred = (p >= threshold).astype(int)
    ww = np.ones(len(y)) if w is None else w
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tn = int(((pred == 0) & (y == 0)).sum())
        fp = int(((pred == 1) & (y == 0)).sum())
        wtn, wfp = float(ww[(pred == 0) & (y == 0)].sum()), float(ww[(pred == 1) & (y == 0)].sum())
        return {
            "accuracy": float(accuracy_score(y, pred, sample_weight=w)),
            "precision": float(precision_score(y, pred, zero_division=0, sample_weight=w)),
            "recall": float(recall_score(y, pred, zero_division=0, sample_weight=w)),
            "specificity": float(wtn / (wtn + wfp)) if wtn + wfp else float("nan"),
            "f1": float(f1_score(y, pred, zero_division=0, sample_weight=w)),
            "tp": int(((pred == 1) & (y == 1)).sum()), "fp": fp, "tn": tn,
            "fn": int(((pred == 0) & (y == 1)).sum()),
        }


def calibration_intercept_slope(y_true, y_score) -> tuple[float, float]:
    """Logistic recalibration: slope of y ~ logit(p); intercept with logit(p) as offset (CITL)."""
    import statsmodels.api as sm

    y, p = _clean(y_true, y_score)
    if len(np.unique(y)) < 2 or len(y) < 5:
        return float("nan"), float("nan")
    lp = np.log(np.clip(p, EPS, 1 - EPS) / (1 - np.clip(p, EPS, 1 - EPS)))
    if np.ptp(lp) < 1e-9:  # constant predictions have no calibration slope
        return float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            slope = sm.GLM(y, sm.add_constant(lp, has_constant="add"), family=sm.families.Binomial()).fit().params[1]
            citl = sm.GLM(y, np.ones((len(y), 1)), family=sm.families.Binomial(), offset=lp).fit().params[0]
        except (ValueError, np.linalg.LinAlgError, sm.tools.sm_exceptions.PerfectSeparationError):
            return float("nan"), float("nan")
    return float(citl), float(slope)


def expected_calibration_error(y_true, y_score, n_bins: int = 10, weights=None) -> float:
    """Share-weighted mean |observed - predicted| over equal-width probability bins (case-weighted shares and
    rates when ``weights`` differ)."""
    w = case_weights(y_score, weights)
    y, p = _clean(y_true, y_score)
    if len(y) == 0:
        return float("nan")
    w = np.ones(len(y)) if w is None else w
    bins = np.clip((p * n_bins).astype(int), 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            ece += w[m].sum() / w.sum() * abs(np.average(y[m], weights=w[m]) - np.average(p[m], weights=w[m]))
    return float(ece)


def point_metrics(y_true, y_score, threshold: float) -> dict:
    """Everything the leaderboard shows for one model on one set of patients."""
    y, p = _clean(y_true, y_score)
    out: dict = {"n": int(len(y)), "n_pd": int(y.sum()), "threshold": float(threshold)}
    if len(y) == 0 or len(np.unique(y)) < 2:
        out.update(auc=float("nan"), brier=float("nan"), cal_intercept=float("nan"), cal_slope=float("nan"),
                   ece=float("nan"))
        return out
    out["auc"] = float(roc_auc_score(y, p))
    out["brier"] = float(brier_score_loss(y, p))
    out["cal_intercept"], out["cal_slope"] = calibration_intercept_slope(y, p)
    out["ece"] = expected_calibration_error(y, p)
    out["at_0.5"] = threshold_metrics(y, p, 0.5)
    out["at_youden"] = threshold_metrics(y, p, threshold)
    return out
