"""Per-slide and per-site appearance: stain colour, focus, noise.

Batch-to-batch variation is what makes real smears and gels hard; the
generator draws one style per slide so models must be robust to it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SlideStyle:
    color_matrix: np.ndarray  # 3x3 near-identity mix applied in optical density
    brightness: float
    blur_sigma: float
    noise_sd: float
    background: tuple[float, float, float]


SITE_STAIN = {
    # site B: bluer Giemsa, softer focus, darker background; gel stained with Coomassie-like blue
    "A": {"shift": np.array([0.0, 0.0, 0.0]), "blur": (0.0, 1.1), "bg": (0.94, 0.89, 0.91), "contrast": 1.0},
    "B": {"shift": np.array([0.06, 0.02, -0.05]), "blur": (0.5, 1.6), "bg": (0.90, 0.88, 0.93), "contrast": 0.8},
}


def draw_style(rng: np.random.Generator, site: str, scale: float) -> SlideStyle:
    cfg = SITE_STAIN[site]
    m = np.eye(3) + rng.normal(0, 0.05, (3, 3))
    m += np.diag(cfg["shift"])
    lo, hi = cfg["blur"]
    bg = np.clip(np.array(cfg["bg"]) + rng.normal(0, 0.015, 3), 0.75, 0.99)
    return SlideStyle(color_matrix=m, brightness=float(rng.normal(1.0, 0.04)),
                      blur_sigma=float(rng.uniform(lo, hi) * scale), noise_sd=float(rng.uniform(0.008, 0.02)),
                      background=tuple(float(x) for x in bg))


def apply_style(img: np.ndarray, style: SlideStyle, rng: np.random.Generator) -> np.ndarray:
    """Colour mix in optical density, defocus blur, sensor noise; returns uint8."""
    from scipy.ndimage import gaussian_filter

    od = -np.log(np.clip(img, 1e-3, 1.0))
    od = od @ style.color_matrix.T
    out = np.exp(-np.clip(od, 0, 6)) * style.brightness
    if style.blur_sigma > 0.05:
        out = gaussian_filter(out, sigma=(style.blur_sigma, style.blur_sigma, 0))
    out = out + rng.normal(0, style.noise_sd, out.shape)
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)
