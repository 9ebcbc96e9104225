"""Curve data from predictions (scikit-learn's Display pattern): raw arrays, rendered elsewhere.

ROC via ``roc_curve``, reliability bins with their counts (``reliability_bins``), decision
curves (net benefit, treat-all, treat-none) via the ``dcurves`` package.
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

DCA_THRESHOLDS = np.round(np.arange(0.01, 1.0, 0.01), 2)


@dataclass
class Curves:
    roc_fpr: list[float]
    roc_tpr: list[float]
    roc_thresholds: list[float]
    cal_pred: list[float]
    cal_obs: list[float]
    cal_count: list[int]
    dca_threshold: list[float]
    dca_model: list[float]
    dca_all: list[float]
    dca_none: list[float]

    @classmethod
    def from_predictions(cls, y_true, y_score, n_bins: int = 10, weights=None) -> "Curves":
        y = np.asarray(y_true, dtype=int)
        p = np.asarray(y_score, dtype=float)
        w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
        ok = ~np.isnan(p)
        y, p, w = y[ok], p[ok], w[ok]
        if len(np.unique(y)) < 2:
            return cls(*([[]] * 10))
        fpr, tpr, thr = roc_curve(y, p, drop_intermediate=True, sample_weight=w)
        thr = np.where(np.isinf(thr), 1.0, thr)
        rel = reliability_bins(y, p, n_bins, w)
        pred, obs, counts = rel["predicted"], rel["observed"], rel["count"]
        dca = decision_curve(y, p, weights=w)
        return cls(roc_fpr=_r(fpr), roc_tpr=_r(tpr), roc_thresholds=_r(thr), cal_pred=_r(pred), cal_obs=_r(obs),
                    cal_count=[int(c) for c in counts], dca_threshold=_r(dca["threshold"]),
                    dca_model=_r(dca["model"]), dca_all=_r(dca["all"]), dca_none=_r(dca["none"]))

    def to_dict(self) -> dict:
        return asdict(self)


def reliability_bins(y, p, n_bins: int = 10, weights=None) -> dict[str, np.ndarray]:
    """Quantile bins of the prediction: mean predicted, observed rate (weighted) and the patients in each bin.

    One assignment of patients to bins feeds all three columns, so the counts always match the points
    (scikit-learn's ``calibration_curve`` returns no counts and drops empty bins silently).
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)))
    if len(edges) < 2:
        idx = np.zeros(len(p), dtype=int)
    else:
        idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, len(edges) - 2)
    pred, obs, cnt = [], [], []
    for b in np.unique(idx):
        m = idx == b
        pred.append(float(np.average(p[m], weights=w[m])))
        obs.append(float(np.average(y[m], weights=w[m])))
        cnt.append(int(m.sum()))
    return {"predicted": np.asarray(pred), "observed": np.asarray(obs), "count": np.asarray(cnt)}


def _r(a) -> list[float]:
    return [round(float(x), 5) for x in np.asarray(a)]


def decision_curve(y_true, y_score, thresholds: np.ndarray = DCA_THRESHOLDS, weights=None) -> pd.DataFrame:
    """Net benefit of the model, treat-all and treat-none at each threshold (dcurves).

    dcurves takes no case weights; with censoring weights the same formula (TP/n − FP/n · t/(1−t), positive at
    p ≥ t) is evaluated with weighted counts (``zoo.evaluation.bootstrap.weighted_net_benefit``, the function
    behind the leaderboard's net-benefit CIs), so the curve and the table agree."""
    import dcurves

    from zoo.evaluation.metrics import case_weights

    w = case_weights(y_score, weights)
    if w is not None:
        from zoo.evaluation.bootstrap import weighted_net_benefit

        y = np.asarray(y_true, dtype=int)
        p = np.asarray(y_score, dtype=float)
        thr = np.asarray(thresholds, dtype=float)
        prev = float(np.average(y, weights=w))
        return pd.DataFrame({"threshold": thr,
                             "model": [float(weighted_net_benefit(y, p, t, w[None, :])[0]) for t in thr],
                             "all": prev - (1 - prev) * thr / (1 - thr), "none": np.zeros(len(thr))})

    df = pd.DataFrame({"y": np.asarray(y_true, dtype=int), "model": np.asarray(y_score, dtype=float)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = dcurves.dca(data=df, outcome="y", modelnames=["model"], thresholds=list(thresholds))
    wide = res.pivot(index="threshold", columns="model", values="net_benefit")
    return pd.DataFrame({"threshold": wide.index.to_numpy(), "model": wide["model"].to_numpy(),
                         "all": wide["all"].to_numpy(), "none": wide["none"].to_numpy()})
