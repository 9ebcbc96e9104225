"""Patient predictor: a schema-generated form, optional uploads, every model's probability, what-if."""
import pandas as pd
import streamlit as st

from dashboard import charts, forms, state
from dashboard.datasets import redact
from dashboard.sidebar import need_cohort, need_zoo
from zoo.api import MAIN_ENSEMBLE, risk_band
from zoo.cohort.images import read_image, read_uploads
from zoo.errors import ImageReadError
from zoo.models.catalog import STAGING_MODELS
from zoo.schema.derived import STAGING_SYSTEMS
from zoo.scoring.inputs import validate_values
from zoo.schema import Kind
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

with st.form("pp_form"):
    raw = forms.clinical_form(schema, feats, base_values, prefix=f"pp_{pid or 'blank'}")
    u1, u2 = st.columns(2)
    up_marrow = u1.file_uploader("Bone-marrow smear images (optional)", type=["png", "jpg", "jpeg", "tif", "tiff"],
                                 accept_multiple_files=True, key="pp_up_marrow",
                                 help="Replace the cohort patient's smears, or add smears for a blank patient.")
    up_ife = u2.file_uploader("IFE gel image (optional)", type=["png", "jpg", "jpeg", "tif", "tiff"],
                              accept_multiple_files=True, key="pp_up_ife")
    use_cohort_images = st.checkbox("Use the cohort patient's images when nothing is uploaded", value=pid is not None,
                                    key=f"pp_use_cohort_imgs_{pid}", disabled=pid is None)
    submitted = st.form_submit_button("Predict", type="primary")

values, problems = validate_values({k: v for k, v in raw.items() if v is not None}, schema)
for p in problems:
    st.error(p)

images, keys, upload_errors = {}, {}, []
for modality, ups in (("marrow", up_marrow), ("electrophoresis", up_ife)):
    arrs, errs = read_uploads(ups or [])  # at most MAX_UPLOAD_FILES files, each decoded once per content
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
for e in upload_errors:
    st.error(f"Image not used — {redact(e, ctx['catalog'])}")

if problems:
    st.warning("Fix the values above; the prediction uses only valid inputs.")
with st.spinner("Running the models…"):
    pred = zoo.predict_patient(values, images, keys or None)
st.session_state["pp_last"] = {"values": values, "image_probs": pred.model_probs, "patient": pid}

prob = pred.probability
band = pred.band
c1, c2, c3 = st.columns([1.2, 1, 2])
c1.metric("Ensemble P(PD within 24 months)", f"{prob:.1%}", help="Soft voting of the two best models per modality "
          "(chosen on out-of-fold AUC), over the modalities available for this patient.")
c2.metric("Risk band", band.capitalize(), help="low < 25 % ≤ intermediate < 50 % ≤ high")
c3.markdown("**Modalities used:** " + (", ".join(pred.modalities_used[MAIN_ENSEMBLE]) or "none (prevalence)")
            + "  \n**Members used:** " + ", ".join(pred.members_used[MAIN_ENSEMBLE]))
# the patient's staging beside the model (derived by zoo from the values above; risk = the stage's training PD rate)
stage_cols = st.columns(len(STAGING_SYSTEMS))
for col, (key, system) in zip(stage_cols, STAGING_SYSTEMS.items()):
    stage, risk = pred.stages.get(key), pred.model_probs.get(STAGING_MODEL_OF.get(key))
    col.metric(system.display, stage or "—",
               help=(f"{system.citation}. " + (f"Training PD rate of this stage (recalibrated): {risk:.0%}."
                                              if risk is not None else "No staging risk for this patient."))
               if stage else f"{system.citation}. Not decided: an input that could change it is missing.")
flags = forms.out_of_observed(schema, values, cohort.clinical)
for f in flags:
    st.warning(f, icon=":material/warning:")
if pid is not None and "progressed" in cohort.clinical:
    st.caption(f"Recorded outcome for {pid}: {'PD' if cohort.clinical.loc[pid, 'progressed'] == 1 else 'no PD'} "
               "within 24 months" + (" (a training patient: its in-sample prediction is optimistic)"
                                     if pid in zoo.split()["train"] else " (hold-out test patient)"))

with st.expander("Every model and ensemble", expanded=False):
    rows = [{"Model": zoo.manifest["models"][n]["display"], "Modality": zoo.manifest["models"][n]["modality"],
             "P(PD)": p} for n, p in pred.model_probs.items()]
    rows += [{"Model": zoo.manifest["ensembles"][n]["display"], "Modality": "ensemble (" +
              "+".join(pred.modalities_used[n]) + ")", "P(PD)": p} for n, p in pred.ensemble_probs.items()]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                 column_config={"P(PD)": st.column_config.ProgressColumn(format="%.3f", min_value=0, max_value=1)})


@st.fragment
def what_if_panel():
    st.subheader("What if…")
    numeric = [f for f in feats if schema[f].kind is Kind.numeric and not schema[f].derived]
    others = [f for f in feats if schema[f].kind is not Kind.numeric and not schema[f].derived]
    var_name = st.selectbox("Change one baseline value", numeric + others, format_func=schema.label, key="pp_wi_var")
    var = schema[var_name]
    cur = values.get(var_name)
    if var.kind is Kind.numeric:
        lo, hi = var.valid_range
        start = float(cur) if cur is not None else float(cohort.clinical[var_name].median())
        new = st.slider(f"New {var.label}", float(lo), float(hi), start, key=f"pp_wi_val_{var_name}")
    else:
        opts = list(var.levels)
        new = st.select_slider(f"New {var.label}", opts, value=cur if cur in opts else opts[0],
                               key=f"pp_wi_val_{var_name}")
        new = float(new) if var.kind is Kind.binary else new
    res = whatif(zoo, values, pred.model_probs, var_name, new)
    moved = round(res["delta"] * 100, 1) != 0  # a grey "+0.0" without an arrow, not a red rise
    a, b = st.columns(2)
    a.metric(f"P(PD) with {var.display} = {new:g}" if isinstance(new, float) else f"P(PD) with {var.display} = {new}",
             f"{res['after']:.1%}", f"{res['delta'] * 100:+.1f} points",
             delta_color="inverse" if moved else "off", delta_arrow="auto" if moved else "off",
             delta_description="vs the current value")
    b.metric("Risk band", risk_band(res["after"]).capitalize())
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
               "re-run. ISS and R-ISS are re-derived when their inputs change.")


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
