"""A one-page patient report: what went in, what came out, which models said what, and why.

Built from the same ``PatientPrediction`` the predictor shows, so the PDF and the screen never disagree.
The same inputs give the same report apart from its timestamp: the figures are deterministic (fixed SHAP
seeds and background, Grad-CAM on a private copy of the network) and PNG metadata is stripped.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from PIL import Image

from zoo.reports import figures
from zoo.reports.render import html_to_pdf, render_html

DISCLAIMER = ("Research use only. This estimate comes from a model zoo under evaluation; it is not a diagnosis and must "
              "not guide treatment. It does not replace the treating team's judgement, the IMWG criteria or staging.")


@dataclass
class ReportImages:
    """Explanations to include; each optional so a report is still made without a cohort or images."""
    cams: list[dict] | None = None        # {"model": display, "modality": ..., "png": bytes}
    waterfall: bytes | None = None        # SHAP waterfall of the main ensemble's clinical part
    notes: list[str] | None = None        # why an explanation is missing


def _png(arr: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(np.asarray(arr, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def explanations(zoo, clinical: dict, images: dict[str, list[np.ndarray]] | None, pred, background: pd.DataFrame | None,
                 schema) -> ReportImages:
    """Grad-CAM of the main ensemble's best image member per modality (first image) and the SHAP waterfall of
    the ensemble's clinical part. ``background``: training patients' clinical rows (None: no waterfall)."""
    from zoo.explain.gradcam import grad_cam

    notes, cams = [], []
    main = pred.main
    members = zoo.ensemble(main).members if zoo.manifest["ensembles"].get(main, {}).get("kind") == "late" else []
    oof = {n: (zoo.manifest["models"].get(n) or {}).get("oof_auc") or 0 for n in members}
    for modality, arrs in (images or {}).items():
        cands = [n for n in members if zoo.manifest["models"][n]["modality"] == modality]
        if not arrs or not cands:
            continue
        name = max(cands, key=lambda n: oof[n])
        res = grad_cam(zoo.model(name), arrs[0])
        cams.append({"model": zoo.manifest["models"][name]["display"], "modality": modality, "png": _png(res.overlay),
                     "probability": res.probability})
    waterfall = None
    if background is None or background.empty:
        notes.append("No SHAP waterfall: the training cohort is not available to serve as the background.")
    elif zoo.manifest["ensembles"].get(main, {}).get("kind") != "late":
        notes.append("No SHAP waterfall: the main model is not a late-fusion ensemble.")
    else:
        from zoo.explain.patient import explain_ensemble_clinical
        from zoo.explain.shap_values import waterfall_frame

        X = pd.DataFrame([{f: clinical.get(f, np.nan) for f in zoo.features}])
        img = pd.DataFrame([{k: (np.nan if v is None else v) for k, v in pred.model_probs.items()}])
        res = explain_ensemble_clinical(zoo, X, img, background, schema, main)
        frame = waterfall_frame(res, 0, top=8)
        from zoo.schema import Kind

        binary = {v.name for v in schema if v.kind is Kind.binary}
        frame["value"] = [("yes" if float(x) == 1 else "no") if var in binary and pd.notna(x) else x
                          for var, x in zip(frame["variable"], frame["value"])]
        waterfall = figures.waterfall_png(frame, float(res.base_values.iloc[0]), float(res.predictions[0]),
                                          "What moved the clinical part of the estimate (SHAP)")
    return ReportImages(cams, waterfall, notes)


def _inputs(zoo, schema, clinical: dict, observed: pd.DataFrame | None) -> list[dict]:
    from zoo.schema import Kind

    rows = []
    model_row = zoo.clinical_frame([clinical]).iloc[0]  # what the models saw: derived stages filled in
    for f in zoo.features:
        v = schema[f] if f in schema else None
        x = clinical.get(f)
        if (x is None or (isinstance(x, float) and np.isnan(x))) and v is not None and v.derived:
            x = model_row.get(f)
            x = None if x is None or (isinstance(x, float) and np.isnan(x)) or pd.isna(x) else x
        known = x is not None and not (isinstance(x, float) and np.isnan(x))
        flag = ""
        if known and v is not None and v.kind is Kind.numeric:
            if v.typical_range and not v.typical_range[0] <= float(x) <= v.typical_range[1]:
                flag = f"outside the typical range {v.typical_range[0]:g}–{v.typical_range[1]:g}"
            if observed is not None and f in observed and observed[f].notna().any():
                lo, hi = float(observed[f].min()), float(observed[f].max())
                if not lo <= float(x) <= hi:
                    flag = (flag + "; " if flag else "") + f"outside the training range {lo:g}–{hi:g} (extrapolated)"
        if not known:
            shown = "unknown"
        elif v is not None and v.kind is Kind.binary:
            shown = "yes" if float(x) == 1 else "no"
        elif isinstance(x, float):
            shown = f"{x:.4g}"
        else:
            shown = str(x)
        rows.append({"label": v.display if v else f, "value": shown, "unit": (v.unit or "") if v and known else "",
                     "flag": flag, "derived": bool(v and v.derived)})
    return rows


def report_context(zoo, schema, clinical: dict, pred, extras: ReportImages | None = None,
                   observed: pd.DataFrame | None = None, generated: str | None = None) -> dict:
    from zoo.schema.derived import STAGING_SYSTEMS

    extras = extras or ReportImages()
    unc = pred.uncertainty.get(pred.main) or {}
    disp = zoo.displays
    mods = {n: r["modality"] for n, r in zoo.manifest["models"].items()}
    votes = [{"model": disp[n], "modality": mods[n], "p": p, "member": n in pred.members_used.get(pred.main, [])}
             for n, p in pred.model_probs.items() if mods[n] != "reference"]
    votes.sort(key=lambda r: (r["modality"], -(r["p"] if r["p"] is not None else -1)))
    return {
        "generated": generated or dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "patient_id": pred.patient_id,
        "zoo": {"hash": zoo.hash, "created": zoo.manifest.get("created"), "profile": zoo.manifest["profile"].get("name"),
                "synthetic": bool((zoo.manifest.get("cohort") or {}).get("synthetic"))},
        "inputs": _inputs(zoo, schema, clinical, observed),
        "main": disp.get(pred.main, pred.main), "probability": pred.probability, "band": pred.band,
        "interval": unc.get("venn_abers_interval"), "cal_band": unc.get("calibration_band_95"),
        "conformal_set": unc.get("conformal_set"),
        "modalities_used": pred.modalities_used.get(pred.main, []),
        "ensembles": [{"model": disp.get(n, n), "p": p, "used": "+".join(pred.modalities_used.get(n, []))}
                      for n, p in pred.ensemble_probs.items()],
        "votes": votes,
        "stages": [{"system": s.display, "stage": pred.stages.get(k) or "undecided (inputs missing)"}
                   for k, s in STAGING_SYSTEMS.items()],
        "cams": [{**c, "src": figures.data_uri(c["png"])} for c in (extras.cams or [])],
        "waterfall": figures.data_uri(extras.waterfall) if extras.waterfall else None,
        # the interval line says it in a few words; the page has no room for the sentence (one A4 page)
        "notes": [*(extras.notes or []), *pred.warnings],
        "disclaimer": DISCLAIMER,
    }


def render_patient_report(context: dict) -> tuple[str, bytes]:
    """(HTML, PDF) of one patient's report."""
    html = render_html("patient_report.html.j2", context)
    return html, html_to_pdf(html)


def patient_report(zoo, clinical: dict, images: dict[str, list[np.ndarray]] | None, pred, cohort=None,
                   generated: str | None = None) -> tuple[str, bytes]:
    """The whole report for one prediction; ``cohort``: the training cohort (SHAP background and training
    ranges), None to go without them (the report says what is missing)."""
    from zoo.explain.patient import training_background

    background = training_background(zoo, cohort) if cohort is not None else None
    schema = cohort.schema if cohort is not None else zoo.schema
    extras = explanations(zoo, clinical, images, pred, background, schema)
    observed = background if background is not None else None
    return render_patient_report(report_context(zoo, schema, clinical, pred, extras, observed, generated))
