"""Procedural immunofixation electrophoresis (IFE) gels with band ground truth.

Six lanes: SP (serum protein, with albumin and α/β/γ zones), then anti-G,
anti-A, anti-M, anti-κ, anti-λ. The monoclonal protein gives a sharp band at
one migration position in SP, the matching heavy-chain lane and the
light-chain lane, its density following the M-protein level. Light-chain
myeloma and IgD (no anti-D lane) show the light-chain band alone.
Immunoparesis lowers the polyclonal background of every lane. The IFE latent
adds an extra free-light-chain band or a second clone. Artefacts: low
contrast, background blotches, dark gel edges, bubbles.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw
from scipy.ndimage import gaussian_filter

LANES = ("SP", "G", "A", "M", "κ", "λ")
HEAVY_LANE = {"IgG": "G", "IgA": "A", "IgM": "M"}
LIGHT_LANE = {"kappa": "κ", "lambda": "λ"}
BAND_KINDS = ("monoclonal", "extra_flc", "second_clone")

GEL_STYLE = {
    # stain colour as per-channel optical-density weights, background tint, contrast
    "A": {"od": np.array([0.95, 1.05, 0.55]), "bg": (0.93, 0.93, 0.95), "contrast": 1.0},
    "B": {"od": np.array([1.00, 0.80, 0.35]), "bg": (0.90, 0.92, 0.96), "contrast": 0.75},
}


def lane_geometry(size: int) -> list[tuple[int, int]]:
    m, gap = int(round(8 * size / 224)), int(round(6 * size / 224))
    w = (size - 2 * m - 5 * gap) / 6
    return [(int(round(m + i * (w + gap))), int(round(m + i * (w + gap) + w))) for i in range(6)]


def render_ife(rng: np.random.Generator, size: int, heavy: str, light: str, mlevel: float, pattern: str,
               paresis: float, site: str = "A") -> tuple[np.ndarray, list[dict]]:
    """One gel: (RGB uint8 image, band boxes with lane and kind)."""
    s = size / 224.0
    style = GEL_STYLE[site]
    ys = np.arange(size, dtype=np.float32) / size
    top = 16 * s / size  # label strip
    geo = lane_geometry(size)
    od = np.zeros((size, size), np.float32)
    bands: list[dict] = []
    poly = max(0.05, 1.0 - 0.85 * paresis)

    def g(mu, sd, amp):
        return amp * np.exp(-0.5 * ((ys - mu) / sd) ** 2)

    profiles = {lane: np.zeros(size, np.float32) for lane in LANES}
    profiles["SP"] += g(0.17, 0.018, 1.1) + g(0.29, 0.012, 0.25) + g(0.37, 0.02, 0.45) + g(0.47, 0.015, 0.40)
    profiles["SP"] += g(0.53, 0.014, 0.28) + g(0.70, 0.075, 0.55 * poly)
    for lane, amp in (("G", 0.55), ("A", 0.22), ("M", 0.15), ("κ", 0.40), ("λ", 0.28)):
        profiles[lane] += g(0.68 + rng.normal(0, 0.01), 0.08, amp * poly)

    def add_band(lanes, y, kind, amp, sd):
        for lane in lanes:
            profiles[lane] += g(y, sd, amp * (0.75 if lane == "SP" else 1.0))
            x0, x1 = geo[LANES.index(lane)]
            half = 2.6 * sd * size
            bands.append({"lane": lane, "kind": kind,
                          "box": [x0, int(max(0, y * size - half)), x1, int(min(size, y * size + half + 1))]})

    # the monoclonal band: density follows the serum M-protein (or urine light chain in LC disease)
    amp = 0.55 + 1.4 * min(1.0, (mlevel if mlevel > 0 else 12.0) / 45.0)
    y_m = rng.uniform(0.50, 0.64) if heavy == "IgA" else rng.uniform(0.58, 0.82)
    sd_m = rng.uniform(0.008, 0.012)
    lanes = [LIGHT_LANE[light]] + ([HEAVY_LANE[heavy]] if heavy in HEAVY_LANE else [])
    if heavy in HEAVY_LANE:
        lanes.insert(0, "SP")
    add_band(lanes, y_m, "monoclonal", amp, sd_m)
    if pattern == "extra_flc":  # free light chain migrating apart from the intact immunoglobulin
        dy = rng.uniform(0.07, 0.14) * rng.choice([-1, 1])
        y2 = float(np.clip(y_m + dy, 0.45, 0.86))
        add_band([LIGHT_LANE[light]], y2, "extra_flc", rng.uniform(0.7, 1.3), rng.uniform(0.008, 0.011))
    elif pattern == "biclonal":
        second = [h for h in ("G", "A", "M") if h != HEAVY_LANE.get(heavy)][int(rng.integers(0, 2))]
        l2 = LIGHT_LANE[rng.choice(["kappa", "lambda"])]
        y2 = float(np.clip(y_m + rng.uniform(0.08, 0.16) * rng.choice([-1, 1]), 0.45, 0.86))
        add_band(["SP", second, l2], y2, "second_clone", rng.uniform(0.7, 1.3), rng.uniform(0.008, 0.011))

    xs = np.arange(size, dtype=np.float32)
    for (x0, x1), lane in zip(geo, LANES):
        prof = profiles[lane] * (ys > top)
        xc, half = (x0 + x1) / 2, (x1 - x0) / 2
        edge = np.clip((half - np.abs(xs - xc)) / (1.5 * s), 0, 1)  # soft lane edges
        smile = 0.004 * ((xs - xc) / max(half, 1)) ** 2  # bands curve slightly at the lane edges
        shifted = np.interp(ys[:, None] - smile[None, :], ys, prof)
        od += shifted * edge[None, :]

    # artefacts
    contrast = style["contrast"] * (rng.uniform(0.45, 0.7) if rng.random() < 0.12 else rng.uniform(0.9, 1.1))
    od *= contrast
    od += 0.08 * max(0.0, rng.normal(0.3, 0.4)) * np.clip(
        gaussian_filter(rng.normal(0, 1, (size, size)).astype(np.float32), 18 * s) * 4, 0, None)
    if rng.random() < 0.25:  # dark gel edge (the failure mode the study describes)
        side = rng.integers(0, 4)
        d = [ys[:, None] * size, (1 - ys[:, None]) * size, xs[None, :], size - xs[None, :]][side]
        od += rng.uniform(0.4, 1.0) * np.exp(-np.broadcast_to(d, (size, size)) / (rng.uniform(4, 9) * s))
    img = np.asarray(style["bg"], np.float32)[None, None, :] * np.exp(-od[..., None] * style["od"][None, None, :])
    if rng.random() < 0.15:  # bubbles
        yy, xx = np.mgrid[0:size, 0:size]
        for _ in range(rng.integers(1, 4)):
            cy, cx, r = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(2, 5) * s
            ring = np.abs(np.hypot(yy - cy, xx - cx) - r) < 0.9 * s
            img[ring] = img[ring] * 0.75
            img[np.hypot(yy - cy, xx - cx) < r - 0.9 * s] = np.clip(img[np.hypot(yy - cy, xx - cx) < r - 0.9 * s] + 0.05, 0, 1)
    img = img + rng.normal(0, 0.012, img.shape)
    img = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    pil = Image.fromarray(img)
    draw = ImageDraw.Draw(pil)
    for (x0, x1), lane in zip(geo, LANES):  # lane labels as printed on real gels
        label = {"κ": "K", "λ": "L"}.get(lane, lane)
        draw.text(((x0 + x1) / 2 - 3 * len(label), 2 * s), label, fill=(40, 40, 60))
    return np.asarray(pil), bands


def annotation_record(bands: list[dict], size: int) -> dict:
    return {
        "lanes": [{"name": n, "x": list(x)} for n, x in zip(LANES, lane_geometry(size))],
        "band_kinds": list(BAND_KINDS),
        "bands": bands,
    }
