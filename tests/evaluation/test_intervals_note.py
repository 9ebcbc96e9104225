"""The calibration band travels with every main-ensemble probability (predict, batch), and no per-patient
"miscalibrated" warning is drawn from the band or the Venn–Abers pair: the band contains a Platt-recalibrated
probability by construction and the pair excludes even a calibrated one for most patients (two reviews,
2026-12-07)."""
from __future__ import annotations

import numpy as np


def test_batch_and_predict_carry_the_same_band_and_no_miscalibration_warning(test_zoo, tiny_external_dir):
    from zoo.scoring.batch import score_cohort_dir

    table, _ = score_cohort_dir(test_zoo, tiny_external_dir, show_bar=False)
    ok = table["band_low"].notna()
    assert ok.mean() > 0.5
    assert (table.loc[ok, "band_low"] <= table.loc[ok, "band_high"]).all()
    assert ((table.loc[ok, "band_low"] >= 0) & (table.loc[ok, "band_high"] <= 1)).all()
    assert not table["warnings"].fillna("").str.contains("miscalibrated").any()
    row = table.loc[ok].iloc[0]  # one row per patient (patient_id is a column)
    cols = test_zoo.interval_columns(row["main_ensemble"], np.array([row["probability"]]),
                                     np.array([row["modalities_used"]], dtype=object))
    assert cols["band_low"][0] == row["band_low"] and cols["band_high"][0] == row["band_high"]
