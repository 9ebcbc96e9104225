"""Failure cases: where the ensemble is wrong, why it might be, and what reviewers think."""
import streamlit as st

from dashboard import cached, charts, loaders, patient_card, review_panel
from dashboard.sidebar import need_cohort, need_zoo
from zoo.explain.shap_values import waterfall_frame
from zoo.failures import failure_table, model_votes

ctx = st.session_state["ctx"]
cohort = need_cohort(ctx)
zoo = need_zoo(ctx, "Failure-case review")
zp, stamp, cp = str(ctx["zoo_dir"]), loaders.zoo_stamp(ctx["zoo_dir"]), str(ctx["cohort_dir"])
metrics = loaders.metrics(zp, stamp)
store = review_panel.store_for(ctx["zoo_name"])
st.title("Failure cases")
st.caption("Hold-out patients the soft-voting ensemble classifies wrongly at its out-of-fold threshold.")

has_ext = any("external" in r for r in metrics["models"].values())
c1, c2, c3, c4, c5 = st.columns(5)
split = c1.radio("Patients", ["test", "external"] if has_ext else ["test"], key="fc_split",
                 format_func=lambda s: "internal test" if s == "test" else "external cohort")
kinds = c2.multiselect("Error type", ["FP", "FN"], default=["FP", "FN"], key="fc_kind")
conf = c3.slider("Min. confidence", 0.0, 1.0, 0.0, 0.05, key="fc_conf",
                 help="0 = at the threshold, 1 = as far from it as possible")
dis = c4.slider("Min. modality disagreement", 0.0, 1.0, 0.0, 0.05, key="fc_dis",
                help="Spread of the per-modality member probabilities")
table = failure_table(zoo, split)
has_att = "attention_vs_chance" in table
off = c5.checkbox("Attention mostly off target", key="fc_off", disabled=not has_att,
                  help="The image members' Grad-CAMs put no more energy on plasma cells / M-protein bands than a "
                       "uniform map would." + ("" if has_att else " (not computed for this split)"))
errors = table[table["error"].isin(kinds) & (table["confidence"] >= conf) & (table["disagreement"] >= dis)]
if off and has_att:
    errors = errors[errors["attention_vs_chance"] < 1.0]
n_err = int((table["error"] != "correct").sum())
st.markdown(f"**{n_err}** errors among **{len(table)}** {split} patients "
            f"({(table['error'] == 'FP').sum()} FP, {(table['error'] == 'FN').sum()} FN); **{len(errors)}** shown.")
if errors.empty:
    st.info("No cases match the filters.")
    st.stop()
show = errors.reset_index()[["patient_id", "error", "y", "prob", "confidence", "disagreement"] +
                            [c for c in errors.columns if c.startswith("p_") or c.startswith("attention")]]
ev = st.dataframe(show, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
                  key="fc_table", column_config={c: st.column_config.NumberColumn(format="%.2f") for c in show.columns
                                                 if c not in ("patient_id", "error", "y")})
rows = ev.selection.rows if ev and ev.selection else []
pid = show.iloc[rows[0]]["patient_id"] if rows else show.iloc[0]["patient_id"]
if pid in cohort.clinical.index:
    st.session_state["patient"] = pid
st.divider()
case = table.loc[pid]
st.subheader(f"{pid}: {case['error']} · P(PD) {case['prob']:.2f} vs threshold {case['threshold']:.2f} · "
             f"recorded {'PD' if case['y'] == 1 else 'non-PD'}")

in_cohort = pid in cohort.clinical.index
left, right = st.columns([3, 2])
with left:
    members = metrics["ensemble_members"]
    label = {n: zoo.manifest["models"][n]["display"] for n in zoo.model_names}
    if in_cohort:
        for modality, title in (("marrow", "Bone-marrow smear"), ("electrophoresis", "IFE gel")):
            paths = cohort.image_paths(pid, modality)
            mods = [m for m in members if zoo.manifest["models"][m]["modality"] == modality
                    and zoo.manifest["models"][m]["family"] == "cnn"]  # cell-level members see crops, not fields
            if not paths or not mods:
                continue
            cols = st.columns(len(mods) + 1)
            r0 = cached.cam(zp, stamp, mods[0], str(paths[0]), "gradcam", cp)
            cols[0].image(r0["image"], caption=f"{title}: {paths[0].name}", width="stretch")
            for col, m in zip(cols[1:], mods):
                r = cached.cam(zp, stamp, m, str(paths[0]), "gradcam", cp)
                col.image(r["overlay"], caption=f"{label[m]} · P {r['probability']:.2f} · "
                          f"{r['on_target']:.0%} on target (uniform {r['chance']:.0%})", width="stretch")
        clin_member = next((m for m in members if zoo.manifest["models"][m]["modality"] == "clinical"), None)
        if clin_member:
            one = cached.shap_result(cached.shap_for(zp, stamp, cp, clin_member, (pid,)))
            st.altair_chart(charts.waterfall_chart(waterfall_frame(one, 0, top=8), one.base_value, one.output,
                                                   title=f"SHAP waterfall: {one.target_label} alone (calibrated)"),
                            width="stretch")
    else:
        st.info("This patient belongs to the external cohort; load that cohort in the sidebar to see its images "
                "and clinical values.")
with right:
    votes = model_votes(zoo, pid, split)
    votes["model"] = votes["model"].map(lambda n: label.get(n) or zoo.manifest["ensembles"].get(n, {}).get("display", n))
    st.markdown("**Every model's vote** (each at its own OOF threshold)")
    st.dataframe(votes[["model", "modality", "prob", "vote"]], hide_index=True, width="stretch", height=360,
                 column_config={"prob": st.column_config.ProgressColumn("P(PD)", format="%.2f", min_value=0,
                                                                        max_value=1)})
    review_panel.render(store, pid, split)
if in_cohort:
    with st.expander("Clinical values"):
        st.dataframe(patient_card.clinical_table(cohort, pid), hide_index=True, width="stretch")
review_panel.export_button(store)
