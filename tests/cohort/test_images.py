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


# ----- uploads are a security boundary (issue 12, item 5) -----------------------------------------------------

EPS = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\n%%EndComments\n"
       b"newpath 0 0 moveto 64 64 lineto stroke\nshowpage\n%%EOF\n")


def test_postscript_named_png_never_reaches_the_eps_decoder(tmp_path, monkeypatch):
    """Pillow picks a decoder from the bytes; the EPS one runs Ghostscript. Only PNG/JPEG/TIFF may run."""
    from PIL import EpsImagePlugin

    opened = []
    real_open = EpsImagePlugin.EpsImageFile._open
    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", lambda self: opened.append(1) or real_open(self))
    f = tmp_path / "smear.png"
    f.write_bytes(EPS)
    for source in (f, EPS):
        with pytest.raises(ImageReadError, match=r"smear\.png: expected a PNG, JPEG or TIFF image\. Got bytes "
                                                 r"that are not one \(starting b'%!PS-Ado'\)\. Re-export"):
            read_image(source, name="smear.png")
    assert opened == [], "the EPS plugin was asked to open the file"


def test_every_image_open_in_product_code_names_its_formats():
    """A new Image.open on cohort or uploaded data without formats= would reopen the EPS hole."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    bad = []
    for py in [*root.joinpath("zoo").rglob("*.py"), *root.joinpath("dashboard").rglob("*.py"),
               *root.joinpath("pages").rglob("*.py")]:
        text = py.read_text()
        for m in re.finditer(r"Image\.open\(", text):
            depth, i = 1, m.end()
            while depth and i < len(text):
                depth += {"(": 1, ")": -1}.get(text[i], 0)
                i += 1
            if "formats=" not in text[m.end():i]:
                bad.append(f"{py.relative_to(root)}:{text[:m.start()].count(chr(10)) + 1}")
    assert bad == []


def test_pixel_cap_is_ours_not_pillows(monkeypatch):
    """Another library raising Image.MAX_IMAGE_PIXELS must not lift the cap that bounds our memory."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    monkeypatch.setattr(images_mod, "MAX_PIXELS", 64 * 64 - 1)
    with pytest.raises(ImageReadError, match=r"big\.png: expected at most 4,095 pixels"):
        read_image(_png(Image.new("RGB", (64, 64))), name="big.png")


@pytest.mark.parametrize("kind", ["u16", "u12", "mask", "i32", "f32"])
def test_high_depth_rescale_equals_float64_rounding(kind, monkeypatch):
    """The strip-wise integer/float32 maths gives what the former whole-image float64 maths gave."""
    rng = np.random.default_rng(3)
    a = {"u16": rng.integers(0, 65536, (70, 90)).astype(np.uint16),
         "u12": rng.integers(0, 4096, (70, 90)).astype(np.uint16),
         "mask": rng.integers(0, 2, (70, 90)).astype(np.uint16),
         "i32": rng.integers(-5000, 300000, (70, 90)).astype(np.int32),
         "f32": rng.random((70, 90)).astype(np.float32)}[kind]
    ref = np.asarray(a, dtype=np.float64)
    lo, hi = min(ref.min(), 0.0), ref.max()
    top = 1.0 if hi <= 1.0 and lo >= 0 else float(2 ** max(8, int(np.ceil(np.log2(hi - lo + 1)))) - 1)
    want = np.round((ref - lo) / top * 255.0).clip(0, 255).astype(np.uint8)
    monkeypatch.setattr(images_mod, "_STRIP_PIXELS", 90 * 7)  # ten strips
    got = images_mod.to_rgb_array(Image.fromarray(a))
    assert got.shape == (70, 90, 3) and (got == got[..., :1]).all()
    assert np.array_equal(got[..., 0], want)


def _png16_rows(path, w: int, h: int) -> None:
    """A 16-bit grey PNG (a ramp on every row), written row by row so the test itself stays small."""
    import struct
    import zlib

    def chunk(t: bytes, d: bytes) -> bytes:
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    row = b"\x00" + np.linspace(0, 65535, w).astype(">u2").tobytes()
    co = zlib.compressobj(6)
    idat = b"".join([co.compress(row) for _ in range(h)] + [co.flush()])
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 0, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


# Peak RSS growth while decoding the largest allowed 16-bit PNG (9459×9459 = 89.47 M pixels, 1.3 MB file).
# Floor: Pillow's decoded image (2 B/px, 171 MiB) + the uint8 RGB result (256 MiB) = 427 MiB; measured 458 MiB.
# The former float64 conversion measured 2907 MiB on the same file.
PEAK_RSS_BOUND_MIB = 600


def test_largest_16_bit_png_decodes_in_bounded_memory(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    side = int(np.sqrt(images_mod.MAX_PIXELS))
    assert side * side <= images_mod.MAX_PIXELS < (side + 1) ** 2
    f = tmp_path / "max16.png"
    _png16_rows(f, side, side)
    code = (
        "import resource, sys\n"
        "from zoo.cohort.images import read_image\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "a = read_image(sys.argv[1])\n"
        f"assert a.shape == ({side}, {side}, 3) and a.dtype.name == 'uint8' and a[0, -1, 0] == 255\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024)\n")
    root = Path(__file__).resolve().parents[2]
    res = subprocess.run([sys.executable, "-c", code, str(f)], capture_output=True, text=True, cwd=root,
                         timeout=300, check=False)
    assert res.returncode == 0, res.stderr
    grew_mib = int(res.stdout.split()[-1])
    assert grew_mib < PEAK_RSS_BOUND_MIB, f"decoding grew peak RSS by {grew_mib} MiB"


def test_too_many_files_in_one_upload_are_refused_before_reading(monkeypatch):
    class Upload:
        def __init__(self, i: int) -> None:
            self.name = f"smear_{i}.png"

        def getvalue(self) -> bytes:
            raise AssertionError("a file was read although the upload is refused")

    n = images_mod.MAX_UPLOAD_FILES + 1
    arrays, errors = images_mod.read_uploads([Upload(i) for i in range(n)])
    assert arrays == []
    limit = images_mod.MAX_UPLOAD_FILES
    assert errors == [(f"This upload: expected at most {limit} files. Got {n}. Choose the {limit} most informative "
                       "images for this patient and upload them again.")]


def test_each_upload_is_decoded_once_per_content(monkeypatch):
    images_mod._UPLOADS.clear()
    calls = []
    real = images_mod.read_image
    monkeypatch.setattr(images_mod, "read_image", lambda data, name=None, **kw: calls.append(name) or real(data, name, **kw))
    a = _png(Image.fromarray(np.random.default_rng(5).integers(0, 256, (40, 40, 3), dtype=np.uint8)))
    b = _png(Image.new("RGB", (40, 40), (9, 9, 9)))
    for _ in range(3):  # three Streamlit reruns; the second name is the same bytes renamed
        arrays, errors = images_mod.read_uploads([("a.png", a), ("copy_of_a.png", a), ("b.png", b),
                                                  ("bad.png", b"not an image")])
        assert len(arrays) == 3 and len(errors) == 1 and errors[0].startswith("bad.png: expected a PNG")
    assert calls == ["a.png", "b.png", "bad.png", "bad.png", "bad.png"], "a readable upload decoded again"
    assert not arrays[0].flags.writeable, "a cached array must not be changed by one caller for all"
    assert np.array_equal(arrays[0], arrays[1]) and arrays[2].max() == 9


def test_upload_cache_is_bounded(monkeypatch):
    images_mod._UPLOADS.clear()
    monkeypatch.setattr(images_mod, "UPLOAD_CACHE_BYTES", 3 * 40 * 40 * 3)
    for v in range(5):
        images_mod.read_upload(_png(Image.new("RGB", (40, 40), (v, v, v))), f"{v}.png")
    assert len(images_mod._UPLOADS._d) == 3 and images_mod._UPLOADS._bytes == 3 * 40 * 40 * 3
    images_mod._UPLOADS.clear()


def test_upload_name_in_messages_is_a_short_base_name():
    _, errors = images_mod.read_uploads([("../../etc/" + "x" * 300 + ".png", b"junk")])
    assert errors[0].startswith("x" * 120 + ": expected a PNG")


def test_an_upload_is_capped_far_below_the_bomb_limit(monkeypatch):
    """Anyone who may predict can upload: a small PNG of tens of megapixels is refused before it is decoded."""
    monkeypatch.setattr(images_mod, "MAX_UPLOAD_PIXELS", 64 * 64 - 1)
    images_mod._UPLOADS.clear()
    arrays, errors = images_mod.read_uploads([("field.png", _png(Image.new("RGB", (64, 64))))])
    assert arrays == [] and len(errors) == 1
    assert "field.png: expected at most 4,095 pixels" in errors[0] and "decompression bomb" not in errors[0]
    assert read_image(_png(Image.new("RGB", (64, 64)))).shape == (64, 64, 3), "cohort files keep the bomb limit"


def test_an_uploads_files_share_one_pixel_budget(monkeypatch):
    monkeypatch.setattr(images_mod, "MAX_UPLOAD_TOTAL_PIXELS", 2 * 64 * 64)
    images_mod._UPLOADS.clear()
    files = [(f"f{i}.png", _png(Image.new("RGB", (64, 64), (i, 0, 0)))) for i in range(3)]
    arrays, errors = images_mod.read_uploads(files)
    assert len(arrays) == 2 and len(errors) == 1 and errors[0].startswith("f2.png: this upload may hold at most")


def test_uploads_pending_says_whether_a_decode_is_needed():
    """The predictor takes a compute slot to decode uploads only when some content is not decoded yet."""
    images_mod._UPLOADS.clear()
    a = _png(Image.new("RGB", (40, 40), (1, 2, 3)))
    b = _png(Image.new("RGB", (40, 40), (4, 5, 6)))
    assert not images_mod.uploads_pending([])
    assert images_mod.uploads_pending([("a.png", a)])
    images_mod.read_uploads([("a.png", a)])
    assert not images_mod.uploads_pending([("a.png", a), ("again.png", a)]), "decoded content needs no slot"
    assert images_mod.uploads_pending([("a.png", a), ("b.png", b)])
    assert images_mod.uploads_pending([("bad.png", b"not an image")]), "an unreadable file is tried again"
    too_many = [(f"{i}.png", a) for i in range(images_mod.MAX_UPLOAD_FILES + 1)]
    assert not images_mod.uploads_pending(too_many), "refused as a whole before any decode"
    images_mod._UPLOADS.clear()
