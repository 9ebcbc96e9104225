"""Save and rebuild fitted models by family: the registry rebuilds, files only carry numbers."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.artifacts.files import ArtifactDir, PlainDir, atomic_write_json, read_json
from zoo.artifacts.serialize import (
    load_skops, load_state_dict, load_xgboost, save_skops, save_state_dict, save_xgboost,
)
from zoo.models.registry import ModelConfig

_XGB_KEEP = ("n_estimators", "max_depth", "learning_rate", "subsample", "colsample_bytree", "tree_method",
             "random_state", "eval_metric", "n_jobs")


def _xgb_params(m) -> dict:
    p = m.get_params()
    return {k: p[k] for k in _XGB_KEEP if k in p and p[k] is not None}


def save_fitted(est, cfg: ModelConfig, directory: Path, fold_models: list | None = None) -> dict:
    """Write ``est`` (and optional per-fold CNNs) into ``directory``; returns its config record.

    A ``CalibratedModel`` writes its model as usual plus ``calibration.json`` (numbers only).
    """
    from zoo.evaluation.calibration import CalibratedModel

    directory.mkdir(parents=True, exist_ok=True)
    if isinstance(est, CalibratedModel):
        atomic_write_json(directory / "calibration.json", est.calibrator.to_dict())
        est = est.base
    rec: dict = {"name": cfg.name, "family": cfg.family, "modality": cfg.modality, "version": cfg.version}
    if cfg.family in ("cnn", "cell"):
        members = getattr(est, "members", [est])  # a FoldBag saves each fold model
        params = {k: v for k, v in members[0].get_params().items() if k != "progress"}
        params["betas"] = list(params["betas"])
        rec.update(params=params, init_note=getattr(members[0], "init_note_", ""),
                   history=[m.history_ for m in members], n_members=len(members))
        for i, m in enumerate(members):
            save_state_dict(m.net_, directory / f"weights_{i}.safetensors", {"arch": m.arch, "modality": m.modality})
            if getattr(m, "attention_", None) is not None:
                save_state_dict(m.attention_, directory / f"attention_{i}.safetensors")
    elif cfg.family in ("sklearn", "xgboost"):
        rec.update(features=est.features_, best_params=_jsonable(est.best_params_), cv_auc=est.cv_auc_,
                   imputer=est.imputer)
        if cfg.family == "xgboost":
            save_skops(est.pipeline_.named_steps["prep"], directory / "prep.skops")
            clf = est.pipeline_.named_steps["clf"]
            save_xgboost(clf, directory / "booster.json")
            rec["xgb_params"] = _xgb_params(clf)
        else:
            save_skops(est.pipeline_, directory / "pipeline.skops")
    elif cfg.family == "joint":  # weights in safetensors, the clinical preprocessing in skops
        params = {k: v for k, v in est.get_params().items() if k != "progress"}
        rec.update(params=params, features=est.features_, n_clinical=int(est.net_.clinical[0].in_features),
                   history=est.history_, prevalence=est.prevalence_)
        save_state_dict(est.net_, directory / "weights.safetensors", {"family": "joint"})
        save_skops(est.prep_, directory / "prep.skops")
    elif cfg.family == "staging":  # a staging system's per-stage rates: numbers in model.json
        rec.update(staging=est.to_dict())
    else:
        raise ValueError(f"Expected a model family cnn, cell, joint, sklearn, xgboost or staging. Got {cfg.family!r}.")
    atomic_write_json(directory / "model.json", rec)
    return rec


def _as_dir(directory: Path | ArtifactDir) -> ArtifactDir:
    return directory if isinstance(directory, ArtifactDir) else PlainDir(Path(directory))


def load_fitted(cfg: ModelConfig, directory: Path | ArtifactDir, device: str = "auto"):
    """Rebuild the estimator from the registry, then load its numbers.

    ``directory`` is a folder (training: every file present counts) or a zoo's manifest view
    (``ListedDir``: only listed files exist, each hash-checked before it is read). With a
    ``calibration.json`` beside it, the model comes back wrapped in its recalibrator.
    """
    d = _as_dir(directory)
    base = _load_base(cfg, d, device)
    if d.has("calibration.json"):
        from zoo.evaluation.calibration import CalibratedModel, ScoreCalibrator

        return CalibratedModel(base, ScoreCalibrator.from_dict(read_json(d.path("calibration.json"))))
    return base


def _load_base(cfg: ModelConfig, directory: ArtifactDir, device: str = "auto"):
    rec = read_json(directory.path("model.json"))
    if cfg.family in ("cnn", "cell"):
        from zoo.models.cells import AttentionPool, CellBagClassifier
        from zoo.models.cnn import MEMORY_FORMAT, CNNClassifier, FoldBag, resolve_device
        from zoo.models.networks import network_from_state

        cls = CellBagClassifier if cfg.family == "cell" else CNNClassifier
        params = dict(rec["params"])
        params["betas"] = tuple(params["betas"])
        params["device"] = device
        dev = resolve_device(device)
        members = []
        for i in range(rec.get("n_members", 1)):
            est = cls(**params)
            net = network_from_state(params["arch"], params["dropout"],
                                     load_state_dict(directory.path(f"weights_{i}.safetensors")),
                                     params.get("width", 1.0))
            net = net.to(dev).to(memory_format=MEMORY_FORMAT).eval()
            est.net_, est.device_, est.classes_ = net, dev, np.array([0, 1])
            est.history_, est.init_note_ = rec["history"][i], rec.get("init_note", "")
            att = f"attention_{i}.safetensors"
            if cfg.family == "cell":
                est.attention_ = None
                if directory.has(att):
                    pool = AttentionPool(net.head[1].in_features)
                    pool.load_state_dict(load_state_dict(directory.path(att)))
                    est.attention_ = pool.eval()
            members.append(est)
        return members[0] if rec.get("n_members", 1) == 1 else FoldBag(members)
    if cfg.family == "joint":
        from zoo.models.cnn import resolve_device
        from zoo.models.joint import JointFusionClassifier, JointFusionNet

        est = JointFusionClassifier(**{**rec["params"], "device": device})
        net = JointFusionNet(rec["n_clinical"], rec["params"]["dim"])
        net.load_state_dict(load_state_dict(directory.path("weights.safetensors")))  # strict
        est.device_ = resolve_device(device)
        est.net_ = net.to(est.device_).eval()
        est.prep_, est.features_, est.history_ = load_skops(directory.path("prep.skops")), rec["features"], rec["history"]
        width = len(est.prep_.get_feature_names_out())
        if width != rec["n_clinical"]:
            raise ValueError(f"{cfg.name}: its clinical preprocessing gives {width} columns but its network expects "
                             f"{rec['n_clinical']}. The model's files do not belong together; retrain it.")
        est.prevalence_ = float(rec["prevalence"])
        est.classes_ = np.array([0, 1])
        return est
    if cfg.family == "staging":
        from zoo.models.staging import StagingModel

        return StagingModel.from_dict(rec["staging"])
    from sklearn.pipeline import Pipeline

    from zoo.models.clinical import TunedClinicalModel

    est = TunedClinicalModel(imputer=rec.get("imputer", "knn"))
    if cfg.family == "xgboost":
        prep = load_skops(directory.path("prep.skops"))
        clf = load_xgboost(directory.path("booster.json"), rec["xgb_params"])
        est.pipeline_ = Pipeline([("prep", prep), ("clf", clf)])
    else:
        est.pipeline_ = load_skops(directory.path("pipeline.skops"))
    est.features_, est.best_params_, est.cv_auc_ = rec["features"], rec["best_params"], rec["cv_auc"]
    est.classes_ = np.array([0, 1])
    return est


def save_fusion(fusion, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    parts = {"clin_prep": fusion.clin_prep_, "pca": fusion.pca_, "emb_scaler": fusion.emb_scaler_}
    save_skops(parts, directory / "fusion_parts.skops")
    rec = {"head": fusion.head, "n_components": fusion.n_components, "features": fusion.features_,
           "modalities": fusion.modalities_, "emb_dim": fusion.emb_dim_,
           "calibration": None if getattr(fusion, "calibrator_", None) is None else fusion.calibrator_.to_dict()}
    if fusion.head == "xgb":
        save_xgboost(fusion.clf_, directory / "booster.json")
        rec["xgb_params"] = _xgb_params(fusion.clf_)
    else:
        save_skops(fusion.clf_, directory / "head.skops")
    atomic_write_json(directory / "fusion.json", rec)


def load_fusion(directory: Path | ArtifactDir):
    """An early-fusion ensemble from its folder or a zoo's manifest view (see ``load_fitted``)."""
    from zoo.models.fusion import EarlyFusion

    directory = _as_dir(directory)
    rec = read_json(directory.path("fusion.json"))
    f = EarlyFusion(head=rec["head"], n_components=rec["n_components"])
    parts = load_skops(directory.path("fusion_parts.skops"))
    f.clin_prep_, f.pca_, f.emb_scaler_ = parts["clin_prep"], parts["pca"], parts["emb_scaler"]
    f.features_, f.modalities_, f.emb_dim_ = rec["features"], rec["modalities"], rec["emb_dim"]
    f.clf_ = load_xgboost(directory.path("booster.json"), rec["xgb_params"]) if rec["head"] == "xgb" \
        else load_skops(directory.path("head.skops"))
    f.classes_ = np.array([0, 1])
    f.calibrator_ = None
    if rec.get("calibration"):
        from zoo.evaluation.calibration import ScoreCalibrator

        f.calibrator_ = ScoreCalibrator.from_dict(rec["calibration"])
    return f


def _jsonable(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, (np.integer,)):
            v = int(v)
        elif isinstance(v, (np.floating,)):
            v = float(v)
        out[k] = v
    return out
