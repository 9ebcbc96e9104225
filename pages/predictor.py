"""Patient predictor: a schema-generated form, optional uploads, every model's probability, what-if."""
from contextlib import nullcontext

import pandas as pd
import streamlit as st

from dashboard import charts, forms, patient_card, report_panels, state, throttle
from dashboard.datasets import redact
from dashboard.sidebar import need_cohort, need_zoo
from dashboard.auth import md_text
from zoo.api import risk_band
from zoo.cohort.images import read_image, read_uploads, uploads_pending
from zoo.errors import ImageReadError
from zoo.models.catalog import STAGING_MODELS
from zoo.schema import Kind
from zoo.schema.derived import STAGING_SYSTEMS
from zoo.whatif import risk_curve, whatif

STAGING_MODEL_OF = {system: name for name, system in STAGING_MODELS.items()}
ctx = st.session_state["ctx"]
cohort = need_cohort(ctx)
zoo = need_zoo(ctx, "The predictor")
schema, feats = cohort.schema, [f for f in zoo.features if f in cohort.schema]
st.title("Patient predictor")
st.caption("Estimated probability of progression within 24 months. Research use only; not for treatment decisions.")

BLANK = "— blank patient —"
ids = [BLANK, *cohort.patient_ids]
if st.session_state.get("patient") not in cohort.patient_ids:
    st.session_state["patient"] = None
wk, kw = state.bound("patient", None)
if st.session_state.get(wk) not in ids:
    st.session_state[wk] = BLANK
pid = st.selectbox("Start from a cohort patient (pre-fills everything) or a blank form", ids, key=wk, **kw)
pid = None if pid == BLANK else pid
base_values = {} if pid is None else {f: cohort.clinical.loc[pid].get(f) for f in feats}

form_col, result_col = st.columns([3, 2], gap="large")
with form_col:
    units = forms.chosen_units(schema, feats, cohort.units)
    values, problems = forms.clinical_entry(schema, feats, base_values, prefix=f"pp_{pid or 'blank'}", units=units)
    u1, u2 = st.columns(2)
    up_marrow = u1.file_uploader("Bone-marrow smear images (optional)", type=["png", "jpg", "jpeg", "tif", "tiff"],
                                 accept_multiple_files=True, key="pp_up_marrow",
                                 help="Replace the cohort patient's smears, or add smears for a blank patient.")
    up_ife = u2.file_uploader("IFE gel image (optional)", type=["png", "jpg", "jpeg", "tif", "tiff"],
                              accept_multiple_files=True, key="pp_up_ife")
    use_cohort_images = st.checkbox("Use the cohort patient's images when nothing is uploaded", value=pid is not None,
                                    key=f"pp_use_cohort_imgs_{pid}", disabled=pid is None)

images, keys, upload_errors = {}, {}, []
decoded = {}
# new uploads are decoded inside a compute slot, like model work; a rerun with the same files decodes nothing
# asked per modality, as read_uploads decodes them: each modality may hold up to MAX_UPLOAD_FILES files
with (throttle.model_work("Reading the images…") if any(uploads_pending(u or []) for u in (up_marrow, up_ife))
      else nullcontext()):
    for modality, ups in (("marrow", up_marrow), ("electrophoresis", up_ife)):
        decoded[modality] = read_uploads(ups or [])  # at most MAX_UPLOAD_FILES files, each decoded once per content
for modality in ("marrow", "electrophoresis"):
    arrs, errs = decoded[modality]
    ks, upload_errors = [None] * len(arrs), upload_errors + errs
    if not arrs and use_cohort_images and pid is not None:
        for p in cohort.image_paths(pid, modality):
            try:
                arrs.append(read_image(p))
                ks.append(f"{p}")
            except ImageReadError as e:
                upload_errors.append(str(e))
    if arrs:
        images[modality] = arrs
        if all(k is not None for k in ks):
            keys[modality] = ks

# what the shown result was computed from: any change to it makes the result out of date
inputs_key = repr((pid, sorted(values.items()), sorted(problems), [f.file_id for f in (up_marrow or [])],
                   [f.file_id for f in (up_ife or [])], use_cohort_images))
last = st.session_state.get("pp_result")
with result_col:
    go = st.button("Predict", type="primary", key="pp_predict", width="stretch")
    for e in upload_errors:
        st.error(f"Image not used — {redact(e, ctx['catalog'])}")
    if go and problems:
        st.session_state["pp_result"] = last = None
        st.error("Not predicted: fix " + ", ".join(schema[n].display for n in problems)
                 + " (see the message under the field) or clear it.", icon=":material/block:")
    elif go:
        with throttle.model_work("Running the models…"):
            pred = zoo.predict_patient(values, images, keys or None)
        st.session_state["pp_result"] = last = {"key": inputs_key, "pred": pred, "values": values, "patient": pid}
    current = last is not None and last["key"] == inputs_key
    if last is None:
        if not (go and problems):
            prev = float(cohort.clinical["progressed"].mean()) if "progressed" in cohort.clinical else None
            st.info("Enter what you know and press **Predict**. Empty fields are treated as unknown."
                    + (f"  \nFor reference, the cohort prevalence (not a prediction): **{prev:.0%}** progressed "
                       "within 24 months." if prev is not None else ""), icon=":material/info:")
    elif not current:
        st.warning("**Out of date**: the inputs changed since the last prediction. Press **Predict** to update."
                   + (" Fix the fields marked in red first." if problems else ""), icon=":material/update:")
    else:
        patient_card.prediction_summary(last["pred"], zoo, schema, STAGING_MODEL_OF)
        for f in forms.out_of_observed(schema, values, cohort.clinical):
            st.warning(f, icon=":material/warning:")
        if pid is not None and "progressed" in cohort.clinical:
            st.caption(f"Recorded outcome for {md_text(pid)}: "
                       f"{'PD' if cohort.clinical.loc[pid, 'progressed'] == 1 else 'no PD'} within 24 months"
                       + (" (a training patient: its in-sample prediction is optimistic)"
                          if pid in zoo.split()["train"] else " (hold-out test patient)"))

pred = last["pred"] if last is not None and last["key"] == inputs_key else None
if pred is not None:
    st.session_state["pp_last"] = {"values": values, "image_probs": pred.model_probs, "patient": pid}
    with st.expander("Every model and ensemble", expanded=False):
        rows = [{"Model": zoo.manifest["models"][n]["display"], "Modality": zoo.manifest["models"][n]["modality"],
                 "P(PD)": p} for n, p in pred.model_probs.items()]
        rows += [{"Model": zoo.manifest["ensembles"][n]["display"], "Modality": "ensemble (" +
                  "+".join(pred.modalities_used[n]) + ")", "P(PD)": p} for n, p in pred.ensemble_probs.items()]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                     column_config={"P(PD)": st.column_config.ProgressColumn(format="%.3f", min_value=0,
                                                                             max_value=1)})
    report_panels.patient_report_button(ctx, zoo, values, images, pred, inputs_key)


@st.fragment
def what_if_panel():
    st.subheader("What if…")
    numeric = [f for f in feats if schema[f].kind is Kind.numeric and not schema[f].derived]
    others = [f for f in feats if schema[f].kind is not Kind.numeric and not schema[f].derived]
    var_name = st.selectbox("Change one baseline value", numeric + others, format_func=schema.label, key="pp_wi_var")
    var = schema[var_name]
    cur = values.get(var_name)
    tag = f"{var_name}_{abs(hash(inputs_key)) % 10**8}"  # a new prediction starts from the patient's own value
    if var.kind is Kind.numeric:
        unit = units.get(var_name, var.unit)
        lo, hi = sorted(var.from_canonical(x, unit) if unit else x for x in var.valid_range)
        start = float(cur) if cur is not None else float(cohort.clinical[var_name].median())
        start = round(min(max(var.from_canonical(start, unit) if unit else start, lo), hi), 4)
        ks, kn = f"pp_wi_s_{tag}", f"pp_wi_n_{tag}"
        st.session_state.setdefault(ks, start)
        st.session_state.setdefault(kn, start)

        def _copy(src: str, dst: str) -> None:
            st.session_state[dst] = min(max(float(st.session_state[src]), lo), hi)

        sc, nc = st.columns([3, 1])
        sc.slider(f"New {var.display} ({unit})" + (" — patient's value" if cur is not None else " — cohort median"),
                  float(lo), float(hi), key=ks, on_change=_copy, args=(ks, kn))
        nc.number_input(f"{var.display} ({unit})", min_value=float(lo), max_value=float(hi), key=kn, format="%g",
                        step=None, on_change=_copy, args=(kn, ks))
        shown = float(st.session_state[kn])
        new = var.to_canonical(shown, unit) if unit else shown
    else:
        opts = list(var.levels)
        new = st.select_slider(f"New {var.label}", opts, value=cur if cur in opts else opts[0],
                               key=f"pp_wi_val_{tag}")
        new = float(new) if var.kind is Kind.binary else new
        shown, unit = new, None
    res = whatif(zoo, values, pred.model_probs, var_name, new)
    moved = round(res["delta"] * 100, 1) != 0  # a grey "+0.0" without an arrow, not a red rise
    a, b, c = st.columns(3)
    a.metric(f"P(PD) with {var.display} = {shown:g} {unit}" if unit else f"P(PD) with {var.display} = {shown}",
             f"{res['after']:.1%}", f"{res['delta'] * 100:+.1f} points",
             delta_color="inverse" if moved else "off", delta_arrow="auto" if moved else "off",
             delta_description="vs the current value")
    b.metric("Risk band", risk_band(res["after"]).capitalize())
    before_st, after_st = zoo.patient_stages(values), zoo.patient_stages({**values, var_name: new})
    c.markdown("**Derived stages**  \n" + "  \n".join(
        f"{s.display}: {after_st.get(k) or '—'}" + (f" (was {before_st.get(k) or '—'})"
                                                   if after_st.get(k) != before_st.get(k) else "")
        for k, s in STAGING_SYSTEMS.items()))
    flag = forms.out_of_observed(schema, {var_name: new}, cohort.clinical) if var.kind is Kind.numeric else []
    for f in flag:
        st.warning(f, icon=":material/warning:")
    if var.kind is Kind.numeric:
        grid = forms.value_grid(var, observed=cohort.clinical[var_name])
        curve = risk_curve(zoo, values, pred.model_probs, var_name, grid)
        obs = cohort.clinical[var_name].dropna()
        st.altair_chart(charts.risk_curve_chart(curve, var.label, float(new),
                                                (float(obs.min()), float(obs.max())) if len(obs) else None),
                        width="stretch")
    st.caption("Image-model outputs are held fixed (computed once per image); only the ensemble's clinical members "
               "re-run. The stages are re-derived from the changed value. The curve is in canonical units.")


if pred is not None:
    what_if_panel()

with st.expander("Score every patient of this cohort (CSV)", icon=":material/table_view:"):
    st.caption("One row per patient: every model's and ensemble's probability, the members and modalities used, "
               "and warnings — the same table as `python -m zoo predict --cohort DIR --out FILE.csv`.")
    if st.button("Score the cohort", key="pp_batch_go"):
        from dashboard.cached import batch_predictions_csv
        from dashboard.loaders import zoo_stamp

        st.session_state["pp_batch_csv"] = batch_predictions_csv(str(ctx["cohort_dir"]), str(ctx["zoo_dir"]),
                                                                 zoo_stamp(ctx["zoo_dir"]))
    if st.session_state.get("pp_batch_csv"):
        st.download_button("Download predictions (CSV)", st.session_state["pp_batch_csv"], "predictions.csv",
                           "text/csv", key="pp_batch_csv_dl", icon=":material/download:")
