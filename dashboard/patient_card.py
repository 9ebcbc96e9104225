"""A patient's card: clinical values labelled from the schema, outcome, and images."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboard.loaders import thumbnail
from zoo.schema import Kind


def format_value(var, v) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)) or (not isinstance(v, str) and pd.isna(v)):
        return "—"
    if var.kind is Kind.binary:
        return "positive" if float(v) == 1 else "negative"
    if var.kind is Kind.numeric:
        return f"{float(v):.{var.decimals}f}"
    return str(v)


def clinical_table(cohort, patient_id: str) -> pd.DataFrame:
    row = cohort.clinical.loc[patient_id]
    rows = []
    for group, vars_ in cohort.schema.grouped(cohort.clinical.columns).items():
        for v in vars_:
            rows.append({"Group": group, "Variable": v.display, "Value": format_value(v, row.get(v.name)),
                         "Unit": v.unit or ""})
    return pd.DataFrame(rows)


def render(cohort, patient_id: str, show_outcome: bool = True) -> None:
    row = cohort.clinical.loc[patient_id]
    head = f"#### Patient {patient_id}"
    if show_outcome and "progressed" in row:
        head += "  ·  " + (":red[PD within 24 months]" if row["progressed"] == 1 else ":green[no PD within 24 months]")
    st.markdown(head)
    left, right = st.columns([2, 3])
    with left:
        st.dataframe(clinical_table(cohort, patient_id), hide_index=True, height=420, width="stretch")
    with right:
        for modality, label in (("marrow", "Bone-marrow smear"), ("electrophoresis", "IFE gel")):
            paths = cohort.image_paths(patient_id, modality)
            st.caption(f"{label} ({len(paths)} image{'s' if len(paths) != 1 else ''})")
            if not paths:
                st.markdown("_no image for this modality_")
                continue
            cols = st.columns(max(3, len(paths)))
            for col, p in zip(cols, paths):
                img = thumbnail(str(p), 220)
                if img is None:
                    col.error(f"{p.name}: unreadable image")
                else:
                    col.image(img, caption=p.name, width="stretch")
