"""Patient-level bootstrap: confidence intervals for every reported metric, paired comparisons.

Each resample is a vector of multiplicities over patients (a plain patient bootstrap); a resample that
lacks PD or non-PD patients is redrawn, so none is dropped and every metric is defined on every one.
Metrics are computed for all resamples at once from those weights (times any inverse-probability-
of-censoring weight), which equals the metric on the resampled arrays (checked in the tests against
scikit-learn and statsmodels) at a fraction of the cost:

- AUC: the weighted Mann-Whitney statistic (ties count one half);
- Brier score: the weighted mean squared error;
- calibration intercept (calibration-in-the-large: logit(p) as offset) and slope (logistic
  recalibration), by a few Newton steps vectorised over resamples — a statsmodels GLM per resample
  would take minutes per zoo;
- sensitivity, specificity and net benefit at a threshold.
"""
from __future__ import annotations

import numpy as np

from zoo.evaluation.calibration import logit


# Fewer patients than this of either outcome give no interval: a bootstrap keeps the one or two events in nearly
# every resample (lacking ones are redrawn), so a perfectly separating score reads "1.00 (1.00–1.00)". Simulated
# (true AUC 0.75, 40 non-events, 200 cohorts, 500 resamples; /work/scratch/fewevents/sim.py, docs/MODELS.md):
# 95 % percentile-interval coverage 0.30 / 0.68 / 0.83 with 1 / 2 / 3 events, 0.91 with 5, 0.93 with 8.
MIN_CLASS_FOR_INTERVAL = 5


def resample_weights(y: np.ndarray, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """(n_boot, n) multiplicities of a plain patient bootstrap; a resample that lacks an outcome class is
    redrawn (never dropped), so every metric is defined on every resample. With fewer than
    ``MIN_CLASS_FOR_INTERVAL`` patients of one outcome (but some), every multiplicity is NaN, so every
    percentile interval, p-value and band computed from them is undefined rather than falsely narrow.

    Not stratified by outcome on purpose: resampling each class to its own size would fix the prevalence
    in every resample, and the CIs of prevalence-dependent metrics (calibration-in-the-large, Brier, net
    benefit) would come out too narrow — for a constant predictor, zero width.
    """
    y = np.asarray(y, dtype=int)
    n = len(y)
    rng = np.random.default_rng(seed)
    w = np.zeros((n_boot, n))
    if n == 0:
        return w
    if too_few_for_interval(y):
        return np.full((n_boot, n), np.nan)  # every interval drawn from these resamples comes out undefined
    both = (y == 1).any() and (y == 0).any()
    todo = np.arange(n_boot)
    for _ in range(10_000):
        idx = rng.integers(0, n, size=(len(todo), n))
        w[todo] = 0.0
        np.add.at(w, (todo[:, None], idx), 1.0)
        if not both:
            break
        pos = (w[todo][:, y == 1].sum(axis=1) > 0) & (w[todo][:, y == 0].sum(axis=1) > 0)
        todo = todo[~pos]
        if len(todo) == 0:
            break
    return w


def too_few_for_interval(y) -> bool:
    """Some, but fewer than MIN_CLASS_FOR_INTERVAL, patients of one outcome (NaN outcomes not counted)."""
    y = np.asarray(y, dtype=float)
    y = y[~np.isnan(y)]
    return 0 < min(int((y == 1).sum()), int((y == 0).sum())) < MIN_CLASS_FOR_INTERVAL


def withhold_if_few(W: np.ndarray, y) -> np.ndarray:
    """``W`` as is, or NaN where the patients a figure is computed on (a model may score only some of a split's
    patients) hold too few of one outcome for any interval: the rule of ``resample_weights``, applied after
    subsetting."""
    return np.full(W.shape, np.nan) if too_few_for_interval(y) else W


def bootstrap_weights(n: int, n_boot: int = 1000, seed: int = 0, y: np.ndarray | None = None) -> np.ndarray:
    """With ``y`` (always, in evaluation): resamples lacking a class are redrawn; without: plain."""
    if y is not None:
        return resample_weights(y, n_boot, seed)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    w = np.zeros((n_boot, n))
    np.add.at(w, (np.arange(n_boot)[:, None], idx), 1.0)
    return w


# ----- vectorised metrics over resamples ------------------------------------------------------------
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


def weighted_brier(y, p, w: np.ndarray) -> np.ndarray:
    return (w * (p - y) ** 2).sum(axis=1) / w.sum(axis=1)


def weighted_calibration(y, p, w: np.ndarray, iters: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """(intercept, slope) per resample: CITL = logit-offset intercept; slope of y ~ a + b·logit(p)."""
    lp = logit(p)
    B = w.shape[0]
    # calibration-in-the-large: y ~ offset(lp) + a
    a = np.zeros(B)
    for _ in range(iters):
        mu = 1 / (1 + np.exp(-(lp[None, :] + a[:, None])))
        g = (w * (y - mu)).sum(axis=1)
        h = (w * mu * (1 - mu)).sum(axis=1)
        step = np.where(h > 1e-12, g / np.maximum(h, 1e-12), np.where(np.isnan(h), np.nan, 0.0))
        a = np.clip(a + step, -30, 30)
        if np.nanmax(np.abs(step)) < 1e-10:
            break
    _, b1 = recalibration_lines(y, p, w, iters)
    return a, b1


def recalibration_lines(y, p, w: np.ndarray, iters: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """(b0, b1) per resample of the logistic recalibration y ~ b0 + b1·logit(p); NaN where not estimable."""
    lp = logit(p)
    B = w.shape[0]
    # Newton on two parameters per resample, from the intercept-only fit (IRLS's usual start): from slope 1 it
    # overshot and diverged on over-confident scores whose MLE exists (slope 0.17 on a tiny zoo's soft vote)
    prev = np.clip((w * y).sum(axis=1) / np.maximum(w.sum(axis=1), 1e-12), 1e-6, 1 - 1e-6)
    b0, b1 = np.log(prev / (1 - prev)), np.zeros(B)
    for _ in range(iters):
        eta = b0[:, None] + b1[:, None] * lp[None, :]
        mu = 1 / (1 + np.exp(-np.clip(eta, -30, 30)))
        r = w * (y - mu)
        g0, g1 = r.sum(axis=1), (r * lp).sum(axis=1)
        v = w * mu * (1 - mu)
        h00, h01, h11 = v.sum(axis=1), (v * lp).sum(axis=1), (v * lp * lp).sum(axis=1)
        det = h00 * h11 - h01 ** 2
        ok = np.abs(det) > 1e-12
        d0 = np.where(ok, (h11 * g0 - h01 * g1) / np.where(ok, det, 1), 0.0)
        d1 = np.where(ok, (h00 * g1 - h01 * g0) / np.where(ok, det, 1), 0.0)
        b0, b1 = np.clip(b0 + d0, -1e3, 1e3), np.clip(b1 + d1, -1e3, 1e3)
        last = np.maximum(np.abs(d0), np.abs(d1))
        if np.nanmax(last) < 1e-10:
            break
    const = np.ptp(lp) < 1e-9
    # Newton converges in a handful of steps when the MLE exists; a slope still moving after `iters` steps,
    # stopped at the clip bound, or whose information matrix collapsed (fitted risks of 0 and 1) is diverging:
    # the scores separate the outcomes in this sample (e.g. a step-shaped model). Not estimable, so NaN
    # rather than a made-up large number.
    diverged = (last > 1e-6) | (np.abs(b1) >= 1e3 * (1 - 1e-9)) | ~ok
    bad = const | diverged
    return np.where(bad, np.nan, b0), np.where(bad, np.nan, b1)


def weighted_rates(y, p, threshold: float, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sensitivity, specificity) per resample at ``threshold`` (positive when p >= threshold)."""
    pos = p >= threshold
    tp = (w * ((y == 1) & pos)).sum(axis=1)
    fn = (w * ((y == 1) & ~pos)).sum(axis=1)
    tn = (w * ((y == 0) & ~pos)).sum(axis=1)
    fp = (w * ((y == 0) & pos)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return tp / (tp + fn), tn / (tn + fp)


def weighted_net_benefit(y, p, threshold: float, w: np.ndarray) -> np.ndarray:
    """Net benefit at ``threshold``: TP/n − FP/n · t/(1−t) (Vickers & Elkin 2006)."""
    pos = p >= threshold
    n = w.sum(axis=1)
    tp = (w * ((y == 1) & pos)).sum(axis=1)
    fp = (w * ((y == 0) & pos)).sum(axis=1)
    return tp / n - fp / n * threshold / (1 - threshold)


def percentile_ci(values: np.ndarray, alpha: float = 0.05) -> list[float]:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return [float("nan"), float("nan")]
    lo, hi = np.quantile(v, [alpha / 2, 1 - alpha / 2])
    return [float(lo), float(hi)]


# ----- the classic entry points ---------------------------------------------------------------------
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
    w = weights[:, ok] if weights is not None else resample_weights(y, n_boot, seed)
    lo, hi = percentile_ci(weighted_auc(y, p, w), alpha)
    return point, lo, hi


def paired_auc_test(y_true, score_a, score_b, n_boot: int = 1000, seed: int = 0,
                    case_weights: np.ndarray | None = None) -> dict:
    """Two-sided bootstrap p-value and 95 % CI for AUC(a) − AUC(b) on the patients both models scored."""
    y = np.asarray(y_true, dtype=int)
    a = np.asarray(score_a, dtype=float)
    b = np.asarray(score_b, dtype=float)
    ok = ~np.isnan(a) & ~np.isnan(b)
    y, a, b = y[ok], a[ok], b[ok]
    cw = np.ones(len(y)) if case_weights is None else np.asarray(case_weights, dtype=float)[ok]
    if len(np.unique(y)) < 2:
        return {"delta": float("nan"), "p_value": float("nan"), "n": int(len(y)), "ci": [float("nan")] * 2}
    w = resample_weights(y, n_boot, seed) * cw[None, :]
    da = weighted_auc(y, a, w) - weighted_auc(y, b, w)
    one = cw[None, :]
    delta = float(weighted_auc(y, a, one)[0] - weighted_auc(y, b, one)[0])
    if not np.isfinite(da).all():  # too few of one outcome for resampling (resample_weights)
        return {"delta": delta, "p_value": float("nan"), "n": int(len(y)), "ci": [float("nan")] * 2}
    tail = min((da <= 0).sum() + 1, (da >= 0).sum() + 1) / (len(da) + 1)
    return {"delta": delta, "p_value": float(min(1.0, 2 * tail)), "n": int(len(y)), "ci": percentile_ci(da)}
