"""Tables as hospitals export them: encodings, delimiters, decimal commas, headers with units, assay limits."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from zoo.cohort import validate_cohort
from zoo.cohort.readers import (
    TableReadError, header_key, match_headers, parse_numbers, read_csv_bytes, sniff_delimiter,
)
from zoo.schema import DEFAULT_SCHEMA


def _clinical(tmp_path, text: str | bytes, name: str = "clinical.csv", yaml: str | None = None):
    tmp_path.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8") if isinstance(text, str) else text
    (tmp_path / name).write_bytes(data)
    if yaml is not None:
        (tmp_path / "variables.yaml").write_text(yaml, encoding="utf-8")
    return validate_cohort(tmp_path)


def _by_kind(report, kind):
    return [p for p in report.problems if p.kind == kind]


def test_integer_columns_are_numbers(tmp_path):
    report, cohort = _clinical(tmp_path, "patient_id,age,hgb,progressed\na,61,120,0\nb,70,95,1\nc,55,133,0\n")
    assert report.ok, report.summary()
    assert cohort.clinical["age"].dtype == np.float64
    assert cohort.clinical["age"].tolist() == [61.0, 70.0, 55.0]
    assert not any("dtype" in p.message or "failed check" in p.message for p in report.problems)


def test_semicolon_decimal_comma_windows_1252_upper_case_headers_with_units(tmp_path):
    text = ("PATIENT_ID;Age;HGB (g/dL);Créatinine;CREAT (mg/dL);B2-MG (mg/L);Progressed\r\n"
            "P1;61;9,8;x;1,9;3,2;0\r\nP2;72;12,4;y;0,9;<0,5;1\r\nP3;58;10,0;z;22;6,1;0\r\n")
    report, cohort = _clinical(tmp_path, text.encode("windows-1252"))
    assert report.ok, report.summary()
    c = cohort.clinical
    assert c.loc["P1", "hgb"] == pytest.approx(98.0)
    assert c.loc["P1", "creatinine"] == pytest.approx(1.9 * 88.42)
    assert c.loc["P3", "creatinine"] == pytest.approx(22 * 88.42), "a dialysis patient's creatinine is kept"
    assert c.loc["P2", "b2m"] == pytest.approx(0.5), "an assay limit becomes the limit"
    text_all = report.summary()
    assert "Windows-1252" in text_all and "decimal commas" in text_all
    lim = _by_kind(report, "assay_limit")
    assert len(lim) == 1 and lim[0].patient_id == "P2" and lim[0].column == "b2m" and lim[0].value == "<0,5"
    assert any("'Créatinine'" in p.message for p in _by_kind(report, "unknown_column"))


def test_utf8_bom_and_tab_delimited(tmp_path):
    text = "\ufeffpatient id\tHb (g/L)\tPD\nA 1\t101\tyes\nA 2\t99\tno\n"
    report, cohort = _clinical(tmp_path, text.encode("utf-8"))
    assert report.ok, report.summary()
    assert cohort.patient_ids == ["A 1", "A 2"] and cohort.y.tolist() == [1, 0]
    assert not any("Windows-1252" in p.message for p in report.problems)


def test_quoted_decimal_comma_in_a_comma_file(tmp_path):
    report, cohort = _clinical(tmp_path, 'patient_id,hgb,progressed\na,"101,5",0\nb,"99,0",1\n')
    assert report.ok and cohort.clinical["hgb"].tolist() == [101.5, 99.0]


def test_impossible_is_an_error_implausible_is_set_to_missing(tmp_path):
    text = "patient_id,age,creatinine,months_to_event,event,progressed\n" \
           "a,400,80,30,0,0\nb,61,-3,30,0,0\nc,15,80,400,0,0\nd,61,3000,36,1,0\ne,62,90,12,1,1\n"
    report, cohort = _clinical(tmp_path, text)
    assert cohort is None
    imp = _by_kind(report, "impossible")
    assert {(p.patient_id, p.column) for p in imp} == {("a", "age"), ("b", "creatinine")}
    assert all(p.severity == "error" for p in imp)
    miss = _by_kind(report, "set_missing")
    assert {(p.patient_id, p.column, p.value) for p in miss} == {("c", "age", "15"), ("d", "creatinine", "3000")}
    assert all(p.severity == "warning" and "Set to missing" in p.message for p in miss)
    assert not any(p.column == "months_to_event" for p in report.problems), "400 months of follow-up is real"


def test_strict_turns_set_to_missing_into_errors(tmp_path):
    (tmp_path / "clinical.csv").write_text("patient_id,age,progressed\na,15,0\nb,61,1\nc,70,0\n")
    report, cohort = validate_cohort(tmp_path)
    assert cohort is not None and np.isnan(cohort.clinical.loc["a", "age"])
    report, cohort = validate_cohort(tmp_path, strict=True)
    assert cohort is None and report.errors[0].kind == "set_missing" and "--strict" in report.errors[0].message


def test_booleans_yes_no_and_numeric_binary_codes(tmp_path):
    text = "patient_id,del(17p),t(4;14),1q21 gain,progressed\na,TRUE,yes,1.0,Yes\nb,false,No,0,no\nc,,positive,1,1\n"
    report, cohort = _clinical(tmp_path, text)
    assert report.ok, report.summary()
    c = cohort.clinical
    assert c["fish_del17p"].tolist()[:2] == [1.0, 0.0] and np.isnan(c["fish_del17p"].iloc[2])
    assert c["fish_t4_14"].tolist() == [1.0, 0.0, 1.0] and c["fish_1q21_gain"].tolist() == [1.0, 0.0, 1.0]
    assert cohort.y.tolist() == [1, 0, 1]


def test_codes_and_columns_mapping_in_variables_yaml(tmp_path):
    text = "Fallnummer,Geschlecht,Hämoglobin Labor,Status\n1,1,120,0\n2,2,95,1\n3,1,101,0\n"
    yaml = ("columns:\n  Fallnummer: patient_id\n  Geschlecht: sex\n  Hämoglobin Labor: hgb\n  Status: progressed\n"
            "codes:\n  sex: {1: male, 2: female}\n")
    report, cohort = _clinical(tmp_path, text, yaml=yaml)
    assert report.ok, report.summary()
    assert cohort.clinical["sex"].tolist() == ["male", "female", "male"] and cohort.patient_ids == ["1", "2", "3"]


def test_xlsx_with_several_sheets_uses_the_first_or_the_named_one(tmp_path):
    with pd.ExcelWriter(tmp_path / "clinical.xlsx") as w:
        pd.DataFrame({"PATIENT_ID": ["a", "b"], "Age": [61, 70], "Progressed": [0, 1]}).to_excel(
            w, sheet_name="Baseline", index=False)
        pd.DataFrame({"x": [1]}).to_excel(w, sheet_name="Notes", index=False)
    report, cohort = validate_cohort(tmp_path)
    assert report.ok and cohort.clinical["age"].tolist() == [61.0, 70.0]
    assert any("using the first, 'Baseline'" in p.message for p in report.warnings)
    (tmp_path / "variables.yaml").write_text("sheet: Notes\n")
    report, cohort = validate_cohort(tmp_path)
    assert cohort is None and "required column 'patient_id'" in report.summary()
    (tmp_path / "variables.yaml").write_text("sheet: Missing\n")
    report, _ = validate_cohort(tmp_path)
    assert "expected a sheet named 'Missing'" in report.summary() and "'Baseline', 'Notes'" in report.summary()


def test_total_calcium_with_albumin_gives_corrected_calcium(tmp_path):
    report, cohort = _clinical(tmp_path, "patient_id,total calcium (mg/dL),albumin (g/dL),progressed\n"
                                         "a,10.8,3.1,0\nb,9.0,4.0,1\n")
    assert report.ok, report.summary()
    ca = cohort.clinical["calcium"]
    assert ca["a"] == pytest.approx(10.8 * 0.2495 + 0.02 * (40 - 31))
    assert ca["b"] == pytest.approx(9.0 * 0.2495)
    assert "calcium_total" not in cohort.clinical


def test_outcome_derived_from_time_to_event_and_early_censoring_excluded(tmp_path):
    text = ("patient_id,months_to_event,event\n"
            "a,10,1\n"      # PD within 24 months
            "b,30,0\n"      # followed past 24 months: no PD
            "c,30,1\n"      # progressed after 24 months: no PD within 24
            "d,12,0\n")     # censored at 12 months: unknown
    report, cohort = _clinical(tmp_path, text)
    assert report.ok, report.summary()
    assert cohort.patient_ids == ["a", "b", "c"] and cohort.y.tolist() == [1, 0, 0]
    unk = _by_kind(report, "outcome_unknown")
    assert [p.patient_id for p in unk] == ["d"] and "Excluded from training and evaluation" in unk[0].message
    assert report.n_outcome_unknown == 1 and "without a usable 24-month outcome" in report.summary()


def test_followed_exactly_to_the_horizon_without_progression_is_a_known_non_progressor(tmp_path):
    """Month 24 event-free is a known 24-month outcome (it was lost as 'no outcome' with a wrong message)."""
    text = ("patient_id,months_to_event,event\n"
            "a,24,0\n"     # seen at month 24, no progression: non-PD
            "b,24,1\n"     # progressed at month 24: PD within 24 months
            "c,23.9,0\n"   # censored just before: unknown
            "d,30,0\n")
    report, cohort = _clinical(tmp_path, text)
    assert report.ok, report.summary()
    assert cohort.patient_ids == ["a", "b", "d"] and cohort.y.tolist() == [0, 1, 0]
    assert [p.patient_id for p in _by_kind(report, "outcome_unknown")] == ["c"]
    assert report.n_censored_early == 1


def test_censored_non_progressor_marked_zero_is_excluded_and_reported(tmp_path):
    text = "patient_id,progressed,months_to_event,event\na,1,5,1\nb,0,30,0\nc,0,8,0\nd,0,40,0\n"
    report, cohort = _clinical(tmp_path, text)
    assert cohort.patient_ids == ["a", "b", "d"]
    assert [p.patient_id for p in _by_kind(report, "outcome_unknown")] == ["c"]
    _, scoring = validate_cohort(tmp_path, require_outcome=False)
    assert scoring.patient_ids == ["a", "b", "c", "d"] and np.isnan(scoring.clinical.loc["c", "progressed"])


def test_header_unit_conflicting_with_declared_unit_is_an_error(tmp_path):
    report, cohort = _clinical(tmp_path, "patient_id,Hb (g/dL),progressed\na,9.8,0\n",
                               yaml="units:\n  hgb: mmol/L\n")
    assert cohort is None and "header 'Hb (g/dL)' says g/dL, but variables.yaml declares mmol/L" in report.summary()


def test_unknown_unit_in_header(tmp_path):
    report, cohort = _clinical(tmp_path, "patient_id,Hb (furlongs),progressed\na,9.8,0\n")
    assert cohort is None and "Got 'furlongs'" in report.summary()


def test_two_headers_for_one_variable(tmp_path):
    report, cohort = _clinical(tmp_path, "patient_id,Hb,HGB (g/dL),progressed\na,98,9.8,0\n")
    assert cohort is None and "expected one column for 'hgb'. Got 2: 'Hb', 'HGB (g/dL)'" in report.summary()


@pytest.mark.parametrize("header,name,unit", [
    ("PATIENT_ID", "patient_id", None), ("Hb (g/dL)", "hgb", "g/dL"), ("HGB", "hgb", None),
    ("Haemoglobin [g/L]", "hgb", "g/L"), ("β2-MG", "b2m", None), ("B2M (mg/L)", "b2m", "mg/L"), ("Cr", "creatinine", None),
    ("creat_mg_dl", "creatinine", "mg/dL"), ("Alb", "alb", None), ("LDH (U/L)", "ldh", "U/L"), ("M-spike", "mprotein_level", None),
    ("ISS", "iss", None), ("t(4;14)", "fish_t4_14", None), ("del(17p)", "fish_del17p", None), ("R-ISS", "riss", None),
])
def test_header_synonyms(header, name, unit):
    matches, unmatched = match_headers([header], DEFAULT_SCHEMA)
    assert not unmatched and matches[0].name == name and matches[0].unit == unit


def test_parse_numbers_handles_export_spellings():
    raw = pd.Series(["61", "12.5", "1,234.5", "<0.5", "> 70", "≤3", "abc", None, "inf", "1 234", "−2"])
    p = parse_numbers(raw)
    assert p.values.tolist()[:6] == [61.0, 12.5, 1234.5, 0.5, 70.0, 3.0]
    assert p.bad.tolist() == [False] * 6 + [True, False, True, False, False]
    assert p.limit.tolist()[3:6] == ["<", ">", "<"]
    assert p.values.iloc[9] == 1234.0 and p.values.iloc[10] == -2.0
    q = parse_numbers(pd.Series(["12,5", "1.234,5", "<0,5"]), decimal_comma=True)
    assert q.values.tolist() == [12.5, 1234.5, 0.5]


def test_sniffer_and_errors_in_our_words():
    assert sniff_delimiter("a;b;c\n1;2,5;3\n") == ";"
    assert sniff_delimiter("a,b\n1,2\n") == ","
    with pytest.raises(TableReadError, match="expected a text table. Got binary data"):
        read_csv_bytes(b"PK\x03\x04\x00\x00binary", "clinical.csv")
    with pytest.raises(TableReadError, match="Got an empty file"):
        read_csv_bytes(b"   \n", "clinical.csv")
    with pytest.raises(TableReadError, match=r"as many fields as the header.*near line 3"):
        read_csv_bytes(b"a,b\n1,2\n3,4,5\n", "clinical.csv")
    with pytest.raises(TableReadError, match=r"Got a quote that is still open"):
        read_csv_bytes(b'a,b\n1,2\n3,"4\n5,6\n', "clinical.csv")


def test_header_key():
    assert header_key("PATIENT_ID") == header_key("patient id") == "patientid"
    assert header_key("β2-MG") == "b2mg" and header_key("µmol/L") == "umoll"


def test_unreadable_table_message_names_the_file_not_the_server_folder(tmp_path):
    (tmp_path / "clinical.csv").write_bytes(b"\x00\x01\x02binary")
    report, cohort = validate_cohort(tmp_path)
    assert cohort is None
    msg = report.errors[0]
    assert msg.file == "clinical.csv" and str(tmp_path) not in str(msg)
