"""Leaderboard: every model and ensemble, curves, and one threshold driving metrics and markers."""
import pandas as pd
import streamlit as st

from dashboard import charts, loaders, report_panels, state
from dashboard.auth import _md  # the CPU name is whatever the machine reports: shown as typed
from dashboard.datasets import redact
from dashboard.sidebar import need_zoo
from zoo.evaluation.published import PUBLISHED_LABEL
from zoo.csvsafe import safe_csv_bytes
from zoo.evaluation.threshold import at_threshold
from zoo.explain.attention import twin_reading
from zoo.leaderboard import built_on, calibration_flag, headline, sample_size_fields, sample_size_warnings

ctx = st.session_state["ctx"]
zoo = need_zoo(ctx, "The leaderboard")
zp, stamp = str(ctx["zoo_dir"]), loaders.zoo_stamp(ctx["zoo_dir"])
metrics = loaders.metrics(zp, stamp)
st.title("Leaderboard")
st.caption(f"Profile `{zoo.manifest['profile']['name']}` · selection, tuning, thresholds and ensemble membership "
           "from out-of-fold training predictions only; the hold-out test set is scored once. "
           "AUC with 95% patient-level bootstrap CI." + _md(built_on(zoo.manifest)))

has_ext = any("external" in r for r in metrics["models"].values())
splits = ["test", "external"] if has_ext else ["test"]
wk, kw = state.bound("split", "test")
if st.session_state[wk] not in splits:  # a link may ask for a split this zoo does not have
    st.session_state[wk] = st.session_state["split"] = "test"
split = st.radio("Validation", splits, horizontal=True, key=wk,
                 format_func=lambda s: "Internal hold-out test" if s == "test" else "External cohort (no refit)", **kw)
lb = loaders.leaderboard(zp, stamp, split)
for msg in sample_size_warnings(metrics, split):  # Riley et al.'s minimum; ≥ 100 external events
    st.warning(f"**Sample size.** {msg}", icon=":material/warning:")
size = sample_size_fields(metrics)
if size["riley_min_n"]:
    ext_note = (f" · external: {size['external_events']} events, {size['external_non_events']} non-events (≥ 100 of "
                "each recommended)") if split == "external" and size["external_events"] is not None else ""
    st.caption(f"Sample size: {size['dev_n']} training patients, {size['dev_events']} events, "
               f"{size['candidate_parameters']} candidate clinical parameters "
               f"(EPP {size['events_per_parameter']:.1f}); Riley et al.'s minimum {size['riley_min_n']} at "
               f"anticipated R²_CS {size['riley_r2_cs']:.3f}{ext_note}")
failed = lb[lb["status"] == "failed"] if "status" in lb else lb.iloc[:0]
if len(failed):
    st.warning("Left out of this zoo because training failed: " + "; ".join(
        f"**{d}** ({redact(str(r), ctx['catalog'])})" for d, r in zip(failed["display"], failed["failure"])), icon=":material/error:")
    lb = lb[lb["status"] != "failed"].reset_index(drop=True)
if lb.empty:
    st.info("No results for this split.")
    st.stop()

for col in ("p_vs_best_single", "p_holm_vs_best_single", "published_auc", "oracle_lift", "attention_on_target",
            "attention_chance", "attention_ratio", "attention_ratio_lo", "attention_ratio_hi", "attention_on_bands",
            "attention_bands_chance", "delta_auc_vs_staging", "delta_auc_vs_staging_lo", "delta_auc_vs_staging_hi",
            "nri_vs_staging", "lr_p_vs_staging"):
    lb[col] = pd.to_numeric(lb[col], errors="coerce")  # None -> NaN: shown as an empty cell


def _members(ratios, images) -> list[str]:
    """Each fold model's attention ÷ chance with the test images it rests on, e.g. '0.71 (114) · 2.48 (38)';
    '—' where not computed. A fold model whose maps are all zero on many images rests on fewer of them."""
    def listed(v) -> bool:
        return hasattr(v, "__len__") and not isinstance(v, str) and len(v) > 1

    def one(v, n) -> str:
        shown = "—" if v is None or pd.isna(v) else f"{v:.2f}"
        return shown if n is None or pd.isna(n) else f"{shown} ({int(n)})"

    return [" · ".join(one(v, n) for v, n in zip(r, ns if listed(ns) else [None] * len(r))) if listed(r) else "—"
            for r, ns in zip(ratios, images)]


def _fmt(v, fmt: str) -> str:
    """A stored figure as text; '—' for a missing or non-numeric one (a hand-edited zoo file cannot crash the page)."""
    try:
        v = float(v)
    except (TypeError, ValueError):
        return "—"
    return fmt.format(v) if pd.notna(v) else "—"


def _num(values, fmt: str) -> list[str]:
    return [_fmt(v, fmt) for v in values]


def _draws(values) -> list[str]:
    """Each random network's ratio to chance, as '1.02 / 1.06 / 0.98' ('—' for none, or one left out)."""
    out = []
    for v in values:
        rs = list(v) if hasattr(v, "__len__") and not isinstance(v, str) else []
        out.append(" / ".join(_fmt(r, "{:.2f}") for r in rs) if rs else "—")
    return out


def _ci(lo, hi, fmt="{:.2f}", sep="–"):
    return [f"{fmt.format(a)}{sep}{fmt.format(b)}" if pd.notna(a) and pd.notna(b) else "—" for a, b in zip(lo, hi)]


table = pd.DataFrame({
    "Group": lb["group"], "Model": lb["display"],
    "AUC": lb["auc"], "AUC 95% CI": _ci(lb["auc_lo"], lb["auc_hi"]),
    "Brier": lb["brier"], "Brier CI": _ci(lb["brier_lo"], lb["brier_hi"], "{:.3f}"),
    "Null Brier": lb["null_brier"],
    "Worse than null": lb["worse_than_null"].map({True: "⚠ worse than prevalence", False: ""}).fillna(""),
    "Scaled Brier": lb["scaled_brier"], "Cal. intercept": lb["cal_intercept"],
    "Intercept CI": _ci(lb["cal_intercept_lo"], lb["cal_intercept_hi"]), "Cal. slope": lb["cal_slope"],
    "Slope CI": _ci(lb["cal_slope_lo"], lb["cal_slope_hi"]),
    "Sensitivity": lb["sensitivity"], "Specificity": lb["specificity"], "F1": lb["f1"],
    "OOF AUC": lb["oof_auc"], "Lift vs oracle": lb["oracle_lift"],
    "Lift CI": _ci(lb["oracle_lift_lo"], lb["oracle_lift_hi"]), "p vs best single": lb["p_vs_best_single"],
    "p (Holm)": lb["p_holm_vs_best_single"], "Published AUC": lb["published_auc"], "n": lb["n"],
    "Attention on target": lb["attention_on_target"], "(chance)": lb["attention_chance"],
    "Attention ÷ chance (95% CI)": [f"{r:.2f} ({c})" if pd.notna(r) else "" for r, c in
                                    zip(lb["attention_ratio"], _ci(lb["attention_ratio_lo"], lb["attention_ratio_hi"]))],
})
# against the best staging system (chosen on OOF AUC): ΔAUC with its paired bootstrap CI, NRI, LR test
staging = metrics.get("staging") or {}
ref_label = dict(zip(lb["model"], lb["display"])).get(staging.get("best"), "staging")
vs_col = f"Δ AUC vs {ref_label}"
if staging.get("best"):
    table.insert(4, vs_col, lb["delta_auc_vs_staging"])
    table.insert(5, f"{vs_col} CI", _ci(lb["delta_auc_vs_staging_lo"], lb["delta_auc_vs_staging_hi"], "{:+.2f}"))
    table.insert(6, f"NRI vs {ref_label}", lb["nri_vs_staging"])
    table.insert(7, "LR test p", lb["lr_p_vs_staging"])
num = {c: st.column_config.NumberColumn(format="%.3f") for c in
       ("AUC", "Brier", "Null Brier", "Scaled Brier", "Cal. intercept", "Cal. slope", "Sensitivity", "Specificity",
        "F1", "OOF AUC", "Lift vs oracle", "Published AUC")}
num["n"] = st.column_config.NumberColumn(format="%d", help="Patients this row was scored on. A staging system leaves "
                                         "out the patients whose stage an input missing could change, so its AUC "
                                         "covers fewer patients than a model's: compare the two through the "
                                         "ΔAUC column, computed on the patients both rate.")
num["Null Brier"] = st.column_config.NumberColumn(format="%.3f", help="Brier score of predicting the training "
                                                  "prevalence for everyone: a model must beat it to be useful")
num["Scaled Brier"] = st.column_config.NumberColumn(format="%.3f", help="1 − Brier / null Brier (0 = no better "
                                                    "than the prevalence, 1 = perfect)")
num["Cal. intercept"] = st.column_config.NumberColumn(format="%.2f", help="Calibration-in-the-large (logit scale): "
                                                      "0 is ideal; below 0 the model over-predicts on average")
num["Cal. slope"] = st.column_config.NumberColumn(format="%.2f", help="1 is ideal; below 1 predictions are too "
                                                  "extreme, above 1 too timid (squeezed towards the middle)")
num["Lift vs oracle"] = st.column_config.NumberColumn(format="%.2f", help="(AUC − 0.5) / (oracle AUC − 0.5) on the "
                                                      "same patients: 1 = as good as the true risk, 0 = chance. "
                                                      "Its 95% CI resamples model and oracle together.")
num["p vs best single"] = st.column_config.NumberColumn(format="%.3f", help="Paired patient bootstrap (not stratified by outcome), ensemble "
                                                        "vs best single model (chosen by OOF AUC)")
num["p (Holm)"] = st.column_config.NumberColumn(format="%.3f", help="Holm-adjusted across the ensembles compared")
num["Published AUC"] = st.column_config.NumberColumn(format="%.4f", help=PUBLISHED_LABEL)
num["Attention ÷ chance (95% CI)"] = st.column_config.TextColumn(
    help="Mean Grad-CAM attention on target over its chance level, on the patients with a defined map; 2 = twice "
         "where a map that ignored the target would put its heat. The interval resamples patients only: models of "
         "the same architecture trained on other data can differ by more.")
num["Attention on target"] = st.column_config.NumberColumn(
    format="%.3f", help="Share of Grad-CAM energy on the modality's target, test patients: plasma cells (marrow); for IFE the "
         "polyclonal γ region outside the bands where immunoparesis shows, or the M-protein bands where only "
         "bands are annotated (the target of each model: 'Attention on target' below)")
num["(chance)"] = st.column_config.NumberColumn(format="%.3f", help="Share of the image the targets cover: what a "
                                                "uniform heat map would score")
num[vs_col] = st.column_config.NumberColumn(format="%+.3f", help=f"AUC minus {ref_label}'s on the patients both rate "
                                            "(paired patient bootstrap CI). The staging system was chosen as the "
                                            "best on out-of-fold AUC, before the test set was scored.")
num[f"NRI vs {ref_label}"] = st.column_config.NumberColumn(format="%+.3f", help="Categorical net reclassification "
                                                           "across the risk bands (low < 25 % ≤ intermediate < 50 % ≤ "
                                                           "high); see the reclassification table below")
num["LR test p"] = st.column_config.NumberColumn(format="%.3f", help="Likelihood-ratio test of adding the model's "
                                                 "score to a logistic model of the stage, both fitted on this split")
table.insert(table.columns.get_loc("Slope CI") + 1, "Calibration",
             [calibration_flag(i, s) for i, s in zip(lb["cal_intercept"], lb["cal_slope"])])
st.markdown(headline(lb, metrics, split))
st.dataframe(table, hide_index=True, width="stretch", column_config=num, height=min(36 * (len(table) + 1), 760))
st.caption("**Calibration**: the intercept says whether risks are right on average (0 ideal; ±0.5 logit flagged); "
           "the slope whether they are spread right (1 ideal; below 0.67 too extreme, above 1.5 too timid). A "
           "near-constant predictor (e.g. a staging system with few distinct risks) can have an undefined slope.")
orc = metrics.get("oracle", {}).get(split)
notes = [f"Thresholded metrics at each model's OOF Youden threshold. **Published AUC**: {PUBLISHED_LABEL} "
         "(chosen on their test set; a reference, not comparable)."]
if orc:
    notes.append("Oracle AUC over every patient of this split (true risk from each modality's own information, "
                 "synthetic cohorts only): " + ", ".join(f"{k} {v:.3f}" for k, v in orc.items())
                 + ". 'Lift vs oracle' = (AUC − 0.5)/(oracle AUC − 0.5), the oracle taken on the patients the model "
                 "scored with the same censoring weights (`oracle_auc` in the CSV), and its CI resamples both together.")
st.caption(" ".join(notes))
st.download_button("Download table (CSV, each model's own OOF threshold)",
                   safe_csv_bytes(lb.drop(columns=["reclassification_vs_staging"], errors="ignore")),
                   f"leaderboard_{split}.csv", "text/csv", key="lb_csv")



def curves_tab() -> None:
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
    default_thr = state.clean_threshold(main_thr) or 0.5
    wk, kw = state.bound("threshold", default_thr)
    st.session_state[wk] = state.clean_threshold(st.session_state[wk]) or default_thr
    thr = st.slider("Decision threshold", 0.01, 0.99, step=0.01, key=wk, **kw,
                    help="Drives the confusion matrix, the metrics and the markers on all three curves.")
    if not chosen:
        st.info("Pick at least one model.")
        return

    preds = loaders.predictions(zp, stamp)
    preds = preds[preds["split"] == split]
    op = {}
    for n in chosen:
        p = preds[preds["model"] == n]
        op[n] = at_threshold(p["y"].to_numpy(), p["prob"].to_numpy(), thr,
                             weights=p["weight"].to_numpy() if "weight" in p else None)
    curves = loaders.curves(zp, stamp)
    cs = {n: curves[n][split] for n in chosen if split in curves.get(n, {})}
    roc = charts.roc_chart(cs, {n: (op[n]["fpr"], op[n]["tpr"]) for n in chosen}, label)
    cal = charts.calibration_chart(cs, thr, label)
    dca = charts.dca_chart(cs, thr, {n: op[n]["net_benefit"] for n in chosen}, label)
    c1, c2, c3 = st.columns(3)
    split_label = "internal hold-out test" if split == "test" else "external cohort"
    subtitle = f"{split_label} · threshold {thr:.2f} · zoo {ctx['zoo_name']} ({zoo.manifest['profile']['name']} profile)"
    for col, ch, nm, title in ((c1, roc, "roc", "ROC"), (c2, cal, "calibration", "Calibration (reliability)"),
                               (c3, dca, "decision_curve", "Decision curve")):
        with col:
            st.altair_chart(ch, width="stretch")
            d1, d2 = st.columns(2)
            fig = charts.for_export(ch, title, subtitle)
            d1.download_button("SVG", charts.to_svg(fig), f"{nm}_{split}_thr{thr:.2f}.svg",
                               "image/svg+xml", key=f"lb_svg_{nm}", width="stretch", icon=":material/download:")
            d2.download_button("PNG", charts.to_png(fig), f"{nm}_{split}_thr{thr:.2f}.png", "image/png",
                               key=f"lb_png_{nm}", width="stretch", icon=":material/download:")

    st.subheader(f"At threshold {thr:.2f}")
    for n in chosen:  # a degenerate threshold: say why sensitivity or specificity is 0
        o = op[n]
        if not o["n"] or (o["specificity"] > 0 and o["recall"] > 0):
            continue
        if o["specificity"] == 0 and o["recall"] == 1:
            why = f"every patient scores at or above {thr:.2f}, so all are called PD"
        elif o["recall"] == 0 and o["specificity"] == 1:
            why = f"no patient scores at or above {thr:.2f}, so all are called non-PD"
        elif o["specificity"] == 0:
            why = f"every non-PD patient scores at or above {thr:.2f}"
        else:
            why = f"every PD patient scores below {thr:.2f}"
        st.info(f"**{label.get(n, n)}** at {thr:.2f}: sensitivity {o['recall']:.2f}, specificity {o['specificity']:.2f} "
                f"— {why}. Move the threshold towards this model's probabilities (its own OOF threshold is "
                f"{metrics['models'].get(n, {}).get('threshold', float('nan')):.2f}).", icon=":material/info:")
    st.markdown(" · ".join(f"**{label.get(n, n)}**: sensitivity {op[n]['recall']:.2f}, specificity "
                           f"{op[n]['specificity']:.2f}, PPV {op[n]['precision']:.2f}, net benefit {op[n]['net_benefit']:.3f}"
                           for n in chosen[:3]))
    st.download_button(f"Download metrics at threshold {thr:.2f} (CSV)", safe_csv_bytes(pd.DataFrame(
        [{"model": n, "display": label.get(n, n), "split": split, "threshold": thr, **op[n]} for n in chosen])),
        f"metrics_{split}_thr{thr:.2f}.csv", "text/csv", key="lb_csv_thr", icon=":material/download:")
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
            att = att.assign(attention_ci=_ci(att["attention_lo"], att["attention_hi"], "{:.3f}"),
                             ratio_ci=_ci(att["attention_ratio_lo"], att["attention_ratio_hi"]),
                             twin_ci=_ci(*(att[c] if c in att else [None] * len(att)
                                           for c in ("attention_twin_ratio_lo", "attention_twin_ratio_hi"))),
                             twin_draws=_draws(att["attention_twin_draws"] if "attention_twin_draws" in att
                                               else [None] * len(att)),
                             **{f"{c}_shown": _num(att[c] if c in att else [None] * len(att), f)
                                for c, f in (("attention_twin_ratio", "{:.3f}"),
                                             ("attention_twin_trained_ratio", "{:.3f}"),
                                             ("attention_over_twin", "{:+.3f}"), ("attention_twin_images", "{:.0f}"))},
                             over_twin=_ci(*(att[c] if c in att else [None] * len(att)
                                             for c in ("attention_over_twin_lo", "attention_over_twin_hi")),
                                           fmt="{:+.2f}", sep=" to "),  # a difference: signed, never "-0.3–-0.1"
                             twin_reading=[twin_reading(*v) for v in zip(
                                 *(att[c] if c in att else [None] * len(att)
                                   for c in ("attention_over_twin_lo", "attention_over_twin_hi",
                                             "attention_twin_kept", "attention_twin_patients")))],
                             members=_members(*(att[c] if c in att else [None] * len(att)
                                                for c in ("attention_members_ratio", "attention_members_images"))))
            cols = {"display": "Model", "attention_on_target": "all", "attention_ci": "95% CI",
                    "attention_correct": "correct", "attention_wrong": "wrong", "attention_chance": "chance",
                    "attention_ratio": "÷ chance", "ratio_ci": "÷ chance 95% CI",
                    "members": "fold models ÷ chance (images)",
                    # strings, '—' where a zoo has no such figure (a blank cell would show a grey 'None'); the
                    # difference first, so the table's headline figure is never scrolled out of view
                    "attention_over_twin_shown": "trained − randomised", "over_twin": "trained − randomised 95% CI",
                    "twin_reading": "reading",
                    "attention_twin_ratio_shown": "randomised ÷ chance", "twin_ci": "randomised 95% CI",
                    "twin_draws": "each random network",
                    "attention_twin_trained_ratio_shown": "trained ÷ chance there",
                    "attention_twin_images_shown": "images compared",
                    "attention_on_bands": "on bands",
                    "attention_bands_chance": "bands chance", "attention_target": "target"}
            for group, part in att.groupby("group", sort=False):  # one table per modality: no empty columns
                has_bands = "attention_on_bands" in part and part["attention_on_bands"].notna().any()
                shown = [c for c in cols if c in part and (has_bands or c not in ("attention_on_bands",
                                                                                  "attention_bands_chance"))]
                # the model's own figures, then (a second table, so neither scrolls sideways) the same model
                # against randomly initialised networks of its architecture on the same images
                twin_cols = [c for c in shown if c.startswith(("attention_twin", "twin_", "attention_over", "over_"))]
                st.markdown(f"**{group}**")
                st.dataframe(part[[c for c in shown if c not in twin_cols]].rename(columns=cols), hide_index=True,
                             width="stretch",
                             column_config={c: st.column_config.NumberColumn(format="%.3f")
                                            for c in ("all", "correct", "wrong", "chance", "÷ chance", "on bands",
                                                      "bands chance")})
                if "attention_over_twin" in part and part["attention_over_twin"].notna().any():  # else all '—'
                    st.dataframe(part[["display", *twin_cols]].rename(columns=cols), hide_index=True,
                                 width="stretch")
            st.caption("Target per model as stored with its figures: ground truth on synthetic cohorts (plasma-cell "
                       "masks; for gels, the polyclonal γ region outside the M-protein bands, where immunoparesis, "
                       "the gel's risk signal, shows, with the share on the bands beside it), otherwise the "
                       "classical segmenter's masks and the documented band detector's bands. Intervals: 95 % bootstrap "
                       "over the split's patients with a defined map (1000 resamples); the ratio is mean attention over mean chance on "
                       "the same patients. They leave out the variation between training runs; the 'fold models' column "
                       "shows some of it: the ratio of each cross-validation fold model of the same recipe (trained "
                       "on the other folds of the training patients) on the test images where its map and the "
                       "model's are both defined, their number in brackets. 'Randomised': "
                       "the same architecture with its weights re-drawn at random (PyTorch's default initialisation; "
                       "BatchNorm re-estimated on the training patients), six random networks per model, mapped on "
                       "the same test images: what networks that learned nothing score there. It is compared on the "
                       "images where the model's map and a random network's are defined ('images compared'; the "
                       "trained model's ratio on those images is given, as it can differ from its ratio over all "
                       "its images); 'trained − randomised' is how far the model lies above them, paired on the same "
                       "images, its interval from a two-stage bootstrap (patients, then the random networks within "
                       "each resample), so the spread between random networks ('each random network') widens it; "
                       "'reading' says which side of 0 that interval lies (at the two decimals shown), against the average "
                       "of the networks it rests on — not each of them, and for gels the reading can change with the "
                       "networks drawn — and is '—' under 10 patients — "
                       "a network whose maps are defined on fewer than half the images compared is left out ('—' among "
                       "'each random network'). '—': not computed (the fold models of cell-level "
                       "marrow models, for cost; random networks for the external split, and for zoos built before "
                       "these columns existed), fewer than two patients to compare, or not matched to their images (docs/MODELS.md).")

    abl = metrics.get("ablation", {})
    if abl:
        with st.expander("Ablation: leave one modality out (ensemble and joint-fusion AUC on this split)"):
            shown = {**{n: r["display"] for n, r in zoo.manifest["models"].items()},
                     **{n: r["display"] for n, r in zoo.manifest["ensembles"].items()}}
            rows = [{"Model": shown.get(e, e), **{k.replace("_", " "): v for k, v in r.get(split, {}).items()}}
                    for e, r in abl.items() if split in r]
            st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")

    vs = {n: r[split]["vs_staging"] for n, r in metrics["models"].items() if (r.get(split) or {}).get("vs_staging")}
    if vs:
        st.subheader(f"Reclassification against {ref_label}")
        st.caption(f"{ref_label} was the best staging system on out-of-fold AUC ({staging.get('chosen_on', '')}); its "
                   "risk for a patient is the training progression rate of the patient's stage. Rows: its risk band; "
                   "columns: the model's. Every patient of this split is counted once, including those without a "
                   "prediction.")
        opts = [n for n in names if n in vs] or list(vs)
        rc_model = st.selectbox("Model", opts, format_func=lambda n: label.get(n, n), key="lb_rc_model",
                                index=opts.index("ens_soft_vote") if "ens_soft_vote" in opts else 0)
        who = st.radio("Patients", ["all", "events", "non_events"], horizontal=True, key="lb_rc_who",
                       format_func={"all": "All", "events": "Progressed (PD)", "non_events": "No PD"}.get)
        rec = vs[rc_model]
        t = rec["reclassification"]
        st.dataframe(pd.DataFrame(t[who], index=[f"{ref_label}: {b}" for b in t["bands"]],
                                  columns=[f"{label.get(rc_model, rc_model)}: {b}" for b in t["bands"]]), width="stretch")
        nri, lr = rec["nri"], rec.get("lr_test") or {}
        st.caption(f"NRI {nri['total']:+.3f} (95% CI {nri['total_ci'][0]:+.3f} to {nri['total_ci'][1]:+.3f}; events "
                   f"{nri['events']:+.3f}, non-events {nri['non_events']:+.3f}; n = {nri['n']}). ΔAUC {rec['delta']:+.3f} "
                   f"(95% CI {rec['ci'][0]:+.3f} to {rec['ci'][1]:+.3f}). Likelihood-ratio test of adding the score to the "
                   f"stage: χ² = {lr.get('chi2', float('nan')):.2f}, p = {lr.get('p_value', float('nan')):.3g} "
                   f"(fitted on this split's patients, n = {lr.get('n', 0)}).")


tab_curves, tab_sub, tab_card = st.tabs(["Curves and threshold", "Subgroups", "Model card"], key="lb_tab",
                                        on_change="rerun")
with tab_curves:
    if tab_curves.open:
        curves_tab()
with tab_sub:
    if tab_sub.open:
        report_panels.subgroups_tab(ctx, zoo, split)
with tab_card:
    if tab_card.open:
        report_panels.model_card_tab(ctx, zoo)
