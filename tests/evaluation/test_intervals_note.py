"""A probability outside its calibration band is said so, in the patient's warnings; the Venn–Abers pair alone
never triggers it (it excludes even a calibrated model's probability for most patients)."""
from __future__ import annotations

import math

from zoo.evaluation.intervals import BAND_NOTE, outside_band_note


def test_the_note_appears_only_outside_the_band_and_names_both_numbers():
    assert outside_band_note(0.40, 0.35, 0.45) is None
    assert outside_band_note(0.4502, 0.35, 0.45) is None  # rounding of the stored bounds is not a finding
    assert outside_band_note(math.nan, 0.35, 0.45) is None
    note = outside_band_note(0.61, 0.643, 0.757)
    assert note is not None and "61.0%" in note and "64.3%–75.7%" in note and BAND_NOTE in note


def test_predict_and_batch_carry_the_note_for_the_same_patients(test_zoo, tiny_external_dir):
    from zoo.scoring.batch import score_cohort_dir

    table, _ = score_cohort_dir(test_zoo, tiny_external_dir, show_bar=False)
    outside = (table["probability"] < table["band_low"] - 5e-4) | (table["probability"] > table["band_high"] + 5e-4)
    noted = table["warnings"].fillna("").str.contains(BAND_NOTE)
    assert (outside == noted).all()
    assert "outside its Venn–Abers" not in " ".join(table["warnings"].fillna(""))
