"""Leaderboard: every model and ensemble, curves, and one threshold driving metrics and markers."""
import pandas as pd
import streamlit as st

from dashboard import charts, loaders, state
from dashboard.sidebar import need_zoo
from zoo.evaluation.published import PUBLISHED_LABEL
from zoo.evaluation.threshold import at_threshold

ctx = st.session_state["ctx"]
zoo = need_zoo(ctx, "The leaderboard")
zp, stamp = str(ctx["zoo_dir"]), loaders.zoo_stamp(ctx["zoo_dir"])
metrics = loaders.metrics(zp, stamp)
st.title("Leaderboard")
st.caption(f"Profile `{zoo.manifest['profile']['name']}` · selection, tuning, thresholds and ensemble membership "
           "from out-of-fold training predictions only; the hold-out test set is scored once. "
           "AUC with 95% patient-level bootstrap CI.")

has_ext = any("external" in r for r in metrics["models"].values())
wk, kw = state.bound("split", "test")
split = st.radio("Validation", ["test", "external"] if has_ext else ["test"], horizontal=True, key=wk,
                 format_func=lambda s: "Internal hold-out test" if s == "test" else "External cohort (no refit)", **kw)
lb = loaders.leaderboard(zp, stamp, split)
failed = lb[lb["status"] == "failed"] if "status" in lb else lb.iloc[:0]
if len(failed):
    st.warning("Left out of this zoo because training failed: " + "; ".join(
        f"**{d}** ({r})" for d, r in zip(failed["display"], failed["failure"])), icon=":material/error:")
    lb = lb[lb["status"] != "failed"].reset_index(drop=True)
if lb.empty:
    st.info("No results for this split.")
    st.stop()

for col in ("p_vs_best_single", "published_auc", "fraction_of_oracle", "attention_on_target", "attention_chance"):
    lb[col] = pd.to_numeric(lb[col], errors="coerce")  # None -> NaN: shown as an empty cell
table = pd.DataFrame({
    "Group": lb["group"], "Model": lb["display"],
    "AUC": lb["auc"], "AUC 95% CI": [f"{a:.2f}–{b:.2f}" if pd.notna(a) else "—" for a, b in zip(lb["auc_lo"], lb["auc_hi"])],
    "ACC": lb["accuracy"], "Precision": lb["precision"], "Recall": lb["recall"], "F1": lb["f1"],
    "Brier": lb["brier"], "Cal. slope": lb["cal_slope"], "OOF AUC": lb["oof_auc"],
    "× oracle": lb["fraction_of_oracle"], "p vs best single": lb["p_vs_best_single"],
    "Published AUC": lb["published_auc"], "n": lb["n"],
    "Attention on target": lb["attention_on_target"], "(chance)": lb["attention_chance"],
})
num = {c: st.column_config.NumberColumn(format="%.3f") for c in
       ("AUC", "ACC", "Precision", "Recall", "F1", "Brier", "Cal. slope", "OOF AUC", "× oracle", "Published AUC")}
num["p vs best single"] = st.column_config.NumberColumn(format="%.3f", help="Paired bootstrap, ensemble vs best "
                                                        "single model (chosen by OOF AUC)")
num["Published AUC"] = st.column_config.NumberColumn(format="%.4f", help=PUBLISHED_LABEL)
num["Attention on target"] = st.column_config.NumberColumn(
    format="%.3f", help="Share of Grad-CAM energy on plasma cells (marrow) or M-protein bands (IFE), test patients")
num["(chance)"] = st.column_config.NumberColumn(format="%.3f", help="Share of the image the targets cover: what a "
                                                "uniform heat map would score")
st.dataframe(table, hide_index=True, width="stretch", column_config=num, height=min(36 * (len(table) + 1), 760))
orc = metrics.get("oracle", {}).get(split)
notes = [f"Thresholded metrics at each model's OOF Youden threshold. **Published AUC**: {PUBLISHED_LABEL} "
         "(chosen on their test set; a reference, not comparable)."]
if orc:
    notes.append("Oracle AUC (true risk from each modality's own information, synthetic cohorts only): "
                 + ", ".join(f"{k} {v:.3f}" for k, v in orc.items()) + ". '× oracle' = AUC / matching oracle.")
st.caption(" ".join(notes))
st.download_button("Download table (CSV)", lb.to_csv(index=False).encode(), f"leaderboard_{split}.csv",
                   "text/csv", key="lb_csv")

st.subheader("Curves")
names = list(lb["model"])
label = dict(zip(lb["model"], lb["display"]))
default = [n for n in ["ens_soft_vote", metrics.get("best_single")] if n in names]
if st.session_state.get("models"):
    default = [n for n in st.session_state["models"] if n in names] or default
wk, kw = state.bound("models", default)
if any(n not in names for n in st.session_state[wk]):
    st.session_state[wk] = default
chosen = st.multiselect("Models to overlay", names, key=wk, format_func=lambda n: label.get(n, n), **kw)
main_thr = metrics["models"].get("ens_soft_vote", {}).get("threshold", 0.5)
wk, kw = state.bound("threshold", round(float(main_thr), 2))
thr = st.slider("Decision threshold", 0.01, 0.99, step=0.01, key=wk, **kw,
                help="Drives the confusion matrix, the metrics and the markers on all three curves.")
if not chosen:
    st.info("Pick at least one model.")
    st.stop()

preds = loaders.predictions(zp, stamp)
preds = preds[preds["split"] == split]
op = {}
for n in chosen:
    p = preds[preds["model"] == n]
    op[n] = at_threshold(p["y"].to_numpy(), p["prob"].to_numpy(), thr)
curves = loaders.curves(zp, stamp)
cs = {n: curves[n][split] for n in chosen if split in curves.get(n, {})}
roc = charts.roc_chart(cs, {n: (op[n]["fpr"], op[n]["tpr"]) for n in chosen}, label)
cal = charts.calibration_chart(cs, thr, label)
dca = charts.dca_chart(cs, thr, {n: op[n]["net_benefit"] for n in chosen}, label)
c1, c2, c3 = st.columns(3)
for col, ch, nm in ((c1, roc, "roc"), (c2, cal, "calibration"), (c3, dca, "decision_curve")):
    with col:
        st.altair_chart(ch, width="stretch")
        d1, d2 = st.columns(2)
        d1.download_button("SVG", lambda ch=ch: charts.to_svg(ch), f"{nm}_{split}.svg", "image/svg+xml",
                           key=f"lb_svg_{nm}", width="stretch")
        d2.download_button("PNG", lambda ch=ch: charts.to_png(ch), f"{nm}_{split}.png", "image/png",
                           key=f"lb_png_{nm}", width="stretch")

st.subheader(f"At threshold {thr:.2f}")
st.markdown(" · ".join(f"**{label.get(n, n)}**: sensitivity {op[n]['recall']:.2f}, specificity "
                       f"{op[n]['specificity']:.2f}, PPV {op[n]['precision']:.2f}, net benefit {op[n]['net_benefit']:.3f}"
                       for n in chosen[:3]))
cm_model = st.selectbox("Confusion matrix for", chosen, format_func=lambda n: label.get(n, n), key="lb_cm_model")
a, b = st.columns([1, 2])
with a:
    st.altair_chart(charts.confusion_chart(op[cm_model]))
with b:
    st.dataframe(pd.DataFrame([{"Model": label.get(n, n), "Sensitivity": op[n]["recall"],
                                "Specificity": op[n]["specificity"], "PPV": op[n]["precision"],
                                "ACC": op[n]["accuracy"], "F1": op[n]["f1"], "Net benefit": op[n]["net_benefit"],
                                "n": op[n]["n"]} for n in chosen]),
                 hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.3f")
                                for c in ("Sensitivity", "Specificity", "PPV", "ACC", "F1", "Net benefit")})

att = lb.dropna(subset=["attention_on_target"]) if "attention_on_target" in lb else lb.iloc[:0]
if len(att):
    with st.expander("Attention on target: correct vs wrong predictions"):
        st.dataframe(att[["display", "attention_on_target", "attention_correct", "attention_wrong",
                          "attention_chance"]].rename(columns={"display": "Model", "attention_on_target": "all",
                                                               "attention_correct": "correct", "attention_wrong": "wrong",
                                                               "attention_chance": "chance"}),
                     hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(format="%.3f")
                                    for c in ("all", "correct", "wrong", "chance")})
        st.caption("Targets: ground-truth plasma-cell masks and band boxes on synthetic cohorts; otherwise the "
                   "classical segmenter's masks and the documented band detector.")

abl = metrics.get("ablation", {})
if abl:
    with st.expander("Ablation: leave one modality out (ensemble AUC on this split)"):
        rows = [{"Ensemble": zoo.manifest["ensembles"][e]["display"], **{k.replace("_", " "): v for k, v in
                 r.get(split, {}).items()}} for e, r in abl.items() if split in r]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
