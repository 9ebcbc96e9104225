"""Per-patient uncertainty: a Venn–Abers probability interval and a 90 % conformal prediction set.

Both are fitted on the model's **out-of-fold calibrated** training predictions (the ``oof`` rows of
``predictions.parquet``): every training patient scored by a model that did not see them, passed
through a recalibrator that did not see them either, so the calibration set is exchangeable with a
new patient scored by the deployed model. Nothing here is written by hand but the weighted Venn–Abers pair
(``WeightedVennAbers``: no package takes weights; it is the package's pair when every weight is 1):

- ``venn_abers.VennAbers`` (Vovk & Petej 2014; Vovk, Petej & Fedorova 2015) gives, for a score,
  the pair (p0, p1) of isotonic-calibrated probabilities obtained by adding the new patient to the
  calibration set once as non-PD and once as PD. Its width says how much one more patient moves the
  isotonic calibration at this score (wide at extreme scores, where few training patients lie). It is
  not a confidence interval for the risk: the isotonic fit is a step function, so even a perfectly
  calibrated model's probability lies outside its own pair for most patients (61–91 % in a simulation
  with 480 calibration patients; a statistician's review, 2026-12-07).
- The **calibration band**: the 95 % percentile band, over 500 patient bootstrap resamples of the same
  (score, outcome) pairs, of the logistic recalibration ``y ~ b0 + b1·logit(p)`` evaluated at this score:
  how precisely the training patients' out-of-fold outcomes pin down the risk at this score. The displayed
  probability was itself recalibrated on those outcomes (Platt, or isotonic where inner CV preferred it), so
  the band contains it by construction when the recalibration is logistic: it is an uncertainty range, not a
  calibration check, and it cannot detect over-confidence or another site's miscalibration (the leaderboard's
  calibration figures on test and external patients do). It covers the calibration data's sampling error
  only, not the variation between models trained on other patients. On a cohort with early censoring each
  resample carries the patients' censoring weights (multiplicity × weight, a weighted recalibration per
  resample); the weights are held fixed, not re-estimated per resample, which a reviewer's simulation found
  2–8 % wider than re-estimating them, with the same coverage (0.88–0.94; unweighted: 0.02–0.66). No warning is drawn from it or from the
  Venn–Abers pair (a reviewer's simulation through the real recalibration path: 0 % outside the band
  whatever the raw scores' calibration under Platt, 16–21 % under isotonic from its steps alone).
- ``crepes.ConformalClassifier`` (Boström 2022) with Mondrian (label-conditional) categories gives
  each outcome a p-value; the 90 % prediction set holds every outcome whose p-value exceeds 0.10.
  Its guarantee is a coverage one — the true outcome is in the set for at least 90 % of PD and of
  non-PD patients — and that is what the test and external coverage figures check.

The Venn–Abers pair has no nominal level, so "coverage" is measured on the conformal set; the
interval is reported with its width. Both assume the new patient is exchangeable with the training
cohort: on an external site whose case mix or calibration differs, measured coverage may fall short,
and the leaderboard shows by how much.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from zoo.evaluation.bootstrap import recalibration_lines, resample_weights
from zoo.evaluation.calibration import logit

LEVEL = 0.90
SET_LABELS = {(False, False): "none", (True, False): "non-PD", (False, True): "PD", (True, True): "either"}


BAND_LEVEL = 0.95
BAND_RESAMPLES = 500


@dataclass
class PatientUncertainty:
    """One patient's interval, band and set (the JSON form is what ``predict`` prints)."""

    interval: tuple[float, float]
    p_values: tuple[float, float]
    prediction_set: str
    level: float = LEVEL
    band: tuple[float, float] | None = None

    def to_dict(self) -> dict:
        out = {"venn_abers_interval": [round(self.interval[0], 4), round(self.interval[1], 4)],
               "conformal_set": self.prediction_set, "conformal_level": self.level,
               "conformal_p_values": {"non-PD": round(self.p_values[0], 4), "PD": round(self.p_values[1], 4)}}
        if self.band is not None and all(np.isfinite(self.band)):
            out["calibration_band_95"] = [round(self.band[0], 4), round(self.band[1], 4)]
        return out


class RiskIntervals:
    """Fitted on (calibrated OOF probability, outcome) pairs from the training patients of one model."""

    def __init__(self, level: float = LEVEL) -> None:
        if not 0.5 <= level < 1:
            raise ValueError(f"Expected a conformal level in [0.5, 1). Got {level!r}.")
        self.level = level

    def fit(self, p_cal, y_cal, case_weights=None) -> "RiskIntervals":
        """``case_weights``: the calibration patients' censoring weights. The calibration band resamples patients
        with them (a weighted recalibration per resample), and the Venn–Abers pair is the weighted one
        (``WeightedVennAbers``) when they differ between patients. The conformal set takes none, and needs none
        for non-PD: it is Mondrian by outcome, and every non-PD patient with a known outcome carries the same
        weight 1/Ĝ(24) (censoring independent of time and covariates assumed, as Ĝ does). The PD p-value treats
        the complete PD cases, which lean to early events, as the PD population: it can only under-cover PD, by
        about a point in a reviewer's simulation (docs/MODELS.md, Censoring)."""
        from crepes import ConformalClassifier
        from venn_abers import VennAbers

        p = np.asarray(p_cal, dtype=float)
        y = np.asarray(y_cal, dtype=float)
        ok = ~np.isnan(p) & ~np.isnan(y)
        cw = None
        if case_weights is not None:  # a missing weight counts 1, as in every weighted metric (metrics.case_weights)
            cw = np.asarray(case_weights, dtype=float)
            if cw.shape != p.shape or (cw[ok & np.isfinite(cw)] < 0).any():
                raise ValueError("Expected one non-negative case weight per calibration patient.")
            cw = np.where(np.isfinite(cw), cw, 1.0)[ok]
        p, y = p[ok], y[ok].astype(int)
        self.n_ = int(len(p))
        self.n_per_class_ = [int((y == 0).sum()), int((y == 1).sum())]
        if min(self.n_per_class_) < 2:
            raise ValueError(f"Expected both outcomes among the calibration patients. Got {self.n_per_class_[0]} "
                             f"non-PD and {self.n_per_class_[1]} PD; the model cannot carry intervals.")
        if _varies(cw):
            self.va_ = WeightedVennAbers().fit(p, y, cw)
        else:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)
                self.va_ = VennAbers().fit(np.c_[1 - p, p], y)
        # non-conformity of outcome c: 1 − the probability the model gives c (hinge); Mondrian by outcome
        alphas = np.where(y == 1, 1 - p, p)
        self.cc_ = ConformalClassifier().fit(alphas, bins=y)
        W = resample_weights(y, BAND_RESAMPLES, seed=0)
        b0, b1 = recalibration_lines(y, p, W if cw is None else W * cw[None, :])
        keep = np.isfinite(b0) & np.isfinite(b1)
        self.lines_ = (b0[keep], b1[keep]) if keep.sum() >= BAND_RESAMPLES // 2 else None
        return self

    def band(self, p) -> np.ndarray:
        """(n, 2) calibration band at each score: NaN where ``p`` is NaN or the recalibration was not estimable
        on most resamples (scores that separate the outcomes)."""
        p = np.atleast_1d(np.asarray(p, dtype=float))
        out = np.full((len(p), 2), np.nan)
        ok = ~np.isnan(p)
        lines = getattr(self, "lines_", None)
        if lines is None or not ok.any():
            return out
        lp = logit(p[ok])
        rates = 1 / (1 + np.exp(-(lines[0][:, None] + lines[1][:, None] * lp[None, :])))
        tail = (1 - BAND_LEVEL) / 2 * 100
        out[ok] = np.percentile(rates, [tail, 100 - tail], axis=0).T
        return out

    def interval(self, p) -> np.ndarray:
        """(n, 2) Venn–Abers (p0, p1), NaN where ``p`` is NaN."""
        p = np.atleast_1d(np.asarray(p, dtype=float))
        out = np.full((len(p), 2), np.nan)
        ok = ~np.isnan(p)
        if ok.any():
            with warnings.catch_warnings(), np.errstate(all="ignore"):  # the package's internal all-NaN slices
                warnings.simplefilter("ignore", RuntimeWarning)
                _, p0p1 = self.va_.predict_proba(np.c_[1 - p[ok], p[ok]])
            out[ok] = np.sort(np.asarray(p0p1, dtype=float), axis=1)
        return out

    def p_values(self, p) -> np.ndarray:
        """(n, 2) conformal p-values for non-PD and PD (label-conditional, not smoothed: conservative)."""
        p = np.atleast_1d(np.asarray(p, dtype=float))
        out = np.full((len(p), 2), np.nan)
        ok = ~np.isnan(p)
        if ok.any():
            for c, alpha in ((0, p[ok]), (1, 1 - p[ok])):
                out[ok, c] = self.cc_.predict_p(alpha[:, None], bins=np.full(ok.sum(), c), smoothing=False)[:, 0]
        return out

    def prediction_sets(self, p) -> np.ndarray:
        """(n, 2) booleans: is non-PD / PD in the set at ``level``."""
        pv = self.p_values(p)
        return pv > (1 - self.level)

    def describe(self, p: float) -> PatientUncertainty | None:
        if p is None or np.isnan(p):
            return None
        iv = self.interval([p])[0]
        pv = self.p_values([p])[0]
        bd = self.band([p])[0]
        s = pv > (1 - self.level)
        return PatientUncertainty((float(iv[0]), float(iv[1])), (float(pv[0]), float(pv[1])),
                                  SET_LABELS[(bool(s[0]), bool(s[1]))], self.level,
                                  (float(bd[0]), float(bd[1])) if np.isfinite(bd).all() else None)


def _varies(w) -> bool:
    """Do the case weights differ between patients (so weighting changes anything)?"""
    return bool(w is not None and len(w) > 0 and np.ptp(w) > 1e-9 * max(1.0, float(np.max(w))))


class WeightedVennAbers:
    """The inductive Venn–Abers pair with case weights: the new patient joins the calibration set once as non-PD
    and once as PD, with weight 1 (the weights have mean 1), and (p0, p1) are the weighted isotonic fits at its
    score. With every weight 1 it is the ``venn_abers`` package's pair (a test holds them equal); that package
    takes no weights, and unweighted complete cases over-represent early progression when follow-up ends
    early, which moves the pair up (a test). Because the fit at a new score depends only on where the score
    falls among the calibration scores (between two of them, or on one), every pair is computed once here,
    2·(2m + 1) isotonic fits for m distinct scores (scikit-learn's ``isotonic_regression``, on data already in
    order), and a prediction is a lookup."""

    def fit(self, p, y, w) -> "WeightedVennAbers":
        from sklearn.isotonic import isotonic_regression

        p, y, w = (np.asarray(a, dtype=float) for a in (p, y, w))
        keep = w > 0  # a patient of weight 0 carries no information (and a tie group of them has no mean)
        p, y, w = p[keep], y[keep], w[keep]
        u, inv = np.unique(p, return_inverse=True)
        W = np.bincount(inv, weights=w)
        S = np.bincount(inv, weights=w * y)
        m, ybar = len(u), S / W
        gap, tie = np.empty((m + 1, 2)), np.empty((m, 2))
        for lab in (0, 1):
            for g in range(m + 1):  # the new score lies between u[g-1] and u[g]
                gap[g, lab] = isotonic_regression(np.insert(ybar, g, lab), sample_weight=np.insert(W, g, 1.0),
                                                  y_min=0, y_max=1)[g]
            for j in range(m):  # the new score equals u[j]: it pools with those patients
                yy, ww = ybar.copy(), W.copy()
                yy[j], ww[j] = (S[j] + lab) / (W[j] + 1), W[j] + 1
                tie[j, lab] = isotonic_regression(yy, sample_weight=ww, y_min=0, y_max=1)[j]
        self.scores_, self.gap_, self.tie_ = u, gap, tie
        return self

    def predict_proba(self, X) -> tuple[np.ndarray, np.ndarray]:
        """The package's signature: X is (n, 2) with the PD score in column 1; returns (unused, (n, 2) pairs)."""
        s = np.asarray(X, dtype=float)[:, 1]
        u = self.scores_
        i = np.searchsorted(u, s)
        on = (i < len(u)) & (u[np.minimum(i, len(u) - 1)] == s)
        return None, np.where(on[:, None], self.tie_[np.minimum(i, len(u) - 1)], self.gap_[i])


def set_labels(sets: np.ndarray) -> list[str]:
    return [SET_LABELS[(bool(a), bool(b))] for a, b in sets]


def interval_report(iv: RiskIntervals, y, p, weights=None, n_boot: int = 1000, seed: int = 0,
                    case_weights=None) -> dict:
    """Coverage of the conformal set (overall, per outcome, 95 % CI), set sizes and Venn–Abers widths.

    Patients without a prediction are left out. ``weights`` are bootstrap multiplicities (B, n) from the
    same resamples as the other metrics, so the CI is comparable. ``case_weights`` (censoring weights; a
    missing one counts 1) make every share a weighted one, as every other metric of the split is.
    """
    from zoo.evaluation.bootstrap import percentile_ci, resample_weights, withhold_if_few

    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    cw = np.ones(len(y)) if case_weights is None else np.asarray(case_weights, dtype=float)
    cw = np.where(np.isfinite(cw), cw, 1.0)
    ok = ~np.isnan(p)
    y, p, cw = y[ok], p[ok], cw[ok]
    if len(y) == 0:
        return {"n": 0}
    sets = iv.prediction_sets(p)
    covered = sets[np.arange(len(y)), y].astype(float)
    W = resample_weights(y, n_boot, seed) if weights is None else withhold_if_few(np.asarray(weights)[:, ok], y)
    width = np.diff(iv.interval(p), axis=1)[:, 0]
    size = sets.sum(axis=1)

    def share(x, where=None) -> float | None:
        m = np.ones(len(x), bool) if where is None else where
        return float(np.average(x[m], weights=cw[m])) if m.any() and cw[m].sum() > 0 else None

    with np.errstate(invalid="ignore", divide="ignore"):
        boot = (W * cw * covered).sum(axis=1) / (W * cw).sum(axis=1)
    return {"level": iv.level, "n": int(len(y)), "coverage": share(covered), "coverage_ci": percentile_ci(boot),
            "coverage_pd": share(covered, y == 1), "coverage_non_pd": share(covered, y == 0),
            "mean_set_size": share(size.astype(float)), "share_single": share((size == 1).astype(float)),
            "share_empty": share((size == 0).astype(float)),
            "va_mean_width": share(width), "va_median_width": _weighted_median(width, cw),
            "weighted": _varies(cw)}


def _weighted_median(x: np.ndarray, w: np.ndarray) -> float:
    """The smallest value holding at least half the weight; the plain median when the weights are equal."""
    ok = np.isfinite(x)
    x, w = x[ok], w[ok]
    if not len(x) or w.sum() <= 0:
        return float("nan")
    if not _varies(w):
        return float(np.median(x))
    order = np.argsort(x)
    return float(x[order][np.searchsorted(np.cumsum(w[order]), w.sum() / 2)])
