"""Shared state that survives page switches and lives in the URL (shareable links).

Persistent values sit under plain keys (``patient``, ``models``, ``threshold``,
``split``); widgets use their own ``_w_*`` keys and copy into the plain key
on change, because Streamlit forgets a widget's state on pages where it is
not drawn.
"""
from __future__ import annotations

import streamlit as st

SHARED = {"patient": None, "models": None, "threshold": None, "split": "test", "cohort": None, "zoo": None}
LIST_KEYS = {"models"}
FLOAT_KEYS = {"threshold"}


def init_from_query() -> None:
    """Seed session state from the URL once per session."""
    if st.session_state.get("_query_loaded"):
        return
    q = st.query_params
    for key, default in SHARED.items():
        if key in q:
            if key in LIST_KEYS:
                st.session_state.setdefault(key, [v for v in q.get_all(key) if v])
            elif key in FLOAT_KEYS:
                try:
                    st.session_state.setdefault(key, float(q[key]))
                except ValueError:
                    st.session_state.setdefault(key, default)
            else:
                st.session_state.setdefault(key, q[key])
        else:
            st.session_state.setdefault(key, default)
    st.session_state["_query_loaded"] = True


def write_query() -> None:
    """Mirror the shared state into the URL."""
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
