"""The study's published figures, shown beside ours and always labelled as such.

These come from the authors' private 207-patient cohort and were selected on
their test set; they are a reference, not a target our numbers are tuned to.
"""
from __future__ import annotations

PUBLISHED_LABEL = "published, on the authors' private cohort"

# keyed by (modality, paper_name); None where the paper gives no figure
PUBLISHED: dict[tuple[str, str], dict[str, float]] = {
    ("marrow", "ResNet"): {"auc": 0.7295, "accuracy": 0.58, "f1": 0.6316, "precision": 0.5294, "recall": 0.7826},
    ("marrow", "MobileNet"): {"auc": 0.6989},
    ("marrow", "DenseNet"): {"auc": 0.6924},
    ("electrophoresis", "DenseNet"): {"auc": 0.8088, "accuracy": 0.62},
    ("electrophoresis", "VGG16"): {"auc": 0.8082, "f1": 0.6341},
    ("electrophoresis", "MobileNet"): {"auc": 0.7633},
    ("clinical", "LR"): {"auc": 0.6779, "accuracy": 0.68},
    ("clinical", "RF"): {"auc": 0.6506},
    ("clinical", "SVM"): {"auc": 0.4010},
    ("ensemble", "Soft voting"): {"auc": 0.8180, "accuracy": 0.70, "precision": 0.90, "f1": 0.5455},
}


def published_for(modality: str, paper_name: str) -> dict[str, float] | None:
    return PUBLISHED.get((modality, paper_name))
