"""The on-disk cohort format, shared by the generator, the loader and the docs.

    COHORT/
      clinical.csv | clinical.xlsx   patient_id, variables, outcome
      images.csv                     patient_id, modality, path (relative)
      images/...                     the image files
      annotations/                   optional ground truth (synthetic cohorts)
      variables.yaml                 optional extra variables and units
      oracle.csv                     synthetic only: true probabilities, never read by models
"""
from __future__ import annotations

from pathlib import Path

CLINICAL_CSV = "clinical.csv"
CLINICAL_XLSX = "clinical.xlsx"
IMAGES_CSV = "images.csv"
VARIABLES_YAML = "variables.yaml"
ANNOTATIONS_DIR = "annotations"
ORACLE_CSV = "oracle.csv"
COHORT_JSON = "cohort.json"

MODALITIES = ("marrow", "electrophoresis")
IMAGE_MODALITIES = MODALITIES
ALL_MODALITIES = ("clinical", "marrow", "electrophoresis")
MODALITY_ALIASES = {
    "marrow": "marrow", "bone_marrow": "marrow", "bm": "marrow", "smear": "marrow",
    "electrophoresis": "electrophoresis", "ife": "electrophoresis", "immunofixation": "electrophoresis",
    "gel": "electrophoresis",
}
MODALITY_LABELS = {"clinical": "Clinical", "marrow": "Bone-marrow smear", "electrophoresis": "IFE gel"}


def clinical_path(root: Path) -> Path | None:
    for name in (CLINICAL_CSV, CLINICAL_XLSX):
        if (root / name).is_file():
            return root / name
    return None
