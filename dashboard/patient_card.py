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


AGREEMENT_BADGE = {"agree": ("green", ":material/check_circle:"), "partly agree": ("orange", ":material/info:"),
                   "disagree": ("red", ":material/warning:"), "no models": ("gray", ":material/help:")}


def prediction_summary(pred, zoo, schema, staging_model_of: dict) -> None:
    """The answer a clinician reads beside the form: probability with its interval, band, how far the
    individual models agree, the patient's stages, and which models were used (by display name)."""
    from zoo.api import MAIN_ENSEMBLE
    from zoo.schema.derived import STAGING_SYSTEMS
    from zoo.scoring.agreement import model_agreement

    unc = pred.uncertainty.get(pred.main, {})
    lo_hi = unc.get("venn_abers_interval")
    band = unc.get("calibration_band_95")
    st.metric("P(PD within 24 months), main ensemble", f"{pred.probability:.1%}",
              help="Soft vote of the two best models per modality (chosen on out-of-fold AUC) over the modalities "
                   "this patient has; every member recalibrated on out-of-fold predictions.")
    if band:
        st.markdown(f"Calibration band **{band[0]:.1%}–{band[1]:.1%}** (95 %)",
                    help="How precisely the training patients' out-of-fold outcomes pin down the risk at this "
                         "score: a logistic recalibration refitted on 500 bootstrap resamples of them. The "
                         "probability above was recalibrated on the same outcomes, so the band is an uncertainty "
                         "range around it, not a check of it: it cannot show over-confidence or another site's "
                         "miscalibration (the leaderboard's calibration columns can), nor the variation between "
                         "models trained on other patients.")
    if lo_hi:
        st.caption(f"Venn–Abers pair {lo_hi[0]:.1%}–{lo_hi[1]:.1%}",
                   help="The isotonic calibration of this score refitted with this patient added once as non-PD "
                        "and once as PD (Vovk & Petej 2014). Its width shows how much one more patient moves the "
                        "calibration here (wide where few training patients had similar scores). It is not a "
                        "confidence interval: being a step function, it often excludes even a well-calibrated "
                        "probability.")
    st.markdown(f"Risk band: **{pred.band}**  ·  low < 25 % ≤ intermediate < 50 % ≤ high")
    ag = model_agreement(pred.model_probs, zoo.manifest)
    colour, icon = AGREEMENT_BADGE[ag.label]
    st.badge(f"Models {ag.label}", color=colour, icon=icon)
    st.caption(ag.sentence())
    cols = st.columns(2)
    for i, (key, system) in enumerate(STAGING_SYSTEMS.items()):
        stage, risk = pred.stages.get(key), pred.model_probs.get(staging_model_of.get(key))
        cols[i % 2].metric(system.display, stage or "—",
                           help=(f"{system.citation}. " + (f"Training PD rate of this stage (recalibrated): {risk:.0%}."
                                                           if risk is not None else "No staging risk for this patient."))
                           if stage else f"{system.citation}. Not decided: an input that could change it is missing.")
    display = zoo.displays
    used = pred.members_used.get(MAIN_ENSEMBLE, [])
    st.caption("Modalities used: " + (", ".join(pred.modalities_used.get(MAIN_ENSEMBLE, [])) or "none")
               + " · Members: " + (", ".join(display.get(n, n) for n in used) or "none"))
    for w in pred.warnings:
        st.warning(w, icon=":material/warning:")
