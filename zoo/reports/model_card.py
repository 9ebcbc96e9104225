"""The zoo's model card: what a journal reviewer needs, structured by TRIPOD+AI, as HTML and PDF.

Everything in it is read from the zoo's hash-checked artifacts (manifest, metrics, curves, stored
predictions) and, for the cohort summary and subgroups, from the cohorts it was trained and validated
on. Nothing is refitted or re-selected here: the card reports what training decided on out-of-fold
predictions and what the single look at the test set gave.
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd

from zoo.leaderboard import machine_label
from zoo.reports import figures, tripod
from zoo.reports.render import html_to_pdf, render_html

DATE_COLUMNS = ("diagnosis_date", "date_of_diagnosis", "enrolment_date")
_ABS_PATH = re.compile(r"(?<![\w.])(?:/[^\s/:'\"]+)+/?")


def scrub_paths(text: str) -> str:
    """A report leaves the server: absolute paths in messages (a failed model's reason) keep only their name."""
    return _ABS_PATH.sub(lambda m: Path(m.group(0).rstrip("/")).name or "/", text)


def load_cohorts(zoo, cohort: str | Path | None = None, external: str | Path | None = None,
                 need_external: bool = True) -> tuple[dict, list[str]]:
    """The training and external cohorts for the card: given paths, else the manifest's, when they still
    exist and match the fingerprints the zoo recorded. Returns (split -> Cohort, notes on what is missing)."""
    from zoo.cohort.loader import load_cohort

    out, notes = {}, []
    for split, given, rec in (("test", cohort, zoo.manifest.get("cohort") or {}),
                              ("external", external, zoo.manifest.get("external") or {})):
        path = given or rec.get("path")
        if not path or (split == "external" and not need_external):
            continue
        which = "training" if split == "test" else "external"
        try:
            c = load_cohort(path, decode_images=False)
        except Exception as e:  # noqa: BLE001 - any unreadable cohort: the card says so and goes on
            notes.append(f"The {which} cohort could not be read ({scrub_paths(str(e))}); "
                         "its summary and subgroups are left out.")
            continue
        if rec.get("fingerprint") and c.fingerprint != rec["fingerprint"]:
            # another cohort (or this one edited since training) would describe other patients
            notes.append(f"The {which} cohort given ({Path(path).name}) is not the one this zoo was "
                         f"{'trained' if split == 'test' else 'validated'} on: its content differs from what the zoo "
                         "recorded. Its summary and subgroups are left out; give the original folder.")
            continue
        if not rec.get("fingerprint"):  # a zoo that recorded none: at least say which patients cannot be found
            ids = set(zoo.predictions().query("split == @split")["patient_id"])
            missing = len(ids - set(c.clinical.index))
            if missing:
                notes.append(f"{missing} of {len(ids)} {split} patients are not in the given cohort's table: "
                             "they appear as '(missing)' in the subgroups.")
        out[split] = c
    return out, notes


def _named(rows: list[dict], disp: dict[str, str]) -> list[dict]:
    return [{**r, "reference": disp.get(r["reference"], r["reference"])} for r in rows]


def _perf_rows(lb: pd.DataFrame, names: list[str]) -> list[dict]:
    if lb.empty or "model" not in lb:  # e.g. a zoo without an external cohort
        return []
    keep = lb[lb["model"].isin(names)].set_index("model").reindex([n for n in names if n in set(lb["model"])])
    return [{"model": m, **r.to_dict()} for m, r in keep.iterrows()]


def _site_difference(zoo, model: str, n_boot: int) -> dict | None:
    """External minus internal-test AUC of one model, with an unpaired bootstrap CI (each site resampled on
    its own): the heterogeneity across sites that TRIPOD+AI 23b asks for."""
    from zoo.evaluation.bootstrap import percentile_ci, resample_weights, weighted_auc

    P = zoo.predictions()
    parts = []
    for split, seed in (("test", 101), ("external", 202)):
        r = P[(P["model"] == model) & (P["split"] == split)].dropna(subset=["prob"])
        y, p = r["y"].to_numpy(int), r["prob"].to_numpy(float)
        if len(np.unique(y)) < 2:
            return None
        parts.append((float(weighted_auc(y, p, np.ones((1, len(y))))[0]),
                      weighted_auc(y, p, resample_weights(y, n_boot, seed))))
    lo, hi = percentile_ci(parts[1][1] - parts[0][1])
    return {"internal": parts[0][0], "external": parts[1][0], "delta": parts[1][0] - parts[0][0], "ci": [lo, hi]}


def card_context(zoo, cohorts: dict | None = None, notes: list[str] | None = None, n_boot: int = 1000,
                 generated: str | None = None) -> dict:
    """Everything the template shows, as plain values (and figures as data URIs)."""
    from zoo.api import MAIN_ENSEMBLE
    from zoo.cohort_stats import missingness, table_one
    from zoo.evaluation.staging_compare import card_rows
    from zoo.evaluation.subgroups import MIN_EVENTS, reported_models, zoo_subgroups
    from zoo.explain.patient import training_background
    from zoo.leaderboard import sample_size_warnings

    cohorts = cohorts or {}
    man, metrics, curves = zoo.manifest, zoo.metrics(), zoo.curves()
    disp = zoo.displays
    reported = reported_models(zoo)
    staging = metrics.get("staging") or {}
    best_staging = staging.get("best")
    plotted = {n: disp[n] for n in dict.fromkeys([MAIN_ENSEMBLE, man.get("best_single"), best_staging]) if n in disp}
    lb = {s: zoo.leaderboard(s) for s in ("test", "external")}
    lb = {s: t[t["status"] != "failed"] if len(t) and "status" in t else t for s, t in lb.items()}
    has_ext = len(lb["external"]) > 0
    train_cohort = cohorts.get("test")
    schema = train_cohort.schema if train_cohort is not None else None

    def figs(split: str) -> dict:
        return {k: (figures.data_uri(png) if png else None) for k, png in (
            ("roc", figures.roc_png(curves, split, plotted)), ("calibration", figures.calibration_png(curves, split, plotted)),
            ("dca", figures.decision_curve_png(curves, split, plotted)))}

    # predictors with units (schema of the training cohort when present, else names only); missing shares over
    # the training patients, the rows the models were fitted on
    train_rows = training_background(zoo, train_cohort) if train_cohort is not None else None
    predictors = []
    for f in zoo.features:
        v = schema[f] if schema is not None and f in schema else None
        predictors.append({"name": f, "label": v.display if v else f, "unit": (v.unit or "") if v else "",
                           "kind": v.kind.value if v else "", "derived": bool(v and v.derived),
                           "missing": float(train_rows[f].isna().mean())
                           if train_rows is not None and f in train_rows else None})
    t1 = table_one(train_cohort.clinical, schema) if train_cohort is not None else None
    dates = None
    if train_cohort is not None:
        for c in DATE_COLUMNS:
            if c in train_cohort.clinical:
                d = pd.to_datetime(train_cohort.clinical[c], errors="coerce").dropna()
                if len(d):
                    dates = f"{d.min():%Y-%m-%d} to {d.max():%Y-%m-%d} ({c})"
    sub = zoo_subgroups(zoo, cohorts, reported, n_boot=n_boot) if cohorts else pd.DataFrame()
    forest = {}
    if len(sub):
        for split in ("test", "external"):
            rows = sub[(sub["split"] == split) & (sub["model"] == MAIN_ENSEMBLE)]
            png = figures.forest_png(rows, f"{disp.get(MAIN_ENSEMBLE, MAIN_ENSEMBLE)} — {split}") if len(rows) else None
            forest[split] = figures.data_uri(png) if png else None
    # the card's table: the main ensemble and the best single model (every member's rows go in subgroups.csv)
    card_subgroups = sub[sub["model"].isin([MAIN_ENSEMBLE, man.get("best_single")])] if len(sub) else sub
    size = metrics.get("sample_size") or {}
    split_ids = zoo.split()
    failed = man.get("failed_models") or {}
    limitations = []
    if (man.get("cohort") or {}).get("synthetic"):
        limitations.append("The development cohort is synthetic (MyeloZoo's generator): every figure describes the "
                           "generator, not patients. Do not cite it as clinical evidence.")
    limitations += sample_size_warnings(metrics)  # each once: development, test, and the external cohort's
    few = card_subgroups[card_subgroups["too_few_events"]] if len(card_subgroups) else card_subgroups
    if len(few):
        limitations.append(f"{len(few)} of the card's subgroup rows have fewer than {MIN_EVENTS} events or non-events; their AUCs "
                           "are shown for completeness and are not interpretable.")
    if failed:
        limitations.append("Models that failed to train and are absent: " + "; ".join(f"{k} ({scrub_paths(str(v))})" for k, v in failed.items()))
    if not has_ext:
        limitations.append("No external validation: performance comes from one internal hold-out split.")
    limitations.append("Image models are trained from scratch on small cohorts on CPU profiles; their attention maps "
                       "and AUCs are reported as measured, including where they are at chance.")
    return {
        "generated": generated or dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "zoo": {"hash": zoo.hash, "created": man.get("created"), "profile": man["profile"].get("name"),
                "seed": man.get("seed"), "versions": man.get("library_versions") or {},
                "machine": machine_label(man.get("build_machine")),
                "schema_version": man.get("schema_version"), "n_models": len(zoo.model_names),
                "n_ensembles": len(zoo.ensemble_names), "files": sorted((man.get("files") or {}).items()),
                "profile_settings": man["profile"]},
        "synthetic": bool((man.get("cohort") or {}).get("synthetic")),
        "cohort": {"n": (man.get("cohort") or {}).get("n"), "n_train": len(split_ids.get("train", [])),
                   "n_test": len(split_ids.get("test", [])), "external_n": (man.get("external") or {}).get("n"),
                   "dates": dates, "excluded": metrics.get("outcome_excluded") or {},
                   "events_dev": (size.get("development") or {}).get("events"),
                   "prevalence": metrics.get("train_prevalence")},
        "table_one": (t1.to_dict("records") if t1 is not None else None),
        "table_one_columns": (list(t1.columns) if t1 is not None else []),
        "predictors": predictors,
        "missing": (missingness(train_rows, schema).to_dict("records") if train_rows is not None else []),
        "sample_size": size,
        "models": [{"name": n, "display": r.get("display", n), "modality": r.get("modality"), "family": r.get("family"),
                    "oof_auc": (metrics["models"].get(n) or {}).get("oof", {}).get("auc")}
                   for n, r in man["models"].items()],
        "ensembles": [{"name": n, "display": r.get("display", n), "kind": r.get("kind"),
                       "members": [disp.get(m, m) for m in r.get("members", [])]} for n, r in man["ensembles"].items()],
        "main": {"name": MAIN_ENSEMBLE, "display": disp.get(MAIN_ENSEMBLE, MAIN_ENSEMBLE),
                 "threshold": (metrics["models"].get(MAIN_ENSEMBLE) or {}).get("threshold")},
        "best_single": disp.get(man.get("best_single"), man.get("best_single")),
        "staging": {"best": disp.get(best_staging, best_staging), "chosen_on": staging.get("chosen_on"),
                    "test": _named(card_rows(metrics, "test", disp), disp),
                    "external": _named(card_rows(metrics, "external", disp), disp) if has_ext else []},
        "performance": {s: _perf_rows(lb[s], list(dict.fromkeys(reported + list(staging.get("systems") or []))))
                        for s in ("test", "external")},
        "figures": {"test": figs("test"), "external": figs("external") if has_ext else {}},
        "has_external": has_ext,
        "subgroups": card_subgroups.replace({np.nan: None}).to_dict("records") if len(sub) else [],
        "subgroup_frame": sub,
        "subgroup_min_events": MIN_EVENTS,
        "forest": forest,
        "limitations": limitations,
        "notes": [scrub_paths(n) for n in (notes or [])],
        "ipcw": any((v or {}).get("ipcw_weighted") for v in (metrics.get("outcome_excluded") or {}).values()),
        "site_difference": _site_difference(zoo, MAIN_ENSEMBLE, n_boot) if has_ext else None,
        "checklist": tripod.checklist(),
        "items": {s: tripod.items_for(s) for s in tripod.SECTION},
        "section_titles": tripod.SECTION_TITLE,
    }


def write_model_card(zoo, out: str | Path, cohorts: dict | None = None, notes: list[str] | None = None,
                     n_boot: int = 1000, pdf: bool = True) -> dict[str, Path | str]:
    """Write ``model_card.html`` (and ``model_card.pdf``, from the same HTML) and ``subgroups.csv`` (every
    reported model's subgroup rows) into ``out``. Without Pango the PDF is skipped and ``pdf_error`` says why."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ctx = card_context(zoo, cohorts, notes, n_boot)
    html = render_html("model_card.html.j2", ctx)
    paths = {"html": out / "model_card.html"}
    paths["html"].write_text(html, encoding="utf-8")
    if len(ctx["subgroup_frame"]):
        from zoo.csvsafe import safe_csv_bytes

        paths["subgroups"] = out / "subgroups.csv"
        paths["subgroups"].write_bytes(safe_csv_bytes(ctx["subgroup_frame"]))
    if pdf:
        from zoo.errors import ReportError

        try:
            data = html_to_pdf(html)
        except ReportError as e:  # no Pango on this machine: the HTML card stands on its own
            paths["pdf_error"] = str(e)
        else:
            paths["pdf"] = out / "model_card.pdf"
            paths["pdf"].write_bytes(data)
    return paths
