"""Scoring many patients at once: a cohort folder (with images) or a clinical table (CSV/XLSX).

One row per patient: the main ensemble's probability, its Venn–Abers pair, calibration band and 90 % conformal
prediction set, its band, what it used, every model's and
ensemble's probability, and the warnings that apply to that patient (values set to missing, assay
limits, missing modalities). The same reading and checks as ``validate`` apply, so a file that
validates also scores.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from zoo.cohort.layout import MODALITIES, MODALITY_LABELS
from zoo.cohort.validate import ValidationReport
from zoo.data import ImageBank, PatientData
from zoo.errors import CohortError
from zoo.schema import ID_COLUMN

PROB_PREFIX = "p_"


def patient_warnings(report: ValidationReport) -> dict[str, list[str]]:
    """Warnings that name a patient, in the words validate used."""
    out: dict[str, list[str]] = {}
    for p in report.warnings:
        if p.patient_id is not None:
            col = f"{p.column}: " if p.column else ""
            out.setdefault(str(p.patient_id), []).append(col + p.message)
    return out


def score_data(zoo, data: PatientData, warnings: dict[str, list[str]] | None = None,
               progress: Callable[[int, int], None] | None = None, show_bar: bool = False) -> pd.DataFrame:
    """The batch output for ``data``: one row per patient, stable column order."""
    from zoo.api import MAIN_ENSEMBLE, risk_band

    bar = _bar(len(data), show_bar)

    def step(done: int, total: int) -> None:
        bar.update(done - bar.n)
        if progress is not None:
            progress(done, total)

    try:
        res = zoo.score(data, progress=step)
    finally:
        bar.close()
    P, used = res.probabilities, res.used
    main = MAIN_ENSEMBLE if MAIN_ENSEMBLE in P else (zoo.ensemble_names[0] if zoo.ensemble_names else None)
    out = pd.DataFrame({ID_COLUMN: list(P.index)})
    if main is not None:
        out["probability"] = P[main].to_numpy()
        for col, v in zoo.interval_columns(main, out["probability"].to_numpy(),
                                           used[f"{main}:modalities"].to_numpy()).items():
            out[col] = v
        out["risk_band"] = [risk_band(p) if np.isfinite(p) else "" for p in out["probability"]]
        out["main_ensemble"] = main
        out["modalities_used"] = used[f"{main}:modalities"].to_numpy()
        out["members_used"] = used[f"{main}:members"].to_numpy()
    for name in [*zoo.model_names, *zoo.ensemble_names]:
        out[PROB_PREFIX + name] = P[name].to_numpy()
    notes = []
    have = {m: data.has(m) for m in (*MODALITIES, "clinical")}
    uses = {m: _zoo_uses(zoo, m) for m in MODALITIES}
    warnings = warnings or {}
    for i, pid in enumerate(P.index):
        w = list(warnings.get(str(pid), []))
        missing = [MODALITY_LABELS[m] for m in MODALITIES if not have[m][i] and uses[m]]
        if missing:
            w.append("no " + " or ".join(missing) + ": its models did not contribute")
        if not have["clinical"][i]:
            w.append("no clinical values")
        notes.append(" | ".join(w))
    out["warnings"] = notes
    return out


def _zoo_uses(zoo, modality: str) -> bool:
    return any(zoo.manifest["models"][n]["modality"] == modality for n in zoo.model_names)


def score_cohort_dir(zoo, root: str | Path, strict: bool = False, show_bar: bool = True,
                     progress: Callable[[int, int], None] | None = None) -> tuple[pd.DataFrame, ValidationReport]:
    """Every patient of a cohort folder, outcome known or not."""
    from zoo.cohort import validate_cohort

    report, cohort = validate_cohort(root, decode_images=False, strict=strict, require_outcome=False)
    if cohort is None:
        raise CohortError(f"Cohort {Path(root).name} cannot be scored: {len(report.errors)} error(s).\n"
                          + "\n".join(str(p) for p in report.errors[:50]), report.problems)
    data = PatientData.from_cohort(cohort)
    return score_data(zoo, data, patient_warnings(report), progress, show_bar), report


def score_clinical_file(zoo, path: str | Path, variables: str | Path | None = None, strict: bool = False,
                        show_bar: bool = True, progress: Callable[[int, int], None] | None = None
                        ) -> tuple[pd.DataFrame, ValidationReport]:
    """Every row of a clinical table (no images)."""
    from zoo.cohort import load_clinical_table

    report, clinical, schema = load_clinical_table(path, variables, strict)
    if clinical is None:
        raise CohortError(f"{Path(path).name} cannot be scored: {len(report.errors)} error(s).\n"
                          + "\n".join(str(p) for p in report.errors[:50]), report.problems)
    data = clinical_only_data(clinical, schema, zoo.features)
    return score_data(zoo, data, patient_warnings(report), progress, show_bar), report


def clinical_only_data(clinical: pd.DataFrame, schema, features: list[str]) -> PatientData:
    """PatientData for patients that have a clinical row and no images."""
    ids = [str(i) for i in clinical.index]
    X = clinical.reindex(columns=features)
    X.index = pd.Index(ids, name=ID_COLUMN)
    empty = {m: [[] for _ in ids] for m in MODALITIES}
    banks = {m: ImageBank.from_arrays({}) for m in MODALITIES}
    return PatientData(ids=ids, clinical=X, images=empty, banks=banks, schema=schema, features=list(features))


def _bar(n: int, show: bool):
    from tqdm.auto import tqdm

    return tqdm(total=n, desc="Scoring patients", unit="patient", disable=not show)
