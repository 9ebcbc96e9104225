"""Segment a cohort's marrow images; save masks in a documented format; summarise against ground truth.

Output folder layout (one pair per marrow image)::

    OUT/<image stem>.png    uint16 instance labels (0 = background)
    OUT/<image stem>.json   {"segmenter", "prompted", "instances": [{"id", "area", "bbox", "centroid",
                             "is_plasma", "point"?}], "image", "patient_id"}
    OUT/summary.json        the JSON the CLI prints
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from zoo.artifacts.files import atomic_write_bytes, atomic_write_json
from zoo.cohort.images import read_image
from zoo.segment.base import Segmentation, create_segmenter, plasma_cell_scores


def annotation_points(cohort, image_path: Path) -> tuple[list | None, dict | None, np.ndarray | None]:
    """(plasma-cell prompt points, ground-truth record, ground-truth labels) for one image, when annotated."""
    ann = cohort.annotations_dir
    if ann is None:
        return None, None, None
    rec_path = ann / "marrow" / f"{image_path.stem}.json"
    if not rec_path.is_file():
        return None, None, None
    rec = json.loads(rec_path.read_text())
    mask_path = rec_path.with_suffix(".png")
    gt = np.asarray(Image.open(mask_path, formats=["PNG", "JPEG", "TIFF"])) if mask_path.is_file() else None
    return rec.get("plasma_cell_points"), rec, gt


def resolve_segmenters(sam_checkpoint: str | Path | None = None, sam_model: str = "vit_b") -> list:
    segs = [create_segmenter("classical")]
    if sam_checkpoint:
        segs.insert(0, create_segmenter("sam", checkpoint=sam_checkpoint, model_type=sam_model))
    return segs


def save_segmentation(seg: Segmentation, out: Path, stem: str, extra: dict) -> None:
    import io

    buf = io.BytesIO()
    Image.fromarray(seg.labels.astype(np.uint16)).save(buf, format="PNG")
    atomic_write_bytes(out / f"{stem}.png", buf.getvalue())
    atomic_write_json(out / f"{stem}.json", {**seg.to_record(), **extra})


def segment_cohort(cohort, out: str | Path, sam_checkpoint=None, sam_model: str = "vit_b", use_prompts: bool = True,
                   limit: int | None = None, show_bar: bool = True) -> dict:
    """Segment every marrow image with the primary segmenter (SAM if configured, else classical);
    score every available segmenter against ground truth where it exists."""
    from tqdm.auto import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    segs = resolve_segmenters(sam_checkpoint, sam_model)
    primary = segs[0]
    auto = create_segmenter("classical")
    rows = cohort.images[cohort.images["modality"] == "marrow"]
    if limit:
        rows = rows.head(limit)
    per_image, scores = [], {s.name: [] for s in segs}
    per_patient: dict[str, list[tuple[int, int]]] = {}
    for pid, rel in tqdm(list(zip(rows["patient_id"], rows["path"])), desc="Segmenting", unit="image",
                         disable=not show_bar):
        path = cohort.root / rel
        img = read_image(path)
        points, rec, gt = annotation_points(cohort, path)
        prompts = points if use_prompts else None
        seg = primary.segment(img, prompts)
        save_segmentation(seg, out, path.stem, {"image": rel, "patient_id": pid})
        census = auto.segment(img)  # every nucleated cell, for the plasma-cell fraction
        n_cells, n_pc = len(census.instances), len(census.plasma_ids)
        per_patient.setdefault(pid, []).append((n_pc, n_cells))
        per_image.append({"image": rel, "patient_id": pid, "cells": n_cells, "plasma_cells": len(seg.plasma_ids)})
        if gt is not None:
            for s in segs:
                res = seg if s is primary else s.segment(img, prompts)
                scores[s.name].extend(plasma_cell_scores(res, gt, rec["cells"]))
    est = {p: sum(a for a, _ in v) / max(sum(b for _, b in v), 1) for p, v in per_patient.items()}
    summary = {
        "segmenter": primary.name, "fallback_used": primary.name == "classical",
        "note": None if sam_checkpoint else "No SAM checkpoint configured: the classical segmenter (stain "
                                            "deconvolution + threshold + watershed) produced these masks.",
        "prompted_by_annotations": bool(use_prompts and cohort.annotations_dir is not None),
        "images": len(per_image),
        "per_image": per_image,
        "cells_per_image": _stats([r["cells"] for r in per_image]),
        "plasma_cells_per_image": _stats([r["plasma_cells"] for r in per_image]),
    }
    if "bmpc" in cohort.clinical:
        b = cohort.clinical["bmpc"].reindex(list(est)).to_numpy(dtype=float)
        e = np.array([est[p] for p in est]) * 100
        ok = ~np.isnan(b)
        summary["plasma_fraction_vs_bmpc"] = {
            "n_patients": int(ok.sum()),
            "pearson_r": float(np.corrcoef(e[ok], b[ok])[0, 1]) if ok.sum() > 2 else None,
            "mean_abs_diff_points": float(np.mean(np.abs(e[ok] - b[ok]))) if ok.any() else None}
    summary["dice"] = {k: {"mean_dice": float(np.mean([d for d, _ in v])), "mean_iou": float(np.mean([i for _, i in v])),
                           "n_plasma_cells": len(v)} for k, v in scores.items() if v}
    atomic_write_json(out / "summary.json", summary)
    return summary


def _stats(x: list) -> dict:
    a = np.asarray(x, dtype=float)
    return {"mean": float(a.mean()) if len(a) else None, "min": float(a.min()) if len(a) else None,
            "max": float(a.max()) if len(a) else None}
