"""Cached loaders: models once per process (cache_resource, keyed by manifest hash), tables per session copy.

Nothing heavy happens at import. A zoo is verified on first load; the
dashboard never mutates what the caches return.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from zoo.errors import MyeloZooError


def _stamp(path: Path, name: str) -> str:
    p = Path(path) / name
    if not p.is_file():
        return "missing"
    s = p.stat()
    return f"{s.st_mtime_ns}-{s.st_size}"


@st.cache_resource(max_entries=4, show_spinner="Loading the cohort…")
def _cohort(path: str, stamp: str):
    from zoo.cohort import validate_cohort

    return validate_cohort(path, decode_images=False)


def load_cohort(path: Path):
    """(report, cohort or None). Images are checked for existence here and decoded when shown."""
    from zoo.cohort.layout import clinical_path

    cp = clinical_path(Path(path))
    return _cohort(str(path), _stamp(Path(path), cp.name if cp else "clinical.csv") + _stamp(Path(path), "images.csv"))


@st.cache_resource(max_entries=4, show_spinner="Loading and verifying the zoo…")
def _zoo(path: str, stamp: str, device: str):
    from zoo.api import Zoo
    from zoo.heap import preload_and_settle

    zoo = Zoo.load(path, device=device)
    preload_and_settle(zoo)  # in the background: then the collector no longer walks the models (zoo/heap.py)
    return zoo


def load_zoo(path: Path):
    """(zoo or None, error message or None). The zoo object is shared across sessions: read-only use."""
    try:
        return _zoo(str(path), zoo_stamp(path), "auto"), None
    except MyeloZooError as e:
        return None, str(e)


@st.cache_data(max_entries=16, show_spinner=False)
def leaderboard(zoo_path: str, stamp: str, split: str) -> pd.DataFrame:
    zoo, _ = load_zoo(Path(zoo_path))
    return zoo.leaderboard(split)


@st.cache_data(max_entries=8, show_spinner=False)
def metrics(zoo_path: str, stamp: str) -> dict:
    zoo, _ = load_zoo(Path(zoo_path))
    return zoo.metrics()


@st.cache_data(max_entries=8, show_spinner=False)
def curves(zoo_path: str, stamp: str) -> dict:
    zoo, _ = load_zoo(Path(zoo_path))
    return zoo.curves()


@st.cache_data(max_entries=8, show_spinner=False)
def predictions(zoo_path: str, stamp: str) -> pd.DataFrame:
    zoo, _ = load_zoo(Path(zoo_path))
    return zoo.predictions()


def zoo_stamp(path: Path) -> str:
    """SHA-256 of the zoo's manifest: the cache key of everything loaded from that zoo."""
    import hashlib

    p = Path(path) / "manifest.json"
    return hashlib.sha256(p.read_bytes()).hexdigest()[:16] if p.is_file() else "missing"


@st.cache_data(max_entries=512, show_spinner=False)
def thumbnail(path: str, size: int = 160):
    """Small RGB thumbnail for galleries; a broken file yields None (the caller says so)."""
    from PIL import Image

    from zoo.cohort.images import read_image
    from zoo.errors import ImageReadError

    try:
        img = Image.fromarray(read_image(path))
    except ImageReadError:
        return None
    img.thumbnail((size, size))
    import numpy as np

    return np.asarray(img)


def cohort_with_fingerprint(catalog, fingerprint: str | None):
    """(name, cohort) of the catalog cohort whose content matches ``fingerprint`` (a zoo's external cohort),
    so a reviewer opens external failures by one click instead of knowing which cohort to load."""
    if not fingerprint:
        return None, None
    for name, path in catalog.cohorts.items():
        _, c = load_cohort(path)
        if c is not None and c.fingerprint == fingerprint:
            return name, c
    return None, None
