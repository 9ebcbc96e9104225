"""How far the individual models agree on one patient: the spread a clinician should see beside the ensemble.

An ensemble's single number hides whether its members and the other models of the zoo tell the same
story. When the models a patient could be scored by span two or three risk bands, the ensemble's
probability is a compromise, and the page says so.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zoo.api import RISK_BANDS, risk_band

PATIENT_MODALITIES = ("clinical", "marrow", "electrophoresis")


@dataclass(frozen=True)
class Agreement:
    n_models: int
    low: float
    high: float
    bands: tuple[str, ...]

    @property
    def label(self) -> str:
        """'agree' (one band), 'partly agree' (two adjacent bands) or 'disagree' (low and high)."""
        if self.n_models == 0:
            return "no models"
        if len(self.bands) == 1:
            return "agree"
        return "disagree" if {"low", "high"} <= set(self.bands) else "partly agree"

    def sentence(self) -> str:
        if self.n_models == 0:
            return "No individual model could score this patient."
        span = f"{self.low:.0%}–{self.high:.0%}"
        if len(self.bands) == 1:
            return f"All {self.n_models} models put this patient in the {self.bands[0]} band ({span})."
        return (f"The {self.n_models} models range {span}, across the {' and '.join(self.bands)} bands: "
                "the ensemble's number is a compromise between them.")


def model_agreement(model_probs: dict[str, float | None], manifest: dict) -> Agreement:
    """Spread of the patient-level models (clinical and image models; staging systems excluded)."""
    ps = [float(p) for n, p in model_probs.items()
          if p is not None and np.isfinite(p) and manifest["models"].get(n, {}).get("modality") in PATIENT_MODALITIES]
    if not ps:
        return Agreement(0, float("nan"), float("nan"), ())
    order = [name for _, name in RISK_BANDS]
    bands = tuple(sorted({risk_band(p) for p in ps}, key=order.index))
    return Agreement(len(ps), min(ps), max(ps), bands)
