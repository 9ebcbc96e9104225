"""Categorical net reclassification across the app's risk bands, with a patient bootstrap CI.

Two risk scores put each patient in a band (low / intermediate / high, the cuts the predictor shows).
The net reclassification improvement (NRI; Pencina et al., Stat Med 2008) of a new score over a
reference counts, among patients who progressed, the share moved up minus the share moved down, and
among those who did not, the share moved down minus the share moved up. It is computed on the patients
both scores rate; the reclassification table keeps every patient, with a "no prediction" band, so its
counts add up to the whole set being scored.

Case weights (inverse probability of censoring) enter the NRI like every other metric; the table shows
plain patient counts.
"""
from __future__ import annotations

import numpy as np

from zoo.evaluation.bootstrap import percentile_ci, resample_weights

NO_PREDICTION = "no prediction"


def band_names() -> list[str]:
    """The predictor's bands, lowest first (one definition: ``zoo.api.RISK_BANDS``)."""
    from zoo.api import RISK_BANDS

    return [name for _, name in RISK_BANDS]


def band_index(p) -> np.ndarray:
    """Band of each probability (0 = low …); -1 where there is no prediction."""
    from zoo.api import RISK_BANDS

    p = np.asarray(p, dtype=float)
    cuts = np.array([c for c, _ in RISK_BANDS[:-1]])
    idx = np.searchsorted(cuts, p, side="right")  # p < 0.25 -> 0; 0.25 <= p < 0.5 -> 1; p >= 0.5 -> 2
    return np.where(np.isnan(p), -1, idx)


def reclassification_table(y, p_reference, p_new) -> dict:
    """Counts of patients by reference band (rows) x new band (columns), for all, events and non-events.

    The last row and column hold patients without a prediction from that score, so each table sums to
    the number of patients given.
    """
    y = np.asarray(y, dtype=int)
    names = band_names() + [NO_PREDICTION]
    k = len(names)
    r, c = band_index(p_reference), band_index(p_new)
    r, c = np.where(r < 0, k - 1, r), np.where(c < 0, k - 1, c)

    def counts(mask: np.ndarray) -> list[list[int]]:
        t = np.zeros((k, k), dtype=int)
        np.add.at(t, (r[mask], c[mask]), 1)
        return t.tolist()

    return {"bands": names, "rows": "reference", "columns": "model", "n": int(len(y)),
            "all": counts(np.ones(len(y), bool)), "events": counts(y == 1), "non_events": counts(y == 0)}


def _nri(y: np.ndarray, up: np.ndarray, down: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(event NRI, non-event NRI) for each row of weights ``w`` (B, n)."""
    ev, ne = (y == 1).astype(float), (y == 0).astype(float)
    move = up.astype(float) - down.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        nri_e = (w @ (ev * move)) / (w @ ev)
        nri_ne = -(w @ (ne * move)) / (w @ ne)
    return nri_e, nri_ne


def categorical_nri(y, p_reference, p_new, n_boot: int = 1000, seed: int = 0,
                    case_weights: np.ndarray | None = None) -> dict:
    """Categorical NRI of ``p_new`` over ``p_reference`` across the risk bands, with 95 % bootstrap CIs.

    The resamples are the same patient bootstrap as for every other metric (one-class resamples
    redrawn), over the patients both scores rate.
    """
    y = np.asarray(y, dtype=int)
    r, c = band_index(p_reference), band_index(p_new)
    ok = (r >= 0) & (c >= 0)
    y, r, c = y[ok], r[ok], c[ok]
    cw = np.ones(len(y)) if case_weights is None else np.asarray(case_weights, dtype=float)[ok]
    out = {"n": int(len(y)), "n_events": int(y.sum()), "up": int((c > r).sum()), "down": int((c < r).sum())}
    if len(np.unique(y)) < 2:
        nan2 = [float("nan")] * 2
        return {**out, "events": float("nan"), "non_events": float("nan"), "total": float("nan"),
                "events_ci": nan2, "non_events_ci": nan2, "total_ci": nan2}
    up, down = c > r, c < r
    e1, n1 = _nri(y, up, down, cw[None, :])
    W = resample_weights(y, n_boot, seed) * cw[None, :]
    eB, nB = _nri(y, up, down, W)
    return {**out, "events": float(e1[0]), "non_events": float(n1[0]), "total": float(e1[0] + n1[0]),
            "events_ci": percentile_ci(eB), "non_events_ci": percentile_ci(nB), "total_ci": percentile_ci(eB + nB)}
