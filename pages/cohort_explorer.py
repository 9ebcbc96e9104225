"""Cohort explorer: overview, Table 1, distributions, missingness, Kaplan–Meier, patient gallery."""
import numpy as np
import streamlit as st

from dashboard import cached, charts, patient_card
from dashboard.sidebar import need_cohort
from zoo.cohort_stats import MODALITIES, MODALITY_LABELS, CohortFilter
from zoo.schema import HIGH_RISK_FISH, Kind

ctx = st.session_state["ctx"]
cohort = need_cohort(ctx)
clin = cohort.clinical
st.title("Cohort explorer")
if cohort.is_synthetic:
    st.caption(":material/science: Synthetic demo cohort — generated data, not patients.")

FILTER_KEYS = {"sex": "ce_sex", "iss": "ce_iss", "riss": "ce_riss", "mprotein_heavy": "ce_heavy",
               "fish_positive": "ce_fish", "require_modalities": "ce_mod"}
age_bounds = ((int(clin["age"].min()), int(clin["age"].max()))
              if "age" in clin and clin["age"].notna().any() else None)


def _seed_filters() -> None:
    """Widgets forget their state on other pages: seed them from the filters kept in the URL / session."""
    linked = CohortFilter.from_tokens(st.session_state.get("filters") or [], cohort.schema, clin.columns, age_bounds)
    for attr, wkey in FILTER_KEYS.items():
        st.session_state.setdefault(wkey, list(getattr(linked, attr)))
    if age_bounds is not None:
        st.session_state.setdefault("ce_age", tuple(linked.age) if linked.age is not None else age_bounds)


def _clear_filters() -> None:
    for wkey in FILTER_KEYS.values():
        st.session_state[wkey] = []
    if age_bounds is not None:
        st.session_state["ce_age"] = age_bounds
    st.session_state["filters"] = None


_seed_filters()
with st.expander("Filters (apply to every view)", expanded=False):
    c1, c2, c3, c4 = st.columns(4)
    age_rng = None
    if age_bounds is not None:
        age_sel = c1.slider("Age (years)", *age_bounds, key="ce_age")
        age_rng = None if tuple(age_sel) == age_bounds else tuple(age_sel)

    def levels(col):
        return list(cohort.schema[col].levels) if col in clin else []

    flt = CohortFilter(
        age=age_rng,
        sex=c1.multiselect("Sex", levels("sex"), key="ce_sex"),
        iss=c2.multiselect("ISS", levels("iss"), key="ce_iss"),
        riss=c2.multiselect("R-ISS", levels("riss"), key="ce_riss"),
        mprotein_heavy=c3.multiselect("M-protein isotype", levels("mprotein_heavy"), key="ce_heavy"),
        fish_positive=c3.multiselect("FISH positive for", [v for v in cohort.schema.names() if v.startswith("fish_")
                                                           and v in clin], format_func=cohort.schema.label,
                                     key="ce_fish"),
        require_modalities=c4.multiselect("Has modality", list(MODALITIES), key="ce_mod",
                                          format_func=lambda m: MODALITY_LABELS[m]),
    )
st.session_state["filters"] = flt.to_tokens() or None  # into the URL: a reload or a shared link keeps them
chips = flt.chips(cohort.schema)
if chips:
    chip_col, clear_col = st.columns([6, 1], vertical_alignment="center")
    chip_col.markdown(":material/filter_alt: " + " ".join(f":blue-badge[{c.replace(']', ')')}]" for c in chips))
    clear_col.button("Clear filters", key="ce_clear", on_click=_clear_filters, icon=":material/filter_alt_off:")
ids = cached.filtered_ids(str(ctx["cohort_dir"]), flt)
key = cached.ids_key(ids)
sub = clin.loc[ids]
cov = cohort.coverage().loc[ids]

m = st.columns(5)
m[0].metric("Patients", f"{len(sub):,}", help="after filters" if len(sub) != len(clin) else None)
m[1].metric("PD within 24 months", f"{sub['progressed'].mean():.1%}" if len(sub) else "—")
m[2].metric("With clinical data", f"{cov['clinical'].mean():.0%}" if len(sub) else "—")
m[3].metric("With marrow smear", f"{cov['marrow'].mean():.0%}" if len(sub) else "—")
m[4].metric("With IFE gel", f"{cov['electrophoresis'].mean():.0%}" if len(sub) else "—")
if len(sub) < 5:
    st.warning("Fewer than 5 patients match the filters; widen them to see summaries.")
    st.stop()

VIEWS = ["Table 1", "Distributions", "Missingness", "Time to progression", "Patient gallery", "Data quality"]
view = st.segmented_control("View", VIEWS, default=VIEWS[0], key="ce_view", label_visibility="collapsed") or VIEWS[0]
if view == "Table 1":
    st.caption("Baseline characteristics by outcome (tableone): mean (SD) or median [Q1,Q3] for continuous, "
               "n (%) for categorical; p-values from the appropriate test per variable.")
    if sub["progressed"].nunique() < 2:
        st.info("Both outcome groups are needed for Table 1; the filtered cohort has only one.")
    else:
        st.dataframe(cached.table_one(str(ctx["cohort_dir"]), key), hide_index=True, width="stretch", height=560)

elif view == "Distributions":
    feats = [v for v in cohort.schema.features(clin.columns) if clin[v.name].notna().any()]
    var_name = st.selectbox("Variable", [v.name for v in feats], format_func=cohort.schema.label, key="ce_var")
    var = cohort.schema[var_name]
    dist = cached.distribution(str(ctx["cohort_dir"]), key, var_name)
    st.altair_chart(charts.distribution_chart(dist, var.label, var.kind is Kind.numeric), width="stretch")

elif view == "Missingness":
    st.altair_chart(charts.missingness_chart(cached.missingness(str(ctx["cohort_dir"]), key)), width="stretch")

elif view == "Time to progression":
    if "months_to_event" not in clin or "event" not in clin:
        st.info("This cohort has no months_to_event/event columns, so no time-to-progression curves.")
    else:
        from dashboard.loaders import zoo_stamp

        def km_view(by: str, paired_with: tuple[str, ...] = ()) -> None:
            km = cached.kaplan_meier(str(ctx["cohort_dir"]), key, by, str(ctx["zoo_dir"]) if ctx["zoo"] else None,
                                     zoo_stamp(ctx["zoo_dir"]) if ctx["zoo"] else None, paired_with)
            p = "p —" if km.p_value is None else (f"p = {km.p_value:.2g}" if km.p_value >= 1e-4 else "p < 0.0001")
            st.altair_chart(charts.km_chart(km.curves, f"Progression-free by {KM_LABEL.get(by, by.replace('_', ' '))}"
                                                       f" · log-rank {p}"), width="stretch")
            st.caption("Groups: " + ", ".join(f"{g} (n={n})" for g, n in km.groups.items())
                       + "".join(f" · **{g}**: {n} patient{'s' if n != 1 else ''}, too few to draw"
                                 for g, n in km.not_drawn.items()))
            if not km.at_risk.empty:
                st.markdown("**Number at risk**")
                st.dataframe(km.at_risk, width="stretch")
                st.download_button("Download KM figure (SVG)", charts.to_svg(charts.for_export(
                    charts.km_chart(km.curves, ""), f"Progression-free by {KM_LABEL.get(by, by.replace('_', ' '))}",
                    f"log-rank {p} · cohort {ctx['cohort_name']}")), f"km_{by}.svg", "image/svg+xml",
                    key=f"ce_km_svg_{by}", icon=":material/download:")

        KM_LABEL = {"predicted_risk": "predicted risk", "r2iss": "R2-ISS", "imwg_hr": "IMS/IMWG risk"}
        # the zoo's predicted risk groups beside the staging clinicians use (R2-ISS, D'Agostino 2022)
        pair = (["predicted_risk"] if ctx["zoo"] is not None else []) + ["r2iss"]
        for col, by in zip(st.columns(len(pair)), pair):
            with col:
                km_view(by, tuple(pair))
        if ctx["zoo"] is not None:
            st.caption("Predicted risk groups from the soft-voting ensemble's out-of-sample probability (<0.25 low, "
                       "0.25–0.5 intermediate, ≥0.5 high): out-of-fold for training patients, hold-out for test "
                       "patients. R2-ISS from ISS, LDH, del(17p), t(4;14) and 1q gain; patients whose missing "
                       "inputs could change their group are left out — of both panels, so the two describe the "
                       "same patients.")
        options = [v for v in ("iss", "riss", "imwg_hr", "fish_1q21_gain", *HIGH_RISK_FISH, "sex", "mprotein_heavy",
                               "ldh", "age") if v in clin or v == "imwg_hr"]
        by = st.selectbox("Other grouping", options, key="ce_km_by",
                          format_func=lambda v: KM_LABEL.get(v) or cohort.schema.label(v))
        km_view(by)

elif view == "Data quality":
    report = ctx["report"]
    counts = report.counts()
    st.caption("What validation found when this cohort was read (python -m zoo validate shows the same). "
               "Implausible values were set to missing; values at an assay limit were replaced by the limit; "
               "patients without a usable 24-month outcome are excluded from training and evaluation.")
    if not counts:
        st.success("No warnings: every value was read as given.", icon=":material/check_circle:")
    else:
        cols = st.columns(min(4, len(counts)))
        for i, ((sev, kind), n) in enumerate(sorted(counts.items())):
            cols[i % len(cols)].metric(kind.capitalize(), f"{n:,}", help=f"{sev}s")
        table = report.table().rename(columns={
            "severity": "Severity", "kind": "Kind", "file": "File", "row": "Row", "patient_id": "Patient",
            "column": "Column", "value": "Value", "message": "What happened"})
        st.dataframe(table.fillna("—"), hide_index=True, width="stretch", height=420)
        from zoo.csvsafe import safe_csv_bytes

        st.download_button("Download findings (CSV)", safe_csv_bytes(report.table()), "validation_findings.csv",
                           "text/csv", key="ce_dq_csv", icon=":material/download:")

else:
    per_page = 12
    n_pages = max(1, int(np.ceil(len(ids) / per_page)))
    page = st.number_input("Page", 1, n_pages, 1, key="ce_gallery_page")
    show = list(ids[(page - 1) * per_page: page * per_page])
    cols = st.columns(6)
    for i, pid in enumerate(show):
        with cols[i % 6]:
            from dashboard.loaders import thumbnail

            paths = cohort.image_paths(pid, "marrow")[:1] + cohort.image_paths(pid, "electrophoresis")[:1]
            thumbs = [thumbnail(str(p), 120) for p in paths]
            thumbs = [t for t in thumbs if t is not None]
            if thumbs:
                st.image(thumbs, width=90)
            label = pid + (" · PD" if clin.loc[pid, "progressed"] == 1 else " · no PD")
            if st.button(label, key=f"ce_open_{pid}", width="stretch"):
                st.session_state["patient"] = pid
    sel = st.session_state.get("patient")
    if sel in clin.index:
        st.divider()
        patient_card.render(cohort, sel)
