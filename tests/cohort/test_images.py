"""Defensive image reading: each odd input yields a normalised RGB array or a clear error."""
import io

import numpy as np
import pytest
from PIL import Image

from zoo.cohort import images as images_mod
from zoo.cohort.images import read_image
from zoo.errors import ImageReadError


def _png(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def test_rgb_png_passes_through():
    arr = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    out = read_image(_png(Image.fromarray(arr)))
    assert out.dtype == np.uint8 and np.array_equal(out, arr)


@pytest.mark.parametrize("cut", [0.5, 0.9, 0.995])
def test_truncated_file_is_refused(cut):
    noise = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = _png(Image.fromarray(noise))
    with pytest.raises(ImageReadError, match="damaged or truncated"):
        read_image(data[: int(len(data) * cut)], name="cut.png")


def test_non_image_bytes_are_refused():
    with pytest.raises(ImageReadError, match=r"cells\.csv: expected a PNG, JPEG or TIFF image\. Got bytes"):
        read_image(b"patient_id,hgb\nA1,100\n", name="cells.csv")


def test_empty_file_is_refused():
    with pytest.raises(ImageReadError, match="Got an empty file"):
        read_image(b"", name="empty.png")


def test_decompression_bomb_warning_is_an_error(monkeypatch):
    data = _png(Image.new("RGB", (64, 64)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 64 * 64 // 2 + 1)  # 64x64 now exceeds the limit
    with pytest.raises(ImageReadError, match="decompression bomb"):
        read_image(data, name="bomb.png")


def test_16_bit_is_rescaled_not_clipped():
    ramp = (np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)
    out = read_image(_png(Image.fromarray(ramp)))
    assert out.shape == (64, 64, 3)
    assert out.min() == 0 and out.max() == 255
    assert len(np.unique(out)) > 200, "a clipped 16-bit image would collapse to a few values"
    twelve = (np.linspace(0, 4095, 64 * 64).reshape(64, 64)).astype(np.uint16)
    out12 = read_image(_png(Image.fromarray(twelve)))
    assert out12.max() == 255 and out12.min() == 0


def test_rgba_is_composited_over_white():
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:20, :, 3] = 255  # top half opaque red, bottom half transparent
    out = read_image(_png(Image.fromarray(rgba, "RGBA")))
    assert tuple(out[5, 5]) == (200, 0, 0)
    assert tuple(out[30, 5]) == (255, 255, 255)


def test_cmyk_grayscale_and_palette_become_rgb():
    cmyk = Image.new("CMYK", (40, 40), (0, 255, 255, 0))
    out = read_image(_png(cmyk, "JPEG"))
    assert out.shape == (40, 40, 3) and out[..., 0].mean() > 200 and out[..., 1].mean() < 60
    gray = read_image(_png(Image.new("L", (40, 40), 77)))
    assert gray.shape == (40, 40, 3) and (gray == 77).all()
    pal = read_image(_png(Image.new("RGB", (40, 40), (10, 200, 30)).convert("P")))
    assert pal.shape == (40, 40, 3)


def test_tiny_image_is_refused():
    with pytest.raises(ImageReadError, match=r"at least 32×32 pixels\. Got 8×8"):
        read_image(_png(Image.new("RGB", (8, 8))), name="thumb.png")


def test_oversized_file_is_refused(monkeypatch):
    monkeypatch.setattr(images_mod, "MAX_BYTES", 100)
    with pytest.raises(ImageReadError, match="expected at most"):
        read_image(_png(Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))),
                   name="big.png")


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(ImageReadError, match="Got nothing there"):
        read_image(tmp_path / "nope.png")
