"""Staging systems as reference models: ISS, R-ISS, R2-ISS and the IMS/IMWG high-risk flag.

A clinician's first question of any progression model is whether it beats the staging already in use.
To answer it on equal terms, each staging system is an estimator like every other model in the zoo:
``fit`` learns each stage's (case-weighted) progression rate on the training rows it is given, and
``predict_proba`` returns that rate for a patient's stage. The trainer fits it per fold exactly as it
fits any model, so its out-of-fold column holds rates learned on the other folds only, and it is
recalibrated, evaluated and compared through the same path. A patient whose stage the inputs do not
decide gets no prediction (NaN), never a guess. The fitted state is a few numbers, saved as JSON.

The stages themselves come from ``zoo.schema.derived`` (one definition for the validator, the
predictor and these models).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from zoo.schema.derived import STAGING_SYSTEMS, derive_staging_systems
from zoo.schema.variables import LDH_ULN_U_PER_L

MIN_STAGED_PATIENTS = 10  # fewer patients with a decidable stage: the system is not trained for this cohort


class StagingModel(ClassifierMixin, BaseEstimator):
    """P(PD) = the training progression rate of the patient's stage under ``system``.

    ``system``: a key of ``STAGING_SYSTEMS`` (iss, riss, r2iss, imwg_hr). A stage with no training
    patient takes the rate of the nearest stage that has some (the mean of both neighbours when they
    are equally near), so an ordered system never predicts outside the rates it has seen.
    """

    modality = "reference"

    def __init__(self, system: str = "r2iss") -> None:
        self.system = system

    def _check_system(self) -> None:
        if self.system not in STAGING_SYSTEMS:
            raise ValueError(f"Expected a staging system in {sorted(STAGING_SYSTEMS)}. Got {self.system!r}.")

    @property
    def levels(self) -> tuple[str, ...]:
        self._check_system()
        return STAGING_SYSTEMS[self.system].levels

    def stage(self, data, ldh_uln: float | None = None) -> pd.Series:
        """The patients' stages under this system (NaN where undecided), indexed like their rows."""
        self._check_system()
        X = data if isinstance(data, pd.DataFrame) else data.clinical
        # a cohort knows its own laboratory's LDH limit (variables.yaml); bare rows use the training cohort's
        uln = ldh_uln if ldh_uln is not None else getattr(getattr(data, "schema", None), "ldh_uln", None)
        if uln is None:
            uln = getattr(self, "ldh_uln_", LDH_ULN_U_PER_L)
        return derive_staging_systems(X, uln)[self.system]

    def fit(self, data, y, sample_weight=None) -> "StagingModel":
        self._check_system()
        self.ldh_uln_ = float(getattr(getattr(data, "schema", None), "ldh_uln", LDH_ULN_U_PER_L))
        stage = self.stage(data).to_numpy(dtype=object)
        y = np.asarray(y, dtype=float)
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        known = pd.notna(stage)
        if not known.any():
            raise ValueError(f"{STAGING_SYSTEMS[self.system].display}: expected training patients with a decidable "
                             "stage. Got none. The cohort lacks the inputs this staging system needs.")
        counts, rates = {}, {}
        for lvl in self.levels:
            m = known & (stage == lvl)
            counts[lvl] = int(m.sum())
            rates[lvl] = float(np.average(y[m], weights=w[m])) if m.any() and w[m].sum() > 0 else None
        self.counts_ = counts
        self.rates_ = _fill_empty(rates, self.levels)
        self.classes_ = np.array([0, 1])
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "rates_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("This staging model is not fitted. Call fit or load it from a zoo.")

    def predict_proba(self, data) -> np.ndarray:
        self._check_fitted()
        p = self.stage(data).map(self.rates_).to_numpy(dtype=float)
        return np.column_stack([1 - p, p])

    # ----- persistence: JSON numbers only ------------------------------------------------------------
    def to_dict(self) -> dict:
        self._check_fitted()
        return {"system": self.system, "ldh_uln": self.ldh_uln_, "levels": list(self.levels),
                "rates": self.rates_, "counts": self.counts_}

    @classmethod
    def from_dict(cls, d: dict) -> "StagingModel":
        m = cls(system=d["system"])
        m.ldh_uln_ = float(d["ldh_uln"])
        m.rates_ = {k: float(v) for k, v in d["rates"].items()}
        m.counts_ = {k: int(v) for k, v in d["counts"].items()}
        m.classes_ = np.array([0, 1])
        return m


def _fill_empty(rates: dict[str, float | None], levels: tuple[str, ...]) -> dict[str, float]:
    seen = [i for i, lvl in enumerate(levels) if rates[lvl] is not None]
    out = {}
    for i, lvl in enumerate(levels):
        if rates[lvl] is not None:
            out[lvl] = rates[lvl]
            continue
        d = min(abs(i - j) for j in seen)
        out[lvl] = float(np.mean([rates[levels[j]] for j in seen if abs(i - j) == d]))
    return out


def staging_available(system: str, clinical: pd.DataFrame, ldh_uln: float = LDH_ULN_U_PER_L,
                      y: np.ndarray | None = None, minimum: int = MIN_STAGED_PATIENTS) -> bool:
    """Whether a cohort has the inputs to score ``system``: enough staged patients in at least two stages."""
    st = derive_staging_systems(clinical, ldh_uln)[system]
    known = st.notna().to_numpy()
    if known.sum() < minimum or st[known].nunique() < 2:
        return False
    return y is None or len(np.unique(np.asarray(y)[known])) == 2
