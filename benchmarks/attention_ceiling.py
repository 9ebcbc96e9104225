"""The highest attention on target any Grad-CAM map of a given size could reach on a cell-level model's crops.

    python benchmarks/attention_ceiling.py --zoo data/demo/zoo --cohort data/demo/cohort [--sides 4,7] \
        [--crop-size 32] [--split test]

Why: a crop model's Grad-CAM map has the CAM layer's resolution (4×4 on a 32-px crop in the `quick` profile) and
is upsampled onto the crop's box; the plasma cell fills about a third of the box. However a network looked, its
map is a non-negative mix of the k×k cells' upsampled bumps, and a mix's share inside the cell is at most the
best single bump's share (a weighted mediant). So, for each crop on its own, the best single cell gives the
ceiling of attention on target; over the split's crops (the pooled ones of each smear, segmented as a new
patient's, as the product maps them) its mean over the mean chance (the uniform map's share) is the ceiling of the
ratio to chance. Stitching keeps the larger value where boxes overlap and the product averages per patient, so
the product's figure can differ from this per-crop ceiling a little; the geometry is the same.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def bumps(side: int, crop: int) -> np.ndarray:
    """(side², crop, crop): each CAM cell's map, upsampled to the crop as pytorch-grad-cam does (cv2 bilinear)."""
    import cv2

    out = []
    for i in range(side * side):
        one = np.zeros((side, side), np.float32)
        one.flat[i] = 1.0
        out.append(cv2.resize(one, (crop, crop)))
    return np.stack(out)


def crop_shares(mask: np.ndarray, boxes: np.ndarray, maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per crop: (best single bump's share inside the mask, the uniform map's share), each map resized onto its
    box as ``zoo.explain.stitch`` does and clipped to the image."""
    import torch

    h, w = mask.shape
    best, chance = [], []
    for x0, y0, x1, y1 in boxes:
        bw, bh = int(x1 - x0), int(y1 - y0)
        big = torch.nn.functional.interpolate(torch.from_numpy(maps)[:, None], size=(bh, bw), mode="bilinear",
                                              align_corners=False)[:, 0].numpy()
        ix0, iy0, ix1, iy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        part = big[:, iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0]
        m = mask[iy0:iy1, ix0:ix1]
        tot = part.reshape(len(part), -1).sum(1)
        inside = (part * m).reshape(len(part), -1).sum(1)
        ok = tot > 0
        best.append(float((inside[ok] / tot[ok]).max()) if ok.any() else np.nan)
        chance.append(float(m.mean()) if m.size else np.nan)
    return np.asarray(best), np.asarray(chance)


def main() -> None:
    from zoo.cohort import load_cohort
    from zoo.data import PatientData
    from zoo.explain.attention import target_mask
    from zoo.segment.cells import crop_boxes, pooled_instances

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoo", type=Path, required=True, help="a built zoo: its split.json says which patients")
    ap.add_argument("--cohort", type=Path, required=True)
    ap.add_argument("--sides", default="4,7", help="comma-separated CAM map sides")
    ap.add_argument("--crop-size", type=int, default=32, help="the network's crop input (pixels)")
    ap.add_argument("--max-cells", type=int, default=16, help="crops pooled per smear (the profile's limit)")
    ap.add_argument("--split", default="test")
    a = ap.parse_args()
    t = time.perf_counter()
    cohort = load_cohort(a.cohort)
    data = PatientData.from_cohort(cohort)  # every smear segmented unprompted, as a new patient's
    ids = json.loads((a.zoo / "split.json").read_text())[a.split]
    bank = data.eval_cells or data.cells
    sides = [int(v) for v in a.sides.split(",")]
    maps = {s: bumps(s, a.crop_size) for s in sides}
    rows = {s: [] for s in sides}
    for pid in ids:
        for k in data.images["marrow"][data.ids.index(pid)]:
            img = data.banks["marrow"].raw(k)
            labels, inst = bank.segmentation(k)
            boxes = crop_boxes(img.shape[:2], pooled_instances(inst, a.max_cells))
            if not len(boxes):
                continue
            mask, _ = target_mask(img, Path(k), "marrow", cohort.root)
            for s in sides:
                best, chance = crop_shares(mask, boxes, maps[s])
                rows[s].extend((pid, b, c) for b, c in zip(best, chance))
    out = {}
    for s in sides:
        r = np.asarray([(b, c) for _, b, c in rows[s]], float)
        ok = np.isfinite(r).all(1)
        out[f"{s}x{s}"] = {"crops": int(ok.sum()), "patients": len({p for p, _, _ in rows[s]}),
                           "ceiling_share": round(float(r[ok, 0].mean()), 4),
                           "chance": round(float(r[ok, 1].mean()), 4),
                           "ceiling_ratio": round(float(r[ok, 0].mean() / r[ok, 1].mean()), 3),
                           "crops_whose_ceiling_reaches_2x": round(float((r[ok, 0] >= 2 * r[ok, 1]).mean()), 3)}
    print(json.dumps({"split": a.split, "crop_size": a.crop_size, "max_cells_per_image": a.max_cells, **out,
                      "seconds": round(time.perf_counter() - t, 1)}, indent=2))


if __name__ == "__main__":
    main()
