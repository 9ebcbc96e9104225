"""Shapes real exports take that once got through wrongly or not at all (found by an import fuzz, 2026-12-07).

Each case asserts the value that arrives, not only that validation passes: the failures were silent changes.
"""
from __future__ import annotations

import pandas as pd
import pytest

from zoo.cohort import validate_cohort
from zoo.cohort.readers import TableReadError, read_csv_bytes, read_table


def _clinical(tmp_path, text: str | bytes, name: str = "clinical.csv"):
    data = text.encode("utf-8") if isinstance(text, str) else text
    (tmp_path / name).write_bytes(data)
    return validate_cohort(tmp_path)


def test_a_plus_minus_coded_fish_column_keeps_its_negatives(tmp_path):
    report, cohort = _clinical(tmp_path, "patient_id,del(17p),t(4;14),progressed\n"
                                         "a,+,-,1\nb,-,\u2212,0\nc,-,+,0\nd,,-,1\n")
    assert report.ok, report.summary()
    c = cohort.clinical
    assert c["fish_del17p"].tolist()[:3] == [1, 0, 0] and pd.isna(c.loc["d", "fish_del17p"])
    assert c["fish_t4_14"].tolist() == [0, 0, 1, 0], "'−' (minus sign) is a '-' too"


def test_a_dash_in_a_column_without_plus_stays_missing(tmp_path):
    report, cohort = _clinical(tmp_path, "patient_id,del(17p),hgb,progressed\na,pos,-,1\nb,-,101,0\n"
                                         "c,neg,\u2014,0\nd,neg,99,-\n")
    c = cohort.clinical
    assert pd.isna(c.loc["b", "fish_del17p"]) and c["fish_del17p"].tolist()[::2] == [1, 0]
    assert c["hgb"].isna().tolist() == [True, False, True], "'-' and '—' in a number column are missing"
    assert cohort.patient_ids == ["a", "b", "c"], "'-' in the outcome column is unknown, never non-PD"


def test_data_rows_ending_with_a_delimiter_do_not_shift_the_columns(tmp_path):
    report, cohort = _clinical(tmp_path, "patient_id,mrn,hgb,progressed\na,123,101,1,\nb,456,95,0,\n")
    assert report.ok, report.summary()
    assert cohort.patient_ids == ["a", "b"] and cohort.clinical["hgb"].tolist() == [101.0, 95.0]
    assert cohort.y.tolist() == [1, 0]


def test_thousands_separators_in_a_comma_file_stay_thousands(tmp_path):
    report, cohort = _clinical(tmp_path, 'patient_id,urine_light_chain,progressed\na,"1,234",1\nb,"2,500",0\nc,80,0\n')
    assert report.ok, report.summary()
    assert cohort.clinical["urine_light_chain"].tolist() == [1234.0, 2500.0, 80.0]
    assert "decimal commas" not in report.summary()


def test_a_quoted_decimal_comma_in_a_comma_file_is_still_a_decimal(tmp_path):
    read = read_csv_bytes(b'patient_id,hgb\na,"12,5"\nb,"1,234"\n', "x.csv")
    assert read.decimal_comma, "'12,5' can only be a decimal comma"


def test_a_header_given_twice_is_refused_with_both_columns_named(tmp_path):
    with pytest.raises(TableReadError, match=r"expected each header once. Got 'hgb' in columns 2 and 3"):
        read_csv_bytes(b"patient_id,hgb,hgb,progressed\na,101,30,1\n", "clinical.csv")
    x = tmp_path / "clinical.xlsx"
    pd.DataFrame([["a", 101, 30, 1]], columns=["patient_id", "Hb", "Hb ", "progressed"]).to_excel(x, index=False)
    with pytest.raises(TableReadError, match=r"'Hb' in columns 2 and 3"):
        read_table(x)


def test_decimal_comma_codes_in_flag_and_stage_columns(tmp_path):
    text = "patient_id;del(17p);ISS;hgb;progressed\na;1,0;3,0;105,5;1\nb;0,0;1,0;120,0;0\n"
    report, cohort = _clinical(tmp_path, text)
    assert report.ok, report.summary()
    assert cohort.clinical["fish_del17p"].tolist() == [1, 0] and cohort.clinical["iss"].tolist() == ["III", "I"]
    assert cohort.clinical["hgb"].tolist() == [105.5, 120.0]


def test_excel_percentage_cells_are_read_as_the_percentages_shown(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["patient_id", "bmpc", "hgb", "progressed"])
    for pid, frac, hgb, y in (("a", 0.18, 101, 1), ("b", 0.6, 95, 0), ("c", 45, 120, 0)):
        ws.append([pid, frac, hgb, y])
    for r in (2, 3):
        ws.cell(row=r, column=2).number_format = "0%"
    wb.save(tmp_path / "clinical.xlsx")
    report, cohort = validate_cohort(tmp_path)
    assert report.ok, report.summary()
    assert cohort.clinical["bmpc"].tolist() == pytest.approx([18.0, 60.0, 45.0])
    assert "formatted as percentages" in report.summary()


def test_a_blank_outcome_is_filled_from_follow_up_and_said_so(tmp_path):
    report, cohort = _clinical(tmp_path, "patient_id,progressed,months_to_event,event\n"
                                         "a,,10,1\nb,,30,0\nc,,12,0\nd,1,5,1\n")
    assert cohort.patient_ids == ["a", "b", "d"] and cohort.y.tolist() == [1, 0, 1]
    assert "2 empty 'progressed' cell(s) filled in from months_to_event and event" in report.summary()


def _with_images(cohort_copy, edit):
    p = cohort_copy / "images.csv"
    df = pd.read_csv(p, dtype=str)
    edit(df)
    df.to_csv(p, index=False)
    return validate_cohort(cohort_copy, decode_images=False)


def test_windows_backslash_image_paths_are_read(cohort_copy):
    def edit(df):
        df["path"] = df["path"].str.replace("/", "\\")
    report, cohort = _with_images(cohort_copy, edit)
    assert report.ok, report.summary()
    assert cohort.images["path"].str.contains("/").all() and not cohort.images["path"].str.contains("\\\\").any()
    assert "written with backslashes" in report.summary()


def test_a_path_in_the_wrong_letter_case_names_the_file_that_exists(cohort_copy):
    def edit(df):
        df.loc[0, "path"] = df.loc[0, "path"].upper()
    right = pd.read_csv(cohort_copy / "images.csv", dtype=str).loc[0, "path"]
    report, _ = _with_images(cohort_copy, edit)
    assert f"A file {right!r} exists: paths are case-sensitive here" in report.summary()


def test_an_over_long_file_name_is_one_rows_error_not_the_end_of_validation(cohort_copy):
    def edit(df):
        df.loc[0, "path"] = "images/" + "x" * 300 + ".png"
    report, _ = _with_images(cohort_copy, edit)
    errs = [p for p in report.errors if p.column == "path"]
    assert len(errs) == 1 and errs[0].row == 1 and "expected an image file" in errs[0].message


def test_utf16_without_a_byte_order_mark_is_read(tmp_path):
    report, cohort = _clinical(tmp_path, "patient_id\tHb (g/L)\tprogressed\r\na\t101\t1\r\nb\t95\t0\r\n".encode("utf-16-le"))
    assert report.ok, report.summary()
    assert cohort.clinical["hgb"].tolist() == [101.0, 95.0] and "UTF-16 without a byte-order mark" in report.summary()


def test_stage_spellings_with_spaces_and_the_word_stage(tmp_path):
    report, cohort = _clinical(tmp_path, "patient_id,ds_stage,iss,sex,progressed\na,III A,Stage 2,n.a.,1\n"
                                         "b,IIB,stage III,male,0\n")
    assert report.ok, report.summary()
    c = cohort.clinical
    assert c["ds_stage"].tolist() == ["IIIA", "IIB"] and c["iss"].tolist() == ["II", "III"]
    assert pd.isna(c.loc["a", "sex"])


def test_a_table_of_too_many_columns_is_refused_before_it_is_parsed(tmp_path):
    from openpyxl import Workbook

    from zoo.cohort import readers

    wide = ",".join(f"c{i}" for i in range(readers.MAX_COLUMNS + 1)) + "\n" + ",".join("1" * (readers.MAX_COLUMNS + 1))
    with pytest.raises(TableReadError, match=r"expected at most 2,000 columns. Got 2,001"):
        read_csv_bytes(wide.encode(), "batch.csv")
    wb = Workbook()
    wb.active.append([f"c{i}" for i in range(readers.MAX_COLUMNS + 1)])
    wb.save(tmp_path / "wide.xlsx")
    with pytest.raises(TableReadError, match=r"wide.xlsx: expected at most 2,000 columns. Got 2,001 on sheet"):
        read_table(tmp_path / "wide.xlsx")
    ok = ",".join(f"c{i}" for i in range(readers.MAX_COLUMNS)) + "\n" + ",".join("1" * readers.MAX_COLUMNS)
    assert read_csv_bytes(ok.encode(), "batch.csv").frame.shape[1] == readers.MAX_COLUMNS


def test_a_title_block_above_the_header_is_skipped_and_said(tmp_path):
    report, cohort = _clinical(tmp_path, "Myeloma registry export, 30.11.2026\n\npatient_id,hgb,progressed\n"
                                         "a,101,1\nb,95,0\nc,,0\n")
    assert report.ok, report.summary()
    assert cohort.patient_ids == ["a", "b", "c"] and cohort.clinical["hgb"].tolist()[:2] == [101.0, 95.0]
    assert "header is on line 3" in report.summary() and "Myeloma registry export" in report.summary()


def test_a_title_block_above_an_excel_header_is_skipped_and_percent_cells_still_found(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["LIMS report 2026-11-30"])
    ws.append([])
    ws.append(["Patient ID", "Plasma cells (%)", "progressed"])
    for pid, bm, y in (("a", 0.42, 1), ("b", 0.18, 0), ("c", None, 0)):
        ws.append([pid, bm, y])
    for r in (4, 5):
        ws.cell(row=r, column=2).number_format = "0%"
    wb.save(tmp_path / "clinical.xlsx")
    report, cohort = validate_cohort(tmp_path)
    assert report.ok, report.summary()
    assert cohort.patient_ids == ["a", "b", "c"]
    assert cohort.clinical["bmpc"].tolist()[:2] == pytest.approx([42.0, 18.0])
    assert "header is on line 3" in report.summary()


def test_a_first_row_of_data_is_never_taken_for_a_title(tmp_path):
    """Rows above the header may hold at most two cells: a wide row without the ID header is not a title."""
    from zoo.cohort.readers import title_rows

    assert title_rows([["patient_id", "hgb"], ["a", "1"]]) == 0
    assert title_rows([["x", "y", "z"], ["patient_id", "hgb"]]) == 0
    assert title_rows([["Report"], [], ["Study ID", "hgb"]]) == 2


def test_a_row_of_group_labels_over_the_header_is_skipped_and_said(tmp_path):
    """Registries group columns under merged labels ('Labs' over three columns); its first label may even be an ID
    synonym ('Patient'), which made that row the header and every real header the first patient."""
    from openpyxl import Workbook

    from zoo.cohort.readers import title_rows

    report, cohort = _clinical(tmp_path, "Patient,,Labs,,FISH,Outcome\npatient_id,age,hgb,plt,fish_del17p,progressed\n"
                                         "a,60,101,200,0,1\nb,70,95,150,1,0\nc,65,,180,0,0\n")
    assert report.ok, report.summary()
    assert cohort.patient_ids == ["a", "b", "c"] and cohort.clinical["hgb"].tolist()[:2] == [101.0, 95.0]
    assert "header is on line 2" in report.summary() and "group labels" in report.summary()
    d = tmp_path / "xl"
    d.mkdir()
    wb = Workbook()
    ws = wb.active
    ws.append(["Patient", None, "Labs", None, "Outcome"])
    ws.merge_cells("A1:B1")
    ws.merge_cells("C1:D1")
    ws.append(["Study ID", "age", "hgb", "plt", "progressed"])
    for r in (["a", 60, 101, 200, 1], ["b", 70, 95, 150, 0], ["c", 65, None, 180, 0]):
        ws.append(r)
    wb.save(d / "clinical.xlsx")
    report, cohort = validate_cohort(d)
    assert report.ok, report.summary()
    assert cohort.patient_ids == ["a", "b", "c"] and cohort.clinical["plt"].tolist() == [200.0, 150.0, 180.0]
    # a data row is never a group-label row: as many cells as the header, or numbers
    assert title_rows([["patient_id", "sex", "hgb"], ["a", "patient", "m"], ["b", "f", "1"]]) == 0
    assert title_rows([["Patient", "Labs", "2026", ""], ["patient_id", "age", "hgb", "plt"]]) == 0
    # a header with an unlabelled notes column is no group-label row for a first patient whose note says 'patient'
    assert title_rows([["patient_id", "age", "hgb", ""], ["P001", "71", "101", "patient"]]) == 0


def test_ids_that_excel_made_into_dates_are_said_in_both_tables(tmp_path):
    """Excel opens a CSV and turns IDs such as '1-12' into '01-Dec': the image table no longer matches, and nothing
    said why. The IDs are kept as they are; both tables say what probably happened."""
    (tmp_path / "images.csv").write_text("patient_id,modality,path\n1-12,marrow,images/a.png\n")
    report, _ = _clinical(tmp_path, "patient_id,hgb,progressed\n01-Dec,101,1\n2-Dec,95,0\nA7,90,0\n")
    [w] = [p for p in report.warnings if p.kind == "date_id"]
    assert w.file == "clinical.csv" and "2 patient ID(s) look like dates ('01-Dec', '2-Dec')" in w.message
    [e] = [p for p in report.errors if p.file == "images.csv"]
    assert "unknown patient '1-12'" in e.message and "look like dates ('01-Dec')" in e.message
    from zoo.cohort.validate import date_like_ids

    assert date_like_ids(["2026-12-01 00:00:00", "Sep-02", "1. Mrz", "3/4/2026"]) == [
        "2026-12-01 00:00:00", "Sep-02", "1. Mrz", "3/4/2026"]
    assert date_like_ids(["A0001", "SEP2", "DEC1", "MM-017", "P-12", "17", "2026", "1-12"]) == []


def test_a_sex_column_with_a_letter_no_code_knows_gets_no_letter_guessed(tmp_path):
    """Spanish H (hombre) / M (mujer): H was an error and M read as male beside it, silently. Now the column's
    letters are all errors with one hint; mapping them reads them; heavy-chain letters (the same everywhere) keep
    theirs beside an unknown one."""
    report, _ = _clinical(tmp_path, "patient_id,sex,progressed\nA,H,0\nB,M,1\nC,M,0\n")
    bad = [p for p in report.errors if p.column == "sex"]
    assert [p.value for p in bad] == ["H", "M", "M"]
    assert "letters no code knows ('H')" in bad[1].message and "codes: {sex: {H: …, M: …}}" in bad[1].message
    many = tmp_path / "many"
    many.mkdir()
    rows = "".join(f"P{i},{chr(0x4E00 + i)},0\n" for i in range(300)) + "Q,M,1\n"
    report, _ = _clinical(many, "patient_id,sex,progressed\n" + rows)
    hint = [p.message for p in report.errors if p.column == "sex"][0]
    assert "and 297 more" in hint and len(hint) < 600, "the hint names a few letters, not every one on every row"
    (tmp_path / "variables.yaml").write_text("codes:\n  sex: {H: male, M: female}\n")
    report, cohort = validate_cohort(tmp_path)
    assert report.ok and cohort.clinical["sex"].tolist() == ["male", "female", "female"]
    d = tmp_path / "en"
    d.mkdir()
    report, cohort = _clinical(d, "patient_id,sex,mprotein_heavy,progressed\nA,M,G,0\nB,F,X,1\nC,m,A,0\n")
    assert not [p for p in report.problems if p.column == "sex"]
    assert [p.value for p in report.errors if p.column == "mprotein_heavy"] == ["X"]


def test_none_is_a_level_where_the_variable_has_one_and_missing_with_a_warning_elsewhere(tmp_path):
    """'None' was blanked before validation, so 'no bone lesions' became unknown, and codes: {None: …} was ignored,
    both silently (a data manager's fuzz)."""
    text = ("patient_id,bone_lesions,mprotein_heavy,hgb,progressed\n"
            "P1,None,None,None,0\nP2,3+,IgG,101,1\nP3,none,IgA,99,0\nNone,0,IgG,90,0\n")
    report, _ = _clinical(tmp_path, text)
    assert [p.row for p in report.errors if p.kind == "missing_id"] == [4], "an ID of 'None' is no ID"
    report, cohort = _clinical(tmp_path, text.replace("None,0,IgG,90,0\n", ""))
    assert report.ok, report.summary()
    c = cohort.clinical
    assert c["bone_lesions"].tolist() == ["0", "3+", "0"], "'None' is the alias of 0 lesions"
    assert pd.isna(c.loc["P1", "mprotein_heavy"]) and pd.isna(c.loc["P1", "hgb"])
    said = {p.column: p.message for p in report.warnings if p.kind == "missing_word"}
    assert set(said) == {"mprotein_heavy", "hgb"} and "codes: {mprotein_heavy: {None: …}}" in said["mprotein_heavy"]
    (tmp_path / "variables.yaml").write_text("codes:\n  mprotein_heavy: {None: light_chain_only}\n")
    report, cohort = validate_cohort(tmp_path)
    assert report.ok and cohort.clinical.loc["P1", "mprotein_heavy"] == "light_chain_only"


def test_a_dash_only_fish_column_in_a_plus_minus_file_is_negative(tmp_path):
    """A rare translocation with no positive patient: its column holds only '-', which was blanked as missing because
    the column held no '+', although every other FISH column of the file codes negative as '-'."""
    report, cohort = _clinical(tmp_path, "patient_id,fish_del17p,fish_t14_16,sex,hgb,progressed\n"
                                         "P1,+,-,m,-,0\nP2,-,-,-,100,1\nP3,-,,f,99,0\n")
    assert report.ok, report.summary()
    c = cohort.clinical
    assert c["fish_t14_16"].tolist()[:2] == [0, 0] and pd.isna(c.loc["P3", "fish_t14_16"])
    assert pd.isna(c.loc["P2", "sex"]) and pd.isna(c.loc["P1", "hgb"]), "a dash elsewhere stays missing"
    d = tmp_path / "no_plus"
    d.mkdir()
    _, cohort = _clinical(d, "patient_id,fish_t14_16,progressed\nP1,-,0\nP2,-,1\n")
    assert cohort.clinical["fish_t14_16"].isna().all(), "without any '+' in the file a dash is missing"


def test_summary_rows_under_the_table_are_left_out_and_said(tmp_path):
    """A 'Median' row under the patients has valid-looking values and trained as a patient, silently."""
    report, cohort = _clinical(tmp_path, "patient_id,age,hgb,progressed\nP1,60,110,0\nP2,70,95,1\nP3,65,100,0\n"
                                         "Median,65,100,0\nMean,65,101.7,0.33\nSD,5,7.6,0.58\n")
    assert report.ok, report.summary()
    assert cohort.patient_ids == ["P1", "P2", "P3"]
    assert "data row 4–6" in report.summary() and "summary rows" in report.summary()
    d = tmp_path / "mid"
    d.mkdir()
    _, cohort = _clinical(d, "patient_id,age,progressed\nP1,60,0\nN,70,1\nP3,65,0\n")
    assert cohort.patient_ids == ["P1", "N", "P3"], "only trailing rows: a patient called N in the middle stays"


def test_a_progressed_ever_flag_beside_pfs_is_questioned(tmp_path):
    """'PFS (months)' with a registry's 'Progression' (ever) column: a progression at month 33 read as PD within 24
    months, with only a header note."""
    report, cohort = _clinical(tmp_path, "patient_id,PFS (months),Progression\nP1,33.3,1\nP2,12,1\nP3,40,0\n")
    [w] = [p for p in report.warnings if p.kind == "outcome_conflict"]
    assert "1 patient(s) with progressed = 1" in w.message and "row 1" in w.message and "'event'" in w.message
    assert cohort.clinical["progressed"].tolist() == [1, 1, 0], "kept as given"


def test_a_repeated_header_a_long_report_title_and_a_fixed_width_listing(tmp_path):
    """Three exports a data-manager fuzz found refused with a message that did not say why."""
    report, cohort = _clinical(tmp_path, "patient_id,age,hgb,progressed\nP1,60,110,0\nP2,70,95,1\n"
                                         "patient_id,age,hgb,progressed\nP3,65,100,0\n")
    assert report.ok and cohort.patient_ids == ["P1", "P2", "P3"]
    assert "data row 3 repeat(s) the header" in report.summary()
    d = tmp_path / "title"
    d.mkdir()
    title = "".join(f"Parameter {i}: value\n" for i in range(12))
    report, cohort = _clinical(d, title + "patient_id,age,progressed\nP1,60,0\nP2,70,1\n")
    assert report.ok and cohort.patient_ids == ["P1", "P2"] and "header is on line 13" in report.summary()
    d = tmp_path / "fixed"
    d.mkdir()
    report, _ = _clinical(d, "patient_id  age   hgb    progressed\nP1          60    110    0\n")
    assert "fixed-width listing" in report.summary()


def test_an_excel_format_with_a_literal_percent_sign_is_not_a_percentage(tmp_path):
    """69 formatted as 0"%" shows 69% and is 69, not 6900."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["patient_id", "bmpc", "progressed"])
    ws.append(["a", 69, 1])
    ws.append(["b", 0.4, 0])
    ws.cell(row=2, column=2).number_format = '0"%"'
    ws.cell(row=3, column=2).number_format = "0%"
    wb.save(tmp_path / "clinical.xlsx")
    report, cohort = validate_cohort(tmp_path)
    assert report.ok, report.summary()
    assert cohort.clinical["bmpc"].tolist() == pytest.approx([69.0, 40.0])


def test_a_declared_unit_that_makes_the_median_atypical_is_questioned(tmp_path):
    """units: {ldh: µkat/L} over values written in U/L: each value 60 times too high and most still valid, with a
    message only for the few beyond the valid range."""
    rows = "".join(f"P{i},{v},0\n" for i, v in enumerate([140, 150, 120, 125, 130, 135, 160, 155, 110, 115, 100, 145]))
    (tmp_path / "variables.yaml").write_text("units:\n  ldh: µkat/L\n")
    report, cohort = _clinical(tmp_path, "patient_id,ldh,progressed\n" + rows)
    [w] = [p for p in report.warnings if p.kind == "unit" and p.column == "ldh"]
    assert "declared in µkat/L" in w.message and "read in U/L would be" in w.message
    (tmp_path / "variables.yaml").write_text("units:\n  ldh: U/L\n")
    report, _ = validate_cohort(tmp_path)
    assert not [p for p in report.warnings if p.kind == "unit"], "a right declaration is not questioned"


def test_a_row_of_variable_labels_under_the_header_is_left_out(tmp_path):
    """Stata/SPSS exports put the variable labels under the names: 28 'Correct the cell' errors, none saying why."""
    text = ("patient_id,age,hgb,plt,ldh,progressed\n"
            "Patient identifier,Age at diagnosis (years),Haemoglobin,Platelets,Lactate dehydrogenase,Progression\n"
            "P1,60,110,200,180,0\nP2,70,95,150,220,1\nP3,65,100,180,190,0\n")
    report, cohort = _clinical(tmp_path, text)
    assert report.ok, report.summary()
    assert cohort.patient_ids == ["P1", "P2", "P3"] and "holds variable labels" in report.summary()
    d = tmp_path / "patient"
    d.mkdir()
    report, _ = _clinical(d, text.replace("Patient identifier", "P0"))
    assert not report.ok, "a first row whose ID is an ID stays a patient, its text cells errors"


def test_a_long_format_extract_is_told_to_pivot(tmp_path):
    """One row per lab result: the errors said 'missing progressed' and 'merge the duplicates', never why."""
    rows = "".join(f"P{i},{test},{v}\n" for i in range(3) for test, v in (("HGB", 110), ("PLT", 200), ("LDH", 180)))
    report, _ = _clinical(tmp_path, "patient_id,test,result\n" + rows)
    assert "one row per lab result or visit" in report.summary() and "9 of 9 rows" in report.summary()
    d = tmp_path / "two"
    d.mkdir()
    report, _ = _clinical(d, "patient_id,hgb,progressed\nP1,110,0\nP1,100,0\nP2,90,1\nP3,95,0\nP4,99,1\n")
    assert "long-format" not in report.summary(), "a few duplicates are just duplicates"


def test_unit_spellings_lab_systems_write_in_headers(tmp_path):
    """'WBC (x10^9/L)', 'PLT (10*9/L)', 'Age (yrs)', 'PFS (mo)' were refused as unknown units."""
    report, cohort = _clinical(tmp_path, "patient_id,Age (yrs),WBC (x10^9/L),PLT (10*9/L),PFS (mo),event,progressed\n"
                                         "P1,60,5.1,200,30,0,0\nP2,70,6.2,150,12,1,1\nP3,65,4.4,180,40,1,0\n")
    assert report.ok, report.summary()
    c = cohort.clinical
    assert c["age"].tolist() == [60, 70, 65] and c["wbc"].tolist() == [5.1, 6.2, 4.4]
    assert c["plt"].tolist() == [200, 150, 180] and c["months_to_event"].tolist() == [30, 12, 40]
    from zoo.schema import DEFAULT_SCHEMA

    assert DEFAULT_SCHEMA["months_to_event"].to_canonical(2.0, "yrs") == 24.0
    assert DEFAULT_SCHEMA["wbc"].to_canonical(4.0, "×10⁹/L") == 4.0


def test_nd_is_missing_and_the_ambiguity_is_said(tmp_path):
    report, cohort = _clinical(tmp_path, "patient_id,mprotein_level,del(17p),progressed\na,ND,NK,1\nb,n.d.,no,0\n"
                                         "c,31,not known,0\n")
    assert report.ok, report.summary()
    c = cohort.clinical
    assert c["mprotein_level"].isna().tolist() == [True, True, False]
    assert c["fish_del17p"].isna().tolist() == [True, False, True], "NK / not known: not known, so missing"
    note = report.summary()
    assert "2 cell(s) of column 'mprotein_level' read 'ND' (data row 1, 2)" in note and "not detected" in note


def test_not_detected_in_a_number_column_says_to_write_zero(tmp_path):
    report, _ = _clinical(tmp_path, "patient_id,mprotein_level,progressed\na,not detected,1\nb,12,0\n")
    errs = [p for p in report.errors if p.column == "mprotein_level"]
    assert len(errs) == 1 and errs[0].row == 1 and "If none was detected, write 0" in errs[0].message


def test_stage_codes_written_with_the_system_s_name(tmp_path):
    report, cohort = _clinical(tmp_path, "patient_id,iss,riss,ds_stage,progressed\n"
                                         "a,ISS II,R-ISS I,DS IIIA,1\nb,ISS-III,RISS: II,Durie-Salmon IB,0\n"
                                         "c,ISS stage I,R-ISS III,Durie–Salmon stage IIB,0\n")
    assert report.ok, report.summary()
    c = cohort.clinical
    assert c["iss"].tolist() == ["II", "III", "I"]
    assert c["riss"].tolist() == ["I", "II", "III"]
    assert c["ds_stage"].tolist() == ["IIIA", "IB", "IIB"]


def test_another_system_s_name_is_not_read_as_this_column_s_stage(tmp_path):
    report, _ = _clinical(tmp_path, "patient_id,iss,progressed\na,R-ISS II,1\nb,I,0\n")
    assert [p.row for p in report.errors if p.column == "iss"] == [1]


def test_numbers_written_with_their_unit_are_converted_one_by_one(tmp_path):
    text = ("patient_id;Hb (g/L);bmpc;b2m;creatinine;progressed\n"
            "a;10,5 g/dL;45%;<0,5 mg/L;1,2 mg/dL;1\nb;98;30 %;3,5;88;0\nc;101 g/L;;;;0\n")
    report, cohort = _clinical(tmp_path, text)
    assert report.ok, report.summary()
    c = cohort.clinical
    assert c["hgb"].tolist() == pytest.approx([105.0, 98.0, 101.0]), "a g/dL cell in a g/L column is converted"
    assert c["bmpc"].tolist()[:2] == pytest.approx([45.0, 30.0])
    assert c.loc["a", "b2m"] == pytest.approx(0.5) and c.loc["a", "creatinine"] == pytest.approx(1.2 * 88.42, rel=1e-3)
    warned = {(p.row, p.column) for p in report.warnings if p.kind == "unit_in_cell"}
    assert {(1, "hgb"), (1, "bmpc"), (1, "b2m"), (1, "creatinine"), (2, "bmpc"), (3, "hgb")} <= warned


def test_a_unit_the_variable_is_not_read_in_is_an_error_naming_it(tmp_path):
    report, _ = _clinical(tmp_path, "patient_id,hgb,progressed\na,10.5 mg/L,1\nb,101,0\n")
    errs = [p for p in report.errors if p.column == "hgb"]
    assert len(errs) == 1 and "'mg/L'" in errs[0].message and "g/dL" in errs[0].message


def test_a_column_written_with_units_throughout_gets_one_warning(tmp_path):
    rows = "".join(f"p{i},{10 + i / 10:.1f} g/dL,{i % 2}\n" for i in range(30))
    report, cohort = _clinical(tmp_path, "patient_id,hgb,progressed\n" + rows)
    assert report.ok, report.summary()
    assert cohort.clinical["hgb"].tolist() == pytest.approx([100 + i for i in range(30)])
    warned = [p for p in report.warnings if p.kind == "unit_in_cell"]
    assert len(warned) == 1 and warned[0].row is None and "30 cells of column 'hgb'" in warned[0].message
    assert "g/dL: 30" in warned[0].message and "first data rows 1, 2, 3, 4, 5" in warned[0].message


def test_a_scored_table_s_notes_name_the_user_s_file(tmp_path):
    from zoo.cohort import load_clinical_table

    path = tmp_path / "lims_export_nov.csv"
    path.write_text("LIMS export\n\npatient_id;mprotein_level;hgb\na;ND;101\nb;12,5;99\n")
    report, table, _ = load_clinical_table(path)
    notes = [p for p in report.problems if p.kind == "format"]
    assert notes and all(p.file == "lims_export_nov.csv" for p in notes)
    assert all("clinical.csv" not in p.message for p in report.problems)
    assert any(p.message.startswith("the header is on line 3") for p in notes), "the file is named once, in .file"
    assert table.loc["b", "mprotein_level"] == 12.5


# --- a second import fuzz (84 export-shaped cases, 2026-12-07 evening): the silent changes and crashes it found ---

def test_an_images_table_with_a_row_key_beside_patient_id_reads_the_patient_id(cohort_copy):
    """A database export's 'id' row key beside 'patient_id' crashed validation (two columns became patient_id)."""
    t = pd.read_csv(cohort_copy / "images.csv", dtype=str)
    t.insert(0, "id", range(1, len(t) + 1))
    t.insert(len(t.columns), "image", "ignored")
    t["modality"] = t["modality"].str.replace("marrow", "Bone marrow")
    t.to_csv(cohort_copy / "images.csv", index=False)
    report, cohort = validate_cohort(cohort_copy, decode_images=False)
    assert report.ok, report.summary()
    assert len(cohort.images) == len(t)
    ignored = {p.column for p in report.warnings if p.file == "images.csv" and p.kind == "unknown_column"}
    assert ignored == {"id", "image"}


def test_footnote_marks_and_lab_flags_are_read_off_never_into_the_number(tmp_path):
    report, cohort = _clinical(tmp_path, "patient_id,creatinine,wbc,ldh,b2m,progressed\n"
                                         "a,185²,5.45¹,315 (H),3.31*,1\nb,90,3.19 L,200,2.5,0\n")
    assert report.ok, report.summary()
    c = cohort.clinical
    assert c.loc["a", "creatinine"] == 185 and c.loc["a", "wbc"] == 5.45 and c.loc["b", "wbc"] == 3.19
    assert c.loc["a", "ldh"] == 315 and c.loc["a", "b2m"] == 3.31
    marked = {(p.row, p.column) for p in report.warnings if p.kind == "marked_value"}
    assert marked == {(1, "creatinine"), (1, "wbc"), (1, "ldh"), (1, "b2m"), (2, "wbc")}


@pytest.mark.parametrize("sep, cell, expected", [(";", "16.670", 16670.0), ("\t", "16,670", 16670.0),
                                                 (";", "16,670", 16.67), ("\t", "16.670", 16.67)])
def test_thousands_or_three_decimals_is_decided_by_convention_and_said(tmp_path, sep, cell, expected):
    text = f"patient_id{sep}urine_light_chain{sep}progressed\na{sep}{cell}{sep}0\nb{sep}202{sep}1\n"
    report, cohort = _clinical(tmp_path, text)
    assert cohort.clinical.loc["a", "urine_light_chain"] == pytest.approx(expected)
    assert "could hold a thousands separator or three decimals" in report.summary()


def test_a_cell_that_decides_overrides_the_convention(tmp_path):
    report, cohort = _clinical(tmp_path, "patient_id;urine_light_chain;hgb;progressed\na;16.670;112,5;0\nb;202;110;1\n")
    assert cohort.clinical.loc["a", "urine_light_chain"] == 16670.0 and cohort.clinical.loc["a", "hgb"] == 112.5
    assert "could hold" not in report.summary()


def test_swiss_and_excel_text_marked_numbers_and_stata_missing(tmp_path):
    report, cohort = _clinical(tmp_path, "patient_id,urine_light_chain,hgb,ldh,progressed\n"
                                         "a,16'670,'112,.a,0\nb,1\u2019234,\u200f101,200,1\n")
    assert report.ok, report.summary()
    c = cohort.clinical
    assert c["urine_light_chain"].tolist() == [16670.0, 1234.0] and c["hgb"].tolist() == [112.0, 101.0]
    assert pd.isna(c.loc["a", "ldh"])


def test_invisible_characters_never_split_one_patient_in_two(tmp_path):
    report, _ = _clinical(tmp_path, "patient_id,hgb,progressed\nA0001,101,1\nA0001\u200b,99,0\n")
    assert any(p.kind == "duplicate_id" and p.severity == "error" for p in report.problems)


def test_ids_differing_only_in_case_are_flagged(tmp_path):
    report, cohort = _clinical(tmp_path, "patient_id,hgb,progressed\nA0001,101,1\na0001,99,0\n")
    assert cohort is not None and len(cohort.clinical) == 2
    w = [p for p in report.warnings if p.kind == "duplicate_id"]
    assert len(w) == 1 and "differ only in letter case" in w[0].message


def test_an_image_row_whose_id_differs_in_spelling_names_the_clinical_id(cohort_copy):
    t = pd.read_csv(cohort_copy / "images.csv", dtype=str)
    first = t.loc[0, "patient_id"]
    t.loc[0, "patient_id"] = first.lower()
    t.to_csv(cohort_copy / "images.csv", index=False)
    report, _ = validate_cohort(cohort_copy, decode_images=False)
    errs = [p for p in report.errors if p.file == "images.csv"]
    assert len(errs) == 1 and f"The clinical table has {first!r}" in errs[0].message


def test_a_cell_with_a_line_break_survives_a_title_block(tmp_path):
    """Skipping a title re-split the text with str.splitlines, which also breaks at '\\x0b' (FileMaker's line break
    in a cell): a patient 'see letter' appeared."""
    report, cohort = _clinical(tmp_path, "Report\npatient_id,hgb,comment,progressed\na,101,x\x0bsee letter,1\nb,99,y,0\n")
    assert report.ok, report.summary()
    assert cohort.patient_ids == ["a", "b"]


def test_lines_ending_in_a_bare_carriage_return_are_lines(tmp_path):
    report, cohort = _clinical(tmp_path, "patient_id,hgb,progressed\ra,101,1\rb,99,0\r")
    assert report.ok, report.summary()
    assert cohort.patient_ids == ["a", "b"]
    read = read_csv_bytes(b"patient_id,age\nP1,1\n\r x", "x.csv")  # pandas-dev/pandas#51141: 4.9 GB before the fix
    assert read.frame["patient_id"].tolist() == ["P1", "x"]


def test_notes_under_the_table_are_not_patients(tmp_path):
    report, cohort = _clinical(tmp_path, "patient_id,hgb,progressed\na,101,1\nb,99,0\nSource: registry,,\nn = 2,,\n")
    assert cohort.patient_ids == ["a", "b"]
    assert "look like notes or summary rows" in report.summary()


def test_a_row_cut_short_at_the_end_of_the_file_is_said(tmp_path):
    report, cohort = _clinical(tmp_path, "patient_id,hgb,progressed,event\na,101,1,1\nb,99\n")
    assert "the last row has 2 of the header's 4 fields" in report.summary()


def test_an_empty_header_cell_is_not_an_unknown_column(tmp_path):
    report, _ = _clinical(tmp_path, "patient_id,hgb,progressed,\na,101,1,\nb,99,0,\n")
    assert not any("Unnamed" in p.message for p in report.problems)
    # several empty header cells, one of them over values (a hypothesis fuzz found the crash this once caused)
    report, cohort = _clinical(tmp_path, "patient_id,,hgb,,progressed\na,,101,x,1\nb,,99,,0\n")
    assert cohort is not None and cohort.clinical["hgb"].tolist() == [101.0, 99.0]


def test_spellings_of_binary_and_event_codes(tmp_path):
    report, cohort = _clinical(tmp_path, "patient_id,del(17p),t(4;14),mprotein_heavy,months_to_event,event\n"
                                         "a,positiv,Checked,Bence-Jones,12,progressed\nb,neg.,Unchecked,IgG,30,censored\n")
    assert report.ok, report.summary()
    c = cohort.clinical
    assert c["fish_del17p"].tolist() == [1, 0] and c["fish_t4_14"].tolist() == [1, 0]
    assert c.loc["a", "mprotein_heavy"] == "light_chain_only" and c["progressed"].tolist() == [1, 0]


def _column(name: str, values) -> str:
    return f"patient_id,{name},progressed\n" + "".join(f"p{i},{v},{i % 2}\n" for i, v in enumerate(values))


@pytest.mark.parametrize("name, values, unit", [("M-spike", [2.1, 2.7, 3.4, 1.8, 0.0, 4.2, 2.9, 3.1, 2.2, 2.5], "g/dL"),
                                                ("bmpc", [0.42, 0.35, 0.6, 0.25, 0.7, 0.5, 0.33, 0.45, 0.55, 0.4],
                                                 "fraction")])
def test_a_column_whose_median_says_another_unit_is_flagged(tmp_path, name, values, unit):
    report, cohort = _clinical(tmp_path, _column(name, values))
    assert report.ok, report.summary()
    hint = [p for p in report.warnings if p.kind == "unit"]
    assert len(hint) == 1 and f"read in {unit}" in hint[0].message
    col = "mprotein_level" if name == "M-spike" else name
    assert cohort.clinical[col].tolist() == pytest.approx(values), "kept as read: a median proves nothing"
    report2, _ = _clinical(tmp_path, _column(f"{col} ({unit})", values))
    assert not [p for p in report2.problems if p.kind == "unit"], "a declared unit is trusted"


def test_follow_up_that_looks_like_years_stops_outcomes_being_derived(tmp_path):
    rows = "".join(f"p{i},{2 + i / 10:.1f},{i % 2}\n" for i in range(12))
    report, cohort = _clinical(tmp_path, "patient_id,PFS,event\n" + rows)
    assert cohort is None
    assert any(p.kind == "unit" and p.severity == "error" and "read in years" in p.message for p in report.errors)
    report2, cohort2 = _clinical(tmp_path, "patient_id,PFS (years),event\n" + rows)
    assert cohort2 is not None and cohort2.clinical.loc["p1", "months_to_event"] == pytest.approx(2.1 * 12)


def test_a_binary_column_coded_1_and_2_is_not_read_as_0_and_1(tmp_path):
    report, cohort = _clinical(tmp_path, "patient_id,del(17p),progressed\na,1,1\nb,2,0\nc,1,0\n")
    assert cohort is None
    errs = [p for p in report.errors if p.column == "fish_del17p"]
    assert len(errs) == 1 and "holds 1 and 2" in errs[0].message and "codes:" in errs[0].message
    (tmp_path / "variables.yaml").write_text("codes:\n  fish_del17p: {1: no, 2: yes}\n")
    report2, cohort2 = validate_cohort(tmp_path)
    assert report2.ok, report2.summary()
    assert cohort2.clinical["fish_del17p"].tolist() == [0, 1, 0]


def test_a_units_row_under_the_header_gives_the_units_and_is_not_a_patient(tmp_path):
    report, cohort = _clinical(tmp_path, "patient_id,hgb,creatinine,age,progressed\n,g/dL,mg/dL,years,\n"
                                         "a,10.5,1.2,61,1\nb,9.8,0.9,70,0\n")
    assert report.ok, report.summary()
    c = cohort.clinical
    assert cohort.patient_ids == ["a", "b"]
    assert c["hgb"].tolist() == pytest.approx([105.0, 98.0])
    assert c.loc["a", "creatinine"] == pytest.approx(1.2 * 88.42, rel=1e-3)
    assert "row 1 holds units" in report.summary()
    # a patient row whose ID is missing is not a units row
    report2, _ = _clinical(tmp_path, "patient_id,hgb,creatinine,progressed\n,105,90,1\nb,98,80,0\n")
    assert any(p.kind == "missing_id" for p in report2.errors)


def test_what_an_excel_sheet_hides_from_its_values_is_said(tmp_path):
    """Formulas saved without a result (a script wrote the workbook), rows hidden by a filter, merged cells over
    data rows: pandas sees empty cells or ordinary rows; the sheet's XML says what they are."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Baseline"
    ws.append(["Registry export"])
    ws.append(["patient_id", "hgb", "mprotein_heavy", "progressed"])
    for pid, hb, heavy, y in (("a", "=100+5", "IgG", 1), ("b", 98, None, 0), ("c", 101, "IgA", 0), ("d", 99, "IgA", 1)):
        ws.append([pid, hb, heavy, y])
    ws.merge_cells("C3:C4")
    ws.row_dimensions[5].hidden = True
    wb.save(tmp_path / "clinical.xlsx")
    report, cohort = validate_cohort(tmp_path)
    assert report.ok, report.summary()
    text = report.summary()
    assert "1 formula cell(s) have no stored result (B3)" in text
    assert "1 row(s) are hidden in Excel (a filter?) and were read as patients (data row 3)" in text
    assert "merged cells over several rows (C3:C4)" in text
    assert pd.isna(cohort.clinical.loc["a", "hgb"]), "read as empty, as said"


def test_a_file_with_its_own_letter_codes_gets_no_english_letters_guessed(tmp_path):
    """Spanish V (varón) / M (mujer) with only V mapped: the built-in 'M' = male must not fill the gap."""
    (tmp_path / "variables.yaml").write_text("codes:\n  sex: {V: male}\n")
    report, _ = _clinical(tmp_path, "patient_id,sex,progressed\na,V,1\nb,M,0\n")
    errs = [p for p in report.errors if p.column == "sex"]
    assert [p.row for p in errs] == [2]
    (tmp_path / "variables.yaml").write_text("codes:\n  sex: {V: male, M: female}\n")
    report2, cohort = validate_cohort(tmp_path)
    assert report2.ok and cohort.clinical["sex"].tolist() == ["male", "female"]
    plain = tmp_path / "no_codes"
    plain.mkdir()
    _, cohort3 = _clinical(plain, "patient_id,sex,progressed\na,M,1\nb,F,0\n")
    assert cohort3.clinical["sex"].tolist() == ["male", "female"], "without codes the letters are read as before"
