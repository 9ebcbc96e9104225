"""Inverse-probability-of-censoring weights for the 24-month outcome.

Patients whose follow-up ended before 24 months without progression have an unknown outcome and are
left out of training and evaluation. Leaving them out is not neutral: the patients who remain
over-represent early events. Weighting each remaining patient by 1 / Ĝ(min(T, 24)⁻), where Ĝ is the
Kaplan–Meier estimate of the probability of still being under follow-up (lifelines), restores the
whole cohort's mix (the standard IPCW estimator of a fixed-horizon risk; Uno et al. 2007,
Gerds & Schumacher 2006). The weights enter every recalibrator and every evaluation figure (the list, and
what is not weighted, is in docs/MODELS.md "Censoring"); models themselves train unweighted (their scores are
recalibrated). Without follow-up columns, or when no one is censored early, every weight is 1.

A zoo estimates Ĝ apart for its training and its test patients (``split_ipcw_weights``). A patient with a known
outcome is never censored before 24 months, so every censoring before the horizon comes from the patients left
out (censored early), who belong to neither split: each enters both estimates with the split's share of the
cohort as its KM weight, the number of them a patient-level split would be expected to put there. What is the
split's own is its patients' event times, through the risk sets. Estimated once on the whole cohort, Ĝ let the
test patients' event times (outcome information) shape the training patients' weights; now they never shape a
weight that a recalibrator or a threshold is fitted with.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

HORIZON_MONTHS = 24.0


def ipcw_weights(months: pd.Series, event: pd.Series, known: pd.Series,
                 horizon: float = HORIZON_MONTHS, km_weights: pd.Series | None = None) -> pd.Series:
    """Weights for the patients with a known 24-month outcome (``known``), normalised to mean 1.

    ``months``/``event`` are used for every patient (the censoring distribution needs the ones left out).
    ``km_weights``: each patient's weight in the Kaplan–Meier estimate of Ĝ (default 1).
    """
    import warnings

    from lifelines import KaplanMeierFitter

    t = pd.to_numeric(months, errors="coerce")
    e = pd.to_numeric(event, errors="coerce")
    usable = t.notna() & e.notna()
    out = pd.Series(1.0, index=months.index)
    censored_early = usable & (e == 0) & (t < horizon)
    kw = None if km_weights is None else km_weights.reindex(months.index).fillna(1.0)[usable].to_numpy(float)
    effective = usable.sum() if kw is None else kw.sum()  # patients, counting a shared one by its share
    if not censored_early.any() or effective < 10:
        return out[known]
    with warnings.catch_warnings():  # lifelines warns that fractional weights change its variance, which is unused
        warnings.simplefilter("ignore")
        km = KaplanMeierFitter().fit(t[usable], event_observed=(e[usable] == 0).astype(int), weights=kw)
    at = np.minimum(t.where(usable, horizon), horizon)
    g = km.survival_function_at_times(np.maximum(at.to_numpy() - 1e-9, 0)).to_numpy()
    w = pd.Series(1.0 / np.clip(g, 0.05, 1.0), index=months.index)  # cap at 20: a few extreme weights
    w = w[known]
    return w / w.mean()


def split_ipcw_weights(followup: pd.DataFrame, train_ids: list, test_ids: list,
                       horizon: float = HORIZON_MONTHS) -> pd.Series | None:
    """Weights of the training and the test patients, each split's from its own Ĝ (mean 1 within each split).

    ``followup``: every patient of the cohort, kept or not, indexed by patient_id, with ``months_to_event``,
    ``event`` and ``known`` (a known 24-month outcome). Returns None when every weight would be 1.
    """
    known = followup["known"].astype(bool)
    left_out = followup.index[~known]
    n_train, n_test = len(train_ids), len(test_ids)
    parts = []
    for ids, share in ((list(train_ids), n_train / (n_train + n_test)), (list(test_ids), n_test / (n_train + n_test))):
        if not ids:
            continue
        rows = followup.loc[[*ids, *left_out]]
        kw = pd.Series(np.r_[np.ones(len(ids)), np.full(len(left_out), share)], index=rows.index)
        parts.append(ipcw_weights(rows["months_to_event"], rows["event"], rows["known"].astype(bool), horizon,
                                  km_weights=kw))
    w = pd.concat(parts)
    return None if np.allclose(w.to_numpy(), 1.0) else w
