"""Cohorts on disk: format, defensive image reading, validation and loading."""
from zoo.cohort.images import read_image
from zoo.cohort.layout import ALL_MODALITIES, IMAGE_MODALITIES, MODALITIES, MODALITY_LABELS
from zoo.cohort.loader import Cohort, load_clinical_table, load_cohort, validate_cohort
from zoo.cohort.validate import Problem, ValidationReport

__all__ = ["ALL_MODALITIES", "IMAGE_MODALITIES", "MODALITIES", "MODALITY_LABELS", "Cohort", "Problem",
           "ValidationReport", "load_clinical_table", "load_cohort", "read_image", "validate_cohort"]
