"""Generate -> validate -> load, and every bad-input case yields a message naming the problem."""
import shutil

import numpy as np
import pandas as pd
import pytest

from zoo.cohort import load_cohort, validate_cohort
from zoo.errors import CohortError


def _edit_clinical(d, fn):
    p = d / "clinical.csv"
    df = pd.read_csv(p, dtype=str, keep_default_na=False)
    df = fn(df)
    df.to_csv(p, index=False)


def _messages(d):
    report, cohort = validate_cohort(d)
    return report, cohort, "\n".join(str(p) for p in report.problems)


def test_generated_cohort_round_trips(tiny_cohort_dir):
    report, cohort = validate_cohort(tiny_cohort_dir)
    assert report.ok and cohort is not None, report.summary()
    raw = pd.read_csv(tiny_cohort_dir / "clinical.csv", dtype={"patient_id": str})
    assert list(cohort.patient_ids) == list(raw["patient_id"])
    assert np.allclose(cohort.clinical["hgb"].to_numpy(), raw["hgb"].to_numpy(), equal_nan=True)
    assert cohort.is_synthetic and cohort.oracle() is not None
    assert report.n_images["marrow"] == (pd.read_csv(tiny_cohort_dir / "images.csv").modality == "marrow").sum()
    first = cohort.patient_ids[0]
    imgs = cohort.read_images(first, "electrophoresis")
    assert all(im.dtype == np.uint8 and im.shape[2] == 3 for im in imgs)


def test_cli_validate_exit_codes(tiny_cohort_dir, cohort_copy, capsys):
    from zoo.cli import main

    assert main(["validate", str(tiny_cohort_dir)]) == 0
    assert "usable: yes" in capsys.readouterr().out
    _edit_clinical(cohort_copy, lambda df: df.drop(columns=["progressed", "event"]))
    assert main(["validate", str(cohort_copy)]) == 1
    assert "required column 'progressed'" in capsys.readouterr().out


def test_missing_required_column(cohort_copy):
    _edit_clinical(cohort_copy, lambda df: df.drop(columns=["progressed", "months_to_event"]))
    with pytest.raises(CohortError, match=r"required column 'progressed' \(or months_to_event and event"):
        load_cohort(cohort_copy)


def test_every_problem_is_reported_at_once_with_location(cohort_copy):
    def breaks(df):
        df.loc[0, "hgb"] = "abc"                 # wrong type
        df.loc[1, "plt"] = "99999"               # out of range
        df.loc[2, "hgb"] = "10.2"                # looks like g/dL
        df.loc[3, "mprotein_heavy"] = "IgX"      # unknown level
        df.loc[5, "patient_id"] = df.loc[4, "patient_id"]  # duplicate id
        df.loc[6, "progressed"] = ""             # missing outcome (and no follow-up to derive it from)
        df.loc[6, "months_to_event"] = ""
        df["favourite_colour"] = "blue"          # unknown column
        return df

    _edit_clinical(cohort_copy, breaks)
    report, cohort, text = _messages(cohort_copy)
    assert cohort is None
    assert "row 1" in text and "column 'hgb'" in text and "expected a number" in text and "'abc'" in text
    assert "column 'plt'" in text and "Got '99999'" in text and "impossible" in text
    assert "looks like a value in g/dL" in text and "10.2 g/dL = 102 g/L" in text
    assert "expected one of ['IgG', 'IgA', 'IgM', 'IgD', 'light_chain_only']. Got 'IgX'" in text
    assert "expected unique patient IDs" in text
    assert "expected the outcome 0 or 1. Got an empty cell" in text
    assert any(p.severity == "warning" and "favourite_colour" in p.message for p in report.problems)
    assert len(report.errors) >= 6


def test_whole_column_in_another_unit_is_reported_once(cohort_copy):
    _edit_clinical(cohort_copy, lambda df: df.assign(
        creatinine=[f"{float(v) / 88.42:.2f}" if v else "" for v in df["creatinine"]]))
    report, cohort, text = _messages(cohort_copy)
    assert cohort is None
    creat = [p for p in report.errors if p.column == "creatinine"]
    assert len(creat) == 1 and "look like mg/dL" in creat[0].message and "units: {creatinine: mg/dL}" in creat[0].message


def test_declared_units_are_converted(cohort_copy):
    raw = pd.read_csv(cohort_copy / "clinical.csv", dtype={"patient_id": str})
    _edit_clinical(cohort_copy, lambda df: df.assign(
        hgb=[f"{float(v) / 10:.1f}" if v else "" for v in df["hgb"]]))
    (cohort_copy / "variables.yaml").write_text("units:\n  hgb: g/dL\n")
    cohort = load_cohort(cohort_copy)
    assert np.allclose(cohort.clinical["hgb"], raw["hgb"], equal_nan=True, atol=0.51)


def test_extra_variables_from_yaml_are_validated(cohort_copy):
    _edit_clinical(cohort_copy, lambda df: df.assign(ecog=["1"] * (len(df) - 1) + ["7"]))
    (cohort_copy / "variables.yaml").write_text(
        "variables:\n  - name: ecog\n    type: ordinal\n    levels: ['0', '1', '2', '3', '4']\n")
    report, cohort, text = _messages(cohort_copy)
    assert cohort is None and "column 'ecog'" in text and "Got '7'" in text


def test_supplied_stage_that_disagrees_is_flagged(cohort_copy):
    def flip(df):
        df.loc[df["iss"] == "I", "iss"] = "III"
        return df

    _edit_clinical(cohort_copy, flip)
    report, cohort, text = _messages(cohort_copy)
    assert cohort is not None, "a stage mismatch is a warning; the cohort stays usable"
    assert "expected ISS I from the labs" in text and "Got III" in text


def test_missing_unreadable_and_orphan_images(cohort_copy):
    imgs = pd.read_csv(cohort_copy / "images.csv")
    (cohort_copy / imgs.loc[0, "path"]).unlink()
    (cohort_copy / imgs.loc[1, "path"]).write_bytes(b"this is not a png")
    data = (cohort_copy / imgs.loc[2, "path"]).read_bytes()
    (cohort_copy / imgs.loc[2, "path"]).write_bytes(data[: len(data) // 2])
    extra = pd.DataFrame([{"patient_id": "NOBODY", "modality": "marrow", "path": imgs.loc[3, "path"]},
                          {"patient_id": imgs.loc[4, "patient_id"], "modality": "xray", "path": imgs.loc[4, "path"]}])
    pd.concat([imgs, extra]).to_csv(cohort_copy / "images.csv", index=False)
    report, cohort, text = _messages(cohort_copy)
    assert cohort is None
    assert "Got no such file" in text
    assert "expected a PNG, JPEG or TIFF image. Got bytes that are not one" in text
    assert "damaged or truncated" in text
    assert "unknown patient 'NOBODY'" in text
    assert "Got 'xray'" in text


def test_no_clinical_table(tmp_path):
    report, cohort = validate_cohort(tmp_path)
    assert cohort is None and "expected clinical.csv or clinical.xlsx" in report.summary()


def test_patients_without_a_modality_load_and_are_counted(cohort_copy):
    imgs = pd.read_csv(cohort_copy / "images.csv", dtype=str)
    drop = imgs["patient_id"].isin(imgs["patient_id"].unique()[:10]) & (imgs["modality"] == "marrow")
    imgs[~drop].to_csv(cohort_copy / "images.csv", index=False)
    cohort = load_cohort(cohort_copy)
    has = cohort.coverage()
    assert (~has["marrow"]).sum() >= 10
    assert cohort.report.patients_with["marrow"] == has["marrow"].sum()


def test_clinical_only_cohort_loads(cohort_copy):
    (cohort_copy / "images.csv").unlink()
    shutil.rmtree(cohort_copy / "images")
    cohort = load_cohort(cohort_copy)
    assert len(cohort.images) == 0 and not cohort.has_modality("marrow").any()


def test_minimal_cohort_with_only_id_and_outcome(tmp_path):
    pd.DataFrame({"patient_id": ["a", "b", "c"], "progressed": [0, 1, "yes"]}).to_csv(tmp_path / "clinical.csv",
                                                                                     index=False)
    cohort = load_cohort(tmp_path)
    assert cohort.y.tolist() == [0, 1, 1] and cohort.feature_columns == []


def test_excel_clinical_table(tiny_cohort_dir, tmp_path):
    df = pd.read_csv(tiny_cohort_dir / "clinical.csv", dtype=str)
    df.head(20).to_excel(tmp_path / "clinical.xlsx", index=False)
    cohort = load_cohort(tmp_path)
    assert len(cohort.patient_ids) == 20 and cohort.clinical["hgb"].notna().any()
