"""FHIR R4 Bundles in: LOINC codes and UCUM units read through the one schema."""
from __future__ import annotations

import datetime as dt

import pytest

from zoo.errors import InputValueError
from zoo.interop.fhir import LOINC_SYSTEM, MYELOZOO_SYSTEM, UCUM_TO_SCHEMA, loinc_index, parse_bundle, schema_unit
from zoo.schema import DEFAULT_SCHEMA

REF = dt.date(2026, 6, 1)


def obs(oid: str, code: str, value: float | None = None, unit: str | None = None, when: str = "2026-05-20",
        system: str = LOINC_SYSTEM, status: str = "final", comparator: str | None = None, **value_x) -> dict:
    o = {"resourceType": "Observation", "id": oid, "status": status,
         "code": {"coding": [{"system": system, "code": code}]}, "effectiveDateTime": when}
    if value is not None:
        q = {"value": value, "system": "http://unitsofmeasure.org", "code": unit, "unit": unit}
        if comparator:
            q["comparator"] = comparator
        o["valueQuantity"] = q
    o.update(value_x)
    return o


def bundle(*observations: dict, birth: str = "1959-03-15", gender: str = "female") -> dict:
    entries = [{"resource": {"resourceType": "Patient", "id": "p1", "birthDate": birth, "gender": gender}}]
    entries += [{"resource": o} for o in observations]
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


# A patient as a US lab sends her: haemoglobin, albumin in g/dL, creatinine and calcium in mg/dL
US_BUNDLE = bundle(
    obs("hb", "718-7", 9.5, "g/dL"), obs("alb", "1751-7", 3.1, "g/dL"), obs("cr", "2160-0", 1.4, "mg/dL"),
    obs("b2m", "1952-1", 6.2, "mg/L"), obs("ldh", "2532-0", 310, "U/L"), obs("plt", "777-3", 150, "10*3/uL"),
    obs("wbc", "6690-2", 5.1, "10*3/uL"), obs("ca", "17861-6", 10.4, "mg/dL"), obs("mp", "33358-3", 3.2, "g/dL"),
    obs("del17p", "fish_del17p", system=MYELOZOO_SYSTEM, valueBoolean=True),
    obs("iso", "mprotein_heavy", system=MYELOZOO_SYSTEM, valueCodeableConcept={"text": "IgA"}),
)


def test_a_us_bundle_becomes_the_same_canonical_values_as_si_json():
    got = parse_bundle(US_BUNDLE, DEFAULT_SCHEMA, REF)
    from zoo.scoring.inputs import validate_fields

    values, problems = validate_fields(got.raw, DEFAULT_SCHEMA)
    assert problems == {}
    assert values["age"] == 67  # born 1959-03-15, on 2026-06-01
    assert values["sex"] == "female"
    assert values["hgb"] == pytest.approx(95.0)
    assert values["alb"] == pytest.approx(31.0)
    assert values["creatinine"] == pytest.approx(1.4 * 88.42)
    assert values["calcium_total"] == pytest.approx(10.4 * 0.2495)
    assert values["plt"] == pytest.approx(150)
    assert values["mprotein_level"] == pytest.approx(32.0)
    assert values["fish_del17p"] == 1.0 and values["mprotein_heavy"] == "IgA"
    echo = {r["variable"]: r for r in got.used}
    assert echo["hgb"]["value"] == pytest.approx(95.0) and echo["hgb"]["unit"] == "g/L"
    assert echo["hgb"]["unit_sent"] == "g/dL" and echo["hgb"]["value_sent"] == 9.5


def test_the_most_recent_observation_before_the_reference_date_wins_and_later_ones_are_left_out():
    b = bundle(obs("old", "718-7", 8.0, "g/dL", when="2025-01-01"), obs("new", "718-7", 11.0, "g/dL", when="2026-05-01"),
               obs("future", "718-7", 13.0, "g/dL", when="2026-07-01"))
    got = parse_bundle(b, DEFAULT_SCHEMA, REF)
    assert got.raw["hgb"] == {"value": 11.0, "unit": "g/dL"}
    text = " ".join(got.warnings)
    assert "after the reference date" in text and "Observation future" in text
    assert "Observation old" in text


def test_unknown_codes_units_and_statuses_are_warnings_and_below_limit_values_say_so():
    b = bundle(obs("x", "2345-7", 5.0, "mmol/L"),  # glucose: not an input
               obs("bad-unit", "718-7", 9.5, "kg/m3"),
               obs("err", "1751-7", 3.0, "g/dL", status="entered-in-error"),
               obs("lod", "1952-1", 0.2, "mg/L", comparator="<"), gender="unknown")
    got = parse_bundle(b, DEFAULT_SCHEMA, REF)
    text = "\n".join(got.warnings)
    assert "2345-7" in text and "not an input" in text
    assert "'kg/m3' cannot be converted" in text and "hgb" not in got.raw
    assert "'entered-in-error' is not a final result" in text and "alb" not in got.raw
    assert "<0.2" in text and got.raw["b2m"] == {"value": 0.2, "unit": "mg/L"}
    assert "sex is missing" in text and "sex" not in got.raw


@pytest.mark.parametrize("body, words", [
    ({"resourceType": "Patient"}, "Expected a FHIR Bundle"),
    ({"resourceType": "Bundle", "type": "collection", "entry": []}, "exactly one Patient"),
    ({"resourceType": "Bundle", "type": "collection",
      "entry": [{"resource": {"resourceType": "Patient", "birthDate": "15/03/1959"}}]}, "not valid FHIR R4"),
])
def test_a_body_that_is_not_one_patients_bundle_is_refused_in_our_words(body, words):
    with pytest.raises(InputValueError, match=words):
        parse_bundle(body, DEFAULT_SCHEMA, REF)


def test_every_ucum_spelling_we_map_is_a_unit_of_some_variable_and_each_loinc_code_is_unique():
    units = {u for v in DEFAULT_SCHEMA for u in v.units()}
    for ucum, ours in UCUM_TO_SCHEMA.items():
        assert any(schema_unit(ucum, v) == ours for v in DEFAULT_SCHEMA if ours in v.units()), ucum
        assert ours in units, f"{ucum} maps to {ours}, which no variable declares"
    codes = [c for v in DEFAULT_SCHEMA for c in v.loinc]
    assert len(codes) == len(set(codes)) and len(loinc_index(DEFAULT_SCHEMA)) == len(codes)
    # the codes, looked up (docs/API.md lists the sources)
    for name, code in {"hgb": "718-7", "alb": "1751-7", "creatinine": "2160-0", "b2m": "1952-1", "ldh": "2532-0",
                       "calcium_total": "17861-6", "plt": "777-3", "wbc": "6690-2"}.items():
        assert loinc_index(DEFAULT_SCHEMA)[code].name == name


def test_observations_of_another_patient_preliminary_ones_and_old_ones_are_left_out():
    other = obs("other", "718-7", 7.0, "g/dL", subject={"reference": "Patient/someone-else"})
    prelim = obs("prelim", "1751-7", 2.0, "g/dL", status="preliminary")
    old = obs("old", "1952-1", 9.9, "mg/L", when="2024-01-01")
    mine = obs("mine", "2160-0", 110, "umol/L", subject={"reference": "Patient/p1"})
    got = parse_bundle(bundle(other, prelim, old, mine), DEFAULT_SCHEMA, REF, lookback_days=180)
    text = "\n".join(got.warnings)
    assert "hgb" not in got.raw and "someone-else" in text
    assert "alb" not in got.raw and "'preliminary' is not a final result" in text
    assert "b2m" not in got.raw and "more than 180 days" in text
    assert got.raw["creatinine"] == {"value": 110.0, "unit": "umol/L"}  # UCUM's umol/L is the canonical µmol/L


def test_partial_dates_and_the_labs_own_calendar_day():
    late_evening = obs("eve", "718-7", 10.0, "g/dL", when="2026-06-01T22:00:00-05:00")  # 03:00 UTC on June 2
    month_only = obs("month", "1751-7", 3.5, "g/dL", when="2026-05")
    got = parse_bundle(bundle(late_evening, month_only, birth="1958"), DEFAULT_SCHEMA, REF)
    assert got.raw["hgb"] == {"value": 10.0, "unit": "g/dL"}  # June 1 where it was measured: not after June 1
    assert got.raw["alb"] == {"value": 3.5, "unit": "g/dL"}
    assert got.raw["age"] == 68 and any("partial" in w for w in got.warnings)  # from 1958-01-01


def test_total_calcium_becomes_corrected_calcium_as_the_cohort_reader_does():
    from zoo.schema.derived import corrected_calcium
    from zoo.scoring.inputs import validate_fields, with_derived_inputs

    got = parse_bundle(bundle(obs("ca", "17861-6", 10.4, "mg/dL"), obs("alb", "1751-7", 3.1, "g/dL")),
                       DEFAULT_SCHEMA, REF)
    values, problems = validate_fields(got.raw, DEFAULT_SCHEMA)
    derived, notes = with_derived_inputs(values)
    import pandas as pd

    expected = float(corrected_calcium(pd.Series([10.4 * 0.2495]), pd.Series([31.0])).iloc[0])
    assert derived["calcium"] == pytest.approx(expected) and "calcium_total" not in derived
    assert "Payne" in notes[0]
    without_alb, notes = with_derived_inputs({"calcium_total": 2.6})
    assert "calcium" not in without_alb and "needs albumin" in notes[0]
