"""Maps computed on native-resolution tiles (cell crops) put back onto the whole image.

A cell-level model never sees the whole smear: it sees crops cut around plasma cells at the scanned
resolution and pools them (mean or attention MIL). Its Grad-CAM is therefore computed crop by crop and each
crop's map is resized to that crop's box on the smear, scaled by the crop's weight in the patient's pooled
prediction, so the heat map a reviewer reads shows which cells drove the prediction and where in each
cell. Where boxes overlap the larger value wins: a map is never brighter than its brightest tile.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Tile:
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 on the image (may reach past its edge)
    weight: float                   # share of the patient's pooled prediction (sums to 1 over the tiles)
    probability: float              # the model's P(PD) for this tile alone


def stitch(cams: np.ndarray, boxes: np.ndarray, shape: tuple[int, int],
           weights: np.ndarray | None = None) -> np.ndarray:
    """(H, W) map in [0, 1]: tile ``i``'s map (``cams[i]``, any square size) resized onto ``boxes[i]``.

    ``weights`` scale each tile relative to the heaviest one (MIL attention or mean pooling's equal shares);
    without them every tile counts fully. Pixels outside every box stay 0.
    """
    h, w = shape
    out = np.zeros((h, w), np.float32)
    cams = np.asarray(cams, np.float32)
    boxes = np.asarray(boxes, np.int64).reshape(-1, 4)
    if len(cams) != len(boxes):
        raise ValueError(f"Expected one box per tile map. Got {len(cams)} maps and {len(boxes)} boxes.")
    if len(cams) == 0:
        return out
    scale = np.ones(len(cams), np.float32)
    if weights is not None:
        weights = np.asarray(weights, np.float32)
        scale = weights / weights.max() if weights.max() > 0 else scale
    for cam, (x0, y0, x1, y1), s in zip(cams, boxes, scale):
        bw, bh = int(x1 - x0), int(y1 - y0)
        if bw <= 0 or bh <= 0:
            continue
        big = torch.nn.functional.interpolate(torch.from_numpy(cam)[None, None], size=(bh, bw), mode="bilinear",
                                              align_corners=False)[0, 0].numpy() * s
        ix0, iy0, ix1, iy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if ix0 >= ix1 or iy0 >= iy1:
            continue
        part = big[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0]
        np.maximum(out[iy0:iy1, ix0:ix1], part, out=out[iy0:iy1, ix0:ix1])
    return out


def boxes_mask(boxes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Where a stitched map can lie: the union of the tiles' boxes, clipped to the image."""
    m = np.zeros(shape, bool)
    for x0, y0, x1, y1 in np.asarray(boxes, np.int64).reshape(-1, 4):
        m[max(y0, 0):max(min(y1, shape[0]), 0), max(x0, 0):max(min(x1, shape[1]), 0)] = True
    return m
