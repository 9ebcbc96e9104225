"""After the single models: ensembles (from OOF only), evaluation, manifest."""
from __future__ import annotations

import time
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from zoo.artifacts.files import atomic_write_json, atomic_write_parquet, hash_tree
from zoo.artifacts.manifest import manifest_key, sign_manifest
from zoo.evaluation.report import _auc, evaluate
from zoo.explain.modality_shapley import MODALITIES
from zoo.models.ensembles import SoftVoting, Stacking, WeightedVoting, top_k_per_modality
from zoo.models.registry import model_config
from zoo.schema import SCHEMA_VERSION

LATE_ENSEMBLES = {
    "ens_soft_vote": ("Soft voting, top-2 per modality (the study's ensemble)", SoftVoting),
    "ens_weighted": ("Weighted soft voting (weights fit on OOF)", WeightedVoting),
    "ens_stacking": ("Stacking (logistic meta-learner on OOF)", Stacking),
}
FUSION_ENSEMBLES = {
    "ens_fusion_lr": ("Early fusion: clinical + CNN embeddings → logistic regression", "lr"),
    "ens_fusion_xgb": ("Early fusion: clinical + CNN embeddings → XGBoost", "xgb"),
}
ENSEMBLE_DISPLAY = {k: v[0] for k, v in {**LATE_ENSEMBLES, **FUSION_ENSEMBLES}.items()}


def _wide(frames: list[pd.DataFrame], split: str, index: list[str]) -> pd.DataFrame:
    parts = {name: df[df["split"] == split].set_index("patient_id")["prob"] for name, df in frames}
    return pd.DataFrame(parts).reindex(index)


def _crossfit(make, P: pd.DataFrame, y: np.ndarray, fold: np.ndarray):
    """OOF predictions of an ensemble: refit on the other folds' OOF rows, predict the held-out fold."""
    out = np.full(len(P), np.nan)
    for f in np.unique(fold):
        tr, va = fold != f, fold == f
        out[va] = make().fit(P[tr], y[tr]).predict_proba(P[va])
    return out


def _embeddings(out: Path, name: str) -> dict | None:
    """Cross-fitted training embeddings (OOF) and the final CNN's test/external embeddings, as saved."""
    from zoo.artifacts.serialize import load_arrays

    f = out / "models" / name / "embeddings.safetensors"
    if not f.is_file():
        return None
    arr = load_arrays(f)
    return {k: arr[k].astype(np.float64) if k in arr else None for k in ("oof", "test", "external")}


def _calibrate_ensemble(ens_oof_raw: np.ndarray, y: np.ndarray, fold: np.ndarray, w, seed: int):
    """The ensemble's recalibrator (fitted on its cross-fitted OOF output) and its calibrated OOF column."""
    from zoo.evaluation.calibration import ScoreCalibrator, crossfit_calibrated

    cal = ScoreCalibrator("auto", seed=seed).fit(ens_oof_raw, y, w)
    return cal, crossfit_calibrated(ens_oof_raw, y, fold, w, seed=seed)


def _calibrate_late(make, P: pd.DataFrame, y: np.ndarray, fold: np.ndarray, w, seed: int, ens):
    """Per-pattern recalibrators for a late ensemble, and its calibrated cross-fitted OOF column.

    For each pattern of modalities (clinical; clinical+marrow; ...), the ensemble is cross-fitted on the
    members' OOF table and asked for its raw output using only that pattern's members, on the training
    patients who have every modality of the pattern. A recalibrator per pattern is fitted on those
    outputs, and each patient's OOF value is the cross-fitted calibrated output for the modalities that
    patient actually has: what the deployed ensemble would give them.
    """
    import itertools

    from zoo.evaluation.calibration import ScoreCalibrator, crossfit_calibrated

    mods = sorted(set(ens.member_modality.values()))
    actual = np.asarray(["+".join(u) for u in ens.modalities_used(P)], dtype=object)
    fitted = {f: make().fit(P[fold != f], y[fold != f]) for f in np.unique(fold)}
    cals, oof_by = {}, {}
    calibrated = np.full(len(y), np.nan)
    for r in range(len(mods), 0, -1):
        for pat in itertools.combinations(mods, r):
            key = "+".join(pat)
            has = np.array([set(pat) <= set(a.split("+")) if a else False for a in actual])
            if has.sum() < 10 or len(np.unique(y[has])) < 2:
                continue
            raw = np.full(len(y), np.nan)
            for f, e in fitted.items():
                va = (fold == f) & has
                if va.any():
                    raw[va] = e.raw_proba(P[va], set(pat))
            cals[key] = ScoreCalibrator("auto", seed=seed).fit(raw, y, w)
            cv = crossfit_calibrated(raw, y, fold, w, seed=seed)
            keep = ~np.isnan(cv)
            oof_by[key] = {"p": [float(v) for v in cv[keep]], "y": [int(v) for v in y[keep]]}
            if w is not None:  # the censoring weights, for the calibration band (zoo.evaluation.intervals)
                oof_by[key]["w"] = [float(v) for v in np.asarray(w, dtype=float)[keep]]
            mine = actual == key
            calibrated[mine] = cv[mine]
    full = "+".join(mods)
    ens.calibrators_, ens.oof_by_pattern_ = cals, oof_by
    raw_all = _crossfit(make, P, y, fold)
    if full in cals:
        ens.calibrator_ = cals[full]
        fallback = crossfit_calibrated(raw_all, y, fold, w, seed=seed)
    else:
        ens.calibrator_, fallback = _calibrate_ensemble(raw_all, y, fold, w, seed)
    gap = np.isnan(calibrated) & ~np.isnan(fallback)
    calibrated[gap] = fallback[gap]
    return calibrated


def assemble_zoo(out: Path, cohort, ext_cohort, names, prof, seed, split, ids, run_info, timings, seconds,
                 data, ext, failures: dict[str, str] | None = None, prep_seconds: float = 0.0,
                 resumed: int = 0) -> Path:
    """``seconds``: model training so far in this run; ``prep_seconds``: reading the cohorts and splitting before
    it; ``resumed``: models taken from an interrupted earlier run (their time is not in this run's totals)."""
    from zoo.artifacts.model_io import save_fusion
    from zoo.models.fusion import EarlyFusion

    key = manifest_key()  # a malformed MYELOZOO_MANIFEST_KEY stops here, not after the ensembles
    t0 = time.perf_counter()
    frames = [(n, pd.read_parquet(out / "models" / n / "predictions.parquet")) for n in names]
    has_ext = ext_cohort is not None
    splits = ["oof", "test"] + (["external"] if has_ext else [])
    index = {"oof": ids["train"], "test": ids["test"], "external": ids["external"]}
    preds = {s: _wide(frames, s, index[s]) for s in splits}
    ycoh = pd.Series(cohort.y, index=cohort.patient_ids)
    y = {"oof": ycoh.reindex(ids["train"]), "test": ycoh.reindex(ids["test"])}
    if has_ext:
        y["external"] = pd.Series(ext_cohort.y, index=ext_cohort.patient_ids).reindex(ids["external"])
    groups = {n: model_config(n).modality for n in names}
    kinds = {n: "reference" if groups[n] == "reference" else "single" for n in names}
    y_oof = y["oof"].to_numpy()
    fold = split.fold
    oof_auc = {n: _auc(y_oof, preds["oof"][n].to_numpy()) for n in names}
    # staging systems are what the models are compared with: never ensemble members or the best single model
    # one modality each: ensemble members and the best single model. Joint fusion models already combine
    # modalities: they stand beside the ensembles, never inside one, and are not what ensembles are compared with
    one_modality = [n for n in names if kinds[n] == "single" and groups[n] in MODALITIES]
    members = top_k_per_modality({n: oof_auc[n] for n in one_modality}, groups, 2)
    member_modality = {m: groups[m] for m in members}
    ens_records: dict[str, dict] = {}
    used: list[pd.DataFrame] = []

    w_oof = None if cohort.case_weights is None else cohort.case_weights.reindex(ids["train"]).to_numpy(float)
    for ens_name, (display, cls) in LATE_ENSEMBLES.items():
        make = lambda cls=cls: cls(members, member_modality)  # noqa: E731
        ens = make().fit(preds["oof"][members], y_oof)
        preds["oof"][ens_name] = _calibrate_late(make, preds["oof"][members], y_oof, fold, w_oof, seed, ens)
        for s in splits[1:]:
            preds[s][ens_name] = ens.predict_proba(preds[s][members])
            used.append(pd.DataFrame({"patient_id": index[s], "split": s, "ensemble": ens_name,
                                      "modalities": ["+".join(u) for u in ens.modalities_used(preds[s][members])]}))
        d = out / "ensembles" / ens_name
        atomic_write_json(d / "ensemble.json", {**ens.to_dict(), "display": display})
        ens_records[ens_name] = {"display": display, "members": members, "kind": "late"}
        groups[ens_name], kinds[ens_name] = "ensemble", "ensemble"

    # early fusion: the best CNN per image modality by OOF AUC supplies the embeddings (whole-field, lane or
    # cell-level: a cell model's patient embedding is the mean of its crops' features)
    cnn_best = {}
    for mod in ("marrow", "electrophoresis"):
        cands = [n for n in names if groups[n] == mod and model_config(n).family in ("cnn", "cell")
                 and not np.isnan(oof_auc[n])]
        if cands:
            cnn_best[mod] = max(cands, key=lambda n: (oof_auc[n], n))
    train_data = data.subset(split.train)
    test_data = data.subset(split.test)
    clin = {"oof": train_data.clinical, "test": test_data.clinical, "external": ext.clinical if has_ext else None}
    by_model = {m: _embeddings(out, n) for m, n in cnn_best.items()}
    cnn_best = {m: n for m, n in cnn_best.items() if by_model[m] is not None}
    emb = {s: {m: by_model[m][s] for m in cnn_best} for s in splits}
    for ens_name, (display, head) in FUSION_ENSEMBLES.items():
        def make(head=head):
            return EarlyFusion(head=head, n_components=prof.embed_components, seed=seed, inner_folds=prof.inner_folds)

        fus = make().fit(clin["oof"], emb["oof"], y_oof, cohort.schema, data.features)
        oof = np.full(len(y_oof), np.nan)
        for f in np.unique(fold):
            tr, va = fold != f, fold == f
            m = make().fit(clin["oof"][tr], {k: v[tr] for k, v in emb["oof"].items()}, y_oof[tr],
                           cohort.schema, data.features)
            oof[va] = m.predict_proba(clin["oof"][va], {k: v[va] for k, v in emb["oof"].items()})[:, 1]
        fus.calibrator_, preds["oof"][ens_name] = _calibrate_ensemble(oof, y_oof, fold, w_oof, seed)
        for s in splits[1:]:
            preds[s][ens_name] = fus.predict_proba(clin[s], emb[s])[:, 1]
            used.append(pd.DataFrame({"patient_id": index[s], "split": s, "ensemble": ens_name,
                                      "modalities": ["+".join(u) for u in fus.modalities_used(clin[s], emb[s])]}))
        save_fusion(fus, out / "ensembles" / ens_name)
        atomic_write_json(out / "ensembles" / ens_name / "ensemble.json",
                          {"class": "EarlyFusion", "head": head, "display": display, "embedding_models": cnn_best})
        ens_records[ens_name] = {"display": display, "members": ["clinical", *cnn_best.values()], "kind": "fusion",
                                 "embedding_models": cnn_best}
        groups[ens_name], kinds[ens_name] = "ensemble", "ensemble"

    singles = [n for n in one_modality if not np.isnan(oof_auc[n])]
    best_single = max(singles, key=lambda n: (oof_auc[n], n))
    oracle = {"test": cohort.oracle(), "external": ext_cohort.oracle() if has_ext else None}
    case_w = {"oof": cohort.case_weights, "test": cohort.case_weights,
              "external": ext_cohort.case_weights if has_ext else None}
    metrics, curves = evaluate(y, preds, groups, kinds, best_single, prof.n_bootstrap, seed, oracle, case_w)
    metrics["ensemble_members"] = members
    metrics["outcome_excluded"] = {
        k: {"censored_early": c.report.n_censored_early,
            "no_outcome": c.report.n_outcome_unknown - c.report.n_censored_early,
            "ipcw_weighted": c.case_weights is not None,
            # how Ĝ was estimated: apart for training and test patients (development), on the whole cohort (external)
            "ipcw": (None if c.case_weights is None else "split" if k == "development" else "whole")}
        for k, c in (("development", cohort), ("external", ext_cohort)) if c is not None and c.report is not None}
    metrics["ensembles"] = ens_records
    metrics["sample_size"] = _sample_size(y, cohort, data.features)
    _staging_comparisons(metrics, y, preds, groups, oof_auc, clin, cohort, ext_cohort, case_w, prof, seed)
    t_att = time.perf_counter()
    att, t_twins = _attention(out, names, data, split, ext, cohort, ext_cohort, prof)
    # part of ensembles_and_evaluation, kept apart: the image models' Grad-CAMs on every test image (and
    # external image in the paper profile), their randomised twins' included (also given alone)
    timings["evaluation_attention"] = round(time.perf_counter() - t_att, 2)
    timings["evaluation_attention_twins"] = round(t_twins, 2)
    if not att.empty:
        atomic_write_parquet(out / "attention.parquet", att)
        from zoo.explain.attention import summarise

        pl = pd.concat([pd.DataFrame({"patient_id": index[s], "split": s, "model": n,
                                      "prob": preds[s][n].to_numpy(), "y": y[s].to_numpy()})
                        for s in splits[1:] for n in att["model"].unique()])
        summary = summarise(att, pl, {n: metrics["models"][n]["threshold"] for n in names})
        for n, per_split in summary.items():
            for s, rec in per_split.items():
                metrics["models"][n][s]["attention_on_target"] = rec
    metrics["ablation"] = _ablation(out, preds, y, splits, members, member_modality, clin, emb, fold)
    metrics["ablation"].update(_joint_ablation(out, names, preds, y, splits, data, split, ext))

    long = []
    for s in splits:
        df = preds[s].copy()
        df.index.name = "patient_id"
        m = df.reset_index().melt(id_vars="patient_id", var_name="model", value_name="prob")
        m["split"] = s
        m["y"] = m["patient_id"].map(y[s])
        if any(case_w.get(k) is not None for k in splits):  # the slider weighs as the tables do; 1 = unweighted
            m["weight"] = (m["patient_id"].map(case_w[s]).astype(float) if case_w.get(s) is not None
                           else 1.0)
        long.append(m)
    atomic_write_parquet(out / "predictions.parquet", pd.concat(long))
    if used:
        atomic_write_parquet(out / "ensemble_modalities.parquet", pd.concat(used))
    atomic_write_json(out / "metrics.json", metrics)
    atomic_write_json(out / "curves.json", curves)
    timings["ensembles_and_evaluation"] = round(time.perf_counter() - t0, 2)

    manifest = {
        "zoo_format_version": "1", "schema_version": SCHEMA_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cohort": {"path": run_info["cohort"], "fingerprint": cohort.fingerprint, "n": len(cohort.patient_ids),
                   "synthetic": cohort.is_synthetic, "features": data.features},
        "external": {"path": run_info["external"], "fingerprint": run_info["external_fingerprint"],
                     "n": len(ids["external"])} if has_ext else None,
        "profile": asdict(prof), "seed": seed, "pretrained": run_info["pretrained"],
        "library_versions": _versions(), "build_machine": _machine(),
        "models": {n: {"modality": groups[n], "family": model_config(n).family, "display": model_config(n).display,
                       "paper_name": model_config(n).paper_name, "arch": model_config(n).arch,
                       "oof_auc": oof_auc[n], "test_auc": metrics["models"][n]["test"].get("auc")} for n in names},
        "ensembles": {e: {**r, "test_auc": metrics["models"][e]["test"].get("auc")} for e, r in ens_records.items()},
        "model_order": list(names), "ensemble_order": list(ens_records),
        "best_single": best_single,
        "failed_models": dict(failures or {}),
        # "total": models + assembly; "build_total": the whole train call, from reading the cohort to this
        # manifest (what a user waits for); "resumed_models": models an earlier, interrupted run trained
        "timings_seconds": {**timings, "total": round(seconds + time.perf_counter() - t0, 2),
                            "data_preparation": round(prep_seconds, 2),
                            "build_total": round(prep_seconds + seconds + time.perf_counter() - t0, 2),
                            "resumed_models": resumed},
        "files": hash_tree(out, exclude=("manifest.json",)),
    }
    # signed (HMAC-SHA256) when MYELOZOO_MANIFEST_KEY is set: then loading can tell tampering from a valid zoo
    atomic_write_json(out / "manifest.json", sign_manifest(manifest, key))
    return out


def _sample_size(y: dict, cohort, features: list[str]) -> dict:
    """Training patients against Riley et al.'s minimum; the external cohort against 100 events."""
    from zoo.evaluation.sample_size import candidate_parameters, sample_size_report

    ext, test = y.get("external"), y.get("test")
    return sample_size_report(y["oof"].to_numpy(dtype=float), candidate_parameters(cohort.schema, features),
                              None if ext is None else ext.to_numpy(dtype=float),
                              y_test=None if test is None else test.to_numpy(dtype=float))


def _staging_comparisons(metrics, y, preds, groups, oof_auc, clin, cohort, ext_cohort, case_w, prof, seed) -> None:
    """Every model and ensemble against the best staging system (zoo/evaluation/staging_compare.py)."""
    from zoo.evaluation.staging_compare import compare_to_staging
    from zoo.models.catalog import STAGING_MODELS
    from zoo.schema.derived import derive_staging_systems

    uln = {"oof": cohort.schema.ldh_uln, "test": cohort.schema.ldh_uln,
           "external": ext_cohort.schema.ldh_uln if ext_cohort is not None else None}
    stages = {s: derive_staging_systems(clin[s], uln[s]).set_axis(y[s].index) for s in y if clin.get(s) is not None}
    cw = {s: case_w[s].reindex(y[s].index).to_numpy(dtype=float) for s in y if case_w.get(s) is not None}
    summary, results = compare_to_staging(y, preds, groups, oof_auc, stages, cw, prof.n_bootstrap, seed,
                                          systems=STAGING_MODELS)
    metrics["staging"] = summary
    for name, per_split in results.items():
        for s, rec in per_split.items():
            metrics["models"][name][s]["vs_staging"] = rec


def _attention(out: Path, names, data, split, ext, cohort, ext_cohort, prof) -> tuple[pd.DataFrame, float]:
    """Attention-on-target of every image model on the test set (and external in ``paper``), with each model's
    randomised twin beside it on the test set; and the seconds the twins took."""
    from zoo.artifacts.model_io import load_fitted
    from zoo.explain.attention import attention_table, with_twin

    cams = [n for n in names if model_config(n).family in ("cnn", "cell")]
    if not cams:
        return pd.DataFrame(), 0.0
    models = {n: load_fitted(model_config(n), out / "models" / n, device="cpu") for n in cams}
    modality_of = {n: model_config(n).modality for n in cams}
    test = _with_fold_models(out, attention_table(models, data, split.test, "test", cohort.root, modality_of))
    t = time.perf_counter()
    tested = set(test["model"]) if "model" in test else set()
    parts = [with_twin(test, _twin_attention(models, data, split, cohort, modality_of, tested))]
    t_twins = time.perf_counter() - t
    if ext is not None and prof.name == "paper":
        parts.append(attention_table(models, ext, np.arange(len(ext)), "external", ext_cohort.root, modality_of))
    return pd.concat(parts, ignore_index=True), t_twins


def _twin_attention(models: dict, data, split, cohort, modality_of: dict, tested: set[str]) -> list[pd.DataFrame]:
    """Each image model's randomised twins (``zoo.explain.attention.randomised_twin``: same architecture, weights
    re-drawn, BatchNorm re-estimated on the training patients' inputs; ``TWIN_DRAWS`` random networks, each
    seeded per model and draw) mapped on the same test images: the attention networks that learned nothing get
    there, stored beside the model's. One table per draw; one twin in memory at a time; models without a test
    image (``tested``) are skipped."""
    from zoo.explain.attention import TWIN_DRAWS, attention_table, randomised_model, twin_seed

    train = data.subset(split.train)
    draws, failed = [], set()
    for r in range(TWIN_DRAWS):
        parts = []
        for n, m in models.items():
            if n not in tested or n in failed:
                continue
            try:
                parts.append(attention_table({n: randomised_model(m, train, twin_seed(n, r))}, data, split.test,
                                             "test", cohort.root, modality_of))
            except Exception as e:  # noqa: BLE001 - a check on the model, not the model: the zoo is kept without it
                failed.add(n)
                warnings.warn(f"{n}: its randomly initialised networks could not be mapped ({type(e).__name__}: "
                              f"{e}); the leaderboard shows '—' for them. The model and its own attention are "
                              "kept.", stacklevel=2)
        parts = [p for p in parts if not p.empty]  # a model failing in a later draw is dropped below
        draws.append(pd.concat(parts, ignore_index=True) if parts else pd.DataFrame())
    return [d[~d["model"].isin(failed)] if not d.empty else d for d in draws]


def _with_fold_models(out: Path, att: pd.DataFrame) -> pd.DataFrame:
    """The test rows with each model's CV fold models' attention beside them (written by the trainer as
    ``models/NAME/fold_attention.parquet``, hashed with the model; same images, ``member{j}_*`` columns)."""
    if att.empty or "model" not in att:  # no test image of any image model: nothing to add to
        return att
    parts = []
    for name, g in att.groupby("model", sort=False):
        f = out / "models" / name / "fold_attention.parquet"
        fold = pd.read_parquet(f) if f.is_file() else None
        # rows are keyed by patient and file name; should one patient hold two files of one name, the figures
        # could not be matched to their images, and the fold models' columns are left out rather than guessed
        if fold is not None:
            if fold.duplicated(["patient_id", "image"]).any() or g.duplicated(["patient_id", "image"]).any():
                warnings.warn(f"{name}: a test patient has two images of one file name, so its fold models' "
                              "attention cannot be matched to its images and is left out ('—' on the "
                              "leaderboard). Give each of a patient's images its own file name.", stacklevel=2)
            else:
                g = g.merge(fold, on=["patient_id", "image"], how="left")
        parts.append(g)
    return pd.concat(parts, ignore_index=True) if parts else att


def _ablation(out, preds, y, splits, members, member_modality, clin, emb, fold) -> dict:
    """Leave-one-modality-out AUC of each ensemble on test/external (what each modality adds)."""
    from zoo.artifacts.model_io import load_fusion
    from zoo.models.ensembles import late_fusion_from_dict
    from zoo.artifacts.files import read_json

    res: dict = {}
    all_mods = set(MODALITIES)
    for ens_name in list(LATE_ENSEMBLES) + list(FUSION_ENSEMBLES):
        d = out / "ensembles" / ens_name
        res[ens_name] = {}
        for s in splits[1:]:
            yy = y[s].to_numpy()
            row = {"all": _auc(yy, preds[s][ens_name].to_numpy())}
            for m in sorted(all_mods):
                if ens_name in LATE_ENSEMBLES:
                    ens = late_fusion_from_dict(read_json(d / "ensemble.json"))
                    p = ens.predict_proba(preds[s][members], modalities=all_mods - {m})
                else:
                    fus = load_fusion(d)
                    c = clin[s].copy()
                    e = dict(emb[s])
                    if m == "clinical":
                        c[:] = np.nan
                    else:
                        e.pop(m, None)
                    p = fus.predict_proba(c, e)[:, 1]
                row[f"without_{m}"] = _auc(yy, p)
            res[ens_name][s] = row
    return res


def _joint_ablation(out, names, preds, y, splits, data, split, ext) -> dict:
    """Leave-one-modality-out AUC of each joint fusion model: the same network with that modality marked as
    not collected (what modality dropout trained it for)."""
    from zoo.artifacts.model_io import load_fitted

    res: dict = {}
    for name in [n for n in names if model_config(n).family == "joint"]:
        est = load_fitted(model_config(name), out / "models" / name, device="cpu")
        res[name] = {}
        for s in splits[1:]:
            d = data.subset(split.test) if s == "test" else ext
            yy = y[s].to_numpy()
            row = {"all": _auc(yy, preds[s][name].to_numpy())}
            for m in sorted(MODALITIES):
                # a patient whose only modality was dropped gets the training prevalence, as the late ensembles
                # and the modality Shapley values do, so every column is computed on the same patients
                p = est.predict_proba(d.drop_modality(m))[:, 1]
                row[f"without_{m}"] = _auc(yy, np.where(np.isnan(p), est.prevalence_, p))
            res[name][s] = row
    return res


def _versions() -> dict:
    from zoo.training.trainer import library_versions

    return library_versions()


def _machine() -> dict:
    from zoo.training.trainer import build_machine

    return build_machine()
