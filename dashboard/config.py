"""Where the app finds its cohort and zoo: environment first, then the demo folders."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO_ROOT = ROOT / "data" / "demo"
DEFAULT_COHORT = DEMO_ROOT / "cohort"
DEFAULT_EXTERNAL = DEMO_ROOT / "cohort_site_b"
DEFAULT_ZOO = DEMO_ROOT / "zoo"
PAGES = ROOT / "pages"


def cohort_path() -> Path:
    return Path(os.environ.get("MYELOZOO_COHORT", DEFAULT_COHORT))


def zoo_path() -> Path:
    return Path(os.environ.get("MYELOZOO_ZOO", DEFAULT_ZOO))


def external_path() -> Path | None:
    p = os.environ.get("MYELOZOO_EXTERNAL")
    if p:
        return Path(p)
    return DEFAULT_EXTERNAL if DEFAULT_EXTERNAL.is_dir() and cohort_path() == DEFAULT_COHORT else None
