"""Procedural Wright–Giemsa-like bone-marrow smear fields with instance ground truth.

Each field has a red-cell background, nucleated cells (plasma cells at a
density following the patient's marrow plasma-cell %, lymphocytes,
neutrophils, erythroblasts), occasional debris and stain precipitate. Plasma
cells have an eccentric round nucleus with clumped chromatin, a perinuclear
hof and basophilic cytoplasm; the marrow latent ("plasmablastic share")
turns a share of them into plasmablasts: larger, central pale nucleus with a
nucleolus, no hof, deeper blue cytoplasm. Ground truth: an instance label
mask, each instance's cell type and the plasma-cell centre points.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter

from zoo.synth.stain import SlideStyle, apply_style

CELL_TYPES = ("plasma", "lymphocyte", "neutrophil", "erythroblast")
PLASMA_CELL_TYPE_ID = 1
TYPE_IDS = {t: i + 1 for i, t in enumerate(CELL_TYPES)}

_C = {  # RGB in [0, 1]
    "rbc": (0.88, 0.58, 0.62), "rbc_pallor": (0.93, 0.76, 0.79),
    "pc_cyto": (0.42, 0.48, 0.78), "pc_hof": (0.80, 0.80, 0.92), "pc_nuc": (0.34, 0.18, 0.46),
    "pc_chrom": (0.20, 0.09, 0.30),
    "pb_cyto": (0.30, 0.36, 0.74), "pb_nuc": (0.56, 0.40, 0.70), "pb_nucleolus": (0.74, 0.76, 0.94),
    "ly_cyto": (0.66, 0.72, 0.92), "ly_nuc": (0.26, 0.13, 0.38),
    "ne_cyto": (0.90, 0.78, 0.84), "ne_nuc": (0.40, 0.21, 0.50),
    "eb_cyto": (0.68, 0.60, 0.74), "eb_nuc": (0.19, 0.09, 0.26),
    "debris": (0.32, 0.20, 0.38),
}


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
    img[ys, xs] = region * (1 - a) + np.asarray(color) * a


def _window(cy, cx, r, h, w):
    y0, y1 = max(0, int(cy - r - 2)), min(h, int(cy + r + 3))
    x0, x1 = max(0, int(cx - r - 2)), min(w, int(cx + r + 3))
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    return (slice(y0, y1), slice(x0, x1)), yy, xx


def _place(rng, radii, size, existing, tries=60):
    placed = []
    for r in radii:
        for _ in range(tries):
            cy, cx = rng.uniform(r * 0.6, size - r * 0.6, 2)
            if all((cy - oy) ** 2 + (cx - ox) ** 2 > (r + orr + 1.5) ** 2 for oy, ox, orr in existing + placed):
                placed.append((cy, cx, r))
                break
    return placed


def render_marrow(rng: np.random.Generator, size: int, bmpc: float, blast_share: float,
                  style: SlideStyle) -> tuple[np.ndarray, np.ndarray, list[Cell]]:
    """One smear field: (RGB uint8 image, uint16 instance mask, cells)."""
    s = size / 224.0
    img = np.empty((size, size, 3), np.float32)
    img[:] = style.background
    # uneven staining: low-frequency background variation
    low = gaussian_filter(rng.normal(0, 1, (size, size)).astype(np.float32), 24 * s)
    low /= low.std() + 1e-6
    img *= (1 + 0.025 * low)[..., None]
    noise = gaussian_filter(rng.normal(0, 1, (size, size)).astype(np.float32), 0.8 * s)
    noise /= noise.std() + 1e-6

    # red cells (background, may overlap each other and sit under nucleated cells)
    n_rbc = rng.poisson(95 * s * s)
    for _ in range(n_rbc):
        r = rng.uniform(5.0, 7.0) * s
        cy, cx = rng.uniform(-r, size + r, 2)
        win, yy, xx = _window(cy, cx, r, size, size)
        if yy.size == 0:
            continue
        body = _soft_ellipse(yy, xx, cy, cx, r * rng.uniform(0.9, 1.0), r, rng.uniform(0, np.pi), 0.8)
        _paint(img, win, body * 0.85, _C["rbc"])
        _paint(img, win, _soft_ellipse(yy, xx, cy, cx, r * 0.45, r * 0.45, 0, 1.5) * 0.6, _C["rbc_pallor"])

    # nucleated cells: plasma-cell count follows the plasma-cell %
    n_cells = max(8, int(rng.poisson(26 * s * s)))
    n_pc = int(rng.binomial(n_cells, np.clip(bmpc / 100.0, 0, 1)))
    rest = rng.choice(["lymphocyte", "neutrophil", "erythroblast"], size=n_cells - n_pc, p=[0.30, 0.45, 0.25])
    types = ["plasma"] * n_pc + list(rest)
    blast = [bool(rng.random() < blast_share) if t == "plasma" else False for t in types]
    radius = {"plasma": (8.5, 11.0), "lymphocyte": (6.0, 7.5), "neutrophil": (8.5, 10.5), "erythroblast": (6.0, 8.0)}
    radii = [rng.uniform(*radius[t]) * s * (1.35 if b else 1.0) for t, b in zip(types, blast)]
    order = np.argsort(radii)[::-1]  # place big cells first
    places = _place(rng, [radii[i] for i in order], size, [])
    mask = np.zeros((size, size), np.uint16)
    cells: list[Cell] = []
    for k, (cy, cx, r) in enumerate(places):
        i = order[k]
        cell = Cell(id=len(cells) + 1, type=types[i], cy=float(cy), cx=float(cx), r=float(r), plasmablastic=blast[i])
        _draw_cell(img, mask, cell, rng, noise, s)
        cells.append(cell)

    # debris and stain precipitate (artefacts that should not attract attention)
    for _ in range(rng.poisson(1.2)):
        cy, cx = rng.uniform(0, size, 2)
        r = rng.uniform(1.5, 4.0) * s
        win, yy, xx = _window(cy, cx, r, size, size)
        blob = _soft_ellipse(yy, xx, cy, cx, r * rng.uniform(0.4, 1), r, rng.uniform(0, np.pi), 0.7)
        _paint(img, win, blob * 0.8, _C["debris"])
    if rng.random() < 0.15:  # precipitate: a sprinkle of tiny dark specks
        k = rng.integers(20, 60)
        ys, xs = rng.integers(0, size, k), rng.integers(0, size, k)
        img[ys, xs] = np.asarray(_C["debris"]) * 0.8
    return apply_style(img, style, rng), mask, cells


def _draw_cell(img, mask, c: Cell, rng, noise, s):
    h, w = mask.shape
    win, yy, xx = _window(c.cy, c.cx, c.r, h, w)
    theta = rng.uniform(0, np.pi)
    body = _soft_ellipse(yy, xx, c.cy, c.cx, c.r * rng.uniform(0.85, 1.0), c.r, theta, 0.8)
    mask[win][body > 0.5] = c.id
    nz = noise[win]
    if c.type == "plasma" and not c.plasmablastic:
        _paint(img, win, body * 0.95, _C["pc_cyto"])
        ang = rng.uniform(0, 2 * np.pi)
        off = c.r * 0.38
        ny, nx = c.cy + off * np.sin(ang), c.cx + off * np.cos(ang)
        nr = c.r * rng.uniform(0.48, 0.56)
        hy, hx = c.cy - 0.15 * c.r * np.sin(ang), c.cx - 0.15 * c.r * np.cos(ang)
        _paint(img, win, _soft_ellipse(yy, xx, hy, hx, nr * 0.8, nr * 0.7, ang, 1.5) * 0.75, _C["pc_hof"])
        nuc = _soft_ellipse(yy, xx, ny, nx, nr, nr * 0.95, theta, 0.7)
        _paint(img, win, nuc, _C["pc_nuc"])
        _paint(img, win, nuc * np.clip(nz - 0.3, 0, 1) * 0.9, _C["pc_chrom"])  # clock-face clumps
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
        _paint(img, win, body * np.clip(nz, 0, 1) * 0.25, _C["ne_nuc"])  # granules
        lobes = rng.integers(3, 5)
        a0 = rng.uniform(0, 2 * np.pi)
        for j in range(lobes):
            a = a0 + j * 1.25
            ly, lx = c.cy + 0.38 * c.r * np.sin(a), c.cx + 0.38 * c.r * np.cos(a)
            _paint(img, win, _soft_ellipse(yy, xx, ly, lx, c.r * 0.26, c.r * 0.2, a, 0.7), _C["ne_nuc"])
    else:  # erythroblast
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
