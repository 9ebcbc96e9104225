"""A probability outside its own Venn–Abers interval is said so, in the patient's warnings."""
from __future__ import annotations

import math

from zoo.evaluation.intervals import outside_interval_note


def test_the_note_appears_only_outside_the_interval_and_names_both_numbers():
    assert outside_interval_note(0.40, 0.35, 0.45) is None
    assert outside_interval_note(0.4502, 0.35, 0.45) is None  # rounding of the stored bounds is not a finding
    assert outside_interval_note(math.nan, 0.35, 0.45) is None
    note = outside_interval_note(0.61, 0.643, 0.657)
    assert note is not None and "61.0%" in note and "64.3%–65.7%" in note


def test_predict_and_batch_carry_the_note_for_the_same_patients(test_zoo, tiny_external_dir):
    from zoo.scoring.batch import score_cohort_dir

    table, _ = score_cohort_dir(test_zoo, tiny_external_dir, show_bar=False)
    outside = (table["probability"] < table["interval_low"] - 5e-4) | (table["probability"] > table["interval_high"] + 5e-4)
    noted = table["warnings"].fillna("").str.contains("outside its Venn–Abers interval")
    assert (outside == noted).all()
