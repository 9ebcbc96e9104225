"""Shared state that survives page switches and lives in the URL (shareable links).

Persistent values sit under plain keys (``patient``, ``models``, ``threshold``,
``split``, ``cohort``, ``zoo``); widgets use their own ``_w_*`` keys and copy into
the plain key on change, because Streamlit forgets a widget's state on pages where
it is not drawn.

A link is input from anyone: every parameter is validated here, once, before any
page sees it. A value that fails is dropped (the default applies); a threshold out
of range is clamped; ``cohort`` and ``zoo`` are catalog names, never folders (the
sidebar checks them against the catalog).
"""
from __future__ import annotations

import math
import re

import streamlit as st

from dashboard.datasets import valid_name

SHARED = {"patient": None, "models": None, "threshold": None, "split": "test", "cohort": None, "zoo": None,
          "units": None, "errors": None, "conf": None, "dis": None, "filters": None}
LIST_KEYS = {"models", "units", "errors", "filters"}
FLOAT_KEYS = {"threshold", "conf", "dis"}
ERROR_KINDS = ("FP", "FN")
THRESHOLD_RANGE = (0.01, 0.99)  # the leaderboard slider's range: a link can never put it outside
SPLITS = ("test", "external")
MAX_MODELS = 32
_PATIENT_RE = re.compile(r"[\w.:-]{1,64}")
_FILTER_RE = re.compile(r"[a-z_]{1,32}:[\w.+() -]{1,40}")  # field:value; the explorer checks it against the schema
_UNIT_RE = re.compile(r"[a-z][a-z0-9_]{0,39}:[^,;<>\"'&\s]{1,16}")  # variable:unit; the form checks the unit


def clean_threshold(raw: object) -> float | None:
    """A threshold from a link: a finite number, clamped into THRESHOLD_RANGE and rounded to the slider step."""
    try:
        x = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if not math.isfinite(x):
        return None
    lo, hi = THRESHOLD_RANGE
    return round(min(max(x, lo), hi), 2)


def clean(key: str, raw):
    """The validated value of URL parameter ``key`` (None: ignore it and use the default)."""
    if key == "threshold":
        return clean_threshold(raw)
    if key == "models":
        names = [v for v in raw if valid_name(v)][:MAX_MODELS]
        return names or None
    if key == "errors":
        kinds = [v for v in ERROR_KINDS if v in raw]
        return kinds or None
    if key in ("conf", "dis"):  # failure-case filters: shares in [0, 1] on a 0.05 grid
        try:
            x = float(raw)
        except (TypeError, ValueError):
            return None
        return round(min(max(x, 0.0), 1.0) * 20) / 20 if math.isfinite(x) else None
    if key == "units":
        pairs = [v for v in raw if isinstance(v, str) and _UNIT_RE.fullmatch(v)][:MAX_MODELS]
        return pairs or None
    if key == "filters":
        tokens = [v for v in raw if isinstance(v, str) and _FILTER_RE.fullmatch(v)][:MAX_MODELS]
        return tokens or None
    if key == "split":
        return raw if raw in SPLITS else None
    if key == "patient":
        return raw if isinstance(raw, str) and _PATIENT_RE.fullmatch(raw) else None
    if key in ("cohort", "zoo"):
        return raw if valid_name(raw) else None
    return None


def init_from_query() -> None:
    """Seed session state from the URL once per session, keeping only values that pass ``clean``."""
    if st.session_state.get("_query_loaded"):
        return
    q = st.query_params
    for key, default in SHARED.items():
        value = None
        if key in q:
            value = clean(key, q.get_all(key) if key in LIST_KEYS else q[key])
        st.session_state.setdefault(key, default if value is None else value)
    st.session_state["_query_loaded"] = True


def write_query() -> None:
    """Mirror the shared state into the URL (names and numbers only)."""
    params = {}
    for key in SHARED:
        v = st.session_state.get(key)
        if v is None or v == [] or key in ("cohort", "zoo") and not v:
            continue
        params[key] = [str(x) for x in v] if key in LIST_KEYS else (f"{v:.3f}" if key in FLOAT_KEYS else str(v))
    if {k: (st.query_params.get_all(k) if k in LIST_KEYS else st.query_params.get(k)) for k in params} != params \
            or set(st.query_params.keys()) != set(params):
        st.query_params.from_dict(params)


def widget_key(key: str) -> str:
    return f"_w_{key}"


def sync(key: str) -> None:
    """on_change callback: copy a widget's value into the persistent key."""
    st.session_state[key] = st.session_state[widget_key(key)]


def bound(key: str, default=None):
    """Prepare a widget bound to persistent ``key``; returns (widget_key, kwargs for on_change)."""
    wk = widget_key(key)
    if wk not in st.session_state:
        val = st.session_state.get(key)
        st.session_state[wk] = default if val is None else val
    return wk, {"on_change": sync, "args": (key,)}
