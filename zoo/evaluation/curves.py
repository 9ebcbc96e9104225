"""Curve data from predictions (scikit-learn's Display pattern): raw arrays, rendered elsewhere.

ROC via ``roc_curve``, reliability bins via ``calibration_curve``, decision
curves (net benefit, treat-all, treat-none) via the ``dcurves`` package.
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
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
    def from_predictions(cls, y_true, y_score, n_bins: int = 10) -> "Curves":
        y = np.asarray(y_true, dtype=int)
        p = np.asarray(y_score, dtype=float)
        ok = ~np.isnan(p)
        y, p = y[ok], p[ok]
        if len(np.unique(y)) < 2:
            return cls(*([[]] * 10))
        fpr, tpr, thr = roc_curve(y, p, drop_intermediate=True)
        thr = np.where(np.isinf(thr), 1.0, thr)
        obs, pred = calibration_curve(y, p, n_bins=n_bins, strategy="quantile")
        edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)))
        counts = np.histogram(p, bins=edges)[0] if len(edges) > 1 else np.array([len(p)])
        counts = counts[counts > 0][: len(obs)]
        dca = decision_curve(y, p)
        return cls(roc_fpr=_r(fpr), roc_tpr=_r(tpr), roc_thresholds=_r(thr), cal_pred=_r(pred), cal_obs=_r(obs),
                    cal_count=[int(c) for c in counts], dca_threshold=_r(dca["threshold"]),
                    dca_model=_r(dca["model"]), dca_all=_r(dca["all"]), dca_none=_r(dca["none"]))

    def to_dict(self) -> dict:
        return asdict(self)


def _r(a) -> list[float]:
    return [round(float(x), 5) for x in np.asarray(a)]


def decision_curve(y_true, y_score, thresholds: np.ndarray = DCA_THRESHOLDS) -> pd.DataFrame:
    """Net benefit of the model, treat-all and treat-none at each threshold (dcurves)."""
    import dcurves

    df = pd.DataFrame({"y": np.asarray(y_true, dtype=int), "model": np.asarray(y_score, dtype=float)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = dcurves.dca(data=df, outcome="y", modelnames=["model"], thresholds=list(thresholds))
    wide = res.pivot(index="threshold", columns="model", values="net_benefit")
    return pd.DataFrame({"threshold": wide.index.to_numpy(), "model": wide["model"].to_numpy(),
                         "all": wide["all"].to_numpy(), "none": wide["none"].to_numpy()})
