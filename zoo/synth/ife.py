"""Procedural immunofixation electrophoresis (IFE) gels with band ground truth.

Six lanes: SP (serum protein, with albumin and α/β/γ zones), then anti-G,
anti-A, anti-M, anti-κ, anti-λ. The monoclonal protein gives one band at one
migration position in the SP, heavy-chain and light-chain lanes. Its density
and width follow the serum M-protein: a small spike is a thin band, a large one
a broad, dark band that saturates as real overloaded bands do. The gel agrees
with the table: IgD has no anti-D lane, so an IgD M-protein shows in SP and the
light-chain lane only; light-chain-only disease (serum M-protein 0) shows a free
light-chain band in its light-chain lane and nothing in SP or a heavy-chain lane.
Immunoparesis (the IFE latent) lowers the polyclonal background of every lane.
Rarely, a free-light-chain band or a second clone (both need an intact heavy
chain) adds a band. Artefacts: low contrast, background blotches, dark gel
edges, bubbles. Each site's platform has its own lane geometry, run length and stain.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw
from scipy.ndimage import gaussian_filter

LANES = ("SP", "G", "A", "M", "κ", "λ")
HEAVY_LANE = {"IgG": "G", "IgA": "A", "IgM": "M"}
LIGHT_LANE = {"kappa": "κ", "lambda": "λ"}
BAND_KINDS = ("monoclonal", "extra_flc", "second_clone")


@dataclass(frozen=True)
class GelPlatform:
    """A gel system: lane layout (pixels at 224 px), where the run starts and how far it goes, stain colour."""
    margin: float
    gap: float
    label_strip: float           # height of the printed lane labels, pixels at 224 px
    origin: float                # migration coordinate 0 maps here (fraction of gel height) ...
    run: float                   # ... and coordinate 1 to origin + run
    od: tuple[float, float, float]  # stain colour as per-channel optical-density weights
    bg: tuple[float, float, float]
    contrast: float


GEL_PLATFORMS = {
    "A": GelPlatform(margin=8, gap=6, label_strip=16, origin=0.0, run=1.0, od=(0.95, 1.05, 0.55),
                     bg=(0.93, 0.93, 0.95), contrast=1.0),
    # B: a different agarose system: narrower lanes with wider gaps, a shorter run, Coomassie-like stain
    "B": GelPlatform(margin=14, gap=10, label_strip=18, origin=0.06, run=0.88, od=(1.00, 0.80, 0.35),
                     bg=(0.90, 0.92, 0.96), contrast=0.78),
}

# The polyclonal immunoglobulin smear of the γ region, in every lane (migration coordinate and SD). Its depth is
# the immunoparesis that carries the gel's risk signal (zoo.synth.risk), so its ±2 SD band is the IFE target
# of attention on target, written to each gel's annotation as ``regions`` (zoo.explain.attention).
POLYCLONAL_CENTRE, POLYCLONAL_SD = 0.68, 0.08

# band density and width follow the M-protein up to realistic maxima (g/L)
M_SATURATION = 30.0       # g/L: amplitude approaches its maximum beyond a few times this
BAND_SD = (0.008, 0.00014, 0.018)  # sd (fraction of gel height) = min(max, base + slope · M)


def lane_geometry(size: int, platform: str = "A") -> list[tuple[int, int]]:
    p = GEL_PLATFORMS[platform]
    m, gap = int(round(p.margin * size / 224)), int(round(p.gap * size / 224))
    w = (size - 2 * m - 5 * gap) / 6
    return [(int(round(m + i * (w + gap))), int(round(m + i * (w + gap) + w))) for i in range(6)]


def band_shape(mlevel: float) -> tuple[float, float]:
    """(peak optical density, sd as a fraction of gel height) of a monoclonal band of ``mlevel`` g/L."""
    m = max(float(mlevel), 0.0)
    amp = 0.45 + 1.9 * (1.0 - np.exp(-m / M_SATURATION))
    base, slope, top = BAND_SD
    return float(amp), float(min(top, base + slope * m))


def render_ife(rng: np.random.Generator, size: int, heavy: str, light: str, mlevel: float, pattern: str,
               paresis: float, site: str = "A", urine_lc: float = 0.0) -> tuple[np.ndarray, list[dict]]:
    """One gel: (RGB uint8 image, band boxes with lane and kind)."""
    s = size / 224.0
    plat = GEL_PLATFORMS[site]
    ys = np.arange(size, dtype=np.float32) / size
    top = plat.label_strip * s / size
    geo = lane_geometry(size, site)
    od = np.zeros((size, size), np.float32)
    bands: list[dict] = []
    poly = max(0.05, 1.0 - 0.85 * paresis)

    def pos(y):  # migration coordinate -> fraction of gel height on this platform
        return plat.origin + plat.run * y

    def g(mu, sd, amp):
        return amp * np.exp(-0.5 * ((ys - pos(mu)) / (sd * plat.run)) ** 2)

    profiles = {lane: np.zeros(size, np.float32) for lane in LANES}
    profiles["SP"] += g(0.17, 0.018, 1.1) + g(0.29, 0.012, 0.25) + g(0.37, 0.02, 0.45) + g(0.47, 0.015, 0.40)
    profiles["SP"] += g(0.53, 0.014, 0.28) + g(0.70, 0.075, 0.55 * poly)
    for lane, amp in (("G", 0.55), ("A", 0.22), ("M", 0.15), ("κ", 0.40), ("λ", 0.28)):
        profiles[lane] += g(POLYCLONAL_CENTRE + rng.normal(0, 0.01), POLYCLONAL_SD, amp * poly)

    def add_band(lanes, y, kind, amp, sd):
        for lane in lanes:
            profiles[lane] += g(y, sd, amp * (0.75 if lane == "SP" else 1.0))
            x0, x1 = geo[LANES.index(lane)]
            half = 2.6 * sd * plat.run * size
            yc = pos(y) * size
            bands.append({"lane": lane, "kind": kind,
                          "box": [x0, int(max(0, yc - half)), x1, int(min(size, yc + half + 1))]})

    # the monoclonal band. Light-chain-only disease: a free light chain band whose density follows the
    # urinary light chain (serum free light chains rise with it), never an SP or heavy-chain band.
    lc_only = heavy == "light_chain_only"
    level = min(25.0, 4.0 + float(urine_lc) / 400.0) if lc_only else float(mlevel)
    amp, sd_m = band_shape(level)
    sd_m *= rng.uniform(0.9, 1.1)
    y_m = rng.uniform(0.50, 0.64) if heavy == "IgA" else rng.uniform(0.58, 0.82)
    lanes = [LIGHT_LANE[light]]
    if heavy in HEAVY_LANE:
        lanes = ["SP", HEAVY_LANE[heavy]] + lanes
    elif heavy == "IgD":  # no anti-D lane: the M-protein shows in SP and the light-chain lane
        lanes = ["SP"] + lanes
    add_band(lanes, y_m, "monoclonal", amp, sd_m)
    if pattern == "extra_flc" and heavy in HEAVY_LANE:  # free light chain migrating apart from the intact Ig
        dy = rng.uniform(0.07, 0.14) * rng.choice([-1, 1])
        y2 = float(np.clip(y_m + dy, 0.45, 0.86))
        add_band([LIGHT_LANE[light]], y2, "extra_flc", rng.uniform(0.6, 1.1), rng.uniform(0.008, 0.011))
    elif pattern == "biclonal" and heavy in HEAVY_LANE:
        second = [h for h in ("G", "A", "M") if h != HEAVY_LANE[heavy]][int(rng.integers(0, 2))]
        l2 = LIGHT_LANE[rng.choice(["kappa", "lambda"])]
        y2 = float(np.clip(y_m + rng.uniform(0.08, 0.16) * rng.choice([-1, 1]), 0.45, 0.86))
        a2, sd2 = band_shape(rng.uniform(5.0, 15.0))  # the minor clone is usually small
        add_band(["SP", second, l2], y2, "second_clone", a2, sd2)

    xs = np.arange(size, dtype=np.float32)
    for (x0, x1), lane in zip(geo, LANES):
        prof = profiles[lane] * (ys > top)
        xc, half = (x0 + x1) / 2, (x1 - x0) / 2
        edge = np.clip((half - np.abs(xs - xc)) / (1.5 * s), 0, 1)  # soft lane edges
        smile = 0.004 * ((xs - xc) / max(half, 1)) ** 2  # bands curve slightly at the lane edges
        shifted = np.interp(ys[:, None] - smile[None, :], ys, prof)
        od += shifted * edge[None, :]

    # artefacts
    contrast = plat.contrast * (rng.uniform(0.45, 0.7) if rng.random() < 0.12 else rng.uniform(0.9, 1.1))
    od *= contrast
    od += 0.08 * max(0.0, rng.normal(0.3, 0.4)) * np.clip(
        gaussian_filter(rng.normal(0, 1, (size, size)).astype(np.float32), 18 * s) * 4, 0, None)
    if rng.random() < 0.25:  # dark gel edge (the failure mode the study describes)
        side = rng.integers(0, 4)
        d = [ys[:, None] * size, (1 - ys[:, None]) * size, xs[None, :], size - xs[None, :]][side]
        od += rng.uniform(0.4, 1.0) * np.exp(-np.broadcast_to(d, (size, size)) / (rng.uniform(4, 9) * s))
    img = np.asarray(plat.bg, np.float32)[None, None, :] * np.exp(-od[..., None] * np.asarray(plat.od)[None, None, :])
    if rng.random() < 0.15:  # bubbles
        yy, xx = np.mgrid[0:size, 0:size]
        for _ in range(rng.integers(1, 4)):
            cy, cx, r = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(2, 5) * s
            dist = np.hypot(yy - cy, xx - cx)
            ring = np.abs(dist - r) < 0.9 * s
            img[ring] = img[ring] * 0.75
            inside = dist < r - 0.9 * s
            img[inside] = np.clip(img[inside] + 0.05, 0, 1)
    img = img + rng.normal(0, 0.012, img.shape)
    img = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    pil = Image.fromarray(img)
    draw = ImageDraw.Draw(pil)
    for (x0, x1), lane in zip(geo, LANES):  # lane labels as printed on real gels
        label = {"κ": "K", "λ": "L"}.get(lane, lane)
        draw.text(((x0 + x1) / 2 - 3 * len(label), 2 * s), label, fill=(40, 40, 60))
    return np.asarray(pil), bands


def polyclonal_boxes(size: int, platform: str = "A") -> list[dict]:
    """Per lane, the box of the polyclonal γ-region smear (±2 SD, below the printed labels), image pixels."""
    p = GEL_PLATFORMS[platform]
    top = p.label_strip * size / 224
    lo, hi = POLYCLONAL_CENTRE - 2 * POLYCLONAL_SD, POLYCLONAL_CENTRE + 2 * POLYCLONAL_SD
    y0 = max(top, (p.origin + p.run * lo) * size)
    y1 = min(float(size), (p.origin + p.run * hi) * size)
    return [{"lane": n, "kind": "polyclonal", "box": [x0, int(np.floor(y0)), x1, int(np.ceil(y1))]}
            for n, (x0, x1) in zip(LANES, lane_geometry(size, platform))]


def annotation_record(bands: list[dict], size: int, platform: str = "A") -> dict:
    return {
        "lanes": [{"name": n, "x": list(x)} for n, x in zip(LANES, lane_geometry(size, platform))],
        "band_kinds": list(BAND_KINDS),
        "bands": bands,
        "regions": polyclonal_boxes(size, platform),
    }
