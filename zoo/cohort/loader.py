"""Load a cohort directory into a typed, validated ``Cohort``."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from zoo.cohort.images import read_image
from zoo.cohort.layout import ANNOTATIONS_DIR, COHORT_JSON, IMAGES_CSV, MODALITIES, ORACLE_CSV, clinical_path
from zoo.cohort.validate import (
    ValidationReport, clean_clinical, clean_images, map_columns, read_clinical_table, read_variables,
)
from zoo.errors import CohortError
from zoo.schema import DEFAULT_SCHEMA, OUTCOME, Schema


@dataclass(frozen=True)
class Cohort:
    """A validated cohort: clinical table in canonical units, image index, schema.

    ``clinical`` is indexed by patient_id; ``images`` has patient_id, modality,
    path (relative to ``root``). Images are decoded on demand.
    """

    root: Path
    schema: Schema
    clinical: pd.DataFrame
    images: pd.DataFrame
    report: ValidationReport
    meta: dict
    # inverse-probability-of-censoring weights of the patients kept (None: nobody censored early)
    case_weights: pd.Series | None = None
    # follow-up of every patient read, the ones left out included (months_to_event, event, known), when some were
    # censored early: a zoo re-estimates the weights apart for its training and test patients from it
    followup: pd.DataFrame | None = None
    # the units the cohort's file declared (variables.yaml or headers), by variable: forms default to them
    units: dict = field(default_factory=dict)

    @property
    def patient_ids(self) -> list[str]:
        return list(self.clinical.index)

    @property
    def y(self) -> np.ndarray:
        """The 24-month outcome, one per patient; a scoring-only cohort (unknown outcomes) has none."""
        if OUTCOME not in self.clinical or self.clinical[OUTCOME].isna().any():
            raise CohortError(f"Cohort {self.root.name}: expected a known 24-month outcome for every patient. Got "
                              f"{int(self.clinical.get(OUTCOME, pd.Series([np.nan])).isna().sum())} without one. "
                              "Load it with require_outcome=True to train or evaluate.")
        return self.clinical[OUTCOME].to_numpy(dtype=int)

    @property
    def feature_columns(self) -> list[str]:
        """Schema feature variables that this cohort actually has (with any value)."""
        return [v.name for v in self.schema.features(self.clinical.columns) if self.clinical[v.name].notna().any()]

    @property
    def is_synthetic(self) -> bool:
        return bool(self.meta.get("synthetic", False))

    @property
    def annotations_dir(self) -> Path | None:
        d = self.root / ANNOTATIONS_DIR
        return d if d.is_dir() else None

    def image_paths(self, patient_id: str, modality: str) -> list[Path]:
        rows = self._images_by_patient.get((patient_id, modality), [])
        return [self.root / r for r in rows]

    def read_images(self, patient_id: str, modality: str) -> list[np.ndarray]:
        return [read_image(p) for p in self.image_paths(patient_id, modality)]

    def has_modality(self, modality: str) -> np.ndarray:
        """Boolean per patient (in ``patient_ids`` order)."""
        if modality == "clinical":
            feats = self.feature_columns
            return self.clinical[feats].notna().any(axis=1).to_numpy() if feats else np.zeros(len(self.clinical), bool)
        have = set(self.images.loc[self.images["modality"] == modality, "patient_id"])
        return np.array([p in have for p in self.clinical.index])

    def coverage(self) -> pd.DataFrame:
        return pd.DataFrame({m: self.has_modality(m) for m in ("clinical", *MODALITIES)}, index=self.clinical.index)

    def oracle(self) -> pd.DataFrame | None:
        """True probabilities of a synthetic cohort. Models never call this; evaluation may."""
        p = self.root / ORACLE_CSV
        return pd.read_csv(p, dtype={"patient_id": str}).set_index("patient_id") if p.is_file() else None

    def split_weighted(self, train_ids: list[str], test_ids: list[str]) -> Cohort:
        """This cohort with its censoring weights re-estimated apart for the training and the test patients
        (``zoo.evaluation.censoring.split_ipcw_weights``), as a zoo trains and evaluates with them."""
        if self.followup is None:
            return self
        from dataclasses import replace

        from zoo.evaluation.censoring import split_ipcw_weights

        return replace(self, case_weights=split_ipcw_weights(self.followup, train_ids, test_ids))

    @cached_property
    def _images_by_patient(self) -> dict[tuple[str, str], list[str]]:
        out: dict[tuple[str, str], list[str]] = {}
        for p, m, rel in self.images[["patient_id", "modality", "path"]].itertuples(index=False):
            out.setdefault((p, m), []).append(rel)
        return out

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 over the clinical and image index files: identifies the data a zoo was trained on."""
        h = hashlib.sha256()
        for f in (clinical_path(self.root), self.root / IMAGES_CSV):
            if f is not None and f.is_file():
                h.update(f.name.encode())
                h.update(f.read_bytes())
        return h.hexdigest()


def validate_cohort(root: str | Path, decode_images: bool = True, strict: bool = False,
                    require_outcome: bool = True) -> tuple[ValidationReport, Cohort | None]:
    """Check a cohort directory; return the report and, when usable, the cohort.

    ``strict``: implausible values are errors instead of being set to missing.
    ``require_outcome``: a training cohort keeps only patients with a known 24-month outcome; a scoring
    cohort (``False``) keeps every patient, outcome or not.
    """
    root = Path(root)
    report = ValidationReport(root=root, strict=strict)
    if not root.is_dir():
        report.add("error", root.name or str(root), "expected a cohort folder. Got no folder with that name.",
                   kind="table")
        return report, None
    schema, units, vf = read_variables(root, report)
    table = read_clinical_table(root, report, sheet=vf.sheet)
    if table is None:
        return report, None
    file = clinical_path(root).name
    mapped, units = map_columns(table, schema, units, vf, report, file)
    clinical = clean_clinical(mapped, schema, units, report, file=file, decimal_comma=table.decimal_comma,
                              codes=vf.codes, strict=strict, require_outcome=require_outcome)
    if len(clinical.index) == 0:
        return report, None
    images = clean_images(root, set(p for p in clinical.index if p is not None), report, decode=decode_images)
    report.n_patients = int(clinical.index.notna().sum())
    if OUTCOME in clinical and clinical[OUTCOME].notna().any():
        report.pd_rate = float(clinical[OUTCOME].mean())  # among patients with a known outcome
    for m in MODALITIES:
        sel = images[images["modality"] == m]
        report.n_images[m] = len(sel)
        report.patients_with[m] = sel["patient_id"].nunique()
    if not report.ok:
        return report, None
    meta = _read_meta(root / COHORT_JSON, report)
    weights = followup = None
    if require_outcome:
        if OUTCOME not in clinical:
            return report, None
        known = clinical[OUTCOME].notna()
        if {"months_to_event", "event"} <= set(clinical.columns) and (~known).any():
            from zoo.evaluation.censoring import ipcw_weights

            w = ipcw_weights(clinical["months_to_event"], clinical["event"], known)
            weights = w if not np.allclose(w.to_numpy(), 1.0) else None
            if weights is not None:
                followup = clinical[["months_to_event", "event"]].assign(known=known)
        clinical = clinical[known].copy()
        clinical[OUTCOME] = clinical[OUTCOME].astype(int)
    images = images[images["patient_id"].isin(set(clinical.index))].reset_index(drop=True)
    return report, Cohort(root=root, schema=schema, clinical=clinical, images=images, report=report, meta=meta,
                          case_weights=weights, followup=followup, units=dict(units))


def _read_meta(path: Path, report: ValidationReport) -> dict:
    """cohort.json (written by the generator); an unreadable one is a warning, never a crash."""
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        report.add("warning", COHORT_JSON, "expected JSON. Got an unreadable file; it is ignored.", kind="format")
        return {}
    return meta if isinstance(meta, dict) else {}


def load_cohort(root: str | Path, decode_images: bool = True, strict: bool = False,
                require_outcome: bool = True) -> Cohort:
    """Validated cohort, or ``CohortError`` listing every problem."""
    report, cohort = validate_cohort(root, decode_images=decode_images, strict=strict,
                                     require_outcome=require_outcome)
    if cohort is None:
        raise CohortError(
            f"Cohort {Path(root).name} is not usable: {len(report.errors)} error(s).\n"
            + "\n".join(str(p) for p in report.errors[:50]), report.problems)
    return cohort


def load_clinical_table(path: str | Path, variables: str | Path | None = None, strict: bool = False
                        ) -> tuple[ValidationReport, pd.DataFrame | None, Schema]:
    """A clinical table on its own (for scoring many patients): the same reading and checks as a cohort's.

    Outcomes are optional here; ``variables`` is a ``variables.yaml`` for units, headers and codes.
    Returns the report, the cleaned table indexed by patient_id (None when unusable) and the schema.
    """
    import shutil
    import tempfile

    from zoo.cohort.layout import VARIABLES_YAML

    path = Path(path)
    report = ValidationReport(root=path.parent, strict=strict)
    if path.suffix.lower() not in (".csv", ".txt", ".tsv", ".xlsx", ".xlsm"):
        report.add("error", path.name, "expected a .csv or .xlsx table. Got another kind of file. Export the table "
                   "as CSV UTF-8 or .xlsx.", kind="table")
        return report, None, DEFAULT_SCHEMA
    with tempfile.TemporaryDirectory() as tmp:  # the cohort reader expects its file names; link, never copy data
        t = Path(tmp)
        target = t / ("clinical.xlsx" if path.suffix.lower() in (".xlsx", ".xlsm") else "clinical.csv")
        try:
            target.symlink_to(path.resolve())
        except OSError:
            shutil.copyfile(path, target)
        if variables is not None:
            (t / VARIABLES_YAML).symlink_to(Path(variables).resolve())
        schema, units, vf = read_variables(t, report)
        table = read_clinical_table(t, report, sheet=vf.sheet)
        if table is None:
            return _renamed(report, path.name), None, schema
        mapped, units = map_columns(table, schema, units, vf, report, path.name)
        clinical = clean_clinical(mapped, schema, units, report, file=path.name, decimal_comma=table.decimal_comma,
                                  codes=vf.codes, strict=strict, require_outcome=False)
    report = _renamed(report, path.name)
    report.n_patients = int(clinical.index.notna().sum())
    if not report.ok or len(clinical.index) == 0:
        return report, None, schema
    return report, clinical, schema


def _renamed(report: ValidationReport, name: str) -> ValidationReport:
    """Problems found under the temporary file name carry the user's file name."""
    from dataclasses import replace

    temp = ("clinical.csv", "clinical.xlsx")

    def own(p):  # the readers' notes start with the file name they read: the temporary one
        msg = next((name + p.message[len(t):] for t in temp if p.message.startswith(t)), p.message)
        return replace(p, file=name, message=msg)

    report.problems = [own(p) if p.file in temp else p for p in report.problems]
    return report
