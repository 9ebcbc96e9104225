"""Distance-map maxima per object, exactly as scikit-image's ``peak_local_max(labels=...)`` finds them, faster.

Why this exists: scikit-image finds a labelled image's peaks object by object, and for each object builds a
KD-tree to enforce the peaks' spacing. On a 224-px smear with about 40-65 nuclei that is 6-8 of the classical
segmenter's 17 ms, paid for every smear of every new patient, and most of it is the KD-trees (a nucleus has
one to three candidate peaks). Here each object gets the same masked crop, the same maximum filter, the same
"trivial object" rule and the same greedy spacing (a candidate is dropped when an already accepted peak of its
object lies closer than ``min_distance`` in the Chebyshev norm), with the spacing done by direct comparison.
The result is scikit-image's, peak for peak and in the same order (the watershed's markers, hence instance
ids, follow that order): ``tests/segment/test_peaks.py`` checks it against scikit-image on smears and on
crowded random objects.

Scope: 2-D, a square footprint of side ``2 * min_distance + 1``, no border exclusion, the default threshold
(the image minimum), Chebyshev spacing, no peak-count limits: the arguments the segmenter uses.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def _spaced(coords: np.ndarray, min_distance: int) -> np.ndarray:
    """Greedy spacing over peaks sorted highest first: only accepted peaks suppress (skimage's ensure_spacing)."""
    if len(coords) < 2 or min_distance <= 1:
        return coords
    accepted: list[int] = []
    for i in range(len(coords)):
        if not any(np.abs(coords[i] - coords[a]).max() < min_distance for a in accepted):
            accepted.append(i)
    return coords[accepted]


def labelled_peaks(image: np.ndarray, labels: np.ndarray, min_distance: int) -> np.ndarray:
    """``peak_local_max(image, min_distance=min_distance, labels=labels, exclude_border=False)``: (k, 2) rows."""
    if image.ndim != 2 or labels.shape != image.shape:
        raise ValueError("labelled_peaks needs a 2-D image and labels of the same shape")
    if isinstance(min_distance, bool) or not isinstance(min_distance, (int, np.integer)) or min_distance < 1:
        # below 1 scikit-image switches to a plain threshold, which this does not reproduce
        raise ValueError(f"Expected min_distance to be a whole number of at least 1. Got {min_distance!r}.")
    labels = labels.astype(int, casting="safe")
    threshold = image.min()
    lowest = np.finfo(image.dtype).min if np.issubdtype(image.dtype, np.floating) else np.iinfo(image.dtype).min
    size = 2 * min_distance + 1
    found = []
    for i, roi in enumerate(ndi.find_objects(labels), start=1):
        if roi is None:
            continue
        mask = labels[roi] == i
        crop = image[roi].copy()
        crop[~mask] = lowest  # other objects and background never make or block this object's peaks
        if crop.size == 1:
            peak = crop > threshold
        else:
            peak = crop == ndi.maximum_filter(crop, size=size, mode="nearest")
            if np.all(peak[mask]):  # a flat object: skimage keeps only its isolated pixels
                peak[:] = False
                peak[np.logical_xor(mask, ndi.binary_opening(mask))] = True
            peak &= crop > threshold
        coords = np.transpose(np.nonzero(peak))
        coords = coords[np.argsort(-crop[peak], kind="stable")]  # highest first; ties in row-major order
        found.append(_spaced(coords, min_distance) + np.array([roi[0].start, roi[1].start]))
    return np.vstack(found).astype(np.intp) if found else np.empty((0, 2), dtype=np.intp)
