"""Defensive image reading: every file becomes an RGB uint8 array or a clear error.

Real cohorts carry scanner exports of every flavour (16-bit TIFFs, RGBA PNGs,
CMYK JPEGs, truncated uploads); models must see one normalised representation.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from zoo.errors import ImageReadError

MIN_SIDE = 32
# Pillow's own decompression-bomb limit is kept; its warning is promoted to an error.
MAX_PIXELS = Image.MAX_IMAGE_PIXELS
MAX_BYTES = 50 * 1024 * 1024


def read_image(source: str | Path | bytes, name: str | None = None) -> np.ndarray:
    """Decode ``source`` (path or raw bytes) into an (H, W, 3) uint8 RGB array."""
    label = name or (Path(source).name if not isinstance(source, (bytes, bytearray)) else "upload")
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise ImageReadError(f"{label}: expected an image file at {path}. Got nothing there. Check images.csv.")
        if path.stat().st_size > MAX_BYTES:
            raise ImageReadError(
                f"{label}: expected at most {MAX_BYTES // 2**20} MiB. Got {path.stat().st_size / 2**20:.1f} MiB. "
                "Downscale or crop the image."
            )
        data = path.read_bytes()
    if len(data) > MAX_BYTES:
        raise ImageReadError(
            f"{label}: expected at most {MAX_BYTES // 2**20} MiB. Got {len(data) / 2**20:.1f} MiB. "
            "Downscale or crop the image."
        )
    if not data:
        raise ImageReadError(f"{label}: expected image bytes. Got an empty file. Re-export the image.")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            Image.open(io.BytesIO(data)).verify()  # structural check (chunks, CRCs) before decoding
            img = Image.open(io.BytesIO(data))
            img.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise ImageReadError(
                f"{label}: expected at most {MAX_PIXELS:,} pixels. Got a larger image (possible decompression "
                "bomb). Downscale it before import."
            ) from e
        except UnidentifiedImageError as e:
            raise ImageReadError(
                f"{label}: expected a PNG, JPEG or TIFF image. Got bytes that are not an image "
                f"(starting {data[:8]!r}). Re-export the file as PNG."
            ) from e
        except (OSError, SyntaxError, ValueError) as e:
            raise ImageReadError(
                f"{label}: expected a complete image. Got a damaged or truncated file ({e}). Re-export it."
            ) from e
    w, h = img.size
    if min(w, h) < MIN_SIDE:
        raise ImageReadError(
            f"{label}: expected at least {MIN_SIDE}×{MIN_SIDE} pixels. Got {w}×{h}. Use the full-resolution image."
        )
    return to_rgb_array(img, label)


def to_rgb_array(img: Image.Image, label: str = "image") -> np.ndarray:
    """Normalise any Pillow mode to RGB uint8 without clipping high bit depths."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if arr.ndim == 3:
            arr = arr[..., 0]
        arr = _rescale_high_depth(arr)
        return np.repeat(arr[..., None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(bg, rgba).convert("RGB"), dtype=np.uint8).copy()
    if mode != "RGB":
        try:
            img = img.convert("RGB")  # CMYK, L, P, YCbCr, 1, LAB ...
        except (ValueError, OSError) as e:
            raise ImageReadError(f"{label}: expected a colour or grey image. Got mode {mode!r}. Convert to RGB.") from e
    arr = np.asarray(img, dtype=np.uint8)
    return arr.copy()


def _rescale_high_depth(arr: np.ndarray) -> np.ndarray:
    """Map 12/14/16-bit (or float) data onto 0-255 by its bit depth, not by clipping."""
    arr = np.nan_to_num(arr, nan=0.0)
    lo = min(float(arr.min()), 0.0)
    hi = float(arr.max())
    if hi <= 1.0 and arr.dtype.kind == "f" and lo >= 0:
        top = 1.0
    else:
        bits = max(8, int(np.ceil(np.log2(hi - lo + 1))))
        top = float(2**bits - 1)
    return np.round((arr - lo) / top * 255.0).clip(0, 255).astype(np.uint8)


def image_sha256(data: bytes | np.ndarray) -> str:
    import hashlib

    if isinstance(data, np.ndarray):
        h = hashlib.sha256()
        h.update(str(data.shape).encode())
        h.update(np.ascontiguousarray(data).tobytes())
        return h.hexdigest()
    return hashlib.sha256(data).hexdigest()
