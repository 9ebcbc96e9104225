"""Failure cases: where the ensemble is wrong, why it might be, and what reviewers think.

Split, filters and the open case live in the URL (dashboard/state.py), so a reload or a shared link
returns to the same patient. External-cohort cases open with that cohort's images when the server
offers it (matched by content fingerprint, never by a path from the browser).
"""
import streamlit as st

from dashboard import cached, charts, loaders, patient_card, review_panel, state
from dashboard.sidebar import need_cohort, need_zoo
from dashboard.auth import md_text
from zoo.explain.attention import reading_a_map, target_name
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
splits = ["test", "external"] if has_ext else ["test"]
c1, c2, c3, c4, c5 = st.columns(5)
wk, kw = state.bound("split", "test")
if st.session_state.get(wk) not in splits:
    st.session_state[wk] = "test"
split = c1.radio("Patients", splits, key=wk, format_func=lambda s: "internal test" if s == "test" else
                 "external cohort", **kw)
wk, kw = state.bound("errors", list(state.ERROR_KINDS))
kinds = c2.multiselect("Error type", list(state.ERROR_KINDS), key=wk, **kw,
                       help="FP: predicted PD, no PD recorded. FN: PD recorded, not predicted.")
wk, kw = state.bound("conf", 0.0)
conf = c3.slider("Min. confidence", 0.0, 1.0, step=0.05, key=wk, **kw,
                 help="0 = at the threshold, 1 = as far from it as possible")
wk, kw = state.bound("dis", 0.0)
dis = c4.slider("Min. modality disagreement", 0.0, 1.0, step=0.05, key=wk, **kw,
                help="Spread of the per-modality member probabilities")
table = failure_table(zoo, split)
has_att = "attention_vs_chance" in table
off = c5.checkbox("Attention mostly off target", key="fc_off", disabled=not has_att,
                  help="The image members' Grad-CAMs put no more heat on their target (plasma cells; the gel's "
                       "polyclonal region, or its bands where only bands are annotated) than a uniform map would." + ("" if has_att else " (not computed for this split)"))
chips = [f"Error: {' + '.join(kinds) or 'none'}"] + ([f"Confidence ≥ {conf:.2f}"] if conf else []) \
    + ([f"Disagreement ≥ {dis:.2f}"] if dis else []) + (["Attention off target"] if off and has_att else [])
st.pills("Active filters", chips, key="fc_chips", disabled=True)
errors = table[table["error"].isin(kinds) & (table["confidence"] >= conf) & (table["disagreement"] >= dis)]
if off and has_att:
    errors = errors[errors["attention_vs_chance"] < 1.0]
n_err = int((table["error"] != "correct").sum())
st.markdown(f"**{n_err}** errors among **{len(table)}** {split} patients "
            f"({(table['error'] == 'FP').sum()} FP, {(table['error'] == 'FN').sum()} FN); **{len(errors)}** shown.")
if errors.empty:
    st.info("No cases match the filters.")
    st.stop()

HEADERS = {"patient_id": "Patient", "error": "Error", "y": "Recorded", "prob": "Ensemble P(PD)",
           "confidence": "Confidence", "disagreement": "Modality disagreement",
           "p_clinical": "Clinical members P(PD)", "p_marrow": "Marrow members P(PD)",
           "p_electrophoresis": "IFE members P(PD)", "attention_on_target": "Heat on target",
           "attention_vs_chance": "Heat vs uniform map (×)"}
show = errors.reset_index()[[c for c in HEADERS if c in errors.reset_index()]].copy()
show["y"] = show["y"].map({1: "PD", 0: "non-PD"})
show = show.rename(columns=HEADERS)
num = [c for c in show.columns if c not in ("Patient", "Error", "Recorded")]
st.dataframe(show.style.format({c: "{:.2f}" for c in num}, na_rep="—"), hide_index=True, width="stretch",
             height=min(38 + 35 * len(show), 300), key="fc_table")

ids = list(errors.index)
wk, kw = state.bound("patient", ids[0])
if st.session_state.get(wk) not in ids:
    st.session_state[wk] = st.session_state.get("patient") if st.session_state.get("patient") in ids else ids[0]
    st.session_state["patient"] = st.session_state[wk]
pid = st.selectbox("Open case", ids, key=wk, **kw,
                   format_func=lambda p: f"{p} · {errors.loc[p, 'error']} · P(PD) {errors.loc[p, 'prob']:.2f}")
st.session_state["patient"] = pid  # the open case goes into the link, so a reload returns to it
st.divider()
case = table.loc[pid]
st.subheader(f"{md_text(pid)}: {case['error']} · P(PD) {case['prob']:.2f} vs threshold {case['threshold']:.2f} · "
             f"recorded {'PD' if case['y'] == 1 else 'non-PD'}")

source, src_root = cohort, cp
if split == "external":
    ext_name, ext = loaders.cohort_with_fingerprint(ctx["catalog"], (zoo.manifest.get("external") or {}).get(
        "fingerprint"))
    source, src_root = (ext, str(ctx["catalog"].cohort_path(ext_name))) if ext is not None else (None, None)
in_cohort = source is not None and pid in source.clinical.index
left, right = st.columns([3, 2])
with left:
    members = metrics["ensemble_members"]
    label = {n: zoo.manifest["models"][n]["display"] for n in zoo.model_names}
    if in_cohort:
        shown_cam = False
        for modality, title in (("marrow", "Bone-marrow smear"), ("electrophoresis", "IFE gel")):
            paths = source.image_paths(pid, modality)
            mods = [m for m in members if zoo.manifest["models"][m]["modality"] == modality
                    and zoo.manifest["models"][m]["family"] in ("cnn", "cell")]  # cell maps: stitched crops
            if not paths:
                continue
            if not mods:  # the ensemble's members for this modality see cell crops or nothing: show the images
                cols = st.columns(min(len(paths), 4))
                for col, path in zip(cols, paths):
                    img = loaders.thumbnail(str(path), 320)
                    if img is None:
                        col.error(f"{path.name}: unreadable image")
                    else:
                        col.image(img, caption=f"{title}: {path.name}", width="stretch")
                continue
            cols = st.columns(len(mods) + 1)
            r0 = cached.cam(zp, stamp, mods[0], str(paths[0]), "gradcam", src_root)
            cols[0].image(r0["image"], caption=f"{title}: {paths[0].name}", width="stretch")
            target = target_name(modality, r0.get("target_source"))
            for col, m in zip(cols[1:], mods):
                r = cached.cam(zp, stamp, m, str(paths[0]), "gradcam", src_root)
                col.image(r["overlay"], caption=f"{label[m]} · P(PD) {r['probability']:.2f}", width="stretch")
                col.caption(f"{r['on_target']:.0%} of the heat falls on {target}; a map that ignored them would "
                            f"put {r['chance']:.0%} there." if r["on_target"] == r["on_target"] else
                            "This map is all zero: the model found no evidence for PD in this image.")
            if reading := reading_a_map(modality):
                st.caption(reading)
            shown_cam = True
        if shown_cam:
            st.image(charts.cam_colour_scale(), caption="Grad-CAM colour scale: blue = no contribution to the PD "
                     "score, red = the strongest contribution in this image (scaled per image).", width=360)
        clin_member = next((m for m in members if zoo.manifest["models"][m]["modality"] == "clinical"), None)
        if clin_member and split == "external":
            st.caption("SHAP waterfalls are drawn for internal test patients; this external patient's clinical "
                       "values are under 'Clinical values' below.")
        elif clin_member:
            one = cached.shap_result(cached.shap_for(zp, stamp, cp, clin_member, (pid,)))
            st.altair_chart(charts.waterfall_chart(waterfall_frame(one, 0, top=8), one.base_value, one.output,
                                                   title=f"SHAP waterfall: {one.target_label} alone (calibrated)"),
                            width="stretch")
    elif split == "external":
        st.info("This zoo's external cohort is not offered by this server, so its images and values cannot be "
                "shown. Ask the administrator to list it in the dataset catalog (docs/DEPLOY.md).")
with right:
    votes = model_votes(zoo, pid, split)
    votes["model"] = votes["model"].map(lambda n: label.get(n) or zoo.manifest["ensembles"].get(n, {}).get("display", n))
    st.markdown("**Every model's vote** (each at its own OOF threshold)")
    st.dataframe(votes[["model", "modality", "prob", "vote"]].rename(
        columns={"model": "Model", "modality": "Modality", "vote": "Vote"}), hide_index=True, width="stretch",
        height=360, column_config={"prob": st.column_config.ProgressColumn("P(PD)", format="%.2f", min_value=0,
                                                                           max_value=1)})
    review_panel.render(store, pid, split)
if in_cohort:
    with st.expander("Clinical values"):
        st.dataframe(patient_card.clinical_table(source, pid), hide_index=True, width="stretch")
review_panel.export_button(store)
