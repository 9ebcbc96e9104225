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


def chosen_units(schema: Schema, features: list[str], declared: dict) -> dict[str, str]:
    """Each numeric field's unit: the session's (or the link's) choice, else the cohort's declared unit,
    else the schema's canonical one. Unknown units from a link are ignored."""
    picked = dict(p.split(":", 1) for p in (st.session_state.get("units") or []))
    out = {}
    for v in schema.features(features):
        if v.kind is not Kind.numeric or not v.unit:
            continue
        for cand in (picked.get(v.name), declared.get(v.name), v.unit):
            if cand and cand in v.units():
                out[v.name] = cand
                break
    return out


def _remember_unit(name: str, key: str) -> None:
    units = [p for p in (st.session_state.get("units") or []) if not p.startswith(f"{name}:")]
    st.session_state["units"] = [*units, f"{name}:{st.session_state[key]}"]


def clinical_entry(schema: Schema, features: list[str], values: dict, prefix: str, units: dict[str, str]
                   ) -> tuple[dict, dict[str, str]]:
    """Draw the patient's inputs; returns (canonical values, problems by variable).

    Not an st.form: every change reruns, so the page can tell a current result from an out-of-date
    one. Each lab box carries a unit choice; numbers are checked by ``zoo.scoring.inputs`` and a problem
    is shown under its own box, naming the value, the accepted range and the probable unit."""
    from zoo.schema.derived import corrected_calcium
    from zoo.scoring.inputs import check_value

    canonical, problems = {}, {}
    derived = {v.name for v in schema.features(features) if v.derived}
    for group, vars_ in schema.grouped(features).items():
        vars_ = [v for v in vars_ if v.name not in derived]
        if not vars_:
            continue
        st.markdown(f"**{group}**")
        # a lab with a unit choice needs room for the box and a readable unit ("×10⁹/L", "mg/dL"): two per row
        ncols = 2 if any(v.kind is Kind.numeric and len(v.units()) > 1 for v in vars_) else 3
        cols = st.columns(ncols)
        for i, v in enumerate(vars_):
            col = cols[i % ncols]
            init = _initial(v, values.get(v.name))
            key = f"{prefix}_{v.name}"
            if v.kind is Kind.numeric:
                unit = units.get(v.name, v.unit)
                if v.name == "calcium":
                    x, problem = _calcium_entry(col, schema, v, init, key, unit, canonical, corrected_calcium,
                                                check_value)
                else:
                    shown = None if init is None else round(v.from_canonical(float(init), unit), 4)
                    box, ubox = col.columns([3, 2]) if len(v.units()) > 1 else (col, None)
                    entered = box.number_input(f"{v.display} ({unit})" if ubox is None else v.display,
                                               value=shown, step=None, format="%g", key=f"{key}_{unit}",
                                               help=f"{v.help} Leave empty if unknown.", placeholder="unknown")
                    if ubox is not None:
                        ukey = f"{prefix}_unit_{v.name}"
                        ubox.selectbox("Unit", v.units(), index=v.units().index(unit), key=ukey,
                                       on_change=_remember_unit, args=(v.name, ukey), label_visibility="visible")
                    x, problem = (None, None) if entered is None else check_value(v, entered, unit)
                if problem:
                    col.error(problem, icon=":material/error:")
                    problems[v.name] = problem
                elif x is not None:
                    canonical[v.name] = x
            elif v.kind is Kind.binary:
                idx = 0 if init is None else (2 if float(init) == 1 else 1)
                choice = col.selectbox(v.label, BINARY_OPTIONS, index=idx, key=key, help=v.help)
                if choice != "unknown":
                    canonical[v.name] = float(choice == "positive")
            else:
                opts = [None, *v.levels]
                idx = opts.index(init) if init in opts else 0
                lvl = col.selectbox(v.label, opts, index=idx, key=key, help=v.help,
                                    format_func=lambda x: "unknown" if x is None else str(x))
                if lvl is not None:
                    canonical[v.name] = lvl
    return canonical, problems


def _calcium_entry(col, schema: Schema, v, init, key, unit, canonical, corrected_calcium, check_value):
    """Corrected calcium directly, or total calcium + albumin with the correction done and shown."""
    how = col.radio("Calcium as", ["corrected", "total"], horizontal=True, key=f"{key}_how",
                    help="Lab reports usually give total calcium: enter it and the albumin correction is done here.")
    box, ubox = col.columns([3, 2])
    ukey = f"{key}_unit"
    shown = None if init is None or how == "total" else round(v.from_canonical(float(init), unit), 4)
    entered = box.number_input(f"{'Corrected' if how == 'corrected' else 'Total'} calcium", value=shown, step=None,
                               format="%g", key=f"{key}_{how}_{unit}", placeholder="unknown",
                               help=f"{v.help} Leave empty if unknown.")
    ubox.selectbox("Unit", v.units(), index=v.units().index(unit), key=ukey, on_change=_remember_unit,
                   args=(v.name, ukey))
    if entered is None:
        return None, None
    if how == "corrected":
        return check_value(v, entered, unit)
    total_var = schema["calcium_total"] if "calcium_total" in schema else v
    total, problem = check_value(total_var, entered, unit)
    if problem:
        return None, problem.replace(total_var.display, "Total calcium", 1)
    alb = canonical.get("alb")
    if alb is None:
        return None, ("Corrected calcium needs albumin: enter albumin above (or switch to 'corrected' and enter "
                      "the corrected value).")
    x = float(corrected_calcium(total, alb))
    col.caption(f"Corrected Ca = total + 0.02 × (40 − albumin g/L) = {total:.2f} + 0.02 × (40 − {alb:g}) = "
                f"**{x:.2f} mmol/L** ({v.from_canonical(x, unit):.{v.decimals + 1}f} {unit}; Payne 1973)")
    return check_value(v, x, None)


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
