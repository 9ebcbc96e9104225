"""Defensive image reading: every file becomes an RGB uint8 array or a clear error.

Real cohorts carry scanner exports of every flavour (16-bit TIFFs, RGBA PNGs,
CMYK JPEGs, truncated uploads); models must see one normalised representation.

Uploads come from the browser, so reading them is also a security boundary:

* only the PNG, JPEG and TIFF decoders ever run (Pillow would otherwise pick a decoder from the
  bytes, and a PostScript file named ``.png`` would reach the EPS plugin, which runs Ghostscript);
* memory is bounded by the decoded-pixel cap: pixels are converted in strips of rows, so the only
  full-size buffers are Pillow's decoded image and the uint8 RGB result (no float64 copy of 16-bit data);
* one upload holds at most ``MAX_UPLOAD_FILES`` files, and each distinct upload is decoded once
  (a small cache keyed by the SHA-256 of its bytes), not on every Streamlit rerun.
"""
from __future__ import annotations

import hashlib
import io
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from zoo.errors import ImageReadError

MIN_SIDE = 32
# The decoders Pillow may run on cohort and uploaded files; every Image.open on such data passes these.
IMAGE_FORMATS = ("PNG", "JPEG", "TIFF")
# Decoded-pixel cap (Pillow's default decompression-bomb limit, fixed here so that a library changing
# Image.MAX_IMAGE_PIXELS cannot raise ours). Pillow's own warning is still promoted to an error.
MAX_PIXELS = 89_478_485
MAX_BYTES = 50 * 1024 * 1024
# At most this many files in one upload (one patient's images of one modality).
MAX_UPLOAD_FILES = 20
# Uploads come from anyone who may predict, so their pixels are capped well below the bomb limit above (which
# stays for the administrator's cohort files): one file at most a 24-megapixel camera field (6000 x 4000), one
# upload at most two such fields in all. Every model downstream works at the image's own scale, so an upload is
# refused, not downscaled, with a message saying so. Two 88-megapixel PNGs of 280 KB each once held the API's
# prediction slot for two minutes at 8 GB (a security review, 2026-12-07).
MAX_UPLOAD_PIXELS = 24_000_000
MAX_UPLOAD_TOTAL_PIXELS = 2 * MAX_UPLOAD_PIXELS
# Decoded uploads kept for reruns: bounded by count and by their total size.
UPLOAD_CACHE_ENTRIES = 64
UPLOAD_CACHE_BYTES = 256 * 2**20
# Pixels converted per strip: temporaries stay near this many pixels whatever the image size.
_STRIP_PIXELS = 1 << 20
_HIGH_DEPTH = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


def read_image(source: str | Path | bytes, name: str | None = None, max_pixels: int | None = None) -> np.ndarray:
    """Decode ``source`` (path or raw bytes) into an (H, W, 3) uint8 RGB array (at most ``max_pixels``, never more
    than the bomb limit)."""
    max_pixels = MAX_PIXELS if max_pixels is None else min(int(max_pixels), MAX_PIXELS)
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
    bomb = (f"{label}: expected at most {max_pixels:,} pixels. Got a larger image"
            + (" (possible decompression bomb)" if max_pixels == MAX_PIXELS else "")
            + ". Downscale or crop it (the models read it at its own scale, so keep the scan's magnification).")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            # formats: no decoder outside PNG/JPEG/TIFF ever sees the bytes, whatever they claim to be
            Image.open(io.BytesIO(data), formats=IMAGE_FORMATS).verify()  # structure (chunks, CRCs) first
            img = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
            w, h = img.size
            if w * h > max_pixels:  # from the header, before a byte is decoded
                raise ImageReadError(bomb)
            img.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise ImageReadError(bomb) from e
        except UnidentifiedImageError as e:
            raise ImageReadError(
                f"{label}: expected a PNG, JPEG or TIFF image. Got bytes that are not one "
                f"(starting {data[:8]!r}). Re-export the file as PNG."
            ) from e
        except (OSError, SyntaxError, ValueError) as e:
            raise ImageReadError(
                f"{label}: expected a complete image. Got a damaged or truncated file ({e}). Re-export it."
            ) from e
    if min(w, h) < MIN_SIDE:
        raise ImageReadError(
            f"{label}: expected at least {MIN_SIDE}×{MIN_SIDE} pixels. Got {w}×{h}. Use the full-resolution image."
        )
    return to_rgb_array(img, label)


def to_rgb_array(img: Image.Image, label: str = "image") -> np.ndarray:
    """Normalise any Pillow mode to RGB uint8 without clipping high bit depths.

    Works strip by strip into a preallocated result: besides ``img`` itself, memory stays at the
    uint8 result plus about ``_STRIP_PIXELS`` pixels of temporaries, whatever the bit depth.
    """
    w, h = img.size
    out = np.empty((h, w, 3), dtype=np.uint8)
    rows = max(1, _STRIP_PIXELS // max(w, 1))
    strips = [(r, min(h, r + rows)) for r in range(0, h, rows)]
    mode = img.mode
    if mode in _HIGH_DEPTH:
        lo, top = _high_depth_scale(img, strips)
        for r0, r1 in strips:
            out[r0:r1] = _rescale_strip(_strip_pixels(img, r0, r1), lo, top)[..., None]
        return out
    composite = mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info)
    for r0, r1 in strips:
        strip = img.crop((0, r0, w, r1))
        if composite:
            rgba = strip.convert("RGBA")
            strip = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
        if strip.mode != "RGB":
            try:
                strip = strip.convert("RGB")  # CMYK, L, P, YCbCr, 1, LAB ...
            except (ValueError, OSError) as e:
                raise ImageReadError(
                    f"{label}: expected a colour or grey image. Got mode {mode!r}. Convert to RGB.") from e
        out[r0:r1] = np.asarray(strip, dtype=np.uint8)
    return out


def _strip_pixels(img: Image.Image, r0: int, r1: int) -> np.ndarray:
    """Rows ``r0:r1`` of a one-channel high-depth image, in its own dtype (uint16, int32 or float32)."""
    arr = np.asarray(img.crop((0, r0, img.size[0], r1)))
    return arr[..., 0] if arr.ndim == 3 else arr


def _high_depth_scale(img: Image.Image, strips: list[tuple[int, int]]) -> tuple[float, float]:
    """(offset, full scale) of a 12/14/16-bit, 32-bit or float image: its bit depth, not its maximum.

    Non-finite floats count as 0, as they are drawn.
    """
    lo, hi, is_float = 0.0, 0.0, img.mode == "F"
    for r0, r1 in strips:
        a = _strip_pixels(img, r0, r1)
        if is_float:
            a = a[np.isfinite(a)]
        if a.size:
            lo, hi = min(lo, float(a.min())), max(hi, float(a.max()))
    if hi <= 1.0 and lo >= 0:  # a 0..1 float image, or a 0/1 mask
        return lo, 1.0
    bits = max(8, int(np.ceil(np.log2(hi - lo + 1))))
    return lo, float(2**bits - 1)


def _rescale_strip(a: np.ndarray, lo: float, top: float) -> np.ndarray:
    """Map one strip onto 0-255: exact integer rounding for integer data (``top`` is odd, so there are
    no ties and this equals rounding the real quotient), float32 for float data."""
    if a.dtype.kind in "ui":
        v = a.astype(np.int64) - int(lo)
        t = int(top)
        return ((v * 510 + t) // (2 * t)).clip(0, 255).astype(np.uint8)
    v = np.where(np.isfinite(a), a, np.float32(0)).astype(np.float32, copy=False)
    return np.round((v - np.float32(lo)) / np.float32(top) * np.float32(255)).clip(0, 255).astype(np.uint8)


def image_sha256(data: bytes | np.ndarray) -> str:
    """Content hash of raw bytes, or of an array's shape and pixels (what the zoo's caches are keyed by)."""
    if isinstance(data, np.ndarray):
        h = hashlib.sha256()
        h.update(str(data.shape).encode())
        h.update(np.ascontiguousarray(data).tobytes())
        return h.hexdigest()
    return hashlib.sha256(data).hexdigest()


class _DecodedUploads:
    """Decoded uploads by SHA-256 of their bytes: a Streamlit rerun (every widget change) does not decode
    the same upload again. Bounded by ``UPLOAD_CACHE_ENTRIES`` and ``UPLOAD_CACHE_BYTES``; the arrays are
    read-only, so no caller can change what another one gets."""

    def __init__(self) -> None:
        self._d: OrderedDict[str, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            arr = self._d.get(key)
            if arr is not None:
                self._d.move_to_end(key)
            return arr

    def put(self, key: str, arr: np.ndarray) -> None:
        if arr.nbytes > UPLOAD_CACHE_BYTES:
            return
        with self._lock:
            if key in self._d:
                return
            self._d[key] = arr
            self._bytes += arr.nbytes
            while len(self._d) > UPLOAD_CACHE_ENTRIES or self._bytes > UPLOAD_CACHE_BYTES:
                _, old = self._d.popitem(last=False)
                self._bytes -= old.nbytes

    def clear(self) -> None:
        with self._lock:
            self._d.clear()
            self._bytes = 0


_UPLOADS = _DecodedUploads()


def read_upload(data: bytes, name: str = "upload") -> np.ndarray:
    """One uploaded file as a read-only RGB uint8 array, decoded once per distinct content."""
    key = hashlib.sha256(data).hexdigest()
    arr = _UPLOADS.get(key)
    if arr is None:
        arr = read_image(data, name=name, max_pixels=MAX_UPLOAD_PIXELS)
        arr.setflags(write=False)
        _UPLOADS.put(key, arr)
    return arr


def uploads_pending(files: Sequence) -> bool:
    """Whether decoding ``files`` (as ``read_uploads`` would) has work to do: some file's content is not decoded
    yet. The dashboard then decodes them inside a compute slot, as model work, since a 24-megapixel image takes a
    core for about a second; a rerun with the same uploads finds them decoded and takes no slot."""
    if not files or len(files) > MAX_UPLOAD_FILES:
        return False
    for f in files:
        data = f[1] if isinstance(f, tuple) else f.getvalue()
        if _UPLOADS.get(hashlib.sha256(data).hexdigest()) is None:
            return True
    return False


def read_uploads(files: Sequence) -> tuple[list[np.ndarray], list[str]]:
    """Decode one upload of several files: (arrays of the readable files, a message per refused file).

    ``files`` holds Streamlit ``UploadedFile`` objects (``.name``, ``.getvalue()``) or ``(name, bytes)``
    pairs. More than ``MAX_UPLOAD_FILES`` files are refused as a whole, before any is read, so one
    request cannot make the server decode hundreds of images.
    """
    if len(files) > MAX_UPLOAD_FILES:
        return [], [(f"This upload: expected at most {MAX_UPLOAD_FILES} files. Got {len(files)}. "
                     f"Choose the {MAX_UPLOAD_FILES} most informative images for this patient and upload them "
                     "again.")]
    arrays, errors = [], []
    total = 0
    for f in files:
        name, data = f if isinstance(f, tuple) else (f.name, f.getvalue())
        label = Path(str(name)).name[:120] or "upload"
        size = header_pixels(data)
        if size is not None and total + size > MAX_UPLOAD_TOTAL_PIXELS:  # before decoding it
            errors.append(f"{label}: this upload may hold at most {MAX_UPLOAD_TOTAL_PIXELS:,} pixels in all. Got "
                          f"{total + size:,} with this file. Upload fewer or smaller images.")
            continue
        try:
            arrays.append(read_upload(data, name=label))
            total += arrays[-1].shape[0] * arrays[-1].shape[1]
        except ImageReadError as e:
            errors.append(str(e))
    return arrays, errors


def header_pixels(data: bytes) -> int | None:
    """Width × height from the image header without decoding (None when the header cannot be read)."""
    try:
        with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as img:
            w, h = img.size
        return int(w) * int(h)
    except Exception:  # noqa: BLE001 - read_upload says what is wrong with such a file
        return None
