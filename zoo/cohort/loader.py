"""Load a cohort directory into a typed, validated ``Cohort``."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from zoo.cohort.images import read_image
from zoo.cohort.layout import ANNOTATIONS_DIR, COHORT_JSON, IMAGES_CSV, MODALITIES, ORACLE_CSV, clinical_path
from zoo.cohort.validate import (
    ValidationReport, clean_clinical, clean_images, read_clinical_table, read_schema,
)
from zoo.errors import CohortError
from zoo.schema import OUTCOME, Schema


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

    @property
    def patient_ids(self) -> list[str]:
        return list(self.clinical.index)

    @property
    def y(self) -> np.ndarray:
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


def validate_cohort(root: str | Path, decode_images: bool = True) -> tuple[ValidationReport, Cohort | None]:
    """Check a cohort directory; return the report and, when usable, the cohort."""
    root = Path(root)
    report = ValidationReport(root=root)
    if not root.is_dir():
        report.add("error", str(root), f"expected a cohort folder. Got no folder at {root}.")
        return report, None
    schema, units = read_schema(root, report)
    raw = read_clinical_table(root, report)
    if raw is None:
        return report, None
    clinical = clean_clinical(raw, schema, units, report, file=clinical_path(root).name)
    if clinical.empty and len(raw):
        return report, None
    images = clean_images(root, set(p for p in clinical.index if p is not None), report, decode=decode_images)
    report.n_patients = int(clinical.index.notna().sum())
    if OUTCOME in clinical and clinical[OUTCOME].notna().any():
        report.pd_rate = float(clinical[OUTCOME].mean())
    for m in MODALITIES:
        sel = images[images["modality"] == m]
        report.n_images[m] = len(sel)
        report.patients_with[m] = sel["patient_id"].nunique()
    if not report.ok:
        return report, None
    meta_path = root / COHORT_JSON
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    clinical = clinical[clinical[OUTCOME].notna()].copy()
    clinical[OUTCOME] = clinical[OUTCOME].astype(int)
    return report, Cohort(root=root, schema=schema, clinical=clinical, images=images, report=report, meta=meta)


def load_cohort(root: str | Path, decode_images: bool = True) -> Cohort:
    """Validated cohort, or ``CohortError`` listing every problem."""
    report, cohort = validate_cohort(root, decode_images=decode_images)
    if cohort is None:
        raise CohortError(
            f"Cohort {root} is not usable: {len(report.errors)} error(s).\n"
            + "\n".join(str(p) for p in report.errors), report.problems)
    return cohort
