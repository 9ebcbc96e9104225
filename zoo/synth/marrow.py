"""Procedural Wright–Giemsa-like bone-marrow aspirate fields with instance ground truth.

A field looks like a cellular aspirate, not a blood film: 50-60 nucleated cells
per 224 × 224 field at site A's 100× objective (more, and smaller, at lower
magnification), touching and overlapping, on a red-cell background.

- Plasma cells at the patient's marrow plasma-cell %, with an eccentric round
  nucleus, clock-face chromatin, a perinuclear hof and basophilic cytoplasm.
  The marrow latent (a continuous maturity grade) shows in every plasma cell
  (larger, paler nucleus, a visible nucleolus, a fainter hof as the grade
  rises) and as the share of plasmablasts (central, fine-chromatin nucleus with
  prominent nucleoli, no hof, deep blue cytoplasm).
- The rest of the marrow in normal proportions (myeloid : erythroid ≈ 3 : 1):
  promyelocytes, myelocytes, metamyelocytes, band and segmented neutrophils,
  eosinophils, basophilic and late erythroblasts, lymphocytes.
- Rouleaux (stacked red cells) and a bluish proteinaceous background that
  grow with the serum globulin, i.e. with the M-protein.
- Debris and stain precipitate; slide style (stain, focus, noise) from ``stain.py``.

Ground truth: a uint16 instance mask (the top cell owns overlapping pixels; every
cell's centre stays visible), each instance's type and the plasma-cell centre points.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy.ndimage import gaussian_filter

from zoo.synth.stain import SlideStyle, apply_style

CELL_TYPES = ("plasma", "lymphocyte", "neutrophil", "erythroblast", "promyelocyte", "myelocyte", "metamyelocyte",
              "basophilic_erythroblast", "eosinophil")
PLASMA_CELL_TYPE_ID = 1
TYPE_IDS = {t: i + 1 for i, t in enumerate(CELL_TYPES)}
# non-plasma nucleated cells: a normal marrow differential (myeloid : erythroid ≈ 3 : 1)
BACKGROUND_MIX = {"promyelocyte": 0.05, "myelocyte": 0.14, "metamyelocyte": 0.12, "neutrophil": 0.28,
                  "eosinophil": 0.03, "basophilic_erythroblast": 0.04, "erythroblast": 0.20, "lymphocyte": 0.14}
# radius range in pixels at 224 px and site A's magnification
RADIUS = {"plasma": (8.5, 11.0), "lymphocyte": (6.0, 7.5), "neutrophil": (8.5, 10.5), "erythroblast": (6.0, 8.0),
          "promyelocyte": (10.5, 13.0), "myelocyte": (9.5, 12.0), "metamyelocyte": (9.0, 11.0),
          "basophilic_erythroblast": (8.0, 10.0), "eosinophil": (9.0, 11.0)}
CELLS_PER_FIELD = 76            # mean nucleated cells per 224² field at magnification 1
OVERLAP = 0.72                  # centres at least this × (r1 + r2) apart: rims overlap, centres stay visible

_C = {  # RGB in [0, 1]
    "rbc": (0.88, 0.58, 0.62), "rbc_pallor": (0.93, 0.76, 0.79), "protein": (0.80, 0.82, 0.93),
    "pc_cyto": (0.42, 0.48, 0.78), "pc_hof": (0.80, 0.80, 0.92), "pc_nuc": (0.34, 0.18, 0.46),
    "pc_chrom": (0.20, 0.09, 0.30),
    "pb_cyto": (0.30, 0.36, 0.74), "pb_nuc": (0.56, 0.40, 0.70), "pb_nucleolus": (0.74, 0.76, 0.94),
    "ly_cyto": (0.66, 0.72, 0.92), "ly_nuc": (0.26, 0.13, 0.38),
    "ne_cyto": (0.90, 0.78, 0.84), "ne_nuc": (0.40, 0.21, 0.50),
    "eb_cyto": (0.68, 0.60, 0.74), "eb_nuc": (0.19, 0.09, 0.26),
    "beb_cyto": (0.36, 0.42, 0.76), "beb_nuc": (0.30, 0.15, 0.42),
    "pro_cyto": (0.72, 0.66, 0.86), "pro_gran": (0.52, 0.22, 0.48), "pro_nuc": (0.50, 0.34, 0.62),
    "my_cyto": (0.90, 0.76, 0.80), "my_nuc": (0.42, 0.24, 0.52),
    "eo_cyto": (0.96, 0.62, 0.50), "eo_gran": (0.90, 0.42, 0.30),
    "debris": (0.32, 0.20, 0.38),
}
ROULEAUX_GLOBULIN_EDGES = (45.0, 65.0, 90.0)  # g/L: grade 0 (none) … 3 (long stacks everywhere)


def rouleaux_grade(glb: np.ndarray) -> np.ndarray:
    """Rouleaux follow the serum protein, i.e. globulin (the M-protein plus polyclonal immunoglobulin)."""
    return np.digitize(np.nan_to_num(np.asarray(glb, dtype=float), nan=30.0), ROULEAUX_GLOBULIN_EDGES)


@dataclass
class Cell:
    id: int
    type: str
    cy: float
    cx: float
    r: float
    plasmablastic: bool = False
    extra: dict = field(default_factory=dict)


def _soft_ellipse(yy, xx, cy, cx, ry, rx, theta=0.0, soft=1.0):
    c, s = np.cos(theta), np.sin(theta)
    dy, dx = yy - cy, xx - cx
    u = (dx * c + dy * s) / rx
    v = (-dx * s + dy * c) / ry
    d = np.sqrt(u * u + v * v)
    return np.clip((1.0 - d) * min(rx, ry) / soft + 0.5, 0.0, 1.0)


def _paint(img, win, alpha, color):
    ys, xs = win
    region = img[ys, xs]
    a = alpha[..., None]
    img[ys, xs] = region * (1 - a) + np.asarray(color, np.float32) * a


def _window(cy, cx, r, h, w):
    y0, y1 = max(0, int(cy - r - 2)), min(h, int(cy + r + 3))
    x0, x1 = max(0, int(cx - r - 2)), min(w, int(cx + r + 3))
    y1, x1 = max(y0, y1), max(x0, x1)  # a cell outside the field gives an empty window
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    return (slice(y0, y1), slice(x0, x1)), yy, xx


def _place(rng, radii, size, tries=60):
    """Centres for cells of the given radii: rims may overlap, every centre stays outside its neighbours."""
    placed: list[tuple[float, float, float]] = []
    arr = np.empty((0, 3))
    for r in radii:
        for _ in range(tries):
            cy, cx = rng.uniform(r * 0.5, size - r * 0.5, 2)
            if len(arr):
                d = np.hypot(arr[:, 0] - cy, arr[:, 1] - cx)
                if np.any(d < OVERLAP * (arr[:, 2] + r)) or np.any(d < 1.06 * np.maximum(arr[:, 2], r)):
                    continue
            placed.append((cy, cx, r))
            arr = np.asarray(placed)
            break
    return placed


@lru_cache(maxsize=8)
def _red_cell_sprites(k: float) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Red cells pre-drawn at a few sizes and orientations (premultiplied colour, alpha): stamping a sprite
    is one blend instead of two ellipses, and red cells are most of the shapes in a field."""
    out = []
    for r in np.linspace(5.0, 7.0, 5) * k:
        for theta in np.linspace(0, np.pi, 4, endpoint=False):
            half = int(np.ceil(r)) + 2
            yy, xx = np.mgrid[-half:half + 1, -half:half + 1].astype(np.float32)
            col = np.zeros(yy.shape + (3,), np.float32)
            alpha = np.zeros(yy.shape, np.float32)
            for a, c in ((_soft_ellipse(yy, xx, 0, 0, r * 0.93, r, theta, 0.8) * 0.85, _C["rbc"]),
                         (_soft_ellipse(yy, xx, 0, 0, r * 0.45, r * 0.45, 0, 1.5) * 0.6, _C["rbc_pallor"])):
                col = col * (1 - a[..., None]) + np.asarray(c, np.float32) * a[..., None]
                alpha = alpha + a - alpha * a
            out.append((col, alpha))
    return tuple(out)


def _stamp(img: np.ndarray, sprite: tuple[np.ndarray, np.ndarray], cy: float, cx: float) -> None:
    col, alpha = sprite
    half = alpha.shape[0] // 2
    y0, x0 = int(round(cy)) - half, int(round(cx)) - half
    h, w = img.shape[:2]
    sy0, sx0 = max(0, -y0), max(0, -x0)
    sy1, sx1 = min(alpha.shape[0], h - y0), min(alpha.shape[1], w - x0)
    if sy1 <= sy0 or sx1 <= sx0:
        return
    ys, xs = slice(y0 + sy0, y0 + sy1), slice(x0 + sx0, x0 + sx1)
    a = alpha[sy0:sy1, sx0:sx1, None]
    img[ys, xs] = img[ys, xs] * (1 - a) + col[sy0:sy1, sx0:sx1]


def _smooth_field(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Unit-variance low-frequency variation: a coarse random grid, upsampled (cheaper than a wide blur)."""
    from PIL import Image

    coarse = rng.normal(0, 1, (cells, cells)).astype(np.float32)
    up = np.asarray(Image.fromarray(coarse, mode="F").resize((size, size), Image.BICUBIC))
    return up / (up.std() + 1e-6)


def render_marrow(rng: np.random.Generator, size: int, bmpc: float, blast_share: float, style: SlideStyle,
                  grade: float = 0.0, glb: float = 30.0, magnification: float = 1.0,
                  ) -> tuple[np.ndarray, np.ndarray, list[Cell]]:
    """One smear field: (RGB uint8 image, uint16 instance mask, cells).

    ``grade``: the plasma-cell maturity grade (SD units; 0 = typical); ``glb``: serum globulin, g/L
    (rouleaux); ``magnification``: cell size relative to site A's objective.
    """
    s = size / 224.0
    k = s * magnification
    img = np.empty((size, size, 3), np.float32)
    img[:] = style.background
    rouleaux = int(rouleaux_grade(np.array([glb]))[0])
    # proteinaceous background: a faint blue wash that deepens with the serum protein
    if rouleaux:
        _paint(img, (slice(0, size), slice(0, size)), np.full((size, size), 0.10 * rouleaux, np.float32),
               _C["protein"])
    img *= (1 + 0.025 * _smooth_field(rng, size, 5))[..., None]
    noise = gaussian_filter(rng.normal(0, 1, (size, size)).astype(np.float32), 0.8 * s)
    noise /= noise.std() + 1e-6

    # red cells: scattered, plus rouleaux (coin stacks) with the M-protein
    sprites = _red_cell_sprites(round(k, 3))
    n_rbc = rng.poisson(130 * s * s / magnification ** 2)
    for i, cy, cx in zip(rng.integers(0, len(sprites), n_rbc), *rng.uniform(-6 * k, size + 6 * k, (2, n_rbc))):
        _stamp(img, sprites[i], cy, cx)
    for _ in range(rng.poisson([0, 2.5, 5.5, 9.0][rouleaux] * s * s / magnification ** 2)):
        size_bin = int(rng.integers(0, 3))  # the smaller red cells stack
        cy, cx = rng.uniform(0, size, 2)
        a = rng.uniform(0, np.pi)
        rot = int(round((a + np.pi / 2) % np.pi / (np.pi / 4))) % 4  # discs face the stack's axis
        step = 0.55 * (5.0 + 0.5 * size_bin) * k
        for j in range(int(rng.integers(3, 4 + 3 * rouleaux))):
            _stamp(img, sprites[size_bin * 4 + rot], cy + j * step * np.sin(a), cx + j * step * np.cos(a))

    # nucleated cells: the plasma-cell share follows the plasma-cell %, the rest a normal differential
    n_cells = max(12, int(rng.poisson(CELLS_PER_FIELD * s * s / magnification ** 2)))
    n_pc = int(rng.binomial(n_cells, np.clip(bmpc / 100.0, 0, 1)))
    mix = list(BACKGROUND_MIX)
    weights = np.array(list(BACKGROUND_MIX.values()))
    rest = rng.choice(mix, size=n_cells - n_pc, p=weights / weights.sum())
    types = ["plasma"] * n_pc + list(rest)
    blast = [bool(rng.random() < blast_share) if t == "plasma" else False for t in types]
    radii = [rng.uniform(*RADIUS[t]) * k * (1.3 if b else 1.0 + 0.03 * np.clip(grade, -2, 3) * (t == "plasma"))
             for t, b in zip(types, blast)]
    order = np.argsort(radii)[::-1]  # place big cells first (a dense field still fits them) ...
    places = _place(rng, [radii[i] for i in order], size)
    draw = rng.permutation(len(places))  # ... but draw in random order, so any cell may lie on top
    mask = np.zeros((size, size), np.uint16)
    cells: list[Cell] = []
    for j in draw:
        cy, cx, r = places[j]
        i = order[j]
        cell = Cell(id=len(cells) + 1, type=types[i], cy=float(cy), cx=float(cx), r=float(r), plasmablastic=blast[i])
        _draw_cell(img, mask, cell, rng, noise, grade)
        cells.append(cell)

    # debris and stain precipitate (artefacts that should not attract attention)
    for _ in range(rng.poisson(1.2)):
        cy, cx = rng.uniform(0, size, 2)
        r = rng.uniform(1.5, 4.0) * s
        win, yy, xx = _window(cy, cx, r, size, size)
        blob = _soft_ellipse(yy, xx, cy, cx, r * rng.uniform(0.4, 1), r, rng.uniform(0, np.pi), 0.7)
        _paint(img, win, blob * 0.8, _C["debris"])
    if rng.random() < 0.15:  # precipitate: a sprinkle of tiny dark specks
        n_specks = rng.integers(20, 60)
        ys, xs = rng.integers(0, size, n_specks), rng.integers(0, size, n_specks)
        img[ys, xs] = np.asarray(_C["debris"]) * 0.8
    return apply_style(img, style, rng), mask, cells


def _granules(body, nz, amount):
    return body * np.clip(nz - 0.2, 0, 1) * amount


def _draw_cell(img, mask, c: Cell, rng, noise, grade: float = 0.0):
    h, w = mask.shape
    win, yy, xx = _window(c.cy, c.cx, c.r, h, w)
    theta = rng.uniform(0, np.pi)
    body = _soft_ellipse(yy, xx, c.cy, c.cx, c.r * rng.uniform(0.85, 1.0), c.r, theta, 0.8)
    mask[win][body > 0.5] = c.id
    nz = noise[win]
    g = float(np.clip(grade, -2.0, 3.0))
    if c.type == "plasma" and not c.plasmablastic:
        _paint(img, win, body * 0.95, _C["pc_cyto"])
        ang = rng.uniform(0, 2 * np.pi)
        off = c.r * (0.38 - 0.03 * g)
        ny, nx = c.cy + off * np.sin(ang), c.cx + off * np.cos(ang)
        nr = c.r * rng.uniform(0.48, 0.56) * (1 + 0.05 * g)  # immature plasma cells: larger nucleus
        hy, hx = c.cy - 0.15 * c.r * np.sin(ang), c.cx - 0.15 * c.r * np.cos(ang)
        hof = float(np.clip(0.75 - 0.12 * g, 0.3, 0.9))
        _paint(img, win, _soft_ellipse(yy, xx, hy, hx, nr * 0.8, nr * 0.7, ang, 1.5) * hof, _C["pc_hof"])
        nuc = _soft_ellipse(yy, xx, ny, nx, nr, nr * 0.95, theta, 0.7)
        _paint(img, win, nuc, _C["pc_nuc"])
        clump = float(np.clip(0.9 - 0.15 * g, 0.4, 1.0))  # clock-face clumps fade with immaturity
        _paint(img, win, nuc * np.clip(nz - 0.3, 0, 1) * clump, _C["pc_chrom"])
        if g > 0.5 and rng.random() < min(0.8, 0.3 * g):  # a visible nucleolus in immature cells
            _paint(img, win, _soft_ellipse(yy, xx, ny, nx, 0.18 * nr, 0.18 * nr, 0, 0.7) * 0.7, _C["pb_nucleolus"])
        c.extra["nucleus"] = [float(nx), float(ny), float(nr)]
    elif c.type == "plasma":
        _paint(img, win, body * 0.97, _C["pb_cyto"])
        nr = c.r * rng.uniform(0.62, 0.70)
        ny, nx = c.cy + rng.normal(0, 0.08) * c.r, c.cx + rng.normal(0, 0.08) * c.r
        nuc = _soft_ellipse(yy, xx, ny, nx, nr, nr * 0.92, theta, 0.8)
        _paint(img, win, nuc, _C["pb_nuc"])
        _paint(img, win, nuc * np.clip(nz * 0.15, 0, 1), _C["pc_chrom"])  # fine chromatin
        for _ in range(rng.integers(1, 3)):
            a = rng.uniform(0, 2 * np.pi)
            oy, ox = ny + 0.35 * nr * np.sin(a), nx + 0.35 * nr * np.cos(a)
            _paint(img, win, _soft_ellipse(yy, xx, oy, ox, 0.2 * nr, 0.2 * nr, 0, 0.7) * 0.9, _C["pb_nucleolus"])
        c.extra["nucleus"] = [float(nx), float(ny), float(nr)]
    elif c.type == "lymphocyte":
        _paint(img, win, body * 0.9, _C["ly_cyto"])
        nuc = _soft_ellipse(yy, xx, c.cy + rng.normal(0, 0.05) * c.r, c.cx, c.r * 0.82, c.r * 0.8, theta, 0.7)
        _paint(img, win, nuc, _C["ly_nuc"])
    elif c.type == "neutrophil":
        _paint(img, win, body * 0.85, _C["ne_cyto"])
        _paint(img, win, _granules(body, nz, 0.25), _C["ne_nuc"])
        lobes = rng.integers(1, 5)  # 1 = band form
        a0 = rng.uniform(0, 2 * np.pi)
        if lobes == 1:
            for j in range(5):  # a curved sausage-shaped nucleus
                a = a0 + j * 0.55
                ly, lx = c.cy + 0.45 * c.r * np.sin(a), c.cx + 0.45 * c.r * np.cos(a)
                _paint(img, win, _soft_ellipse(yy, xx, ly, lx, c.r * 0.2, c.r * 0.2, a, 0.7), _C["ne_nuc"])
        for j in range(lobes if lobes > 1 else 0):
            a = a0 + j * 1.25
            ly, lx = c.cy + 0.38 * c.r * np.sin(a), c.cx + 0.38 * c.r * np.cos(a)
            _paint(img, win, _soft_ellipse(yy, xx, ly, lx, c.r * 0.26, c.r * 0.2, a, 0.7), _C["ne_nuc"])
    elif c.type == "promyelocyte":
        _paint(img, win, body * 0.9, _C["pro_cyto"])
        _paint(img, win, _granules(body, nz, 0.55), _C["pro_gran"])  # coarse azurophil granules
        nuc = _soft_ellipse(yy, xx, c.cy + rng.normal(0, 0.1) * c.r, c.cx + rng.normal(0, 0.1) * c.r,
                            c.r * 0.62, c.r * 0.58, theta, 0.8)
        _paint(img, win, nuc, _C["pro_nuc"])
    elif c.type in ("myelocyte", "metamyelocyte"):
        _paint(img, win, body * 0.88, _C["my_cyto"])
        _paint(img, win, _granules(body, nz, 0.18), _C["pro_gran"])
        ang = rng.uniform(0, 2 * np.pi)
        ny, nx = c.cy + 0.2 * c.r * np.sin(ang), c.cx + 0.2 * c.r * np.cos(ang)
        if c.type == "myelocyte":  # round to oval eccentric nucleus
            nuc = _soft_ellipse(yy, xx, ny, nx, c.r * 0.5, c.r * 0.6, ang, 0.7)
            _paint(img, win, nuc, _C["my_nuc"])
        else:  # kidney-shaped: an oval with a bite taken out
            nuc = _soft_ellipse(yy, xx, ny, nx, c.r * 0.38, c.r * 0.62, ang, 0.7)
            bite = _soft_ellipse(yy, xx, ny - 0.3 * c.r * np.sin(ang), nx - 0.3 * c.r * np.cos(ang),
                                 c.r * 0.22, c.r * 0.22, 0, 0.7)
            _paint(img, win, nuc * (1 - bite), _C["my_nuc"])
    elif c.type == "eosinophil":
        _paint(img, win, body * 0.9, _C["eo_cyto"])
        _paint(img, win, _granules(body, nz, 0.6), _C["eo_gran"])
        a0 = rng.uniform(0, 2 * np.pi)
        for j in range(2):
            a = a0 + j * np.pi
            ly, lx = c.cy + 0.32 * c.r * np.sin(a), c.cx + 0.32 * c.r * np.cos(a)
            _paint(img, win, _soft_ellipse(yy, xx, ly, lx, c.r * 0.3, c.r * 0.26, a, 0.7), _C["ne_nuc"])
    elif c.type == "basophilic_erythroblast":  # deep blue cytoplasm: a look-alike for plasma cells
        _paint(img, win, body * 0.95, _C["beb_cyto"])
        nuc = _soft_ellipse(yy, xx, c.cy, c.cx, c.r * 0.66, c.r * 0.66, 0, 0.6)
        _paint(img, win, nuc, _C["beb_nuc"])
        _paint(img, win, nuc * np.clip(nz - 0.3, 0, 1) * 0.6, _C["pc_chrom"])
    else:  # erythroblast (polychromatic / orthochromatic)
        _paint(img, win, body * 0.9, _C["eb_cyto"])
        nuc = _soft_ellipse(yy, xx, c.cy, c.cx, c.r * 0.58, c.r * 0.58, 0, 0.6)
        _paint(img, win, nuc, _C["eb_nuc"])


def annotation_record(cells: list[Cell]) -> dict:
    """Ground truth for one field: per-instance type and the plasma-cell centre points."""
    return {
        "mask_format": "uint16 PNG; pixel value = instance id (0 = background)",
        "cell_types": list(CELL_TYPES),
        "cells": [{"id": c.id, "type": c.type, "plasmablastic": c.plasmablastic,
                   "center": [round(c.cx, 1), round(c.cy, 1)], "radius": round(c.r, 1)} for c in cells],
        "plasma_cell_points": [[round(c.cx, 1), round(c.cy, 1)] for c in cells if c.type == "plasma"],
    }
