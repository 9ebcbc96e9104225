"""IFE lanes: find the six lanes of a gel image, straighten them side by side, and map back.

Why: a whole gel squeezed to 48 px puts a monoclonal band in one or two pixel rows, and the network must
also learn where lanes are. The clinically meaningful reading is "a band at the same height in SP, one
heavy-chain lane and one light-chain lane". Cutting the lanes out at the gel's own vertical resolution
and laying them side by side in a fixed order (SP, G, A, M, κ, λ) gives every architecture that structure
for free: the same column of the input is always the same antiserum, whatever the platform's margins
and gaps (site A and site B gels differ in both).

Lanes are found from the image, not from the generator: the column profile of stain density, smoothed,
splits into dense lanes and pale gaps. When the split does not give six lanes (a smeared or cropped
gel), the gel is divided into six equal lanes and the result says so.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d, zoom

N_LANES = 6


@dataclass(frozen=True)
class Lanes:
    """Column spans [x0, x1) of the six lanes, and how they were found ("profile" or "equal split")."""

    spans: tuple[tuple[int, int], ...]
    method: str


def _density(img: np.ndarray) -> np.ndarray:
    """Optical density per pixel (H, W): stain absorbs, so a darker pixel is denser."""
    x = np.asarray(img, dtype=np.float32)
    gray = x.mean(axis=2) if x.ndim == 3 else x
    if gray.max() > 1.5:
        gray = gray / 255.0
    return -np.log(np.clip(gray, 1e-3, 1.0))


def _equal_split(width: int, n: int) -> tuple[tuple[int, int], ...]:
    edges = np.linspace(0, width, n + 1).round().astype(int)
    return tuple((int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]))


def find_lanes(img: np.ndarray, n: int = N_LANES) -> Lanes:
    """The ``n`` lanes of a gel image (H, W[, 3]), left to right.

    A gel's lanes are a regular comb: equal widths, equal gaps. The comb (offset, lane width, pitch) that
    best separates dense lanes from pale gaps in the column profile wins; the strong lanes (SP, the
    M-protein's lanes) anchor it even when immunoparesis leaves other lanes barely stained.
    """
    od = _density(img)
    h, w = od.shape
    body = od[int(0.1 * h):] if h >= 20 else od  # the printed labels sit on top: leave them out of the profile
    prof = gaussian_filter1d(body.mean(axis=0), sigma=0.5)
    spread = float(np.percentile(prof, 90) - np.percentile(prof, 10))
    prof = np.minimum(prof, np.percentile(prof, 90) + spread)  # a dark gel edge must not outvote the lanes
    if w < 8 * n or spread < 1e-3:
        return Lanes(_equal_split(w, n), "equal split")
    csum = np.r_[0.0, np.cumsum(prof)]
    best, best_score = None, 0.0
    for lane_w in range(max(3, w // (3 * n)), w // n + 1):
        # gaps are narrower than lanes on every platform we know: at most 3/4 of a lane
        for pitch in range(lane_w + 2, min((w - lane_w) // (n - 1), lane_w + max(2, 3 * lane_w // 4)) + 1):
            span = (n - 1) * pitch + lane_w
            x0 = np.arange(0, w - span + 1)
            if x0.size == 0:
                continue
            starts = x0[:, None] + pitch * np.arange(n)[None, :]
            inside = (csum[starts + lane_w] - csum[starts]).sum(axis=1) / (n * lane_w)
            gap_w = pitch - lane_w
            gaps = (csum[starts[:, :-1] + pitch] - csum[starts[:, :-1] + lane_w]).sum(axis=1) / ((n - 1) * gap_w)
            score = inside - gaps
            i = int(np.argmax(score))
            if score[i] > best_score + 1e-9:
                best_score, best = float(score[i]), (int(x0[i]), lane_w, pitch)
    if best is None or best_score < 0.1 * spread:
        return Lanes(_equal_split(w, n), "equal split")
    x0, lane_w, pitch = best
    return Lanes(tuple((x0 + i * pitch, x0 + i * pitch + lane_w) for i in range(n)), "profile")


def straighten(img: np.ndarray, lanes: Lanes, height: int, lane_width: int) -> np.ndarray:
    """The lanes side by side: (height, n·lane_width, 3) uint8, each lane resampled to ``lane_width`` columns.

    The vertical axis (migration) is resampled only to ``height``; at the gel's own height it is untouched.
    """
    x = np.asarray(img)
    if x.ndim == 2:
        x = np.repeat(x[..., None], 3, axis=2)
    h = x.shape[0]
    out = []
    for a, b in lanes.spans:
        lane = x[:, a:max(b, a + 1)].astype(np.float32)
        out.append(zoom(lane, (height / h, lane_width / lane.shape[1], 1), order=1, grid_mode=True, mode="nearest"))
    return np.clip(np.concatenate(out, axis=1), 0, 255).round().astype(np.uint8)


LANE_DENSITIES = ("raw", "albumin")


def lane_view(img: np.ndarray, height: int, lane_width: int, density: str = "raw") -> tuple[np.ndarray, Lanes]:
    """The straightened lanes a network reads; ``density="albumin"`` rescales them (``albumin_scaled``)."""
    if density not in LANE_DENSITIES:
        raise ValueError(f"Expected a lane density in {LANE_DENSITIES}. Got {density!r}.")
    lanes = find_lanes(img)
    view = straighten(img, lanes, height, lane_width)
    return (albumin_scaled(view, lane_width) if density == "albumin" else view), lanes


LABEL_ROWS = 0.1       # top share of a lane left out: the printed lane labels, no protein
ALBUMIN_WINDOW = 0.45  # albumin, the most anodal fraction, peaks in the top 45 % of the SP lane on both platforms


def albumin_scaled(view: np.ndarray, lane_width: int) -> np.ndarray:
    """Straightened lanes as grey optical density relative to the gel's own albumin peak (uint8, same shape).

    Why: a gel's stain intensity varies from run to run (exposure, staining time; the synthetic gels vary it
    by ×0.45–1.1), so the depth of the polyclonal γ smear, where immunoparesis shows, can only be read against
    a reference on the same gel. Densitometry reports fractions relative to the gel's own proteins; here each
    column's background (its 10th-percentile density: blotches, dark gel edges) is subtracted and the density
    divided by the SP lane's albumin peak, the most anodal major fraction. A network then reads the γ region
    directly instead of having to find the reference itself. A gel whose SP lane shows no albumin peak (density
    < 0.05) keeps its scale.
    """
    h = view.shape[0]
    od = _density(view)
    r0 = int(round(LABEL_ROWS * h))
    od = np.clip(od - np.percentile(od[r0:], 10, axis=0)[None, :], 0, None)
    od[:r0] = 0.0
    sp = od[:, lane_width // 4: lane_width - lane_width // 4].mean(axis=1)  # the SP lane's core, away from its edges
    ref = float(sp[r0:max(r0 + 1, int(round(ALBUMIN_WINDOW * h)))].max())
    grey = np.exp(-od / (ref if ref >= 0.05 else 1.0))
    return np.repeat((grey * 255 + 0.5).astype(np.uint8)[..., None], 3, axis=2)


def unstraighten(cam: np.ndarray, lanes: Lanes, shape: tuple[int, int]) -> np.ndarray:
    """A map over the straightened lanes (h, n·w) back onto the gel (H, W); zero between lanes.

    Used for Grad-CAM: the map is computed where the network looked and shown where the reviewer looks.
    """
    cam = np.asarray(cam, dtype=np.float32)
    h, total = cam.shape
    n = len(lanes.spans)
    w = total // n
    H, W = shape
    out = np.zeros((H, W), np.float32)
    for i, (a, b) in enumerate(lanes.spans):
        part = cam[:, i * w:(i + 1) * w]
        width = max(b - a, 1)
        out[:, a:a + width] = zoom(part, (H / h, width / part.shape[1]), order=1, grid_mode=True, mode="nearest")
    return out


def lanes_mask(lanes: Lanes, shape: tuple[int, int]) -> np.ndarray:
    """Boolean (H, W): the columns the lanes cover.

    The chance level of attention for a lane model: its map is zero between lanes by construction, so a map
    that ignored the bands would spread over the lanes only, and put ``mean(target within lanes)`` on target,
    not ``mean(target over the image)``.
    """
    out = np.zeros(shape, bool)
    for a, b in lanes.spans:
        out[:, a:b] = True
    return out
