"""A documented IFE band detector for gels without ground truth.

Lanes: the gel is split into six equal columns (SP, G, A, M, κ, λ, the
standard order) between the SP lane's left edge and the mirrored right
margin (gels are photographed centred). Bands: in each lane the
vertical darkness profile (central 60 % of the lane width, smoothed) is
searched for narrow peaks standing out from the lane's background
(prominence > 4 robust SDs and > 6 grey levels, width under 5 % of the gel height). Each peak
gives a box spanning the lane and the peak's half-height width.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import find_peaks

LANES = ("SP", "G", "A", "M", "κ", "λ")


def detect_bands(img: np.ndarray, top_fraction: float = 0.07, min_prominence: float = 6.0) -> list[dict]:
    gray = img.astype(float).mean(axis=2) if img.ndim == 3 else img.astype(float)
    dark = 255.0 - gray
    h, w = dark.shape
    cols = dark[int(top_fraction * h):].mean(axis=0)
    edge = max(1, int(0.03 * w))  # dark gel borders are not lanes
    inner = cols[edge:w - edge]
    lo = np.percentile(inner, 20)
    content = np.flatnonzero(inner > lo + 0.25 * (np.percentile(inner, 98) - lo)) + edge
    # the SP lane (always stained) fixes the left margin; gels are photographed centred, so the right
    # margin mirrors it (a pale λ lane cannot shrink the lane grid)
    x0 = int(content.min()) if len(content) else 0
    x1 = w - x0
    edges = np.linspace(x0, x1, len(LANES) + 1)
    boxes = []
    y_start = int(top_fraction * h)
    for i, lane in enumerate(LANES):
        a, b = int(edges[i]), int(edges[i + 1])
        m = max(1, int(0.2 * (b - a)))
        prof = gaussian_filter1d(dark[y_start:, a + m:b - m].mean(axis=1), sigma=max(1.0, h / 224))
        base = gaussian_filter1d(prof, sigma=max(4.0, 12 * h / 224))
        resid = prof - base
        mad = np.median(np.abs(resid - np.median(resid))) * 1.4826 + 1e-6
        peaks, props = find_peaks(resid, prominence=max(4 * mad, min_prominence), width=(None, 0.05 * h))
        for p, wd in zip(peaks, props["widths"]):
            half = max(1.0, wd / 2 * 1.3)
            boxes.append({"lane": lane, "kind": "detected",
                          "box": [a, int(max(0, y_start + p - half)), b, int(min(h, y_start + p + half + 1))]})
    return boxes


def boxes_mask(boxes: list[dict], shape: tuple[int, int]) -> np.ndarray:
    m = np.zeros(shape, bool)
    for b in boxes:
        x0, y0, x1, y1 = b["box"]
        m[y0:y1, x0:x1] = True
    return m
