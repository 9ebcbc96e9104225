"""Build a zoo: every registered model, ensembles, honest evaluation, safe artifacts.

Order of work (each step only looks at what it may look at):
1. patient-level stratified 80/20 split; k stratified folds inside training
2. every model: out-of-fold predictions on training, then the final model
   (refit, or the fold models averaged in cheap profiles), which predicts the
   test set and any external cohort once; each model is committed to disk
   atomically on completion, so an interrupted run resumes model by model
3. ensemble membership, weights and meta-models from OOF predictions only
4. metrics: thresholds from OOF, scores on test/external, bootstrap CIs
5. manifest.json (hashes of every file) written last: its presence marks a complete zoo
"""
from __future__ import annotations

import json
import platform
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from zoo.artifacts.files import atomic_write_json, atomic_write_parquet, fsync_dir, hash_tree, read_json, verify_hashes
from zoo.cohort import Cohort, load_cohort
from zoo.data import PatientData
from zoo.errors import TrainingError, ZooIntegrityError
from zoo.models.registry import create_model, list_models, model_config
from zoo.training.profiles import Profile, get_profile
from zoo.training.progress import Progress, ProgressCallback
from zoo.training.output import (
    OutputLock, check_replaceable, check_writable_target, is_zoo, recover, staging_dir, swap_in,
)
from zoo.training.splits import Split, make_split, split_from_dict

ZOO_FORMAT_VERSION = "1"
MANIFEST = "manifest.json"
RUN = "run.json"


class Interrupted(RuntimeError):
    """Raised by ``stop_after`` in tests to simulate a crash between models."""


def library_versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("torch", "torchvision", "scikit-learn", "xgboost", "numpy", "pandas", "skops", "safetensors"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "missing"
    return out


def build_machine() -> dict[str, str | int | None]:
    """The machine that assembled a zoo, stored beside the library versions.

    Why: the CNNs' weights depend on the CPU's floating-point path, not only on code, data and seed. The
    same commit and seeds built on two 2-core machines of different CPUs gave image-model test AUCs up to
    0.057 apart (docs/BENCHMARKS.md), so a reviewer comparing two zoos' figures needs to know whether they
    came from the same kind of machine. With the Ray executor, models may have trained on other workers.
    """
    import os

    import torch

    cpu = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.lower().startswith("model name")), None)
    except OSError:
        pass
    return {"cpu": cpu or platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "platform": f"{platform.system()} {platform.machine()}"}  # no kernel build, host name or path


def _predictions_frame(ids: list[str], split: str, p: np.ndarray, raw: np.ndarray | None = None,
                       fold: np.ndarray | None = None) -> pd.DataFrame:
    """``prob`` is the calibrated probability; ``prob_raw`` the model's own score before recalibration."""
    df = pd.DataFrame({"patient_id": ids, "split": split, "prob": np.asarray(p, dtype=float)})
    if raw is not None:
        df["prob_raw"] = np.asarray(raw, dtype=float)
    if fold is not None:
        df["fold"] = fold
    return df


def _trainable(name: str, cohort: Cohort, minimum: int = 10) -> bool:
    """Image models need enough patients with that modality; a clinical-only cohort trains clinical models."""
    cfg = model_config(name)
    mod = cfg.modality
    if mod == "clinical":
        return bool(cohort.feature_columns)
    if mod == "reference":  # a staging system needs the inputs that decide its stages
        from zoo.models.staging import staging_available

        return staging_available(cfg.extra["system"], cohort.clinical[cohort.feature_columns], cohort.schema.ldh_uln)
    if mod == "multimodal":  # joint fusion learns every modality's encoder: each must be there to learn from
        return bool(cohort.feature_columns) and all(int(cohort.has_modality(m).sum()) >= minimum
                                                    for m in ("marrow", "electrophoresis"))
    return int(cohort.has_modality(mod).sum()) >= minimum


def _fit_model(name: str, profile: Profile, data: PatientData, y: np.ndarray, split: Split,
               ext: PatientData | None, device: str, seed: int, pretrained: bool, prog: Progress,
               case_weights: np.ndarray | None = None, cohort_root: Path | None = None) -> dict:
    """One model: out-of-fold scores, the final model, its recalibrator, and what it predicts.

    The recalibrator (Platt or isotonic, chosen by inner CV) is fitted on the out-of-fold scores of the
    training patients only, weighted for censoring; the OOF column that ensembles and thresholds see is
    cross-fitted through it, so it is distributed like the deployed model's calibrated output. CNNs also
    return out-of-fold embeddings (each training patient embedded by the fold model that did not see it)
    for early fusion.
    """
    from zoo.evaluation.calibration import CalibratedModel, ScoreCalibrator, crossfit_calibrated

    cfg = model_config(name)
    is_cnn = cfg.family in ("cnn", "cell")
    folds = split.folds()
    refit = not (is_cnn and profile.cnn_final == "folds")
    steps = (len(folds) + int(refit)) * (create_model(name, profile).epochs if is_cnn else 1)  # epochs vary by arch
    prog.start_model(name, steps, "epoch" if is_cnn else "fit")
    kw = {"seed": seed}
    if cfg.family == "joint":
        kw.update(device=device)
    if is_cnn:
        kw.update(device=device, pretrained=pretrained, progress=lambda e: prog.step(loss=e["loss"]))
    train = data.subset(split.train)
    y_tr = y[split.train]
    w_tr = None if case_weights is None else case_weights[split.train]
    oof = np.full(len(split.train), np.nan)
    want_emb = cfg.family in ("cnn", "cell")
    oof_emb = None
    fold_models = []
    # a staging system's stage rates are case-weighted (its per-stage 24-month risk); other models train unweighted
    fit_w = (lambda idx: {"sample_weight": w_tr[idx]}) if cfg.family == "staging" and w_tr is not None \
        else (lambda idx: {})

    def score(est, d: PatientData) -> tuple[np.ndarray, np.ndarray | None]:
        """P(PD) and, for CNNs, features of the patients in ``d``: one forward pass gives both."""
        if want_emb:
            p, e = est.predict_proba_and_embed(d)
            return p[:, 1], e
        return est.predict_proba(d)[:, 1], None

    for f, (fit_idx, held) in enumerate(folds):
        kw["seed"] = seed + 1000 * (f + 1)
        est = create_model(name, profile, **kw).fit(train.subset(fit_idx), y_tr[fit_idx], **fit_w(fit_idx))
        oof[held], e = score(est, train.subset(held))
        if e is not None:
            if oof_emb is None:
                oof_emb = np.full((len(split.train), e.shape[1]), np.nan, dtype=np.float32)
            oof_emb[held] = e
        fold_models.append(est)
        if not is_cnn:
            prog.step()
    if refit:
        kw["seed"] = seed
        final = create_model(name, profile, **kw).fit(train, y_tr, **fit_w(np.arange(len(y_tr))))
        if not is_cnn:
            prog.step()
    else:
        from zoo.models.cnn import FoldBag

        final = FoldBag(fold_models)
    for m in fold_models + [final]:  # callbacks are not part of a saved model
        for member in getattr(m, "members", [m]):
            if hasattr(member, "progress"):
                member.progress = None
    cal = ScoreCalibrator("auto", seed=seed).fit(oof, y_tr, w_tr)
    oof_cal = crossfit_calibrated(oof, y_tr, split.fold, w_tr, seed=seed)
    test_data = data.subset(split.test)
    p_test, e_test = score(final, test_data)
    p_ext, e_ext = score(final, ext) if ext is not None else (None, None)
    raw = {"oof": oof, "test": p_test, "external": p_ext}
    out = {"final": CalibratedModel(final, cal), "oof": oof_cal, "test": cal.predict(raw["test"]),
           "external": cal.predict(raw["external"]) if ext is not None else None, "raw": raw}
    if want_emb and refit:
        out["embeddings"] = {"oof": oof_emb, "test": e_test.astype(np.float32),
                             "external": e_ext.astype(np.float32) if ext is not None else None}
    if cfg.family in FOLD_ATTENTION_FAMILIES and refit and len(fold_models) > 1 and cohort_root is not None:
        try:  # an explanation figure: its failure must never cost the model
            out["fold_attention"] = fold_model_attention(name, fold_models, data, split.test, cohort_root)
        except Exception as e:  # noqa: BLE001
            prog.message(f"{name}: the fold models' attention was not computed ({failure_reason(e)}); "
                         "the model is kept, its leaderboard row shows '—' there.")
    return out


# Image models whose fold models' attention is stored. Not the cell-level ones: three more Grad-CAM passes over
# every test crop took 83 s for VGG16-BN on the demo's test smears on 2 CPU cores (benchmarks/attention.py
# --copies 3, 2026-12-06), minutes for the five; lane models took 1-7 s each (docs/BENCHMARKS.md).
FOLD_ATTENTION_FAMILIES = ("cnn",)


def fold_model_attention(name: str, fold_models: list, data: PatientData, test_idx: np.ndarray,
                         cohort_root: Path) -> pd.DataFrame:
    """Each CV fold model's attention on target on the test images (``member{j}_on_target`` / ``_chance``).

    Why: the final model is one training run; its attention figure's interval is over patients and leaves
    out how far another run's attention would be. The fold models are such runs, already trained, and are
    discarded after this; their figures are stored beside the final model's (``zoo.explain.attention``).
    """
    from zoo.explain.attention import attention_table
    from zoo.models.cnn import FoldBag

    cfg = model_config(name)
    rows = attention_table({name: FoldBag(fold_models)}, data, np.asarray(test_idx), "test", cohort_root,
                           {name: cfg.modality})
    keep = ["patient_id", "image"] + [c for c in rows if c.startswith("member")]
    return rows[keep] if len(rows) else pd.DataFrame(columns=["patient_id", "image"])


def model_recipe(name: str, prof: Profile) -> dict | None:
    """The settings an image or joint model is built with by this code under ``prof`` (None for other families,
    whose parameters hold estimators rather than plain values). Stored beside each trained image model, so that a
    build resumed by newer code retrains a model whose recipe the code has since changed (the cells a
    cell-level model pools, say) instead of mixing the two in one zoo."""
    family = model_config(name).family
    if family not in ("cnn", "cell", "joint"):
        return None
    p = create_model(name, prof).get_params(deep=False)
    recipe = {k: v for k, v in p.items() if k not in ("progress", "device", "seed", "pretrained")}
    if family in ("cell", "joint"):  # which cells a limit picks is code, not a parameter
        from zoo.segment.cells import POOLING_RULE

        recipe["pooling_rule"] = POOLING_RULE
    return json.loads(json.dumps(recipe))


def _commit_model(out_dir: Path, name: str, res: dict, ids: dict[str, list[str]], fold: np.ndarray,
                  recipe: dict | None = None) -> None:
    """Write one model into models/.tmp-NAME, then rename: a model dir exists only when complete."""
    from zoo.artifacts.model_io import save_fitted
    from zoo.artifacts.serialize import save_arrays

    cfg = model_config(name)
    final_dir = out_dir / "models" / name
    tmp = out_dir / "models" / f".tmp-{name}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_fitted(res["final"], cfg, tmp)
    raw = res.get("raw") or {}
    frames = [_predictions_frame(ids["train"], "oof", res["oof"], raw.get("oof"), fold),
              _predictions_frame(ids["test"], "test", res["test"], raw.get("test"))]
    if res["external"] is not None:
        frames.append(_predictions_frame(ids["external"], "external", res["external"], raw.get("external")))
    atomic_write_parquet(tmp / "predictions.parquet", pd.concat(frames))
    if res.get("fold_attention") is not None:
        atomic_write_parquet(tmp / "fold_attention.parquet", res["fold_attention"])
    if res.get("embeddings"):
        save_arrays({k: v for k, v in res["embeddings"].items() if v is not None}, tmp / "embeddings.safetensors")
    atomic_write_json(tmp / "DONE.json", {"files": hash_tree(tmp), **({"recipe": recipe} if recipe else {})})
    shutil.rmtree(final_dir, ignore_errors=True)
    tmp.rename(final_dir)
    fsync_dir(final_dir.parent)


def _model_done(out_dir: Path, name: str, recipe: dict | None = None, prog: Progress | None = None) -> bool:
    """Whether a resumed build may keep this committed model: complete, intact, and (image models) built with
    the recipe this code would use now."""
    d = out_dir / "models" / name
    if not (d / "DONE.json").is_file():
        return False
    try:
        done = read_json(d / "DONE.json")
        verify_hashes(d, done["files"], f"model {name}")
    except ZooIntegrityError:
        return False
    if recipe is not None and done.get("recipe") != recipe:
        if prog is not None:
            prog.message(f"{name}: trained earlier " + ("by code that did not record its settings" if "recipe" not in done
                                                       else "with other settings than this code's") + "; training it again")
        return False
    return True


def train_zoo(cohort_dir: str | Path, out: str | Path, profile: str | Profile = "quick",
              external: str | Path | None = None, device: str = "auto", seed: int = 0,
              models: list[str] | None = None, pretrained: bool = False, overwrite: bool = False,
              progress: ProgressCallback | None = None, show_bars: bool = True,
              stop_after: int | None = None, split_from: str | Path | None = None,
              segmentation_dir: str | Path | None = None, fail_fast: bool = False, strict: bool = False,
              executor: str = "local", ray_address: str | None = None) -> Path:
    """Train (or resume) a zoo in ``out``; returns the zoo path.

    ``executor``: ``local`` trains the models one after another in this process; ``ray`` runs each model as a
    Ray task (zoo/training/ray_executor.py) on a local Ray or the cluster at ``ray_address``. Both give the
    same zoo on the same seed.
    ``split_from``: a ``split.json`` of another zoo on the same patients, so two zoos share one test set.
    ``fail_fast``: stop at the first model that fails; by default the zoo completes without it and the
    manifest and leaderboard record the failure and its reason.
    ``strict``: implausible cohort values are errors instead of being set to missing.
    """
    prof = profile if isinstance(profile, Profile) else get_profile(profile)
    out = Path(out)
    with OutputLock(out):
        recover(out)
        if overwrite:
            check_replaceable(out)  # a folder that is not a zoo or a run is refused, untouched
            work = staging_dir(out)
        else:
            if is_zoo(out):
                raise FileExistsError(f"{out.name} already holds a complete zoo. Use --overwrite or another --out.")
            check_writable_target(out)
            work = out
        zoo_dir = _train_into(work, cohort_dir, prof, external, device, seed, models, pretrained, progress,
                              show_bars, stop_after, split_from, segmentation_dir, fail_fast, strict,
                              restart_if_different=work != out, executor=executor, ray_address=ray_address)
        if work != out:
            swap_in(work, out)
            zoo_dir = out
    return zoo_dir


def _settings_differing(prev: dict, now: dict) -> str:
    """The run settings an interrupted run and this one disagree on, named (``profile.cells_per_patient``), so a
    refused resume says why: a newer version of this code may have added a profile setting the old run lacks."""
    def flat(d: dict, pre: str = "") -> dict:
        out = {}
        for k, v in d.items():
            out.update(flat(v, f"{pre}{k}.") if isinstance(v, dict) else {f"{pre}{k}": v})
        return out

    a, b = flat(prev), flat(now)
    keys = sorted(k for k in a.keys() | b.keys() if a.get(k, "<absent>") != b.get(k, "<absent>"))
    named = [f"{k}: {a.get(k, 'absent')} then, {b.get(k, 'absent')} now" for k in keys[:4]]
    return "; ".join(named) + (f"; and {len(keys) - 4} more" if len(keys) > 4 else "")


def _train_into(out: Path, cohort_dir, prof: Profile, external, device, seed, models, pretrained, progress,
                show_bars, stop_after, split_from, segmentation_dir, fail_fast, strict,
                restart_if_different: bool, executor: str = "local", ray_address: str | None = None) -> Path:
    """Train (or resume) into ``out``; the caller holds the lock and chose ``out``.

    ``restart_if_different``: ``out`` is our own staging folder, so a leftover run with other settings is
    cleared instead of refused.
    """
    t_start = time.perf_counter()
    cohort = load_cohort(cohort_dir, strict=strict)
    ext_cohort = load_cohort(external, strict=strict) if external else None
    names = models or list_models(default_only=True, profile=prof.name)
    names = [n for n in names if _trainable(n, cohort)]
    run_info = {"cohort": str(Path(cohort_dir).resolve()), "cohort_fingerprint": cohort.fingerprint,
                "external": str(Path(external).resolve()) if external else None,
                "external_fingerprint": ext_cohort.fingerprint if ext_cohort else None,
                "profile": asdict(prof), "seed": seed, "models": names, "pretrained": pretrained,
                "split_from": str(split_from) if split_from else None}
    if (out / RUN).is_file():
        prev = read_json(out / RUN)
        now = json.loads(json.dumps(run_info, default=list))
        if json.dumps(prev, sort_keys=True) != json.dumps(now, sort_keys=True):
            if not restart_if_different:
                raise ZooIntegrityError(
                    f"{out.name} holds an interrupted run with different settings ({_settings_differing(prev, now)}). "
                    "Resume with the same settings, or pass --overwrite / choose another --out.")
            shutil.rmtree(out)
    elif out.exists() and restart_if_different and is_zoo(out):
        shutil.rmtree(out)  # a finished staging zoo whose swap never ran: recover() only takes it when out is absent
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / RUN, run_info)

    split = (split_from_dict(read_json(Path(split_from)), cohort.patient_ids) if split_from
             else make_split(cohort.y, prof.test_size, prof.cv_folds, seed))
    cohort = _split_weighted(cohort, split)
    data, ext, y, case_weights = prepare_data(cohort, ext_cohort, split, segmentation_dir)
    ids = {"train": [data.ids[i] for i in split.train], "test": [data.ids[i] for i in split.test],
           "external": ext.ids if ext else []}
    atomic_write_json(out / "split.json", split.to_dict(data.ids))

    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    prog = Progress(len(names), progress, show_bars)
    if pretrained:
        from zoo.models.networks import cached_imagenet_weights

        for arch in sorted({model_config(n).arch for n in names if model_config(n).arch}):
            if cached_imagenet_weights(arch) is None:
                prog.message(f"--pretrained: no ImageNet weights for {arch} in the local torch cache; it trains from "
                             "scratch (nothing is downloaded).")
    failures: dict[str, str] = {}
    if executor == "ray":
        from zoo.training.ray_executor import train_models_on_ray

        todo = []
        for name in names:
            if _model_done(out, name, model_recipe(name, prof), prog):
                prog.message(f"{name}: already trained, resuming after it")
                prog.end_model(name, resumed=True)
            else:
                todo.append(name)
        from zoo.models.cnn import resolve_device

        # resolved here: "auto" in a worker that Ray gave no GPU would mean CPU, and other weights
        job = {"cohort_dir": str(Path(cohort_dir).resolve()), "external": str(Path(external).resolve()) if external
               else None, "segmentation_dir": str(Path(segmentation_dir).resolve()) if segmentation_dir else None,
               "strict": strict, "out": str(out.resolve()), "profile": prof, "device": resolve_device(device).type,
               "seed": seed, "pretrained": pretrained, "torch_threads": _torch_threads(),
               "fingerprints": [cohort.fingerprint, ext_cohort.fingerprint if ext_cohort else None]}
        try:
            for name, seconds, failure in train_models_on_ray(todo, job, ray_address, stop_on_failure=fail_fast):
                if failure is None:
                    timings[name] = seconds
                elif fail_fast:
                    raise TrainingError(f"{name} failed ({failure}); stopped because of --fail-fast. Rerun without it "
                                        "to build the zoo without this model.")
                else:
                    failures[name] = failure
                    prog.message(f"warning: {name} failed and is left out of this zoo: {failure}")
                prog.end_model(name, seconds=seconds)
        finally:
            prog.close()
        names_iter: list[str] = []
    else:
        names_iter = names
    try:
        for k, name in enumerate(names_iter):
            if _model_done(out, name, model_recipe(name, prof), prog):
                prog.message(f"{name}: already trained, resuming after it")
                prog.end_model(name, resumed=True)
                continue
            if stop_after is not None and k >= stop_after:
                raise Interrupted(f"stopped before {name} (stop_after={stop_after})")
            t = time.perf_counter()
            try:
                res = _fit_model(name, prof, data, y, split, ext, device, seed, pretrained, prog, case_weights,
                                 cohort.root)
                _commit_model(out, name, res, ids, split.fold, model_recipe(name, prof))
            except (KeyboardInterrupt, Interrupted, MemoryError):
                raise
            except Exception as e:  # noqa: BLE001 - one model's failure must not cost the whole zoo
                if fail_fast:
                    raise TrainingError(f"{name} failed ({failure_reason(e)}); stopped because of --fail-fast. "
                                        "Rerun without it to build the zoo without this model.") from e
                failures[name] = failure_reason(e)
                prog.message(f"warning: {name} failed and is left out of this zoo: {failures[name]}")
                prog.end_model(name, seconds=round(time.perf_counter() - t, 2), failed=True)
                continue
            timings[name] = round(time.perf_counter() - t, 2)
            prog.end_model(name, seconds=timings[name])
    finally:
        prog.close()

    from zoo.training.assemble import assemble_zoo

    trained = [n for n in names if n not in failures]
    if not trained:
        raise ZooIntegrityError(
            f"Expected at least one model to train. Got {len(failures)} failures: "
            + "; ".join(f"{n}: {r}" for n, r in failures.items()) + ". Check the cohort with python -m zoo validate.")
    return assemble_zoo(out, cohort, ext_cohort, trained, prof, seed, split, ids, run_info, timings,
                        time.perf_counter() - t0, data, ext, failures=failures, prep_seconds=t0 - t_start,
                        resumed=len([n for n in trained if n not in timings]))


def _split_weighted(cohort: Cohort, split: Split) -> Cohort:
    """The cohort whose censoring weights come from its training patients' follow-up for training patients and
    from its test patients' for test patients: no test patient's follow-up shapes a weight the models, their
    recalibrators and thresholds are fitted with."""
    ids = cohort.patient_ids
    return cohort.split_weighted([ids[i] for i in split.train], [ids[i] for i in split.test])


def prepare_data(cohort: Cohort, ext_cohort: Cohort | None, split: Split, segmentation_dir=None):
    """(data, external data, labels, case weights) exactly as every model of a run sees them: one function for
    the local loop and the Ray workers, so both executors train on the same inputs."""
    # annotation points may prompt segmentation of training images only (training crops); every
    # prediction (OOF, test, external) uses the unprompted segmentation a new patient gets
    train_ids = [cohort.patient_ids[i] for i in split.train]
    data = PatientData.from_cohort(cohort, segmentation_dir, prompted_ids=train_ids)
    ext = PatientData.from_cohort(ext_cohort) if ext_cohort else None
    case_weights = (cohort.case_weights.reindex(cohort.patient_ids).to_numpy(dtype=float)
                    if cohort.case_weights is not None else None)
    return data, ext, cohort.y, case_weights


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def train_one_model(job: dict, name: str) -> float:
    """One model of a run, fitted and committed into ``job['out']``, in whatever process runs it (a Ray worker
    reads the cohort and the run's split.json from the shared folders). Returns the seconds it took."""
    t = time.perf_counter()
    if job.get("torch_threads"):  # a CNN's float sums depend on the thread count: the driver's count, same weights
        import torch

        torch.set_num_threads(int(job["torch_threads"]))
    cohort = load_cohort(job["cohort_dir"], strict=job["strict"])
    ext_cohort = load_cohort(job["external"], strict=job["strict"]) if job["external"] else None
    seen = [cohort.fingerprint, ext_cohort.fingerprint if ext_cohort else None]
    if job.get("fingerprints") and seen != job["fingerprints"]:
        raise ZooIntegrityError(f"This worker reads other data than the driver at {Path(job['cohort_dir']).name}: the "
                                "cohort's content differs. Put the cohort on storage every node sees (docs/SCALE.md).")
    out = Path(job["out"])
    split = split_from_dict(read_json(out / "split.json"), cohort.patient_ids)
    cohort = _split_weighted(cohort, split)
    data, ext, y, case_weights = prepare_data(cohort, ext_cohort, split, job["segmentation_dir"])
    ids = {"train": [data.ids[i] for i in split.train], "test": [data.ids[i] for i in split.test],
           "external": ext.ids if ext else []}
    res = _fit_model(name, job["profile"], data, y, split, ext, job["device"], job["seed"], job["pretrained"],
                     Progress(1, None, bars=False), case_weights, cohort.root)
    _commit_model(out, name, res, ids, split.fold, model_recipe(name, job["profile"]))
    return round(time.perf_counter() - t, 2)


def failure_reason(e: BaseException) -> str:
    """One line for the manifest and the leaderboard: the exception type and its first line."""
    first = (str(e).strip().splitlines() or [""])[0]
    return f"{type(e).__name__}: {first[:300]}" if first else type(e).__name__
