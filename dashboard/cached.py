"""Cached computations the pages ask for; each calls ``zoo`` and keeps only small results."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from dashboard.loaders import load_cohort, load_zoo
from dashboard.throttle import compute_slots
from zoo import cohort_stats


def _cohort(path: str):
    return load_cohort(Path(path))[1]


def filtered_ids(cohort_path: str, flt: cohort_stats.CohortFilter) -> pd.Index:
    c = _cohort(cohort_path)
    mask = flt.apply(c.clinical, c.coverage())
    return c.clinical.index[mask.to_numpy()]


@st.cache_data(max_entries=32, show_spinner="Computing Table 1…")
def table_one(cohort_path: str, ids_key: tuple) -> pd.DataFrame:
    c = _cohort(cohort_path)
    return cohort_stats.table_one(c.clinical.loc[list(ids_key[1])], c.schema)


@st.cache_data(max_entries=64, show_spinner=False)
def distribution(cohort_path: str, ids_key: tuple, variable: str) -> pd.DataFrame:
    c = _cohort(cohort_path)
    return cohort_stats.distribution(c.clinical.loc[list(ids_key[1])], c.schema[variable])


@st.cache_data(max_entries=32, show_spinner=False)
def missingness(cohort_path: str, ids_key: tuple) -> pd.DataFrame:
    c = _cohort(cohort_path)
    return cohort_stats.missingness(c.clinical.loc[list(ids_key[1])], c.schema)


def out_of_sample_risk(zoo_path: str, stamp: str, ensemble: str = "ens_soft_vote") -> pd.Series:
    """The main ensemble's out-of-sample P(PD) per cohort patient (OOF for training, test for test)."""
    from dashboard.loaders import predictions

    p = predictions(zoo_path, stamp)
    p = p[(p["model"] == ensemble) & p["split"].isin(["oof", "test"])]
    return p.set_index("patient_id")["prob"]


@st.cache_data(max_entries=32, show_spinner="Fitting Kaplan–Meier curves…")
def kaplan_meier(cohort_path: str, ids_key: tuple, by: str, zoo_path: str | None, stamp: str | None,
                 paired_with: tuple[str, ...] = ()):
    """KM by ``by``; with ``paired_with``, only the patients every one of those groupings also places."""
    c = _cohort(cohort_path)
    clin = c.clinical.loc[list(ids_key[1])]
    bys = (by, *[b for b in paired_with if b != by])
    pred = out_of_sample_risk(zoo_path, stamp) if "predicted_risk" in bys and zoo_path else None
    groups = cohort_stats.on_common_patients({b: cohort_stats.grouping_series(clin, c.schema, b, pred)
                                              for b in bys})[by]
    levels = ["low", "intermediate", "high"] if by == "predicted_risk" else None
    return cohort_stats.kaplan_meier(clin, groups, levels=levels)


def ids_key(ids: pd.Index) -> tuple:
    """Hashable, cheap key for a patient subset (length + a digest + the ids for recomputation)."""
    import hashlib

    h = hashlib.sha1("\x1f".join(map(str, ids)).encode()).hexdigest()
    return (f"{len(ids)}-{h}", tuple(ids))


@st.cache_data(max_entries=256, show_spinner=False)
def cam(zoo_path: str, stamp: str, model: str, image_path: str, method: str, cohort_root: str | None = None) -> dict:
    """Grad-CAM for one stored image (arrays are small: 224x224) and its attention on target."""
    from zoo.cohort.images import read_image
    from zoo.explain.attention import chance_share, target_mask
    from zoo.explain.gradcam import energy_inside, grad_cam

    zoo, _ = load_zoo(Path(zoo_path))
    img = read_image(image_path)
    with compute_slots().slot():
        r = grad_cam(zoo.model(model), img, method)
    mask, source = target_mask(img, Path(image_path), zoo.manifest["models"][model]["modality"],
                               Path(cohort_root) if cohort_root else None)
    return {"overlay": r.overlay, "image": r.image, "cam": r.cam.astype(np.float32), "probability": r.probability,
            "layer": r.layer, "on_target": energy_inside(r.cam, mask),
            "chance": chance_share(mask, r.lanes, r.uniform),
            "target_source": source,
            # cell-level models: each plasma-cell crop's box, weight in the pooled prediction and own P(PD)
            "tiles": [{"box": list(t.box), "weight": t.weight, "probability": t.probability}
                      for t in (r.tiles or [])] if r.tiles is not None else None,
            "cells_found": r.cells_found}


@st.cache_data(max_entries=64, show_spinner="Segmenting plasma cells…")
def segmentation(cohort_root: str, image_path: str) -> dict:
    """Classical segmentation of one marrow image (prompted by annotations when the cohort has them)."""
    from zoo.cohort.images import read_image
    from zoo.segment.classical import ClassicalSegmenter
    from zoo.segment.run import annotation_points

    c = _cohort(cohort_root)
    img = read_image(image_path)
    points, _, _ = annotation_points(c, Path(image_path))
    with compute_slots().slot():
        prompted = ClassicalSegmenter().segment(img, points) if points else None
        census = ClassicalSegmenter().segment(img)
    return {"image": img, "labels": (prompted or census).labels, "plasma_ids": (prompted or census).plasma_ids,
            "census_labels": census.labels,
            "census_cells": len(census.instances), "census_plasma": len(census.plasma_ids),
            "prompted": prompted is not None, "segmenter": census.segmenter}


@st.cache_data(max_entries=32, show_spinner="Computing SHAP values…")
def shap_for(zoo_path: str, stamp: str, cohort_path: str, target: str, ids: tuple) -> dict:
    """SHAP of a clinical model's, or a late ensemble's clinical part's, calibrated P(PD).

    One patient: the detailed settings, and (for an ensemble) image members run as on the predictor.
    Several (the test set): the cohort-wide settings, and image members' stored test predictions.
    """
    from zoo.explain.patient import training_background
    from zoo.explain.shap_values import GLOBAL, PATIENT

    zoo, _ = load_zoo(Path(zoo_path))
    c = _cohort(cohort_path)
    X = c.clinical.loc[list(ids), zoo.features]
    bg = training_background(zoo, c)
    settings = PATIENT if len(ids) == 1 else GLOBAL
    with compute_slots().slot():
        return _shap(zoo, c, X, bg, settings, target, ids)


def _shap(zoo, c, X: pd.DataFrame, bg: pd.DataFrame, settings, target: str, ids: tuple) -> dict:
    from dataclasses import fields

    from zoo.explain.patient import (explain_clinical_model, explain_ensemble_clinical, patient_image_probs,
                                     stored_image_probs)

    if target in zoo.manifest["ensembles"]:
        if len(ids) == 1:
            probs = patient_image_probs(zoo, c, ids[0])
            img = pd.DataFrame([probs], index=X.index, dtype=float)
        else:
            img = stored_image_probs(zoo, list(ids), target, "test")
        res = explain_ensemble_clinical(zoo, X, img, bg, c.schema, target, settings)
    else:
        res = explain_clinical_model(zoo, target, X, bg, c.schema, settings)
    return {f.name: getattr(res, f.name) for f in fields(res)}


@st.cache_data(max_entries=16, show_spinner="Permutation importance…")
def permutation(zoo_path: str, stamp: str, cohort_path: str, model: str) -> pd.DataFrame:
    from zoo.explain.patient import permutation_importance_table

    zoo, _ = load_zoo(Path(zoo_path))
    c = _cohort(cohort_path)
    ids = [p for p in zoo.split()["test"] if p in c.clinical.index]
    with compute_slots().slot():
        return permutation_importance_table(zoo, model, c.clinical.loc[ids, zoo.features],
                                            c.clinical.loc[ids, "progressed"].to_numpy(), c.schema)


def shap_result(d: dict):
    from zoo.explain.shap_values import ShapResult

    return ShapResult(**d)


@st.cache_data(max_entries=4, show_spinner="Scoring every patient of the cohort…")
def batch_predictions_csv(cohort_path: str, zoo_path: str, stamp: str) -> bytes:
    """Every patient's scores (the same table as python -m zoo predict --cohort DIR --out FILE.csv)."""
    from zoo.csvsafe import safe_csv_bytes
    from zoo.scoring.batch import score_cohort_dir

    zoo, _ = load_zoo(Path(zoo_path))
    with compute_slots().slot():
        table, _ = score_cohort_dir(zoo, cohort_path, show_bar=False)
    return safe_csv_bytes(table)


def _report_cohorts(train_path: str | None, external_path: str | None) -> dict:
    out = {}
    for split, path in (("test", train_path), ("external", external_path)):
        if path:
            c = _cohort(path)
            if c is not None:
                out[split] = c
    return out


@st.cache_data(max_entries=32, show_spinner="Computing subgroup performance (bootstrap CIs)…")
def subgroups(zoo_path: str, stamp: str, train_path: str | None, external_path: str | None, model: str,
              extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """One model's subgroup rows on test, external and the pooled site comparison."""
    from zoo.evaluation.subgroups import zoo_subgroups

    zoo, _ = load_zoo(Path(zoo_path))
    with compute_slots().slot():
        return zoo_subgroups(zoo, _report_cohorts(train_path, external_path), [model], extra)


@st.cache_data(max_entries=4, show_spinner="Writing the model card (subgroups, figures, PDF)…")
def model_card(zoo_path: str, stamp: str, train_path: str | None, external_path: str | None) -> dict:
    """The model card's HTML and PDF bytes (the same files as python -m zoo report)."""
    import tempfile

    from zoo.reports.model_card import write_model_card

    zoo, _ = load_zoo(Path(zoo_path))
    with compute_slots().slot(), tempfile.TemporaryDirectory() as tmp:
        paths = write_model_card(zoo, tmp, _report_cohorts(train_path, external_path))
        return {k: (p if isinstance(p, str) else p.read_bytes()) for k, p in paths.items()}


@st.cache_data(max_entries=16, show_spinner="Writing the patient report…")
def patient_report_pdf(zoo_path: str, stamp: str, cohort_path: str | None, values_key: str, image_key: str,
                       _values: dict, _images: dict, _pred) -> bytes:
    """One prediction's report; keyed by the inputs' text and image content hashes (underscored args are not
    hashed: they are what the keys describe)."""
    from zoo.reports.patient_report import patient_report

    zoo, _ = load_zoo(Path(zoo_path))
    train = _cohort(cohort_path) if cohort_path else None
    with compute_slots().slot():
        return patient_report(zoo, _values, _images, _pred, train)[1]
