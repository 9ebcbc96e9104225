"""Cohort validation: every problem at once, each naming file, row, patient, column and value.

Validation also produces the cleaned tables (canonical units, canonical
levels), so the loader never re-implements a check. Reading the bytes
(encodings, delimiters, decimal commas, headers) lives in ``readers.py``;
this module decides what each finding means and how it is reported:

- impossible values (outside a variable's physical range) are errors;
- implausible values (outside the valid range, physically possible) are set
  to missing with a warning, or are errors with ``strict=True``;
- values at an assay limit (``<0.5``) become the limit, with a warning.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from zoo.cohort.images import read_image
from zoo.cohort.layout import CLINICAL_CSV, CLINICAL_XLSX, IMAGES_CSV, MODALITIES, MODALITY_ALIASES, VARIABLES_YAML
from zoo.cohort.readers import (NONE_WORD, TableRead, TableReadError, _some, header_key, match_headers, parse_numbers,
                                read_table)
from zoo.errors import ImageReadError, SchemaError, UnitError
from zoo.schema import DEFAULT_SCHEMA, ID_COLUMN, OUTCOME, Kind, Schema, derive_stages, load_variables_yaml
from zoo.schema.variables import ID_SYNONYMS
from zoo.schema.extras import VariablesFile

ERROR = "error"
WARNING = "warning"
HORIZON_MONTHS = 24.0

# Kinds of finding, counted in the summary and shown on the dashboard's data-quality view.
KIND_LABELS = {
    "set_missing": "implausible values set to missing",
    "assay_limit": "values at an assay limit replaced by the limit",
    "unit_in_cell": "numbers written with their unit",
    "marked_value": "numbers with a footnote mark or a lab flag",
    "impossible": "impossible values",
    "not_a_number": "cells that are not numbers",
    "unknown_level": "unknown categories",
    "unit": "unit problems",
    "format": "file format notes",
    "header": "header notes",
    "unknown_column": "ignored columns",
    "outcome_unknown": "patients without a usable 24-month outcome",
    "outcome_derived": "outcomes derived from time to event",
    "derived": "values derived from other columns",
    "outcome_conflict": "outcome disagreements",
    "stage_mismatch": "supplied stages that disagree with the labs",
    "duplicate_id": "duplicate patient IDs",
    "date_id": "patient IDs that look like dates",
    "missing_word": "cells reading 'None', read as missing",
    "missing_id": "rows without a patient ID",
    "missing_column": "missing required columns",
    "image": "image problems",
    "variables": "variables.yaml problems",
    "table": "unreadable tables",
}


@dataclass(frozen=True)
class Problem:
    severity: str
    file: str
    message: str
    row: int | None = None  # 1-based data row (the header is line 1, so row N is line N + 1 in a simple CSV)
    patient_id: str | None = None
    column: str | None = None
    value: str | None = None
    kind: str = ""

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.patient_id is not None:
            where.append(f"patient {self.patient_id}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return f"[{self.severity}] {', '.join(where)}: {self.message}"

    def as_dict(self) -> dict:
        return {"severity": self.severity, "kind": KIND_LABELS.get(self.kind, self.kind), "file": self.file,
                "row": self.row, "patient_id": self.patient_id, "column": self.column, "value": self.value,
                "message": self.message}


@dataclass
class ValidationReport:
    root: Path
    problems: list[Problem] = field(default_factory=list)
    n_patients: int = 0
    n_images: dict[str, int] = field(default_factory=dict)
    patients_with: dict[str, int] = field(default_factory=dict)
    pd_rate: float | None = None
    n_outcome_unknown: int = 0
    n_censored_early: int = 0    # of those, followed < 24 months without an event
    strict: bool = False

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

    def counts(self) -> dict[tuple[str, str], int]:
        """(severity, kind label) -> number of findings."""
        return dict(Counter((p.severity, KIND_LABELS.get(p.kind, p.kind or "other")) for p in self.problems))

    def table(self) -> pd.DataFrame:
        cols = ["severity", "kind", "file", "row", "patient_id", "column", "value", "message"]
        return pd.DataFrame([p.as_dict() for p in self.problems], columns=cols)

    def summary(self, max_listed: int = 200) -> str:
        lines = [f"Cohort {self.root.name}"]
        lines.append(f"  patients: {self.n_patients}" + (f", PD rate {self.pd_rate:.1%}" if self.pd_rate is not None else ""))
        if self.n_outcome_unknown:
            lines.append(f"  without a usable 24-month outcome (excluded from training and evaluation): "
                         f"{self.n_outcome_unknown}")
        for m in MODALITIES:
            lines.append(f"  {m}: {self.n_images.get(m, 0)} images for {self.patients_with.get(m, 0)} patients")
        lines.append(f"  {len(self.errors)} error(s), {len(self.warnings)} warning(s)")
        for (sev, kind), n in sorted(self.counts().items()):
            lines.append(f"    {sev}: {n} × {kind}")
        ordered = self.errors + self.warnings
        lines.extend(f"  {p}" for p in ordered[:max_listed])
        if len(ordered) > max_listed:
            lines.append(f"  … and {len(ordered) - max_listed} more (python -m zoo validate DIR --csv FILE lists all)")
        lines.append("  usable: yes" if self.ok else "  usable: NO - fix the errors above")
        return "\n".join(lines)


# Unit problems in more than this share of a column are reported once for the column.
_COLUMN_UNIT_SHARE = 0.5


def read_variables(root: Path, report: ValidationReport) -> tuple[Schema, dict[str, str], VariablesFile]:
    """The cohort's schema (built-ins + variables.yaml extras), its declared units and the parsed file."""
    path = root / VARIABLES_YAML
    if not path.is_file():
        return DEFAULT_SCHEMA, {}, VariablesFile()
    try:
        vf = load_variables_yaml(path)
        schema = DEFAULT_SCHEMA.with_extras(vf.variables, ldh_uln=vf.ldh_uln)
    except SchemaError as e:
        report.add(ERROR, VARIABLES_YAML, str(e), kind="variables")
        return DEFAULT_SCHEMA, {}, VariablesFile()
    units = {}
    for col, unit in vf.units.items():
        if col not in schema:
            report.add(ERROR, VARIABLES_YAML, f"units: expected a known variable. Got {col!r}. Use a schema name "
                       f"such as 'hgb' or declare the variable under 'variables:'.", column=col, kind="variables")
            continue
        var = schema[col]
        if var.kind is not Kind.numeric:
            report.add(ERROR, VARIABLES_YAML, f"units: expected a numeric variable. Got {col!r}, which is "
                       f"{var.kind.value} and has no unit. Remove it from 'units:'.", column=col, kind="variables")
            continue
        try:
            var.to_canonical(1.0, unit)
        except SchemaError as e:
            report.add(ERROR, VARIABLES_YAML, str(e), column=col, kind="variables")
            continue
        units[col] = unit
    for their, ours in vf.columns.items():
        if ours != ID_COLUMN and ours not in schema:
            report.add(ERROR, VARIABLES_YAML, f"columns: expected a schema name for header {their!r}. Got {ours!r}. "
                       f"Known names: {ID_COLUMN}, {', '.join(schema.names())}.", column=their, kind="variables")
    for col, table in vf.codes.items():
        if col not in schema or schema[col].kind is Kind.numeric:
            report.add(ERROR, VARIABLES_YAML, f"codes: expected a categorical or binary variable. Got {col!r}.",
                       column=col, kind="variables")
            continue
        for code, level in table.items():
            if schema[col].normalise_level(level) is None:
                report.add(ERROR, VARIABLES_YAML, f"codes: {col} code {code!r} maps to {level!r}; expected one of "
                           f"{list(schema[col].levels)}.", column=col, kind="variables")
    return schema, units, vf


def read_schema(root: Path, report: ValidationReport) -> tuple[Schema, dict[str, str]]:
    """Backward-compatible pair (schema, declared units)."""
    schema, units, _ = read_variables(root, report)
    return schema, units


def read_clinical_table(root: Path, report: ValidationReport, sheet: str | int | None = None) -> TableRead | None:
    from zoo.cohort.layout import clinical_path

    path = clinical_path(root)
    if path is None:
        report.add(ERROR, CLINICAL_CSV,
                   f"expected {CLINICAL_CSV} or {CLINICAL_XLSX} in the cohort folder. Got neither. "
                   "Export the clinical table with a patient_id and a progressed column.", kind="table")
        return None
    if path.name == CLINICAL_CSV and (root / CLINICAL_XLSX).is_file():
        report.add(WARNING, CLINICAL_XLSX, f"both {CLINICAL_CSV} and {CLINICAL_XLSX} exist; using {CLINICAL_CSV}.",
                   kind="format")
    try:
        tr = read_table(path, sheet=sheet)
    except TableReadError as e:
        report.add(ERROR, path.name, str(e).removeprefix(f"{path.name}: "), kind="table")
        return None
    for note in tr.notes:
        report.add(WARNING, path.name, note.removeprefix(f"{path.name}: ").removeprefix(f"{path.name} "), kind="format")
    return tr


def map_columns(tr: TableRead, schema: Schema, units: dict[str, str], vf: VariablesFile, report: ValidationReport,
                file: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """Rename the file's headers to schema names; header units join the declared units."""
    df = tr.frame
    matches, unmatched = match_headers(list(df.columns), schema, vf.columns)
    by_name: dict[str, list] = {}
    for m in matches:
        by_name.setdefault(m.name, []).append(m)
    units = dict(units)
    keep: dict[str, str] = {}
    for name, ms in by_name.items():
        if len(ms) > 1:
            report.add(ERROR, file, f"expected one column for {name!r}. Got {len(ms)}: "
                       f"{', '.join(repr(m.header) for m in ms)}. Delete or rename all but one (or map them with "
                       f"'columns:' in {VARIABLES_YAML}).", column=name, kind="header")
            continue
        m = ms[0]
        keep[m.header] = name
        if m.how == "synonym" or (m.how == "exact" and m.header != name and header_key(m.header) != header_key(name)):
            report.add(WARNING, file, f"header {m.header!r} read as {name!r} ({schema[name].display if name in schema else 'patient ID'}).",
                       column=name, kind="header")
        if m.unit is not None and name in schema:
            var = schema[name]
            if var.kind is not Kind.numeric:
                continue
            try:
                var.to_canonical(1.0, m.unit)
            except SchemaError:
                report.add(ERROR, file, f"header {m.header!r}: expected one of the units {var.units()} for "
                           f"{var.display}. Got {m.unit!r}. Convert the column or write a known unit in the header.",
                           column=name, kind="unit")
                continue
            declared = units.get(name)
            if declared is not None and header_key(declared) != header_key(m.unit):
                report.add(ERROR, file, f"header {m.header!r} says {m.unit}, but {VARIABLES_YAML} declares {declared} "
                           f"for {name!r}. Remove one of them.", column=name, kind="unit")
                continue
            if header_key(m.unit) != header_key(var.unit or ""):
                units[name] = m.unit
    for h in unmatched:
        report.add(WARNING, file, f"unknown column {h!r} is ignored. Map it with 'columns:' or declare it under "
                   f"'variables:' in {VARIABLES_YAML} to use it.", column=h, kind="unknown_column")
    df = _units_row(df, keep, schema, units, report, file)
    df = _labels_row(df, keep, schema, report, file)
    out = df[list(keep)].rename(columns=keep)
    out.attrs["headers"] = [str(h) for h in df.columns]
    return out, units


def _units_row(df: pd.DataFrame, keep: dict, schema: Schema, units: dict[str, str], report: ValidationReport,
               file: str) -> pd.DataFrame:
    """A second header row of units under the names (SPSS, some LIMS and hand-made sheets): its ID cell is empty
    and at least two of its cells, none of them a number, are units the variables are read in. Its units become
    the columns' units (where neither the header nor variables.yaml declares one) and the row is left out."""
    if len(df) == 0 or df.index[0] != 1:
        return df
    first = df.iloc[0]
    id_col = next((h for h, n in keep.items() if n == ID_COLUMN), None)
    if id_col is None or pd.notna(first[id_col]):
        return df
    found: dict[str, str] = {}
    for h, name in keep.items():
        cell = first[h]
        if name not in schema or pd.isna(cell):
            continue
        var = schema[name]
        text = str(cell).strip().strip("[]()")
        if not parse_numbers(pd.Series([text], dtype=object)).bad.iloc[0]:
            return df  # a number: a patient row with its ID missing, not a units row
        if var.kind is Kind.numeric and text and _read_in(var, text):
            found[name] = text
    if len(found) < 2:
        return df
    # the canonical unit itself needs no entry (map_columns adds none for a header in it)
    taken = [n for n, u in found.items() if n not in units and _unit_key(schema[n], u) is not None]
    for n in taken:
        units[n] = _unit_key(schema[n], found[n])  # spelled as the schema spells it
    report.add(WARNING, file, f"row 1 holds units ({', '.join(f'{n}: {u}' for n, u in list(found.items())[:6])}), not a "
               f"patient; it was left out" + (f" and its units used for {', '.join(taken)}" if taken else "")
               + ". Put units in the header ('hgb (g/dL)') to silence this.", kind="header")
    return df.iloc[1:]


def _labels_row(df: pd.DataFrame, keep: dict, schema: Schema, report: ValidationReport, file: str) -> pd.DataFrame:
    """A second header row of variable labels under the names (Stata and SPSS exports: 'Age at diagnosis (years)'
    under 'age'): in most of its numeric columns a text with letters where the rows under it hold numbers. Left
    out with a warning; it was a patient whose every number was an error."""
    if len(df) < 3 or df.index[0] != 1:
        return df
    numeric = [h for h, n in keep.items() if n in schema and schema[n].kind is Kind.numeric]
    if len(numeric) < 3:
        return df
    head = df[numeric].iloc[:12]

    def texts(row) -> list[str]:
        cells = [str(v).strip() for v in row if pd.notna(v)]
        bad = parse_numbers(pd.Series(cells, dtype=object)).bad.to_numpy() if cells else []
        return [c for c, b in zip(cells, bad) if b and re.search(r"[^\W\d_]{2}", c)]

    id_col = next((h for h, n in keep.items() if n == ID_COLUMN), None)
    id_cell = "" if id_col is None or pd.isna(df.iloc[0][id_col]) else str(df.iloc[0][id_col]).strip()
    if id_cell and not re.search(r"\s", id_cell):  # a label row's ID cell is empty or a label ('Patient identifier')
        return df
    first = texts(head.iloc[0])
    filled = int(head.iloc[0].notna().sum())
    if len(first) < 3 or len(first) < 0.6 * filled or any(len(texts(head.iloc[i])) > 1 for i in range(1, len(head))):
        return df
    report.add(WARNING, file, f"row 1 holds variable labels ({_some(map(repr, [c[:40] for c in first]), 3)}), not a "
               "patient; it was left out. Export without the label row to silence this.", kind="header")
    return df.iloc[1:]


def _read_in(var, unit: str) -> bool:
    """Whether ``var`` is read in ``unit`` (its own unit or one of its others)."""
    try:
        var.to_canonical(1.0, unit)
    except UnitError:
        return False
    return True


def clean_clinical(df: pd.DataFrame, schema: Schema, units: dict[str, str], report: ValidationReport,
                   file: str = CLINICAL_CSV, decimal_comma: bool = False, codes: dict | None = None,
                   strict: bool = False, require_outcome: bool = True) -> pd.DataFrame:
    """Check every cell and return the table in canonical units and levels, indexed by patient_id.

    ``df`` has schema names as columns and the 1-based data row as index.
    """
    if df.index.name != "row":
        df = df.reset_index(drop=True)
        df.index = pd.RangeIndex(1, len(df) + 1, name="row")
    rows = [int(r) for r in df.index]
    has_time = "months_to_event" in df.columns and "event" in df.columns
    required = [ID_COLUMN] + ([OUTCOME] if require_outcome and not has_time else [])
    for col in required:
        if col not in df.columns:
            extra = " (or months_to_event and event, from which it is derived)" if col == OUTCOME else ""
            headers = df.attrs.get("headers", [str(c) for c in df.columns])
            shown = ", ".join(repr(h[:40]) for h in headers[:30]) + (" …" if len(headers) > 30 else "")
            fixed = (" The header is one column with runs of spaces in it: a fixed-width listing (SAS PROC PRINT, "
                     "a printed report) has no delimiter to split it by; export the table as CSV or Excel instead."
                     if len(headers) == 1 and len(re.findall(r"\S\s{2,}(?=\S)", str(headers[0]))) >= 2 else "")
            report.add(ERROR, file, f"expected a required column {col!r}{extra}. Got columns: "
                       f"{shown or 'none'}. Add it, or map your header to it with "
                       f"'columns:' in {VARIABLES_YAML}.{fixed}", column=col, kind="missing_column")
    if ID_COLUMN not in df.columns:
        return pd.DataFrame()
    if len(df) == 0:
        report.add(ERROR, file, "expected at least one patient row. Got only the header. Export the rows too.",
                   kind="table")
        return pd.DataFrame()
    pid = [None if pd.isna(x) or str(x).strip().lower() == NONE_WORD else str(x) for x in df[ID_COLUMN]]
    for i, p in enumerate(pid):
        if p is None:
            report.add(ERROR, file, "expected a patient_id. Got an empty cell. Fill it or delete the row.",
                       row=rows[i], column=ID_COLUMN, kind="missing_id")
    ids = pd.Series(pid)
    dup = ids.notna() & ids.duplicated(keep=False)
    if dup.sum() >= max(4, 0.5 * ids.notna().sum()):  # most rows share an ID: one row per test or visit
        report.add(ERROR, file, f"expected one row per patient. Got {int(dup.sum())} of {int(ids.notna().sum())} rows "
                   f"sharing a patient ID with another row ({ids[dup].nunique()} patients): is the table one row per "
                   "lab result or visit (a long-format extract)? Pivot it to one row per patient with one column per "
                   "variable (baseline values only) and export again.", column=ID_COLUMN, kind="duplicate_id")
    for value, grp in ids[dup].groupby(ids[dup]):
        report.add(ERROR, file, f"expected unique patient IDs. Got {value!r} on rows {[rows[i] for i in grp.index]}. "
                   "Merge or rename the duplicates.", patient_id=str(value), column=ID_COLUMN, value=str(value),
                   kind="duplicate_id")
    distinct = ids[ids.notna() & ~dup]
    folded = distinct.str.casefold()
    for _, grp in distinct[folded.duplicated(keep=False)].groupby(folded[folded.duplicated(keep=False)]):
        report.add(WARNING, file, f"patient IDs {', '.join(repr(v) for v in grp)} (rows {[rows[i] for i in grp.index]}) "
                   "differ only in letter case; they are read as different patients. If they are one patient, merge "
                   "the rows.", patient_id=str(grp.iloc[0]), column=ID_COLUMN, kind="duplicate_id")
    if dated := date_like_ids(distinct):
        report.add(WARNING, file, f"{len(dated)} patient ID(s) look like dates ({_some(map(repr, dated), 3)}). Excel "
                   "turns IDs such as '1-12', '3/4' or 'SEP2' into dates when it opens a CSV, and they then no longer "
                   "match the image table or other exports. If these were IDs, format the ID column as text and "
                   "export again.", column=ID_COLUMN, kind="date_id")
    ctx = _Ctx(report, file, pid, rows, strict, outcomes=require_outcome)
    out = pd.DataFrame(index=pd.Index(pid, name=ID_COLUMN))
    for var in schema:
        if var.name not in df.columns:
            continue
        raw = df[var.name]
        if var.kind is Kind.numeric:
            out[var.name] = _clean_numeric(raw, var, units.get(var.name), ctx, decimal_comma).to_numpy()
        else:
            lv = _clean_levels(raw, var, ctx, (codes or {}).get(var.name, {}))
            out[var.name] = (pd.to_numeric(lv, errors="coerce").astype("float64") if var.kind is Kind.binary
                             else lv).to_numpy()
        said_none = pd.isna(out[var.name]).to_numpy() & raw.notna().to_numpy()  # only unread cells are looked at
        if said_none.any():
            said_none[said_none] = raw[said_none].map(
                lambda v: isinstance(v, str) and v.strip().lower() == NONE_WORD).to_numpy(dtype=bool)
        if said_none.any():
            rows_none = [rows[i] for i in np.flatnonzero(said_none)]
            ctx.report.add(WARNING, file, f"{len(rows_none)} cell(s) read 'None' (row {_some(rows_none, 5)}) and were "
                           "read as missing. " + ("If 'None' means none detected there, write 0 in those cells."
                                                 if var.kind is Kind.numeric else
                                                 "If 'None' is a value here (no heavy chain: light chain only, say), "
                                                 f"map it with codes: {{{var.name}: {{None: …}}}} in {VARIABLES_YAML}."),
                           column=var.name, kind="missing_word")
    _derive_corrected_calcium(out, schema, ctx)
    _check_structure(out, schema, ctx)
    _fill_and_check_stages(out, schema, ctx)
    if require_outcome or OUTCOME in out:
        _resolve_outcome(out, ctx, has_time)
    return out


@dataclass
class _Ctx:
    report: ValidationReport
    file: str
    pid: list
    rows: list[int]
    strict: bool
    outcomes: bool = True  # outcomes are read (training, evaluation), not only features (scoring)

    def add(self, severity: str, i: int, column: str, message: str, value=None, kind: str = "") -> None:
        self.report.add(severity, self.file, message, row=self.rows[i], patient_id=self.pid[i], column=column,
                        value=None if value is None else str(value), kind=kind)


# words a lab writes for an analyte below detection (an M-spike not seen): a number is needed, and we say which
_NONE_DETECTED = frozenset({"not detected", "undetectable", "undetected", "none detected", "negative", "neg", "nil",
                            "absent", "not seen", "no m-spike", "no m spike", "nicht nachweisbar", "non détecté"})


def _fmt(x: float) -> str:
    return f"{x:.6g}"


# a number (a space only between digits, so no two parts of the pattern compete for the same characters: linear time)
# then a unit; cells longer than _WITH_UNIT_MAX are never tried
_WITH_UNIT = re.compile(r"^\s*((?:<=|>=|<|>|≤|≥)?\s*[-+]?\d(?:[\d.,]|[ \u00a0\u202f](?=\d))*)\s*([^\d\s.,<>≤≥+-].*?)\s*$")
_WITH_UNIT_MAX = 64
_UNIT_CELLS_NAMED = 20  # more cells with units than this: one warning for the column
_UNITS_PER_COLUMN = 50  # distinct units converted per column; cells in further units are errors


def _cells_with_units(raw: pd.Series, bad: np.ndarray, var, decimal_comma: bool
                      ) -> tuple[dict[int, tuple[float, str, str]], dict[int, str]]:
    """Cells that carry their own unit ('10.5 g/dL', '45%'): {position: (value in the schema's unit, unit, limit)}
    for the units the variable knows, and {position: unit} for the ones it does not. Vectorised: a LIMS export
    may write the unit in every one of 100,000 cells."""
    pos = np.flatnonzero(bad)
    if not len(pos):
        return {}, {}
    cells = raw.iloc[pos].astype(str).reset_index(drop=True)
    short = cells.str.len() <= _WITH_UNIT_MAX
    m = cells.where(short, "").str.extract(_WITH_UNIT)
    number, unit = m[0].str.strip(), m[1].str.strip()
    has_unit = number.notna() & (unit.str.contains(r"[^\W\d_]", regex=True, na=False) | (unit == "%"))
    if not has_unit.any():
        return {}, {}
    parsed = parse_numbers(number.where(has_unit), decimal_comma)
    ok = (has_unit & ~parsed.bad & parsed.values.notna()).to_numpy()
    at = np.flatnonzero(ok)
    codes, uniq = pd.factorize(unit[ok])  # one conversion per distinct unit: O(cells + units), never their product
    scale = np.full(len(uniq), np.nan)
    offset = np.full(len(uniq), np.nan)
    for k, u in enumerate(uniq[:_UNITS_PER_COLUMN]):  # beyond that many distinct units a column is not a lab's
        try:
            offset[k] = var.to_canonical(0.0, u)
            scale[k] = var.to_canonical(1.0, u) - offset[k]
        except UnitError:
            pass
    values = parsed.values.to_numpy(dtype=float)[ok] * scale[codes] + offset[codes]
    limits = parsed.limit.to_numpy()[ok]
    known, unknown = {}, {}
    for r, k, v, lim in zip(at, codes, values, limits):
        if np.isfinite(v):
            known[int(pos[r])] = (float(v), uniq[k], lim)
        else:
            unknown[int(pos[r])] = uniq[k]
    return known, unknown


def _clean_numeric(raw: pd.Series, var, unit: str | None, ctx: _Ctx, decimal_comma: bool) -> pd.Series:
    parsed = parse_numbers(raw, decimal_comma)
    num = parsed.values.reset_index(drop=True)
    raw = raw.reset_index(drop=True)
    unit_label = unit or var.unit or "the variable's unit"
    with_unit, odd_unit = _cells_with_units(raw, parsed.bad.to_numpy(), var, decimal_comma)
    if len(with_unit) > _UNIT_CELLS_NAMED:  # one warning for the column, not one per cell
        counts = pd.Series([u for _, u, _ in with_unit.values()]).value_counts()
        first = sorted(with_unit)[:5]
        ctx.report.add(WARNING, ctx.file, f"{len(with_unit)} cells of column {var.name!r} carry their own unit ("
                       + ", ".join(f"{u}: {n}" for u, n in counts.items()) + f"; first data rows "
                       f"{', '.join(str(ctx.rows[i]) for i in first)}); each was converted to {var.unit}. Write "
                       "numbers alone, with the unit in the header, to silence this.", column=var.name,
                       kind="unit_in_cell")
    else:
        for i, (value, u, lim) in with_unit.items():
            ctx.add(WARNING, i, var.name, f"{raw.iloc[i]!r} carries its own unit; read as {_fmt(value)} {var.unit}"
                    + (" (at the assay's limit)" if lim else "") + ". Write numbers alone, with the unit in the "
                    "header, to silence this.", raw.iloc[i], "unit_in_cell")
    for i in np.flatnonzero(parsed.bad.to_numpy()):
        if int(i) in with_unit:
            continue
        if int(i) in odd_unit:
            ctx.add(ERROR, int(i), var.name, f"expected a number in {unit_label}. Got {raw.iloc[i]!r}, in a unit "
                    f"({odd_unit[int(i)]!r}) that {var.display} is not read in (known: {', '.join(var.units())}). "
                    "Convert the cell, or leave it empty if unknown.", raw.iloc[i], "not_a_number")
            continue
        none_found = str(raw.iloc[i]).strip().lower() in _NONE_DETECTED
        ctx.add(ERROR, int(i), var.name, f"expected a number in {unit_label}. Got {raw.iloc[i]!r}. "
                + ("If none was detected, write 0 (or the assay's limit, e.g. '<0.5'); if it is unknown, leave the cell "
                   "empty." if none_found else "Correct the cell, or leave it empty if unknown."),
                raw.iloc[i], "not_a_number")
    marks = parsed.mark.reset_index(drop=True)
    for i in np.flatnonzero((marks != "").to_numpy()):
        flag = marks.iloc[i].strip("()").upper() in ("H", "L", "HH", "LL", "+", "-")
        ctx.add(WARNING, int(i), var.name, f"{raw.iloc[i]!r} ends in " + (
            "a lab's high/low flag" if flag else "a footnote mark") + f" ({marks.iloc[i]!r}); {_fmt(num.iloc[i])} "
            f"{unit_label} was used. Check the cell if the mark means something else.", raw.iloc[i], "marked_value")
    lim = parsed.limit.reset_index(drop=True)
    for i in np.flatnonzero((lim != "").to_numpy()):
        ctx.add(WARNING, int(i), var.name, f"{raw.iloc[i]!r} is at the assay's limit; {_fmt(num.iloc[i])} "
                f"{unit_label} was used.", raw.iloc[i], "assay_limit")
    if unit is not None:
        o = var.to_canonical(0.0, unit)  # the schema's one reading of a unit, however the header spelled it
        f = var.to_canonical(1.0, unit) - o
        num = num * f + o
    if with_unit:  # already in the schema's unit, whatever the column's is; one assignment (98,000 took 6 s one by one)
        num.iloc[np.fromiter(with_unit, dtype=np.int64, count=len(with_unit))] = [v for v, _, _ in with_unit.values()]
    plo, phi = var.possible_range
    impossible = num.notna() & ((num < plo) | (num > phi))
    for i in np.flatnonzero(impossible.to_numpy()):
        x = float(num.iloc[i])
        bound = f"at least {_fmt(plo)}" if x < plo else f"at most {_fmt(phi)}"
        ctx.add(ERROR, int(i), var.name, f"expected {var.display} {bound} {var.unit or ''}".rstrip() +
                f" (anything else is impossible). Got {raw.iloc[i]!r}. Correct the value, or leave the cell empty "
                "if unknown.", raw.iloc[i], "impossible")
    num = num.where(~impossible)
    lo, hi = var.valid_range
    out_of_range = num.notna() & ((num < lo) | (num > hi))
    hints = [var.unit_hint(float(x)) if o else None for x, o in zip(num, out_of_range)]
    n_valid = int(num.notna().sum())
    n_hinted = sum(h is not None for h in hints)
    if n_valid and n_hinted / n_valid > _COLUMN_UNIT_SHARE:
        alt = max(set(h for h in hints if h), key=hints.count)
        ctx.report.add(ERROR, ctx.file,
                       f"expected values in {var.unit} (valid {lo:g}–{hi:g}). Got {n_hinted} of {n_valid} values "
                       f"outside that range which look like {alt} (median {num.median():g}). Declare the unit in "
                       f"{VARIABLES_YAML} (units: {{{var.name}: {alt}}}), write it in the header "
                       f"('{var.name} ({alt})'), or convert the column.", column=var.name, kind="unit")
        return num.where(~out_of_range)
    _median_unit_hint(num.where(~out_of_range), var, unit, ctx)
    severity = ERROR if ctx.strict else WARNING
    for i in np.flatnonzero(out_of_range.to_numpy()):
        x = float(num.iloc[i])
        shown = f"{raw.iloc[i]!r}" + (f" (= {_fmt(x)} {var.unit})" if unit is not None else "")
        msg = f"expected {var.display} within {lo:g}–{hi:g} {var.unit or ''}".rstrip() + f". Got {shown}"
        if hints[i]:
            msg += (f", which looks like a value in {hints[i]} ({_fmt(x)} {hints[i]} = "
                    f"{_fmt(var.to_canonical(x, hints[i]))} {var.unit})")
        msg += (". Correct it, or rerun without --strict to set it to missing." if ctx.strict
                else ". Set to missing; correct it in the file to use it.")
        ctx.add(severity, int(i), var.name, msg, raw.iloc[i], "set_missing")
    return num.where(~out_of_range)


def _median_unit_hint(num: pd.Series, var, unit: str | None, ctx: _Ctx) -> None:
    """A column in another unit whose values still fit the valid range (M-spike 2.7 g/dL read as 2.7 g/L, marrow
    plasma cells as a fraction, follow-up in years): its median is atypical for newly diagnosed myeloma, and typical
    read in one of the variable's other units. Said once for the column; the values are kept as read, since a
    median cannot prove a unit. A column whose unit the header or variables.yaml declares gets a warning when the
    declared unit makes the median atypical and reading the numbers as written in another unit would not (LDH
    declared µkat/L but written in U/L: every value 60 times too high, all still valid)."""
    if var.typical_median is None:
        return
    vals = num.dropna()
    if len(vals) < 10:
        return
    lo, hi = var.typical_median
    med = float(vals.median())
    if lo <= med <= hi:
        return
    if unit is not None:
        written = float(var.from_canonical(med, unit))
        for other in [var.unit, *var.alt_units]:
            conv = float(var.to_canonical(written, None if other == var.unit else other))
            if other != unit and lo <= conv <= hi:
                ctx.report.add(WARNING, ctx.file,
                               f"column {var.name!r} is declared in {unit}, which puts its median at {_fmt(med)} "
                               f"{var.unit}, unusual for newly diagnosed myeloma (typical cohorts: {lo:g}–{hi:g} "
                               f"{var.unit}); the numbers as written ({_fmt(written)}) read in {other} would be "
                               f"{_fmt(conv)} {var.unit}. Check the declared unit (header or units: in "
                               f"{VARIABLES_YAML}). The values were converted from {unit} as declared.",
                               column=var.name, kind="unit")
                return
        return
    for alt in var.alt_units:
        conv = float(var.to_canonical(med, alt))
        if lo <= conv <= hi:
            # follow-up decides outcomes (PD within 24 months) and censoring weights: there a guess is an error
            outcome = var.role == "outcome" and ctx.outcomes
            ctx.report.add(ERROR if outcome else WARNING, ctx.file,
                           f"the median of column {var.name!r} is {_fmt(med)} {var.unit}, unusual for newly diagnosed "
                           f"myeloma (typical cohorts: {lo:g}–{hi:g} {var.unit}); read in {alt} it would be "
                           f"{_fmt(conv)} {var.unit}. Declare the column's unit: a header such as '{var.name} ({alt})' "
                           f"or '{var.name} ({var.unit})', or units: {{{var.name}: …}} in {VARIABLES_YAML}."
                           + (" Outcomes are not derived from an undeclared unit here." if outcome
                              else f" The values were kept as {var.unit}."), column=var.name, kind="unit")
            return


def _unit_key(var, unit: str) -> str:
    from zoo.schema.variables import _match_unit

    return _match_unit(unit, var.alt_units)


def _clean_levels(raw: pd.Series, var, ctx: _Ctx, codes: dict[str, str]) -> pd.Series:
    """Canonical levels by one vectorised lookup (100,000 rows stay fast); unknown spellings are errors."""
    spell: dict[str, str] = {}
    # a file whose codes: map single letters has its own letter scheme (Spanish V/M: M is mujer), so the built-in
    # one-letter aliases (English M = male) are not guessed beside it: a letter it leaves out is an error
    own_letters = var.kind is not Kind.binary and any(len(str(c).strip()) == 1 and str(c).strip().isalpha()
                                                      for c in codes)
    for alias, lvl in var.aliases.items():
        if not (own_letters and len(alias) == 1 and alias.isalpha()):
            spell[alias.lower()] = lvl
    for lvl in var.levels:
        spell[lvl.lower()] = lvl
    for code, target in codes.items():
        lvl = var.normalise_level(target)
        if lvl is not None:
            spell[str(code).strip().lower()] = lvl
    # spelling variants of the same code: 'III A' for IIIA, 'Stage 2' for 2
    spell.update({k.replace(" ", ""): v for k, v in list(spell.items()) if " " not in k.strip()})
    raw = raw.reset_index(drop=True)
    key = raw.map(lambda x: _level_key(x) if isinstance(x, str) or pd.notna(x) else None)
    # a column holding a letter no code knows (Spanish H = hombre beside M = mujer) has a letter scheme of its own
    # too: its other letters are not guessed either, or M would be read as male beside an error for H alone
    letters = {k for k in key.dropna().unique() if len(k) == 1 and k.isalpha()}
    foreign = sorted(k.upper() for k in letters if k not in spell) if var.letters_vary_by_language else []
    guessed = sorted(k.upper() for k in letters if k in spell and k not in {str(c).strip().lower() for c in codes}
                     and var.aliases.get(k) is not None and k not in {lv.lower() for lv in var.levels})
    letter_hint = ""
    if foreign and guessed:
        for k in guessed:
            spell.pop(k.lower(), None)
        letter_hint = (f" This column holds letters no code knows ({_some(map(repr, foreign), 3)}), so its other "
                       f"letters ({_some(map(repr, guessed), 3)}) are not guessed either: their meaning differs "
                       "between languages (M: male in English, mujer in Spanish). Map every letter, e.g. codes: "
                       f"{{{var.name}: {{{foreign[0]}: …, {guessed[0]}: …}}}}.")
    named = _name_prefix(var)
    vals = key.map(lambda k: (spell.get(k) or spell.get(_STAGE_WORD.sub("", k).replace(" ", ""))
                              or (spell.get(_STAGE_WORD.sub("", named.sub("", k)).replace(" ", "")) if named else None))
                   if k is not None else None)
    if var.kind is Kind.binary:  # 1.0 / 0 / "1.00" from numeric exports
        num = pd.to_numeric(key, errors="coerce")
        mapped_by_user = any(str(c).strip() in ("1", "2") for c in codes)
        if not mapped_by_user and (num == 2).any() and (num == 1).any() and not (num == 0).any():
            # SPSS-style 1/2 coding: its 1 is not the 0/1 coding's 1, and which code is positive cannot be guessed
            ctx.report.add(ERROR, ctx.file, f"column {var.name!r} holds 1 and 2, not 0 and 1 (a 1/2 coding, as SPSS "
                           "exports); which code is positive cannot be guessed, so no cell of it is read. Map the codes "
                           f"with codes: {{{var.name}: {{1: no, 2: yes}}}} (or the other way) in {VARIABLES_YAML}.",
                           column=var.name, kind="unknown_level")
            return pd.Series(np.nan, index=raw.index, dtype=object)
        vals = vals.where(vals.notna() | ~num.isin([0.0, 1.0]), num.map({0.0: "0", 1.0: "1"}))
    # 'None' or a dash that no level spells: missing, as before the reader kept them (readers.NONE_WORD, _tidy)
    bad = raw.notna() & vals.isna() & ~key.isin([NONE_WORD, "-", "--"])
    for i in np.flatnonzero(bad.to_numpy()):
        extra = " or yes/no, true/false, positive/negative" if var.kind is Kind.binary else ""
        ctx.add(ERROR, int(i), var.name, f"expected one of {list(var.levels)}{extra}. Got {raw.iloc[i]!r}. Correct "
                f"it, or map your codes with 'codes:' in {VARIABLES_YAML}.{letter_hint}", raw.iloc[i], "unknown_level")
    return vals.astype(object).where(vals.notna(), np.nan)


_INTEGRAL = re.compile(r"^(-?\d+)[.,]0+$")
_STAGE_WORD = re.compile(r"^stage\s*")


def _name_prefix(var) -> re.Pattern | None:
    """A code written with its variable's name in front ('ISS II', 'R-ISS: I', 'Durie-Salmon IIIA', 'DS stage IIIA'),
    as some registries export it: the variable's own name, short name and display name (hyphens and dashes
    optional), so an 'ISS' prefix is read in the ISS column only."""
    if var.kind is Kind.binary:
        return None
    base = {var.name.lower(), var.name.lower().split("_")[0], var.display.lower().removesuffix("stage").rstrip()}
    words = {re.sub(r"[-\u2013\u2014_ ]", "", b) for b in base if b}
    words = {w for w in words if len(w) >= 2}
    if not words:
        return None
    flexible = [r"[-\u2013\u2014_ ]?".join(map(re.escape, w)) for w in sorted(words, key=len, reverse=True)]
    return re.compile(r"^(?:" + "|".join(flexible) + r")\s*(?:stage)?\s*[-:=\u2013]?\s*")


def _level_key(x) -> str:
    """'1.0' / '1,0' / '3,00' (numeric and decimal-comma exports of a code) -> '1' / '3'."""
    s = str(x).strip().lower()
    m = _INTEGRAL.match(s)
    return m.group(1) if m else s


def _derive_corrected_calcium(out: pd.DataFrame, schema: Schema, ctx: _Ctx) -> None:
    """Total calcium + albumin -> albumin-corrected calcium (Payne), where corrected calcium is not given."""
    if "calcium_total" not in out:
        return
    from zoo.schema.derived import corrected_calcium

    derived = corrected_calcium(out["calcium_total"], out["alb"] if "alb" in out else pd.Series(np.nan, out.index))
    given = out["calcium"] if "calcium" in out else pd.Series(np.nan, index=out.index)
    n = int((given.isna() & derived.notna()).sum())
    out["calcium"] = given.where(given.notna(), derived)
    if n:
        ctx.report.add(WARNING, ctx.file, f"corrected calcium derived for {n} patients from total calcium and "
                       "albumin (Payne: Ca + 0.02 × (40 − albumin g/L) mmol/L).", column="calcium",
                       kind="derived")
    out.drop(columns=["calcium_total"], inplace=True)


def _check_structure(out: pd.DataFrame, schema: Schema, ctx: _Ctx) -> None:
    """Declarative backstop (pandera) on the cleaned table: types and ranges must hold after cleaning.

    Cleaning has already reported every bad cell in our words; a failure here means a bug, so it is
    reported as one instead of showing the library's wording.
    """
    cols: dict[str, pa.Column] = {}
    for var in schema:
        if var.name not in out:
            continue
        if var.kind is Kind.numeric:
            cols[var.name] = pa.Column(float, pa.Check.in_range(*var.possible_range), nullable=True, coerce=True)
        elif var.kind is Kind.binary:
            cols[var.name] = pa.Column(float, pa.Check.isin([0.0, 1.0]), nullable=True, coerce=True)
        else:
            cols[var.name] = pa.Column(object, pa.Check.isin(list(var.levels)), nullable=True)
    try:
        pa.DataFrameSchema(cols).validate(out.reset_index(drop=True), lazy=True)
    except pa.errors.SchemaErrors as e:
        bad = sorted(set(map(str, e.failure_cases["column"])))
        ctx.report.add(ERROR, ctx.file, f"internal check failed after cleaning for columns {bad}. This is a MyeloZoo "
                       "bug, not your data: please report it with this message.", kind="table")


def _fill_and_check_stages(out: pd.DataFrame, schema: Schema, ctx: _Ctx) -> None:
    if not any(c in out for c in ("b2m", "alb")):
        return
    derived = derive_stages(out, schema.ldh_uln)
    for col in ("iss", "riss"):
        if col in out:
            given = out[col]
            clash = given.notna() & derived[col].notna() & (given.astype(str) != derived[col].astype(str))
            for i in np.flatnonzero(clash.to_numpy()):
                ctx.add(WARNING, int(i), col,
                        f"expected {col.upper()} {derived[col].iloc[i]} from the labs (ISS: β2M/albumin; R-ISS: "
                        f"ISS, LDH > {schema.ldh_uln:g} U/L, high-risk FISH). Got {given.iloc[i]}. Keeping the "
                        "supplied stage; check the labs or the staging.", given.iloc[i], "stage_mismatch")
            out[col] = given.where(given.notna(), derived[col])
        else:
            out[col] = derived[col]


def _outcome_from_follow_up(t: pd.Series, e: pd.Series) -> pd.Series:
    """PD = event by 24 months; non-PD = progressed after 24 months or followed to 24 months event-free (exactly
    24 included: seen at month 24 without progression is a known outcome); otherwise unknown (NaN)."""
    y = pd.Series(np.nan, index=t.index)
    y[(e == 1) & (t <= HORIZON_MONTHS)] = 1.0
    y[(t > HORIZON_MONTHS) | ((e == 0) & (t >= HORIZON_MONTHS))] = 0.0
    return y


def _resolve_outcome(out: pd.DataFrame, ctx: _Ctx, has_time: bool) -> None:
    """The 24-month outcome: given, or derived from time to event; unknown when censored before 24 months.

    A patient without progression whose follow-up ended before 24 months has an unknown 24-month
    outcome; counting them as non-progressors biases risks downwards, so they are set to missing,
    named in a warning and excluded from training and evaluation.
    """
    t = out["months_to_event"] if has_time else None
    e = out["event"] if has_time else None
    if OUTCOME not in out:
        if not has_time:
            return
        out[OUTCOME] = _outcome_from_follow_up(t, e).to_numpy()
        ctx.report.add(WARNING, ctx.file, f"no {OUTCOME!r} column: the 24-month outcome was derived from "
                       "months_to_event and event (PD = event within 24 months).", column=OUTCOME,
                       kind="outcome_derived")
    elif has_time:
        # a blank outcome that the follow-up decides is filled in (and said so), not thrown away
        derived = _outcome_from_follow_up(t, e)
        fill = out[OUTCOME].isna() & derived.notna()
        if fill.any():
            out[OUTCOME] = out[OUTCOME].where(~fill, derived)
            ctx.report.add(WARNING, ctx.file, f"{int(fill.sum())} empty {OUTCOME!r} cell(s) filled in from "
                           "months_to_event and event (PD = event within 24 months); check them if that is not "
                           "what the blanks meant.", column=OUTCOME, kind="outcome_derived")
    y = out[OUTCOME]
    if has_time:
        censored = (y != 1) & (e == 0) & (t < HORIZON_MONTHS)
        for i in np.flatnonzero(censored.to_numpy()):
            ctx.add(WARNING, int(i), OUTCOME, f"followed for {t.iloc[i]:g} months without progression, so whether "
                    f"this patient progressed within {HORIZON_MONTHS:g} months is unknown. Excluded from training and "
                    "evaluation (counting them as non-progressors would bias every risk down).",
                    y.iloc[i], "outcome_unknown")
        conflict = ((y == 1) & ((e == 0) | (t > HORIZON_MONTHS))) | ((y == 0) & (e == 1) & (t <= HORIZON_MONTHS))
        for i in np.flatnonzero(conflict.to_numpy()):
            ctx.add(WARNING, int(i), OUTCOME, f"progressed = {int(y.iloc[i])} disagrees with months_to_event = "
                    f"{t.iloc[i]:g} and event = {int(e.iloc[i]) if pd.notna(e.iloc[i]) else 'empty'}. Keeping "
                    f"progressed; check the follow-up data.", y.iloc[i], "outcome_conflict")
        y = y.where(~censored)
    else:
        censored = pd.Series(False, index=out.index)
        if "months_to_event" in out:  # follow-up without an event column: a progressor's time is its PFS
            late = (y == 1) & (out["months_to_event"] > HORIZON_MONTHS)
            if late.any():
                r = [ctx.rows[i] for i in np.flatnonzero(late.to_numpy())]
                ctx.report.add(WARNING, ctx.file, f"{len(r)} patient(s) with {OUTCOME} = 1 (progression within "
                               f"{HORIZON_MONTHS:g} months) have months_to_event over {HORIZON_MONTHS:g} (row "
                               f"{_some(r, 5)}). If the outcome column says whether a patient progressed at all, "
                               "name it 'event' (or map it with columns: {event: …}): the 24-month outcome is then "
                               f"derived from both. Kept as given.", column=OUTCOME, kind="outcome_conflict")
    missing = y.isna() & ~censored
    for i in np.flatnonzero(missing.to_numpy()):
        ctx.add(WARNING, int(i), OUTCOME, "expected the outcome 0 or 1. Got an empty cell. This patient is excluded "
                "from training and evaluation (kept for scoring).", None, "outcome_unknown")
    out[OUTCOME] = y.to_numpy()
    ctx.report.n_outcome_unknown = int(y.isna().sum())
    ctx.report.n_censored_early = int(censored.sum())


_MONTHS = ("jan|feb|m[aä]r|mrz|apr|ma[iy]|jun|jul|aug|sep|sept|o[ck]t|nov|de[cz]|janv|f[eé]vr|avr|juil|ao[uû]t|"
           "d[eé]c|ene|abr|ago|dic|gen|mag|giu|lug|set|ott")
_DATE_ID = re.compile(rf"^(\d{{4}}-\d{{2}}-\d{{2}}([ T]00:00(:00)?)?|\d{{1,2}}[-/. ]{{0,2}}({_MONTHS})\.?([-/. ]\d{{2,4}})?"
                      rf"|({_MONTHS})\.?[-/ ]\d{{1,4}}|\d{{1,2}}[/.]\d{{1,2}}[/.]\d{{2,4}})$", re.IGNORECASE)


def date_like_ids(ids) -> list[str]:
    """IDs that read as a date as Excel writes one ('01-Dec', 'Sep-02', '2026-12-01', '3/4/2026'): the trace of IDs
    such as '1-12' or 'SEP2' that Excel made into dates. For a warning only; the IDs stay as they are."""
    return [str(p) for p in ids if p is not None and len(str(p)) <= 24 and _DATE_ID.match(str(p).strip())]


def _id_key(pid: str) -> str:
    """A patient ID as two exports of one registry may spell it differently: letter case, full-width characters,
    an Excel text marker (', ="…"), a '.0' from a number format, leading zeros. Only for hints, never to match."""
    import unicodedata

    k = unicodedata.normalize("NFKC", str(pid)).strip().lower()
    k = re.sub(r'^="(.*)"$', r"\1", k).lstrip("'")
    k = re.sub(r"\.0+$", "", k) if re.fullmatch(r"\d+\.0+", k) else k
    return k.lstrip("0") or k


_IMAGE_SYNONYMS = {"patient_id": ("patientid", *(header_key(x) for x in ID_SYNONYMS)), "modality": ("modality",),
                   "path": ("path", "file", "filename", "filepath", "image", "imagepath")}


def _image_columns(columns: list, report: ValidationReport) -> dict:
    """images.csv headers to patient_id / modality / path: the exact name wins, else the first synonym; every
    other column (a database row key 'id' beside patient_id, say) is left as it is and ignored, with a note."""
    keys = [header_key(c) for c in columns]
    rename: dict = {}
    for target, synonyms in _IMAGE_SYNONYMS.items():
        exact = [c for c, k in zip(columns, keys) if k == header_key(target)]
        pick = exact[0] if exact else next((c for c, k in zip(columns, keys) if k in synonyms and c not in rename),
                                           None)
        if pick is not None:
            rename[pick] = target
    for c, k in zip(columns, keys):
        target = next((t for t, syn in _IMAGE_SYNONYMS.items() if k in syn or k == header_key(t)), None)
        if c not in rename and target is not None:
            used = next(str(u) for u, t in rename.items() if t == target)
            report.add(WARNING, IMAGES_CSV, f"column {str(c)!r} is ignored: {target} is read from column {used!r}.",
                       column=str(c), kind="unknown_column")
    return rename


def clean_images(root: Path, patients: set[str], report: ValidationReport,
                 decode: bool = True) -> pd.DataFrame:
    """Check images.csv and every file it names; returns rows that are usable."""
    path = root / IMAGES_CSV
    empty = pd.DataFrame(columns=["patient_id", "modality", "path"])
    if not path.is_file():
        return empty
    try:
        df = read_table(path).frame
    except TableReadError as e:
        report.add(ERROR, IMAGES_CSV, str(e).removeprefix(f"{IMAGES_CSV}: "), kind="table")
        return empty
    df = df.rename(columns=_image_columns(list(df.columns), report))
    missing = [c for c in ("patient_id", "modality", "path") if c not in df.columns]
    if missing:
        report.add(ERROR, IMAGES_CSV, f"expected columns patient_id, modality, path. Missing: {missing}. Add them.",
                   kind="missing_column")
        return empty
    keep = []
    seen: set[str] = set()
    near_ids: dict[str, str] | None = None  # built on the first unknown patient only
    dated_id: str | None = None  # likewise: a clinical ID that reads as a date, or '' for none
    windows_paths = 0
    root_resolved = root.resolve()
    for row, r in df.iterrows():
        row = int(row)
        p = "" if pd.isna(r["patient_id"]) else str(r["patient_id"]).strip()
        m = "" if pd.isna(r["modality"]) else str(r["modality"]).strip().lower()
        rel = "" if pd.isna(r["path"]) else str(r["path"]).strip()
        mod = MODALITY_ALIASES.get(m) or MODALITY_ALIASES.get(re.sub(r"[\s\-]+", "_", m))  # 'Bone marrow'
        if mod is None:
            report.add(ERROR, IMAGES_CSV, f"expected modality one of {list(MODALITIES)}. Got {r['modality']!r}.",
                       row=row, patient_id=p, column="modality", value=str(r["modality"]), kind="image")
            continue
        if p not in patients:
            if near_ids is None:
                near_ids = {}
                for q in sorted(patients):
                    near_ids.setdefault(_id_key(q), q)
            near = near_ids.get(_id_key(p))
            if near is None and dated_id is None:  # once per table, not per unknown row
                dated_id = next(iter(date_like_ids(sorted(patients))), "")
            dated = None if near else dated_id
            hint = (f" The clinical table has {near!r}: IDs must match exactly (letter case, leading zeros, '.0' "
                    "from a number format); correct one of the two." if near else
                    f" The clinical table has IDs that look like dates ({dated!r}): did Excel turn IDs into dates? "
                    "Format the ID column as text and export it again." if dated else
                    " Add the patient or remove the image row.")
            report.add(ERROR, IMAGES_CSV, f"expected a patient listed in the clinical table. Got unknown patient "
                       f"{p!r}.{hint}", row=row, patient_id=p, column="patient_id", value=p, kind="image")
            continue
        if not rel:
            report.add(ERROR, IMAGES_CSV, "expected an image path. Got an empty cell.", row=row, patient_id=p,
                       column="path", kind="image")
            continue
        if rel in seen:
            report.add(WARNING, IMAGES_CSV, f"image {rel!r} is listed twice; the second row is ignored.",
                       row=row, patient_id=p, column="path", value=rel, kind="image")
            continue
        seen.add(rel)
        if "\\" in rel and not _is_file(root / rel):  # a Windows export: images\marrow\A1.png
            rel = rel.replace("\\", "/")
            windows_paths += 1
        try:
            full = (root / rel).resolve()
        except (OSError, RuntimeError, ValueError):
            full = None
        if full is None or root_resolved not in full.parents:
            report.add(ERROR, IMAGES_CSV, f"expected a path inside the cohort folder. Got {rel!r}.",
                       row=row, patient_id=p, column="path", value=rel, kind="image")
            continue
        if not _is_file(full):
            near = _same_name_other_case(full, root_resolved)
            hint = (f" A file {near!r} exists: paths are case-sensitive here; correct the path in {IMAGES_CSV}."
                    if near else " Check the path (relative to the cohort folder) and that the file was copied.")
            report.add(ERROR, IMAGES_CSV, f"expected an image file at {rel!r}. Got no such file.{hint}",
                       row=row, patient_id=p, column="path", value=rel, kind="image")
            continue
        if decode:
            try:
                read_image(full)
            except ImageReadError as e:
                report.add(ERROR, IMAGES_CSV, str(e), row=row, patient_id=p, column="path", value=rel, kind="image")
                continue
        keep.append({"patient_id": p, "modality": mod, "path": rel})
    if windows_paths:
        report.add(WARNING, IMAGES_CSV, f"{windows_paths} path(s) written with backslashes (Windows) were read with "
                   "'/' separators.", column="path", kind="image")
    return pd.DataFrame(keep, columns=["patient_id", "modality", "path"])


def _is_file(path: Path) -> bool:
    """False for a path the OS refuses (a name over its length limit), not an exception that ends validation."""
    try:
        return path.is_file()
    except OSError:
        return False


def _same_name_other_case(full: Path, root: Path) -> str | None:
    """The cohort-relative path of a file that differs from ``full`` only in letter case, if there is one."""
    try:
        parts = full.relative_to(root).parts
    except ValueError:
        return None
    here = root
    for part in parts:
        try:
            match = next((c for c in here.iterdir() if c.name.lower() == part.lower()), None)
        except OSError:
            return None
        if match is None:
            return None
        here = match
    return here.relative_to(root).as_posix() if here.is_file() else None
