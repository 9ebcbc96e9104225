"""Cohort validation: every problem at once, each naming file, row, patient and column.

Validation also produces the cleaned tables (canonical units, canonical
levels), so the loader never re-implements a check.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from zoo.cohort.images import read_image
from zoo.cohort.layout import (
    CLINICAL_CSV, CLINICAL_XLSX, IMAGES_CSV, MODALITIES, MODALITY_ALIASES, VARIABLES_YAML, clinical_path,
)
from zoo.errors import ImageReadError, SchemaError
from zoo.schema import DEFAULT_SCHEMA, ID_COLUMN, OUTCOME, Kind, Schema, derive_stages, load_variables_yaml

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    severity: str
    file: str
    message: str
    row: int | None = None  # 1-based data row (line = row + 1 with the header)
    patient_id: str | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.patient_id is not None:
            where.append(f"patient {self.patient_id}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return f"[{self.severity}] {', '.join(where)}: {self.message}"


@dataclass
class ValidationReport:
    root: Path
    problems: list[Problem] = field(default_factory=list)
    n_patients: int = 0
    n_images: dict[str, int] = field(default_factory=dict)
    patients_with: dict[str, int] = field(default_factory=dict)
    pd_rate: float | None = None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors

    def add(self, severity: str, file: str, message: str, **where) -> None:
        self.problems.append(Problem(severity, file, message, **where))

    def summary(self) -> str:
        lines = [f"Cohort {self.root}"]
        lines.append(f"  patients: {self.n_patients}" + (f", PD rate {self.pd_rate:.1%}" if self.pd_rate is not None else ""))
        for m in MODALITIES:
            lines.append(f"  {m}: {self.n_images.get(m, 0)} images for {self.patients_with.get(m, 0)} patients")
        lines.append(f"  {len(self.errors)} error(s), {len(self.warnings)} warning(s)")
        lines.extend(f"  {p}" for p in self.problems)
        lines.append("  usable: yes" if self.ok else "  usable: NO - fix the errors above")
        return "\n".join(lines)


# Unit problems in more than this share of a column are reported once for the column.
_COLUMN_UNIT_SHARE = 0.5


def read_schema(root: Path, report: ValidationReport) -> tuple[Schema, dict[str, str]]:
    """The cohort's schema (built-ins + variables.yaml extras) and its declared units."""
    path = root / VARIABLES_YAML
    if not path.is_file():
        return DEFAULT_SCHEMA, {}
    try:
        vf = load_variables_yaml(path)
        schema = DEFAULT_SCHEMA.with_extras(vf.variables, ldh_uln=vf.ldh_uln)
    except SchemaError as e:
        report.add(ERROR, VARIABLES_YAML, str(e))
        return DEFAULT_SCHEMA, {}
    units = {}
    for col, unit in vf.units.items():
        if col not in schema:
            report.add(ERROR, VARIABLES_YAML, f"units: expected a known variable. Got {col!r}.", column=col)
            continue
        var = schema[col]
        if var.kind is not Kind.numeric:
            report.add(ERROR, VARIABLES_YAML, f"units: {col!r} is {var.kind.value}, it has no unit.", column=col)
            continue
        try:
            var.to_canonical(1.0, unit)
        except SchemaError as e:
            report.add(ERROR, VARIABLES_YAML, str(e), column=col)
            continue
        units[col] = unit
    return schema, units


def read_clinical_table(root: Path, report: ValidationReport) -> pd.DataFrame | None:
    path = clinical_path(root)
    if path is None:
        report.add(ERROR, CLINICAL_CSV,
                   f"expected {CLINICAL_CSV} or {CLINICAL_XLSX} in {root}. Got neither. "
                   "Export the clinical table with a patient_id and a progressed column.")
        return None
    if path.name == CLINICAL_CSV and (root / CLINICAL_XLSX).is_file():
        report.add(WARNING, CLINICAL_XLSX, f"both {CLINICAL_CSV} and {CLINICAL_XLSX} exist; using {CLINICAL_CSV}.")
    try:
        if path.suffix == ".csv":
            df = pd.read_csv(path, dtype=str, keep_default_na=False)
        else:
            df = pd.read_excel(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as e:
        report.add(ERROR, path.name, f"expected a readable table. Got: {e}. Re-export it as UTF-8 CSV.")
        return None
    df.columns = [str(c).strip() for c in df.columns]
    df = df.apply(lambda s: s.str.strip()).replace({"": np.nan, "NA": np.nan, "NaN": np.nan, "nan": np.nan,
                                                    "N/A": np.nan, "null": np.nan, "None": np.nan})
    return df


def clean_clinical(df: pd.DataFrame, schema: Schema, units: dict[str, str], report: ValidationReport,
                   file: str = CLINICAL_CSV) -> pd.DataFrame:
    """Check every cell and return the table in canonical units and levels, indexed by patient_id."""
    for col in (ID_COLUMN, OUTCOME):
        if col not in df.columns:
            report.add(ERROR, file, f"expected a required column {col!r}. Got columns: {', '.join(df.columns)}. "
                       f"Add {col!r} (only {ID_COLUMN!r} and {OUTCOME!r} are required).", column=col)
    if ID_COLUMN not in df.columns:
        return pd.DataFrame()
    ids = df[ID_COLUMN].astype("string")
    pid = [None if pd.isna(x) else str(x) for x in ids]
    for i, p in enumerate(pid):
        if p is None:
            report.add(ERROR, file, "expected a patient_id. Got an empty cell. Fill it or delete the row.",
                       row=i + 1, column=ID_COLUMN)
    unknown = [c for c in df.columns if c != ID_COLUMN and c not in schema]
    for c in unknown:
        report.add(WARNING, file, f"unknown column {c!r} is ignored. Declare it in {VARIABLES_YAML} to use it.",
                   column=c)
    out = pd.DataFrame(index=pd.Index(pid, name=ID_COLUMN))
    for var in schema:
        if var.name not in df.columns:
            continue
        raw = df[var.name]
        if var.kind is Kind.numeric:
            out[var.name] = _clean_numeric(raw, var, units.get(var.name), pid, report, file).to_numpy()
        elif var.kind is Kind.binary:
            out[var.name] = _clean_levels(raw, var, pid, report, file).astype("float64").to_numpy()
        else:
            out[var.name] = _clean_levels(raw, var, pid, report, file).to_numpy()
    _check_with_pandera(out, schema, pid, report, file)
    if OUTCOME in out:
        for i, raw in enumerate(df[OUTCOME]):
            if pd.isna(raw):
                report.add(ERROR, file, "expected the outcome 0 or 1. Got an empty cell. "
                           "Patients without a known outcome cannot be used; fill or delete the row.",
                           row=i + 1, patient_id=pid[i], column=OUTCOME)
    _fill_and_check_stages(out, schema, pid, report, file)
    return out


def _clean_numeric(raw: pd.Series, var, unit: str | None, pid, report: ValidationReport, file: str) -> pd.Series:
    num = pd.to_numeric(raw, errors="coerce")
    bad = raw.notna() & num.isna()
    for i in np.flatnonzero(bad.to_numpy()):
        report.add(ERROR, file, f"expected a number in {var.unit or 'the variable unit'}. Got {raw.iloc[i]!r}.",
                   row=int(i) + 1, patient_id=pid[i], column=var.name)
    if unit is not None:
        num = num.map(lambda x: var.to_canonical(x, unit) if pd.notna(x) else x)
    lo, hi = var.valid_range
    out_of_range = num.notna() & ((num < lo) | (num > hi))
    hints = [var.unit_hint(float(x)) if o else None for x, o in zip(num, out_of_range)]
    n_valid = int(num.notna().sum())
    n_hinted = sum(h is not None for h in hints)
    if n_valid and n_hinted / n_valid > _COLUMN_UNIT_SHARE:
        alt = max(set(h for h in hints if h), key=hints.count)
        report.add(ERROR, file,
                   f"expected values in {var.unit} (valid {lo:g}–{hi:g}). Got {n_hinted} of {n_valid} values "
                   f"outside that range which look like {alt} (median {num.median():g}). Declare the unit in "
                   f"{VARIABLES_YAML} (units: {{{var.name}: {alt}}}) or convert the column.", column=var.name)
        return num.where(~out_of_range)
    for i in np.flatnonzero(out_of_range.to_numpy()):
        x = float(num.iloc[i])
        msg = f"expected {var.display} within {lo:g}–{hi:g} {var.unit}. Got {x:g}."
        if hints[i]:
            msg += (f" This looks like a value in {hints[i]}; convert it "
                    f"({x:g} {hints[i]} = {var.to_canonical(x, hints[i]):g} {var.unit}) or declare the unit.")
        else:
            msg += " Correct the value or leave the cell empty if unknown."
        report.add(ERROR, file, msg, row=int(i) + 1, patient_id=pid[i], column=var.name)
    return num.where(~out_of_range)


def _clean_levels(raw: pd.Series, var, pid, report: ValidationReport, file: str) -> pd.Series:
    vals = []
    for i, x in enumerate(raw):
        if pd.isna(x):
            vals.append(np.nan)
            continue
        lvl = var.normalise_level(x)
        if lvl is None:
            report.add(ERROR, file, f"expected one of {list(var.levels)}. Got {x!r}.",
                       row=i + 1, patient_id=pid[i], column=var.name)
            vals.append(np.nan)
        else:
            vals.append(lvl)
    s = pd.Series(vals, index=raw.index, dtype="object")
    if var.kind is Kind.binary:
        return pd.to_numeric(s, errors="coerce")
    return s


def _check_with_pandera(out: pd.DataFrame, schema: Schema, pid, report: ValidationReport, file: str) -> None:
    """Structural checks that pandera states declaratively: unique ids, ranges, levels."""
    cols: dict[str, pa.Column] = {}
    for var in schema:
        if var.name not in out:
            continue
        if var.kind is Kind.numeric:
            cols[var.name] = pa.Column(float, pa.Check.in_range(*var.valid_range), nullable=True)
        elif var.kind is Kind.binary:
            cols[var.name] = pa.Column(float, pa.Check.isin([0.0, 1.0]), nullable=True)
        else:
            cols[var.name] = pa.Column(object, pa.Check.isin(list(var.levels)), nullable=True)
    frame = out.reset_index()
    cols[ID_COLUMN] = pa.Column(object, nullable=True, unique=True)
    try:
        pa.DataFrameSchema(cols).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as e:
        fc = e.failure_cases
        dup = fc[(fc["column"] == ID_COLUMN) & (fc["check"] == "field_uniqueness")]
        for value, grp in dup.groupby("failure_case"):
            rows = sorted(int(i) + 1 for i in grp["index"])
            report.add(ERROR, file, f"expected unique patient IDs. Got {value!r} on rows {rows}. "
                       "Merge or rename the duplicates.", patient_id=str(value), column=ID_COLUMN)
        rest = fc[fc["column"] != ID_COLUMN]
        for _, r in rest.iterrows():  # values already reported by the cleaning step are NaN here
            i = None if pd.isna(r["index"]) else int(r["index"])
            report.add(ERROR, file, f"failed check {r['check']}: {r['failure_case']!r}.",
                       row=None if i is None else i + 1, patient_id=None if i is None else pid[i],
                       column=str(r["column"]))


def _fill_and_check_stages(out: pd.DataFrame, schema: Schema, pid, report: ValidationReport, file: str) -> None:
    if not any(c in out for c in ("b2m", "alb")):
        return
    derived = derive_stages(out, schema.ldh_uln)
    for col in ("iss", "riss"):
        if col in out:
            given = out[col]
            clash = given.notna() & derived[col].notna() & (given.astype(str) != derived[col].astype(str))
            for i in np.flatnonzero(clash.to_numpy()):
                report.add(WARNING, file,
                           f"expected {col.upper()} {derived[col].iloc[i]} from the labs (ISS: β2M/albumin; R-ISS: "
                           f"ISS, LDH > {schema.ldh_uln:g} U/L, high-risk FISH). Got {given.iloc[i]}. Keeping the "
                           "supplied stage; check the labs or the staging.",
                           row=int(i) + 1, patient_id=pid[i], column=col)
            out[col] = given.where(given.notna(), derived[col])
        else:
            out[col] = derived[col]


def clean_images(root: Path, patients: set[str], report: ValidationReport,
                 decode: bool = True) -> pd.DataFrame:
    """Check images.csv and every file it names; returns rows that are usable."""
    path = root / IMAGES_CSV
    empty = pd.DataFrame(columns=["patient_id", "modality", "path"])
    if not path.is_file():
        return empty
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as e:
        report.add(ERROR, IMAGES_CSV, f"expected a readable CSV. Got: {e}.")
        return empty
    df.columns = [c.strip() for c in df.columns]
    missing = [c for c in ("patient_id", "modality", "path") if c not in df.columns]
    if missing:
        report.add(ERROR, IMAGES_CSV, f"expected columns patient_id, modality, path. Missing: {missing}.")
        return empty
    keep = []
    seen: set[str] = set()
    for i, r in df.iterrows():
        row = int(i) + 1
        p, m, rel = str(r["patient_id"]).strip(), str(r["modality"]).strip().lower(), str(r["path"]).strip()
        mod = MODALITY_ALIASES.get(m)
        if mod is None:
            report.add(ERROR, IMAGES_CSV, f"expected modality one of {list(MODALITIES)}. Got {r['modality']!r}.",
                       row=row, patient_id=p, column="modality")
            continue
        if p not in patients:
            report.add(ERROR, IMAGES_CSV, f"expected a patient listed in the clinical table. Got unknown patient "
                       f"{p!r}. Add the patient or remove the image row.", row=row, patient_id=p, column="patient_id")
            continue
        if rel in seen:
            report.add(WARNING, IMAGES_CSV, f"image {rel!r} is listed twice; the second row is ignored.",
                       row=row, patient_id=p, column="path")
            continue
        seen.add(rel)
        full = (root / rel).resolve()
        if root.resolve() not in full.parents:
            report.add(ERROR, IMAGES_CSV, f"expected a path inside the cohort folder. Got {rel!r}.",
                       row=row, patient_id=p, column="path")
            continue
        if not full.is_file():
            report.add(ERROR, IMAGES_CSV, f"expected an image file at {rel!r}. Got no such file.",
                       row=row, patient_id=p, column="path")
            continue
        if decode:
            try:
                read_image(full)
            except ImageReadError as e:
                report.add(ERROR, IMAGES_CSV, str(e), row=row, patient_id=p, column="path")
                continue
        keep.append({"patient_id": p, "modality": mod, "path": rel})
    return pd.DataFrame(keep, columns=["patient_id", "modality", "path"])
