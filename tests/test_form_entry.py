"""What a clinician types: units converted by the schema, problems named in their own unit with the probable
fix, the model spread summarised honestly, and the leaderboard's talk-ready sentences."""
import math

import pandas as pd
import pytest

from zoo.leaderboard import calibration_flag, headline
from zoo.schema import DEFAULT_SCHEMA as S
from zoo.scoring.agreement import model_agreement
from zoo.scoring.inputs import check_value, validate_fields


@pytest.mark.parametrize("name,us,unit,si", [("hgb", 9.8, "g/dL", 98.0), ("alb", 3.1, "g/dL", 31.0),
                                             ("creatinine", 1.9, "mg/dL", 1.9 * 88.42),
                                             ("calcium", 10.8, "mg/dL", 10.8 * 0.2495),
                                             ("mprotein_level", 3.2, "g/dL", 32.0)])
def test_us_units_convert_to_the_canonical_value(name, us, unit, si):
    x, problem = check_value(S[name], us, unit)
    assert problem is None and x == pytest.approx(si)


def test_a_value_in_the_wrong_unit_names_the_value_the_range_and_the_probable_unit():
    x, msg = check_value(S["hgb"], 9.8, None)
    assert x is None
    assert msg.startswith("Haemoglobin: 9.8 g/L is outside the accepted range 30–220 g/L.")
    assert "It looks like g/dL: 9.8 g/dL = 98 g/L. Choose g/dL" in msg
    x, msg = check_value(S["hgb"], 98, "g/dL")  # the reverse slip: g/L typed into a g/dL box
    assert x is None and "98 g/dL is impossible" in msg and "range 3–22 g/dL (30–220 g/L)" in msg
    assert "It looks like g/L." in msg


def test_impossible_and_non_numbers_are_refused_without_a_guess():
    assert check_value(S["hgb"], -3, None) == (None, "Haemoglobin: -3 g/L is impossible. Expected range 30–220 g/L. "
                                                     "Correct the value or leave it empty.")
    assert check_value(S["age"], "x", None)[1] == "Age: expected a number in years. Got 'x'."
    assert "finite" in check_value(S["age"], math.inf, None)[1]


def test_validate_fields_keys_each_problem_by_its_variable():
    vals, problems = validate_fields({"hgb": {"value": 9.8, "unit": "g/dL"}, "alb": 3.1, "age": 67}, S)
    assert vals == {"hgb": pytest.approx(98.0), "age": 67.0}
    assert set(problems) == {"alb"} and "g/dL" in problems["alb"]


MANIFEST = {"models": {"a": {"modality": "clinical"}, "b": {"modality": "marrow"}, "c": {"modality": "electrophoresis"},
                       "ref_iss": {"modality": "reference"}}}


def test_agreement_counts_patient_models_only_and_names_the_bands():
    ag = model_agreement({"a": 0.41, "b": 0.70, "c": None, "ref_iss": 0.05}, MANIFEST)
    assert (ag.n_models, ag.low, ag.high, ag.bands) == (2, 0.41, 0.70, ("intermediate", "high"))
    assert ag.label == "partly agree" and "41%–70%" in ag.sentence()
    assert model_agreement({"a": 0.1, "b": 0.8}, MANIFEST).label == "disagree"
    assert model_agreement({"a": 0.3, "b": 0.35}, MANIFEST).label == "agree"
    assert model_agreement({"c": None}, MANIFEST).label == "no models"


def test_headline_names_the_models_chosen_out_of_fold_not_on_the_split_shown():
    lb = pd.DataFrame([
        {"model": "clinical_lr", "display": "Logistic regression", "modality": "clinical", "oof_auc": 0.70,
         "auc": 0.66, "auc_lo": 0.6, "auc_hi": 0.72},
        {"model": "clinical_rf", "display": "Random forest", "modality": "clinical", "oof_auc": 0.65, "auc": 0.80,
         "auc_lo": 0.7, "auc_hi": 0.9},
        {"model": "ens_soft_vote", "display": "Soft vote", "modality": "ensemble", "oof_auc": 0.75, "auc": 0.78,
         "auc_lo": 0.7, "auc_hi": 0.85},
        {"model": "ref_iss", "display": "ISS", "modality": "reference", "oof_auc": 0.9, "auc": 0.6,
         "auc_lo": 0.5, "auc_hi": 0.7}])
    text = headline(lb, {"best_single": "clinical_lr"}, "test")
    assert "Best single model: **Logistic regression** (OOF AUC 0.700; test AUC 0.660 (95% CI 0.60–0.72))" in text
    assert "best ensemble: **Soft vote**" in text and "compares each ensemble with Logistic regression" in text
    assert "Random forest" not in text, "the best on the test set is not promoted after the fact"


@pytest.mark.parametrize("i,s,want", [(0.1, 1.0, ""), (-1.4, 1.0, "⚠ over-predicts"), (0.8, 1.0, "⚠ under-predicts"),
                                      (0.0, 4.8, "⚠ too timid (slope > 1.5)"), (0.0, 0.4, "⚠ too extreme (slope < 0.67)"),
                                      (0.0, float("nan"), "⚠ slope not estimable")])
def test_calibration_flag(i, s, want):
    assert calibration_flag(i, s) == want
