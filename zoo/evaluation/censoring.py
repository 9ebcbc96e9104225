"""Inverse-probability-of-censoring weights for the 24-month outcome.

Patients whose follow-up ended before 24 months without progression have an unknown outcome and are
left out of training and evaluation. Leaving them out is not neutral: the patients who remain
over-represent early events. Weighting each remaining patient by 1 / Ĝ(min(T, 24)⁻), where Ĝ is the
Kaplan–Meier estimate of the probability of still being under follow-up (lifelines), restores the
whole cohort's mix (the standard IPCW estimator of a fixed-horizon risk; Uno et al. 2007,
Gerds & Schumacher 2006). The weights enter every recalibrator and every evaluation figure (the list, and
what is not weighted, is in docs/MODELS.md "Censoring"); models themselves train unweighted (their scores are
recalibrated). Without follow-up columns, or when no one is censored early, every weight is 1.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

HORIZON_MONTHS = 24.0


def ipcw_weights(months: pd.Series, event: pd.Series, known: pd.Series,
                 horizon: float = HORIZON_MONTHS) -> pd.Series:
    """Weights for the patients with a known 24-month outcome (``known``), normalised to mean 1.

    ``months``/``event`` are used for every patient (the censoring distribution needs the ones left out).
    """
    from lifelines import KaplanMeierFitter

    t = pd.to_numeric(months, errors="coerce")
    e = pd.to_numeric(event, errors="coerce")
    usable = t.notna() & e.notna()
    out = pd.Series(1.0, index=months.index)
    censored_early = usable & (e == 0) & (t < horizon)
    if not censored_early.any() or usable.sum() < 10:
        return out[known]
    km = KaplanMeierFitter().fit(t[usable], event_observed=(e[usable] == 0).astype(int))
    at = np.minimum(t.where(usable, horizon), horizon)
    g = km.survival_function_at_times(np.maximum(at.to_numpy() - 1e-9, 0)).to_numpy()
    w = pd.Series(1.0 / np.clip(g, 0.05, 1.0), index=months.index)  # cap at 20: a few extreme weights
    w = w[known]
    return w / w.mean()
