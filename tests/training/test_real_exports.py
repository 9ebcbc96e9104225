"""Issue 10's acceptance: a cohort exported the way hospitals export it validates with warnings, trains the
`test` profile end to end, and scores in batch with one row per patient."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from zoo.cohort import validate_cohort

US = {"hgb": ("HGB (g/dL)", 0.1), "alb": ("ALBUMIN (g/dL)", 0.1), "creatinine": ("CREAT (mg/dL)", 1 / 88.42),
      "calcium": ("Corrected Ca (mg/dL)", 1 / 0.2495), "mprotein_level": ("M-SPIKE (g/dL)", 0.1)}
HEADERS = {"patient_id": "PATIENT_ID", "age": "AGE", "sex": "Gender", "b2m": "B2M (mg/L)", "ldh": "LDH (U/L)",
           "iss": "ISS", "fish_del17p": "del(17p)", "fish_t4_14": "t(4;14)", "fish_1q21_gain": "1q21 gain",
           "progressed": "PROGRESSED", "months_to_event": "PFS (months)", "event": "PFS event"}


def hospital_export(clinical_csv, out_dir, n: int | None = None) -> pd.DataFrame:
    """The tiny cohort's table as an R/Excel export from a US lab in Europe: ';' and decimal commas,
    Windows-1252, upper-case headers with units, integer ages, yes/no FISH, an assay limit, a dialysis
    patient's creatinine and 400 months of follow-up."""
    src = pd.read_csv(clinical_csv, dtype={"patient_id": str})
    if n:
        src = src.head(n)
    df = pd.DataFrame({"PATIENT_ID": src["patient_id"]})
    df["AGE"] = src["age"].round().astype("Int64")
    df["Gender"] = src["sex"].str.upper()
    for col, (head, f) in US.items():
        df[head] = (src[col] * f).round(2)
    df["B2M (mg/L)"] = src["b2m"].round(1)
    df["LDH (U/L)"] = src["ldh"].round().astype("Int64")
    df["ISS"] = src["iss"]
    for col in ("fish_del17p", "fish_t4_14", "fish_1q21_gain"):
        df[HEADERS[col]] = src[col].map({1.0: "yes", 0.0: "no"})
    df["PROGRESSED"] = src["progressed"].astype(int)
    df["PFS (months)"] = src["months_to_event"].round(1)
    df["PFS event"] = src["event"].astype(int)
    df["Kommentar/Remarque"] = "vérifié"
    text = df.astype(object).where(df.notna(), "").astype(str)
    for c in text.columns:
        text[c] = text[c].str.replace(".", ",", regex=False) if c not in ("PATIENT_ID", "Gender", "ISS") else text[c]
    text.loc[0, "CREAT (mg/dL)"] = "22"                 # a dialysis patient: impossible-looking, real
    text.loc[1, "PFS (months)"] = "400"                # 33 years of follow-up
    text.loc[1, "PROGRESSED"], text.loc[1, "PFS event"] = "0", "0"
    text.loc[2, "B2M (mg/L)"] = "<0,5"                 # below the assay's limit
    text.loc[3, "PFS (months)"] = "10,5"               # lost to follow-up at 10.5 months without progression
    text.loc[3, "PROGRESSED"], text.loc[3, "PFS event"] = "0", "0"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "clinical.csv").write_bytes(text.to_csv(sep=";", index=False, lineterminator="\r\n")
                                           .encode("windows-1252"))
    return src


@pytest.fixture(scope="module")
def export_dir(tiny_cohort_dir, tmp_path_factory):
    d = tmp_path_factory.mktemp("exports") / "hospital"
    hospital_export(tiny_cohort_dir / "clinical.csv", d)
    return d


def test_hospital_export_validates_with_warnings(export_dir, tiny_cohort_dir):
    report, cohort = validate_cohort(export_dir)
    assert report.ok, report.summary()
    kinds = {p.kind for p in report.warnings}
    assert {"format", "assay_limit", "unknown_column", "header"} <= kinds
    assert not any("dtype" in p.message or "failed check" in p.message for p in report.problems)
    src = pd.read_csv(tiny_cohort_dir / "clinical.csv", dtype={"patient_id": str}).set_index("patient_id")
    c = cohort.clinical
    first, second, third = src.index[:3]
    assert c.loc[first, "creatinine"] == pytest.approx(22 * 88.42)
    assert c.loc[second, "months_to_event"] == 400
    assert c.loc[third, "b2m"] == pytest.approx(0.5)
    lost = src.index[3]
    assert lost not in c.index, "a non-progressor censored before 24 months has an unknown outcome"
    assert any(p.kind == "outcome_unknown" and p.patient_id == lost and "10.5 months" in p.message
               for p in report.warnings)
    assert report.n_censored_early >= 1
    rest = src.index[4:]
    assert np.allclose(c.loc[rest, "hgb"], src.loc[rest, "hgb"], atol=0.06, equal_nan=True)
    assert np.allclose(c.loc[rest, "creatinine"], src.loc[rest, "creatinine"], rtol=0.01, atol=0.5, equal_nan=True)
    assert np.allclose(c.loc[rest, "calcium"], src.loc[rest, "calcium"], atol=0.003, equal_nan=True)
    assert (c["fish_del17p"].dropna() == src.loc[c.index, "fish_del17p"].dropna()).all()


@pytest.mark.slow
def test_hospital_export_trains_end_to_end_and_scores_in_batch(export_dir, tmp_path, capsys):
    from zoo.api import Zoo
    from zoo.cli import main

    out = tmp_path / "zoo"
    assert main(["train", "--cohort", str(export_dir), "--profile", "test", "--out", str(out), "--quiet"]) == 0
    zoo = Zoo.load(out)
    assert set(zoo.manifest["models"]) >= {"clinical_lr", "clinical_knn", "clinical_rf"}
    assert zoo.manifest["failed_models"] == {}
    assert "ens_soft_vote" in zoo.ensemble_names
    excluded = zoo.metrics()["outcome_excluded"]["development"]
    assert excluded["censored_early"] >= 1
    assert "followed < 24 months without progression" in capsys.readouterr().err
    preds = tmp_path / "preds.csv"
    assert main(["predict", "--zoo", str(out), "--cohort", str(export_dir), "--out", str(preds), "--quiet"]) == 0
    table = pd.read_csv(preds, dtype={"patient_id": str})
    n_rows = len(pd.read_csv(export_dir / "clinical.csv", sep=";", encoding="windows-1252"))
    assert len(table) == n_rows and table["patient_id"].is_unique
    assert {"probability", "risk_band", "members_used", "modalities_used", "warnings",
            "p_clinical_lr", "p_ens_soft_vote"} <= set(table.columns)
    assert table["probability"].between(0, 1).all()
    # the same table given as --clinical scores the same
    preds2 = tmp_path / "preds2.csv"
    assert main(["predict", "--zoo", str(out), "--clinical", str(export_dir / "clinical.csv"),
                 "--out", str(preds2), "--quiet"]) == 0
    t2 = pd.read_csv(preds2, dtype={"patient_id": str})
    assert np.allclose(t2["probability"], table["probability"])
    lim = table.loc[2, "warnings"]
    assert "assay" in lim and "b2m" in lim


def test_single_patient_json_echoes_id_and_ignores_outcome(test_zoo_dir, tmp_path, capsys):
    from zoo.cli import main

    p = tmp_path / "patient.json"
    p.write_text(json.dumps({"patient_id": "X-17", "hgb": 95, "age": 67, "progressed": 1, "event": 0}))
    assert main(["predict", "--zoo", str(test_zoo_dir), "--clinical", str(p)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["patient_id"] == "X-17" and 0 <= out["probability"] <= 1
    assert any("'progressed' is an outcome and was ignored" in w for w in out["warnings"])


def test_batch_needs_out_and_says_so(test_zoo_dir, tiny_cohort_dir, capsys):
    from zoo.cli import main

    assert main(["predict", "--zoo", str(test_zoo_dir), "--cohort", str(tiny_cohort_dir)]) == 2
    assert "Expected --out FILE.csv" in capsys.readouterr().err


def test_batch_scoring_of_a_cohort_with_images_has_one_row_per_patient(test_zoo, tiny_cohort_dir):
    from zoo.scoring.batch import score_cohort_dir

    table, report = score_cohort_dir(test_zoo, tiny_cohort_dir, show_bar=False)
    stored = test_zoo.predictions()
    test_ids = test_zoo.split()["test"]
    assert len(table) == len(pd.read_csv(tiny_cohort_dir / "clinical.csv")) and table["patient_id"].is_unique
    got = table.set_index("patient_id").loc[test_ids, "p_ens_soft_vote"]
    want = stored[(stored["split"] == "test") & (stored["model"] == "ens_soft_vote")].set_index("patient_id")["prob"]
    assert np.allclose(got.to_numpy(), want.loc[test_ids].to_numpy(), atol=1e-6), \
        "batch scoring reproduces the stored test predictions"
    no_marrow = table[table["warnings"].str.contains("no Bone-marrow smear", na=False)]
    assert len(no_marrow) >= 1 and (no_marrow["p_marrow_resnet18"].isna()).all()
