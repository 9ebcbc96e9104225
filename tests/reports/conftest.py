import os
import shutil
import subprocess

import pytest


def need_poppler() -> None:
    """PDF checks read pages with poppler (pdfinfo, pdftoppm, pdfimages); CI installs it and must run them."""
    if shutil.which("pdftoppm") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but poppler-utils (pdftoppm) is missing; `make test` installs it.")
        pytest.skip("poppler-utils not installed (apt-get install poppler-utils)")


def pdf_pages(path) -> int:
    out = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    return int(next(line.split()[-1] for line in out.splitlines() if line.startswith("Pages:")))


def pdf_images(path) -> list[dict]:
    """Embedded raster images (pdfimages -list), soft masks left out."""
    out = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in out.splitlines()[2:] if line.strip()]
    return [{"page": int(r[0]), "width": int(r[3]), "height": int(r[4])} for r in rows if r[2] == "image"]


def pdf_to_pngs(path, out_dir, dpi: int = 50) -> list:
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(path), str(out_dir / "page")], check=True)
    return sorted(out_dir.glob("page-*.png"))
