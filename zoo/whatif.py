"""What-if analysis for one patient: change a baseline value, see the ensemble's risk move.

Image outputs are held fixed (they were computed once per image), so a
change of a clinical value only re-runs the ensemble's clinical members.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from zoo.api import MAIN_ENSEMBLE, Zoo


def whatif(zoo: Zoo, base: dict, image_probs: dict, variable: str, new_value, ensemble: str = MAIN_ENSEMBLE) -> dict:
    changed = dict(base)
    changed[variable] = new_value
    p0, p1 = zoo.clinical_only_probability([base, changed], image_probs, ensemble)
    return {"before": float(p0), "after": float(p1), "delta": float(p1 - p0)}


def risk_curve(zoo: Zoo, base: dict, image_probs: dict, variable: str, grid, ensemble: str = MAIN_ENSEMBLE
               ) -> pd.DataFrame:
    rows = []
    for x in grid:
        r = dict(base)
        r[variable] = x
        rows.append(r)
    p = zoo.clinical_only_probability(rows, image_probs, ensemble)
    return pd.DataFrame({"value": np.asarray(grid, dtype=object if isinstance(grid[0], str) else float),
                         "probability": p})
