"""A patient form generated from the schema: units, valid ranges, levels and help text come from one place."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import streamlit as st

from zoo.schema import Kind, Schema

BINARY_OPTIONS = ["unknown", "negative", "positive"]


def _initial(v, raw):
    if raw is None or (isinstance(raw, float) and math.isnan(raw)) or (not isinstance(raw, str) and pd.isna(raw)):
        return None
    return raw


def clinical_form(schema: Schema, features: list[str], values: dict, prefix: str) -> dict:
    """Draw inputs for ``features`` (inside an st.form); returns the raw entered values (None = unknown)."""
    out = {}
    derived = {v.name for v in schema.features(features) if v.derived}
    for group, vars_ in schema.grouped(features).items():
        vars_ = [v for v in vars_ if v.name not in derived]
        if not vars_:
            continue
        st.markdown(f"**{group}**")
        cols = st.columns(4)
        for i, v in enumerate(vars_):
            col = cols[i % 4]
            init = _initial(v, values.get(v.name))
            key = f"{prefix}_{v.name}"
            if v.kind is Kind.numeric:
                lo, hi = v.valid_range
                help_ = f"{v.help} Valid {lo:g}–{hi:g} {v.unit}. Leave empty if unknown."
                out[v.name] = col.number_input(v.label, min_value=float(lo), max_value=float(hi),
                                               value=None if init is None else float(init), step=None,
                                               format=f"%.{v.decimals}f", key=key, help=help_, placeholder="unknown")
            elif v.kind is Kind.binary:
                idx = 0 if init is None else (2 if float(init) == 1 else 1)
                choice = col.selectbox(v.label, BINARY_OPTIONS, index=idx, key=key, help=v.help)
                out[v.name] = None if choice == "unknown" else float(choice == "positive")
            else:
                opts = [None, *v.levels]
                idx = opts.index(init) if init in opts else 0
                out[v.name] = col.selectbox(v.label, opts, index=idx, key=key, help=v.help,
                                            format_func=lambda x: "unknown" if x is None else str(x))
    return out


def out_of_observed(schema: Schema, values: dict, clinical: pd.DataFrame) -> list[str]:
    """Numeric values outside the range seen in the cohort (the model extrapolates there)."""
    flags = []
    for name, x in values.items():
        if x is None or name not in clinical or schema[name].kind is not Kind.numeric:
            continue
        col = clinical[name].dropna()
        if col.empty:
            continue
        lo, hi = float(col.min()), float(col.max())
        if not lo <= float(x) <= hi:
            flags.append(f"{schema[name].label} = {float(x):g} is outside the cohort's observed range "
                         f"{lo:g}–{hi:g}; the models extrapolate there.")
    return flags


def value_grid(var, n: int = 41, observed: pd.Series | None = None) -> np.ndarray:
    """Points across a variable's valid range (log-spaced for skewed labs), for the what-if curve."""
    lo, hi = var.valid_range
    if observed is not None and observed.notna().any():
        o_lo, o_hi = float(observed.quantile(0.005)), float(observed.quantile(0.995))
        pad = 0.25 * (o_hi - o_lo)
        lo, hi = max(lo, o_lo - pad), min(hi, o_hi + pad)
    if lo > 0 and hi / lo > 50:
        return np.geomspace(lo, hi, n)
    return np.linspace(lo, hi, n)
