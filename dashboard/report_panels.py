"""The Leaderboard's Subgroups and Model card tabs, and the predictor's patient-report download.

Cohorts are found in the server's catalog by the content fingerprint the zoo recorded, so a visitor never
names a path and a zoo is never described with another cohort's patients.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import cached, charts, loaders, throttle
from zoo.csvsafe import safe_csv_bytes


def zoo_cohort_paths(ctx: dict, zoo) -> tuple[str | None, str | None]:
    """Server paths of the zoo's training and external cohorts when the catalog has them (never shown)."""
    out = []
    for key in ("cohort", "external"):
        name, _ = loaders.cohort_with_fingerprint(ctx["catalog"], (zoo.manifest.get(key) or {}).get("fingerprint"))
        out.append(str(ctx["catalog"].cohorts[name]) if name else None)
    return out[0], out[1]


def _grey_small(df: pd.DataFrame):
    return df.style.apply(lambda r: ["color: #9e9e9e" if r["Status"] else ""] * len(r), axis=1)


def subgroups_tab(ctx: dict, zoo, split: str) -> None:
    from zoo.evaluation.subgroups import MIN_EVENTS, categorical_choices, reported_models

    train, external = zoo_cohort_paths(ctx, zoo)
    if train is None:
        st.info("Subgroups need this zoo's training cohort, and the server's catalog has no cohort with the same "
                "content. Ask the administrator to list it.", icon=":material/info:")
        return
    cohort = loaders.load_cohort(train)[1]
    disp = zoo.displays
    models = reported_models(zoo)
    c1, c2 = st.columns(2)
    model = c1.selectbox("Model", models, format_func=lambda n: disp.get(n, n), key="lb_sg_model")
    choices = categorical_choices(cohort.schema, cohort.clinical)
    extra = c2.selectbox("Also split by", [None, *choices], key="lb_sg_extra",
                         format_func=lambda v: "—" if v is None else cohort.schema.label(v))
    with throttle.model_work("Computing subgroup performance (bootstrap CIs)…"):
        rows = cached.subgroups(str(ctx["zoo_dir"]), loaders.zoo_stamp(ctx["zoo_dir"]), train,
                                external, model, (extra,) if extra else ())
    if rows.empty or not (rows["split"] == split).any():
        st.info("No held-out predictions of this model on this split.")
        return
    here = rows[rows["split"] == split]
    label = "internal hold-out test" if split == "test" else "external cohort"
    here = here.assign(**{c: pd.to_numeric(here[c], errors="coerce") for c in
                          ("auc", "auc_lo", "auc_hi", "cal_intercept", "sensitivity", "specificity")})
    if (~here["too_few_events"].astype(bool) & here["auc"].notna()).any():
        st.altair_chart(charts.forest_chart(here, f"{disp.get(model, model)} — {label}"), width="stretch")
    else:
        st.info(f"No subgroup of the {label} has {MIN_EVENTS} events and {MIN_EVENTS} non-events, so there is no "
                "forest plot: every group's AUC would be noise. The table lists them, greyed out.",
                icon=":material/info:")
    table = pd.DataFrame({
        "Subgroup": here["grouping_display"], "Group": here["group"].astype(str), "n": here["n"],
        "Events": here["events"], "AUC": here["auc"], "95% CI": [
            f"{a:.2f}–{b:.2f}" if pd.notna(a) and pd.notna(b) else "—" for a, b in zip(here["auc_lo"], here["auc_hi"])],
        "Cal. intercept": here["cal_intercept"], "Sensitivity": here["sensitivity"],
        "Specificity": here["specificity"],
        "Status": ["too few events" if f else "" for f in here["too_few_events"]]})
    st.dataframe(_grey_small(table), hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.2f")
                                for c in ("AUC", "Cal. intercept", "Sensitivity", "Specificity")})
    st.caption(f"Held-out patients only; sensitivity and specificity at the model's out-of-fold threshold. Groups with "
               f"fewer than {MIN_EVENTS} events or non-events are greyed out and left off the plot: their AUC is "
               "noise. fairlearn MetricFrame; 95% CIs from 1,000 bootstrap resamples within each group.")
    site = rows[rows["split"] == "held-out"]
    if len(site):
        st.markdown("**By site** (test and external patients together)")
        st.dataframe(site[["group", "n", "events", "auc", "auc_lo", "auc_hi", "cal_intercept"]].rename(
            columns={"group": "Site", "auc": "AUC", "auc_lo": "low", "auc_hi": "high", "cal_intercept": "Cal. intercept"}),
            hide_index=True, width="stretch")
    st.download_button("Download subgroups (CSV)", safe_csv_bytes(rows), f"subgroups_{model}.csv", "text/csv",
                       key="lb_sg_csv", icon=":material/download:")


def model_card_tab(ctx: dict, zoo) -> None:
    from zoo.errors import ReportError

    st.markdown("A TRIPOD+AI-structured report of this zoo: intended use, data, outcome, predictors, missing data, "
                "sample size, model building, performance with CIs and figures, external validation, subgroups, "
                "limitations and the full checklist. The same files as `python -m zoo report`.")
    train, external = zoo_cohort_paths(ctx, zoo)
    if train is None:
        st.caption("The training cohort is not in the server's catalog: the card will leave out Table 1 and subgroups.")
    if st.button("Prepare the model card", key="lb_card_go", icon=":material/description:"):
        try:
            with throttle.model_work("Writing the model card (subgroups, figures, PDF)…"):
                st.session_state["lb_card"] = (loaders.zoo_stamp(ctx["zoo_dir"]), cached.model_card(
                    str(ctx["zoo_dir"]), loaders.zoo_stamp(ctx["zoo_dir"]), train, external))
        except ReportError as e:
            st.error(str(e), icon=":material/error:")
    card = st.session_state.get("lb_card")
    if card and card[0] == loaders.zoo_stamp(ctx["zoo_dir"]):
        files = card[1]
        a, b = st.columns(2)
        a.download_button("Model card (HTML)", files["html"], "model_card.html", "text/html", key="lb_card_html",
                          icon=":material/download:", width="stretch")
        if "pdf" in files:
            b.download_button("Model card (PDF)", files["pdf"], "model_card.pdf", "application/pdf",
                              key="lb_card_pdf", icon=":material/download:", width="stretch")
        else:
            b.warning(f"No PDF on this server: {files.get('pdf_error', 'the PDF renderer is unavailable')}",
                      icon=":material/warning:")


def patient_report_button(ctx: dict, zoo, values: dict, images: dict, pred, inputs_key: str) -> None:
    """After a prediction: a one-page PDF of exactly what the page shows."""
    from zoo.cohort.images import image_sha256
    from zoo.errors import ReportError

    if st.button("Prepare the patient report (PDF)", key="pp_report_go", icon=":material/picture_as_pdf:"):
        train, _ = zoo_cohort_paths(ctx, zoo)  # only on the click: the predictor reruns on every keystroke
        img_key = repr({m: [image_sha256(a) for a in arrs] for m, arrs in images.items()})
        try:
            with throttle.model_work("Writing the patient report (Grad-CAM, SHAP, PDF)…"):
                pdf = cached.patient_report_pdf(str(ctx["zoo_dir"]), loaders.zoo_stamp(ctx["zoo_dir"]), train,
                                                inputs_key, img_key, values, images, pred)
            st.session_state["pp_report"] = (inputs_key, pdf)
        except ReportError as e:
            st.error(str(e), icon=":material/error:")
    rep = st.session_state.get("pp_report")
    if rep and rep[0] == inputs_key:
        st.download_button("Download the patient report (PDF)", rep[1], "patient_report.pdf", "application/pdf",
                           key="pp_report_dl", icon=":material/download:")
