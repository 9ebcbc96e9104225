"""Explainability: Grad-CAM on each image model, SHAP for clinical models, modality contributions."""
import streamlit as st

from dashboard import cached, charts, loaders, state, throttle
from dashboard.sidebar import need_cohort, need_zoo
from zoo.api import MAIN_ENSEMBLE
from zoo.explain.attention import reading_a_map, target_name, versus_random_networks
from zoo.explain.gradcam import CAM_METHODS
from zoo.explain.patient import joint_modality_contributions, modality_contributions
from zoo.explain.shap_values import beeswarm_frame, describe, global_importance, waterfall_frame

ctx = st.session_state["ctx"]
cohort = need_cohort(ctx)
zoo = need_zoo(ctx, "Explainability")
zp, stamp, cp = str(ctx["zoo_dir"]), loaders.zoo_stamp(ctx["zoo_dir"]), str(ctx["cohort_dir"])
metrics = loaders.metrics(zp, stamp)
st.title("Explainability")

ids = cohort.patient_ids
test_ids = set(zoo.split()["test"])
wk, kw = state.bound("patient", ids[0])
if st.session_state.get(wk) not in ids:
    st.session_state[wk] = st.session_state.get("patient") if st.session_state.get("patient") in ids else ids[0]
pid = st.selectbox("Patient", ids, key=wk, **kw,
                   format_func=lambda p: f"{p} · {'test' if p in test_ids else 'train'} · "
                                         f"{'PD' if cohort.clinical.loc[p, 'progressed'] == 1 else 'non-PD'}")

members = metrics["ensemble_members"]
image_models = [n for n in zoo.model_names if zoo.manifest["models"][n]["family"] in ("cnn", "cell")]
clinical_models = [n for n in zoo.model_names if zoo.manifest["models"][n]["modality"] == "clinical"]
label = {n: zoo.manifest["models"][n]["display"] for n in zoo.model_names}
tab_img, tab_clin, tab_mod, tab_seg = st.tabs(["Images · Grad-CAM", "Clinical · SHAP", "Modalities",
                                               "Marrow segmentation"])

with tab_img:
    c1, c2 = st.columns([1, 3])
    method = c1.radio("Method", CAM_METHODS, key="ex_cam_method",
                      format_func=lambda m: {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++"}[m])
    chosen = c2.multiselect("Image models", image_models, default=[m for m in members if m in image_models],
                            format_func=lambda n: label[n], key="ex_cam_models")
    for modality, title in (("marrow", "Bone-marrow smear"), ("electrophoresis", "IFE gel")):
        paths = cohort.image_paths(pid, modality)
        mods = [m for m in chosen if zoo.manifest["models"][m]["modality"] == modality]
        if not paths or not mods:
            continue
        st.markdown(f"**{title}**")
        k = 0
        if len(paths) > 1:
            k = st.radio("Image", range(len(paths)), horizontal=True, key=f"ex_img_{modality}",
                         format_func=lambda i: paths[i].name)
        cols = st.columns(len(mods) + 1)
        with st.spinner("Grad-CAM…"):
            results = {m: cached.cam(zp, stamp, m, str(paths[k]), method, cp) for m in mods}
        cols[0].image(results[mods[0]]["image"], caption="original (denoised)", width="stretch")
        for col, m in zip(cols[1:], mods):
            r = results[m]
            col.image(r["overlay"], caption=f"{label[m]} · P(PD) {r['probability']:.2f}", width="stretch")
            if r["on_target"] != r["on_target"]:  # NaN: an all-zero map has no share to report
                col.markdown("This map is all zero: the model found no evidence for PD in this image, so there is "
                             "no attention share to report.")
            else:
                col.markdown(f"**{r['on_target']:.0%}** of attention on "
                             f"{target_name(modality, r['target_source'])} "
                             f"(uniform map: {r['chance']:.0%})", help=f"Targets from {r['target_source']}. For a "
                             "lane model the uniform map covers the lanes only, since its map is zero between "
                             "lanes; for a cell-level model it covers its plasma-cell crops, with their weights.")
            if r.get("tiles") is not None:
                charts.tile_weights(col, r["tiles"], found=r.get("cells_found"))
        st.caption("Target layers: " + ", ".join(f"{label[m]} → `{results[m]['layer']}`" for m in mods)
                   + ". Each CAM runs on a private copy of the network.")
        if reading := reading_a_map(modality):
            st.caption(reading)
        versus = [f"{label[m]}: {v}" for m in mods if (v := versus_random_networks(metrics, m))]
        if versus:
            st.caption("Over the test patients (leaderboard, attention table) — " + "; ".join(versus) + ".")

with tab_clin:
    # the main ensemble's clinical part first: its waterfall ends at the probability the predictor shows
    main_late = zoo.manifest["ensembles"].get(MAIN_ENSEMBLE, {}).get("kind") == "late" and any(
        m in clinical_models for m in members)
    targets = ([MAIN_ENSEMBLE] if main_late else []) + clinical_models
    names = {**label, MAIN_ENSEMBLE: f"{zoo.manifest['ensembles'].get(MAIN_ENSEMBLE, {}).get('display', MAIN_ENSEMBLE)}"
                                     " — clinical part (the predictor's number)"}
    if st.session_state.get("ex_shap_model") not in targets:
        st.session_state.pop("ex_shap_model", None)
    target = st.selectbox("Explain", targets, format_func=lambda n: names[n], key="ex_shap_model")
    one = cached.shap_result(cached.shap_for(zp, stamp, cp, target, (pid,)))
    st.caption(describe(one, label))
    st.altair_chart(charts.waterfall_chart(waterfall_frame(one, 0), one.base_value, one.output,
                                           title=f"SHAP waterfall: {one.target_label}"), width="stretch")
    test_list = tuple(p for p in zoo.split()["test"] if p in cohort.clinical.index)
    if test_list and st.toggle(f"Cohort-wide SHAP over the {len(test_list)} test patients", key="ex_shap_global",
                               help="About 0.2 s per patient on two cores the first time, then cached."):
        allres = cached.shap_result(cached.shap_for(zp, stamp, cp, target, test_list))
        st.caption(f"{len(test_list)} test patients, {len(allres.background_ids)} background training patients and "
                   f"{allres.n_permutations} antithetic permutation(s) each (lighter than the waterfall's)"
                   + ("; image members' stored test predictions held fixed per patient." if allres.kind == "ensemble"
                      else "."))
        a, b = st.columns(2)
        a.altair_chart(charts.importance_chart(global_importance(allres).head(12), "mean_abs_shap",
                                               "Mean |SHAP| (test patients)", "mean |SHAP|"), width="stretch")
        b.altair_chart(charts.beeswarm_chart(beeswarm_frame(allres)), width="stretch")
    if target in clinical_models and st.toggle("Permutation importance (test set, drop in AUC)", key="ex_perm"):
        perm = cached.permutation(zp, stamp, cp, target)
        st.altair_chart(charts.importance_chart(perm.head(12), "importance", "Permutation importance",
                                                "AUC drop"), width="stretch")

with tab_mod:
    joint = [n for n in zoo.model_names if zoo.manifest["models"][n]["family"] == "joint"]
    ens_names = [e for e in zoo.ensemble_names] + joint
    ens = st.selectbox("Ensemble or joint fusion model", ens_names, index=ens_names.index(MAIN_ENSEMBLE),
                       format_func=lambda e: (zoo.manifest["ensembles"].get(e) or zoo.manifest["models"][e])["display"],
                       key="ex_mod_ens")
    from zoo.cohort.images import read_image

    images = {m: [read_image(p) for p in cohort.image_paths(pid, m)] for m in ("marrow", "electrophoresis")}
    keys = {m: [str(p) for p in cohort.image_paths(pid, m)] for m in images}
    values = {f: cohort.clinical.loc[pid].get(f) for f in zoo.features}
    if ens in joint:  # the network itself, with modalities marked as not collected
        with throttle.model_work("Explaining by modality…"):
            phi = joint_modality_contributions(zoo, ens, values, {m: v for m, v in images.items() if v})
    else:  # an ensemble, from its members' predictions for this patient
        with throttle.model_work("Predicting…"):
            pred = zoo.predict_patient(values, {m: v for m, v in images.items() if v},
                                       {m: k for m, k in keys.items() if k})
        emb = None
        if zoo.manifest["ensembles"][ens]["kind"] != "late":
            emb = {}
            for mod, mname in zoo.manifest["ensembles"][ens]["embedding_models"].items():
                e = zoo.image_embedding(mname, images.get(mod, []), keys.get(mod, []))
                if e is not None:
                    emb[mod] = e[None, :]
        phi = modality_contributions(zoo, pred.model_probs, values, ens, emb)
    st.altair_chart(charts.modality_chart(phi), width="stretch")
    st.caption("Exact Shapley values over {clinical, marrow, IFE}: every ensemble predicts from any subset of "
               "modalities, and the joint fusion network was trained with modality dropout to do the same, so all 8 "
               "coalitions are evaluated; with none the value is the training prevalence.")

with tab_seg:
    import numpy as np

    paths = cohort.image_paths(pid, "marrow")
    if not paths:
        st.info("This patient has no marrow smear.")
    else:
        k = st.radio("Smear", range(len(paths)), horizontal=True, key="ex_seg_img", format_func=lambda i: paths[i].name)
        seg = cached.segmentation(cp, str(paths[k]))
        img, lab = seg["image"].copy(), seg["labels"]
        pc = np.isin(lab, seg["plasma_ids"])
        other = (seg["census_labels"] > 0) & ~pc
        over = img.astype(float)
        over[pc] = 0.45 * over[pc] + 0.55 * np.array([220, 40, 60])
        over[other] = 0.6 * over[other] + 0.4 * np.array([40, 110, 220])
        a, b = st.columns(2)
        a.image(img, caption="smear", width="stretch")
        b.image(over.astype(np.uint8), caption="plasma cells (red), other nucleated cells (blue)", width="stretch")
        frac = seg["census_plasma"] / max(seg["census_cells"], 1)
        rec = cohort.clinical.loc[pid].get("bmpc")
        m1, m2, m3 = st.columns(3)
        m1.metric("Nucleated cells", seg["census_cells"])
        m2.metric("Plasma cells", seg["census_plasma"])
        m3.metric("Plasma-cell fraction (this field)", f"{frac:.0%}",
                  delta=None if rec is None or np.isnan(rec) else f"{frac * 100 - rec:+.0f} pts vs recorded {rec:.0f}%",
                  delta_color="off")
        st.caption(f"Segmenter: **{seg['segmenter']}** (stain deconvolution + threshold + watershed) — no Segment "
                   "Anything checkpoint is configured, so the classical fallback produced these masks"
                   + ("; the overlay's plasma cells are prompted by the annotated centre points." if seg["prompted"]
                      else "; plasma cells are called by colour and size.")
                   + " Run `python -m zoo segment --sam-checkpoint PATH` to use SAM.")
