"""Recalibration: every probability the zoo shows is a calibrated risk.

Models trained with class weights (or averaged, as ensembles are) give scores, not risks. A
``ScoreCalibrator`` maps a model's score to a calibrated P(PD). It is fitted on out-of-fold
predictions inside the training data only — never on the data it will be evaluated on — and picks
Platt (logistic recalibration on the logit, Cox 1958) or isotonic regression by inner cross-validated
log loss. Its state is a handful of numbers saved as JSON with its model (no code on load).

A recalibrated model is still one estimator: ``CalibratedModel`` wraps one, the way scikit-learn's
``CalibratedClassifierCV`` does, and passes every other attribute through to the model it wraps.

Censoring: fits accept ``sample_weight`` (inverse-probability-of-censoring weights), so calibrated
risks estimate the 24-month risk of the whole cohort, not of the patients whose outcome is known.
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

EPS = 1e-6
CLIP = (1e-3, 1 - 1e-3)  # never display 0 % or 100 %: finite calibration data cannot support them
METHODS = ("platt", "isotonic")


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    return np.log(p / (1 - p))


class ScoreCalibrator:
    """Maps scores in [0, 1] to calibrated probabilities. ``method``: 'auto' | 'platt' | 'isotonic'."""

    def __init__(self, method: str = "auto", cv: int = 5, seed: int = 0) -> None:
        if method not in ("auto", *METHODS):
            raise ValueError(f"Expected a calibration method in {('auto', *METHODS)}. Got {method!r}.")
        self.method = method
        self.cv = cv
        self.seed = seed

    # ----- fitting -----------------------------------------------------------------------------
    def fit(self, scores, y, sample_weight=None) -> "ScoreCalibrator":
        s, yy, w = _clean(scores, y, sample_weight)
        self.n_ = int(len(s))
        self.prevalence_ = float(np.average(yy, weights=w)) if len(yy) else float("nan")
        if len(s) < 4 or len(np.unique(yy)) < 2:  # nothing to learn a mapping from: the (weighted) prevalence
            self.method_, self.params_ = "constant", {"p": float(np.clip(self.prevalence_, *CLIP))
                                                      if np.isfinite(self.prevalence_) else 0.5}
            self.cv_log_loss_ = {}
            return self
        method = self.method
        self.cv_log_loss_ = {}
        if method == "auto":
            self.cv_log_loss_ = {m: _cv_log_loss(m, s, yy, w, self.cv, self.seed) for m in METHODS}
            finite = {m: v for m, v in self.cv_log_loss_.items() if np.isfinite(v)}
            # ties and near-ties go to Platt: two parameters overfit less than a step function
            method = "platt" if not finite or finite.get("platt", np.inf) <= min(finite.values()) + 1e-3 \
                else min(finite, key=finite.get)
        self.method_ = method
        self.params_ = _fit_method(method, s, yy, w)
        return self

    # ----- predicting --------------------------------------------------------------------------
    def predict(self, scores) -> np.ndarray:
        if not hasattr(self, "method_"):
            raise RuntimeError("This calibrator is not fitted. Fit it on out-of-fold predictions first.")
        s = np.asarray(scores, dtype=float)
        out = _apply(self.method_, self.params_, s)
        return np.where(np.isnan(s), np.nan, np.clip(out, *CLIP))

    # ----- persistence (JSON numbers only) -----------------------------------------------------
    def to_dict(self) -> dict:
        return {"method": self.method, "cv": self.cv, "seed": self.seed, "method_": self.method_,
                "params": self.params_, "n": self.n_, "prevalence": self.prevalence_,
                "cv_log_loss": self.cv_log_loss_}

    @classmethod
    def from_dict(cls, d: dict) -> "ScoreCalibrator":
        c = cls(d.get("method", "auto"), d.get("cv", 5), d.get("seed", 0))
        c.method_, c.params_ = d["method_"], d["params"]
        c.n_, c.prevalence_, c.cv_log_loss_ = d.get("n", 0), d.get("prevalence", float("nan")), d.get("cv_log_loss", {})
        return c

    def describe(self) -> str:
        return {"platt": "Platt (logistic on the logit)", "isotonic": "isotonic regression",
                "constant": "constant (prevalence)"}.get(self.method_, self.method_)


def _clean(scores, y, w):
    s = np.asarray(scores, dtype=float)
    yy = np.asarray(y, dtype=float)
    ww = np.ones_like(s) if w is None else np.asarray(w, dtype=float)
    ok = ~np.isnan(s) & ~np.isnan(yy) & (ww > 0)
    return s[ok], yy[ok].astype(int), ww[ok]


def _fit_method(method: str, s, y, w) -> dict:
    if method == "platt":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lr = LogisticRegression(C=1e6, max_iter=1000).fit(logit(s)[:, None], y, sample_weight=w)
        return {"coef": float(lr.coef_[0, 0]), "intercept": float(lr.intercept_[0])}
    if method == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(s, y, sample_weight=w)
        return {"x": [float(v) for v in iso.X_thresholds_], "y": [float(v) for v in iso.y_thresholds_]}
    raise ValueError(f"Expected a calibration method in {METHODS}. Got {method!r}.")


def _apply(method: str, params: dict, s: np.ndarray) -> np.ndarray:
    if method == "constant":
        return np.full(s.shape, params["p"], dtype=float)
    if method == "platt":
        z = params["intercept"] + params["coef"] * logit(np.nan_to_num(s, nan=0.5))
        return 1.0 / (1.0 + np.exp(-z))
    if method == "isotonic":  # IsotonicRegression.predict is this interpolation, clipped at the ends
        return np.interp(np.nan_to_num(s, nan=0.5), params["x"], params["y"])
    raise ValueError(f"Unknown calibration method {method!r} in a saved calibrator. Retrain the zoo.")


def _cv_log_loss(method: str, s, y, w, cv: int, seed: int) -> float:
    k = int(min(cv, np.bincount(y, minlength=2).min()))
    if k < 2:
        return float("nan")
    losses, weights = [], []
    for tr, va in StratifiedKFold(k, shuffle=True, random_state=seed).split(s, y):
        if len(np.unique(y[tr])) < 2:
            continue
        p = np.clip(_apply(method, _fit_method(method, s[tr], y[tr], w[tr]), s[va]), *CLIP)
        losses.append(log_loss(y[va], p, sample_weight=w[va], labels=[0, 1]))
        weights.append(w[va].sum())
    return float(np.average(losses, weights=weights)) if losses else float("nan")


def crossfit_calibrated(scores, y, fold, sample_weight=None, method: str = "auto", seed: int = 0) -> np.ndarray:
    """Calibrated out-of-fold predictions: for each fold, a calibrator fitted on the other folds' OOF scores.

    These are what thresholds, ensemble weights and stacking see, so they are distributed like the
    calibrated outputs of the deployed model, and no patient's calibrated value used its own label.
    """
    s = np.asarray(scores, dtype=float)
    out = np.full(len(s), np.nan)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    for f in np.unique(fold):
        tr, va = fold != f, fold == f
        cal = ScoreCalibrator(method, seed=seed).fit(s[tr], np.asarray(y)[tr], None if w is None else w[tr])
        out[va] = cal.predict(s[va])
    return out


class CalibratedModel:
    """A fitted model whose probabilities pass through its calibrator; everything else is the model's.

    ``predict_proba`` is calibrated; ``predict_raw`` is the model's own score; other attributes
    (image size, members, ``embed`` …) are the wrapped model's, so code that reads them needs no branch.
    """

    def __init__(self, base, calibrator: ScoreCalibrator) -> None:
        self.base = base
        self.calibrator = calibrator
        self.classes_ = np.array([0, 1])

    def __getattr__(self, name):
        if name in ("base", "calibrator"):
            raise AttributeError(name)
        return getattr(self.base, name)

    def calibrate(self, p) -> np.ndarray:
        return self.calibrator.predict(p)

    def predict_raw(self, data, **kw) -> np.ndarray:
        """``kw``: the wrapped model's own options (the joint model's shared ``Z_clin``)."""
        return self.base.predict_proba(data, **kw)[:, 1]

    def predict_proba(self, data, **kw) -> np.ndarray:
        p = self.calibrate(self.predict_raw(data, **kw))
        return np.column_stack([1 - p, p])

    def predict_proba_transformed(self, Z, X) -> np.ndarray:
        p = self.calibrate(self.base.predict_proba_transformed(Z, X)[:, 1])
        return np.column_stack([1 - p, p])


def calibrate_if_needed(model, p):
    """Patient-level probabilities from a model's raw patient-level score (image paths pool first)."""
    return model.calibrate(p) if isinstance(model, CalibratedModel) else np.asarray(p, dtype=float)
