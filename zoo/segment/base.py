"""What every segmenter returns, the segmenter registry, and plasma-cell Dice/IoU against ground truth."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from zoo.errors import UnknownModelError


@dataclass
class Segmentation:
    """Instance labels (0 = background) and per-instance records; ``is_plasma`` marks plasma cells."""

    labels: np.ndarray                      # (H, W) uint16
    instances: list[dict] = field(default_factory=list)
    segmenter: str = ""
    prompted: bool = False                  # instances come from annotation prompts (one per point)

    @property
    def plasma_ids(self) -> list[int]:
        return [r["id"] for r in self.instances if r.get("is_plasma")]

    def plasma_mask(self) -> np.ndarray:
        return np.isin(self.labels, self.plasma_ids)

    def to_record(self) -> dict:
        return {"segmenter": self.segmenter, "prompted": self.prompted,
                "mask_format": "uint16 PNG; pixel value = instance id (0 = background)",
                "instances": self.instances, "n_cells": len(self.instances), "n_plasma": len(self.plasma_ids)}


_SEGMENTERS: dict[str, Callable] = {}


def register_segmenter(name: str):
    def deco(factory):
        if name in _SEGMENTERS:
            raise ValueError(f"Segmenter {name!r} is registered twice.")
        _SEGMENTERS[name] = factory
        return factory
    return deco


def create_segmenter(name: str, **kw):
    from zoo.segment import classical, sam  # noqa: F401  (registration)

    if name not in _SEGMENTERS:
        raise UnknownModelError(f"Expected a segmenter in {sorted(_SEGMENTERS)}. Got {name!r}.")
    return _SEGMENTERS[name](**kw)


def instance_record(labels: np.ndarray, i: int, is_plasma: bool, point=None, where=None) -> dict:
    """``where``: the instance's bounding slices (``scipy.ndimage.find_objects``), so that a smear with
    hundreds of cells is scanned once per cell's box, not once per cell over the whole image (the
    prediction of a new patient segments every smear). The record is the same either way."""
    if where is None:
        ys, xs = np.nonzero(labels == i)
    else:
        ys, xs = np.nonzero(labels[where] == i)
        ys, xs = ys + where[0].start, xs + where[1].start
    rec = {"id": int(i), "area": int(len(ys)), "is_plasma": bool(is_plasma),
           "bbox": [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1] if len(ys) else None,
           "centroid": [round(float(xs.mean()), 1), round(float(ys.mean()), 1)] if len(ys) else None}
    if point is not None:
        rec["point"] = [float(point[0]), float(point[1])]
    return rec


def dice_iou(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    a, b = a.astype(bool), b.astype(bool)
    inter = float((a & b).sum())
    s = float(a.sum() + b.sum())
    union = float((a | b).sum())
    return (2 * inter / s if s else 1.0), (inter / union if union else 1.0)


def plasma_cell_scores(seg: Segmentation, gt_labels: np.ndarray, gt_cells: list[dict]) -> list[tuple[float, float]]:
    """Dice and IoU of each ground-truth plasma cell with the predicted instance at its centre (0 if none)."""
    out = []
    for c in gt_cells:
        if c["type"] != "plasma":
            continue
        x, y = (int(round(v)) for v in c["center"])
        y, x = min(y, gt_labels.shape[0] - 1), min(x, gt_labels.shape[1] - 1)
        pid = int(seg.labels[y, x])
        pred = (seg.labels == pid) if pid and pid in seg.plasma_ids else np.zeros_like(gt_labels, bool)
        out.append(dice_iou(pred, gt_labels == c["id"]))
    return out
