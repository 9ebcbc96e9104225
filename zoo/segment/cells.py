"""Plasma-cell crops for cell-level marrow models.

A ``CellBank`` turns marrow images into fixed-size crops centred on segmented
plasma cells, cached per crop size. Segmentations come from a folder written
by ``python -m zoo segment`` when given, else from the classical segmenter
run on the fly (prompted by annotation points when the cohort has them,
automatic otherwise, e.g. for an uploaded image).
"""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Callable

import numpy as np

REFERENCE_SIZE = 224
CROP_AT_REFERENCE = 32  # pixels of a 224x224 field around each cell centre


def _crop_half(height: int) -> int:
    return max(4, int(round(CROP_AT_REFERENCE * height / REFERENCE_SIZE / 2)))


def plasma_instances(instances: list[dict]) -> list[dict]:
    """The instances a cell-level model can cut a crop around: plasma cells with a centroid. One filter for the
    crops, their boxes, the cells a model pools and the count the explainability page shows."""
    return [r for r in instances if r.get("is_plasma") and r.get("centroid")]


def crop_boxes(shape: tuple[int, int], instances: list[dict]) -> np.ndarray:
    """(n, 4) boxes x0, y0, x1, y1 in image pixels of the crops ``crops_from`` cuts, in the same order.

    A box may reach past the image edge (the crop is reflect-padded there); a map placed back onto the
    image (``zoo.explain.stitch``) keeps only the part inside.
    """
    half = _crop_half(shape[0])
    boxes = [(int(round(r["centroid"][0])) - half, int(round(r["centroid"][1])) - half,
              int(round(r["centroid"][0])) + half, int(round(r["centroid"][1])) + half)
             for r in plasma_instances(instances)]
    return np.asarray(boxes, dtype=np.int64).reshape(-1, 4)


def pooled_index(n: int, limit: int | None) -> np.ndarray:
    """Which of one smear's ``n`` plasma-cell crops a cell-level model pools: all of them, or ``limit`` spread
    over the segmenter's order (the classical segmenter's clumps by their topmost pixel, so top to bottom of
    the smear; a stored SAM segmentation's masks by area), each the middle of its share. For smears with
    more than twice the limit the first and last cells, often ones cut by the smear's edge, are not taken;
    below that both ends are (as pooling every cell takes every edge cell).

    Why a limit: on the demo's training folds VGG16-BN's AUC did not move past 16 cells per smear, and on a
    whole build the five architectures lost 0.001-0.005 of OOF AUC (docs/MODELS.md, "Cells pooled per
    smear"), while every crop costs a forward pass in each of five networks. Why not random: the same smear
    must always give the same prediction, and a new patient's image has no seed. The price: one cell more
    or less in a smear moves most of the picks, so a slightly different segmentation of the same smear
    gives a different subset (not a different model).
    """
    if limit is None or n <= limit:
        return np.arange(n)
    if limit < 1:
        raise ValueError(f"Expected at least 1 cell pooled per smear. Got {limit}.")
    return ((np.arange(limit) + 0.5) * n / limit).astype(np.int64)  # steps of n/limit > 1: distinct rows


# Bump when ``pooled_index`` picks other cells at the same limit: a resumed build then retrains the cell models
# (``zoo.training.trainer.model_recipe``), whose stored scores used the old picks.
POOLING_RULE = "share-midpoints-1"


def check_cell_limit(limit) -> None:
    """Refuse a per-smear limit that ``pooled_index`` cannot apply, before training rather than at the first
    prediction (every model that pools crops checks it in ``fit``)."""
    if limit is not None and (not isinstance(limit, (int, np.integer)) or isinstance(limit, bool) or limit < 1):
        raise ValueError(f"Expected max_cells_per_image to be None or a whole number of at least 1. Got {limit!r}.")


def pooled_rows(groups: np.ndarray, limit: int | None) -> np.ndarray:
    """Positions (sorted) of the crops pooled, ``pooled_index`` applied to each smear's crops; ``groups`` gives
    each crop's smear, crops of a smear in the segmenter's order."""
    groups = np.asarray(groups)
    if limit is None:
        return np.arange(len(groups))
    keep = []
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        keep.append(rows[pooled_index(len(rows), limit)])
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, np.int64)


def pooled_instances(instances: list[dict], limit: int | None) -> list[dict]:
    """The plasma-cell instances of one smear whose crops a cell-level model pools (``pooled_index`` over the
    ones ``crops_from`` would cut), so a single smear's crops can be cut for those cells only."""
    plasma = plasma_instances(instances)
    return [plasma[i] for i in pooled_index(len(plasma), limit)]


def crops_from(img: np.ndarray, labels: np.ndarray, instances: list[dict], out_size: int,
               mask_background: bool = False) -> np.ndarray:
    """uint8 (n, 3, out, out) crops centred on each plasma-cell instance."""
    from PIL import Image

    h, w = img.shape[:2]
    half = _crop_half(h)
    pad = np.pad(img, ((half, half), (half, half), (0, 0)), mode="reflect")
    lab = np.pad(labels, ((half, half), (half, half)), mode="constant")
    out = []
    for r in plasma_instances(instances):
        cx, cy = (int(round(v)) + half for v in r["centroid"])
        c = pad[cy - half:cy + half, cx - half:cx + half].copy()
        if mask_background:
            m = lab[cy - half:cy + half, cx - half:cx + half] == r["id"]
            c[~m] = c[m].mean(axis=0).astype(np.uint8) if m.any() else c[~m]
        out.append(np.asarray(Image.fromarray(c).resize((out_size, out_size), Image.BILINEAR)))
    if not out:
        return np.empty((0, 3, out_size, out_size), np.uint8)
    return np.stack(out).transpose(0, 3, 1, 2).copy()


class CellBank:
    """Plasma-cell crops per image key; segmentation per key computed once."""

    def __init__(self, loader: Callable[[str], np.ndarray], keys: list[str],
                 segmentation_for: Callable[[str, np.ndarray], tuple[np.ndarray, list[dict]]]) -> None:
        self._loader = loader
        self.keys = list(keys)
        self._segment = segmentation_for
        self._cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._segmentations: dict[str, tuple[np.ndarray, list[dict]]] = {}
        self._lock = threading.Lock()

    def crops(self, out_size: int, mask_background: bool = False):
        """(uint8 tensor (N, 3, s, s), owner image index per crop) for all keys."""
        import torch

        key = (out_size, mask_background)
        with self._lock:
            if key not in self._cache:
                all_c, owner = [], []
                for i, k in enumerate(self.keys):
                    img = self._loader(k)
                    labels, inst = self._segment(k, img)
                    c = crops_from(img, labels, inst, out_size, mask_background)
                    all_c.append(c)
                    owner.extend([i] * len(c))
                arr = np.concatenate(all_c) if all_c else np.empty((0, 3, out_size, out_size), np.uint8)
                self._cache[key] = (torch.from_numpy(arr), np.asarray(owner, dtype=np.int64))
            return self._cache[key]

    def segmentation(self, key: str) -> tuple[np.ndarray, list[dict]]:
        """(labels, instances) of image ``key`` as the crops were cut from it (for mapping CAMs back).

        Kept once asked for: the attention pass asks for each test smear once per cell-level model. Only the
        smears asked for are kept (the test set's), not the whole cohort's labels."""
        with self._lock:
            hit = self._segmentations.get(key)
        if hit is None:
            hit = self._segment(key, self._loader(key))
            with self._lock:
                self._segmentations[key] = hit
        return hit

    def index_of(self, keys: list[str]) -> np.ndarray:
        pos = {k: i for i, k in enumerate(self.keys)}
        return np.array([pos[k] for k in keys], dtype=np.int64)


def cohort_segmentation(cohort_root: Path | None, segmentation_dir: Path | None = None,
                        prompted_keys: set[str] | None = None):
    """A ``segmentation_for(key, img)`` function for a cohort's images (key = image path).

    Annotation points (ground truth) may prompt the segmenter only for keys in ``prompted_keys``: the
    training images. Every other image (test, external, new patients) is segmented unprompted, exactly as
    a single-patient prediction is, so evaluation describes what users get. A stored segmentation that was
    itself prompted is used only for prompted keys, for the same reason.
    """
    from zoo.segment.classical import ClassicalSegmenter

    seg = ClassicalSegmenter()
    prompted_keys = set(prompted_keys or ())

    def segmentation_for(key: str, img: np.ndarray):
        p = Path(key)
        may_prompt = key in prompted_keys
        if segmentation_dir is not None and (Path(segmentation_dir) / f"{p.stem}.json").is_file():
            from PIL import Image

            rec = json.loads((Path(segmentation_dir) / f"{p.stem}.json").read_text())
            if may_prompt or not rec.get("prompted", True):
                return np.asarray(Image.open(Path(segmentation_dir) / f"{p.stem}.png",
                                             formats=["PNG", "JPEG", "TIFF"])), rec["instances"]
        points = None
        if cohort_root is not None and may_prompt:
            ann = Path(cohort_root) / "annotations" / "marrow" / f"{p.stem}.json"
            if ann.is_file():
                points = json.loads(ann.read_text()).get("plasma_cell_points")
        s = seg.segment(img, points)
        return s.labels, s.instances

    return segmentation_for
