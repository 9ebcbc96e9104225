"""Out-of-fold AUC and attention on target of an image model's fold models, training patients only.

    python benchmarks/fold_attention.py --zoo data/demo/zoo --cohort data/demo/cohort --arch resnet18 \
        [--density raw|albumin]
    python benchmarks/fold_attention.py --zoo data/demo/zoo --cohort data/demo/cohort \
        --model marrow_cell_vgg16_bn [--mask-background] [--images-per-patient 16] \
        [--cam-min-side 4,7] [--cam-class pd,predicted,non-pd] [--randomised [--twins K]]

Retrains the zoo's CV folds of one image model (``--arch A`` means ``--model ife_A``) with its cohort, split,
profile name (this code's settings for it; a note names any that differ from the zoo's record) and seeds (seed + 1000·(fold + 1), as the trainer does) and reports each fold model's AUC and Grad-CAM attention on its held-out training
patients. The test patients are never used (their images are decoded with the rest, nothing is fitted on
them). Two uses: how much a single model's attention figure varies between
training runs (the leaderboard's interval is over patients only), and whether an input change helps, judged
on training folds before any build is looked at on test (``--density albumin``: lanes relative to the gel's
albumin, ``zoo.lanes.albumin_scaled``; ``--mask-background``: plasma-cell crops with everything outside
the cell's mask filled with the cell's mean colour, ``zoo.segment.cells.crops_from``; ``--images-per-patient``:
crops drawn per training patient per epoch for a cell model, instead of its profile's number). ``--cam-min-side``
maps with the deepest layer whose map is at least that many pixels a side (several values: one attention figure
each, same fold models); ``--cam-class`` maps the evidence for class PD ("pd", the product's default) or for
each input's predicted class ("predicted") or for class non-PD ("non-pd"; ``zoo.explain.gradcam.CAM_CLASS``), one figure each; ``--randomised`` adds each fold model's randomised twin (every conv and linear layer
re-initialised, BatchNorm re-estimated on its training inputs: the model-randomisation check of Adebayo et al.
2018) at the same layers, so a layer whose map lands on the target whatever the network learned shows it.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    from sklearn.metrics import roc_auc_score

    from zoo.cohort import load_cohort
    from zoo.explain.attention import TWIN_SEED, randomised_twin
    from zoo.models.registry import create_model, model_config
    from zoo.training.profiles import get_profile
    from zoo.training.splits import split_from_dict
    from zoo.training.trainer import prepare_data

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoo", type=Path, required=True, help="a built zoo: its split.json and run seed are reused")
    ap.add_argument("--cohort", type=Path, required=True)
    ap.add_argument("--arch", default="resnet18", help="an IFE architecture (ignored with --model)")
    ap.add_argument("--model", help="a registered image model, e.g. marrow_cell_vgg16_bn")
    ap.add_argument("--density", default="raw", choices=["raw", "albumin"], help="IFE lane models only")
    ap.add_argument("--mask-background", action="store_true", help="cell-level marrow models only")
    ap.add_argument("--cam-min-side", help="comma-separated map sides of the CAM layer (default: the product's)")
    ap.add_argument("--cam-class", help="comma-separated classes whose evidence is mapped: pd, predicted, non-pd "
                    "(default: the product's)")
    ap.add_argument("--randomised", action="store_true", help="also map with each fold model's randomised twin")
    ap.add_argument("--twins", type=int, default=1, help="with --randomised: random networks per fold model "
                    "(their ratios and mean are reported; default 1)")
    ap.add_argument("--images-per-patient", type=int, help="cell-level marrow models only: crops per training "
                    "patient per epoch (default: the profile's)")
    a = ap.parse_args()
    name = a.model or f"ife_{a.arch}"
    cfg = model_config(name)
    modality = "marrow" if cfg.modality == "marrow" else "electrophoresis"
    if cfg.modality == "marrow" and cfg.family != "cell":
        sys.exit(f"{name}: only cell-level marrow models are supported here.")
    if a.density != "raw" and cfg.modality == "marrow":
        sys.exit("--density applies to IFE lane models only.")
    if a.mask_background and cfg.family != "cell":
        sys.exit("--mask-background applies to cell-level marrow models only.")
    if a.images_per_patient is not None and (cfg.family != "cell" or a.images_per_patient < 1):
        sys.exit("--images-per-patient takes a positive number and applies to cell-level marrow models only.")
    variant = {"lane_density": a.density} if cfg.modality != "marrow" else {"mask_background": a.mask_background}
    if a.images_per_patient is not None:
        variant["images_per_patient"] = a.images_per_patient
    sides = [int(v) for v in a.cam_min_side.split(",")] if a.cam_min_side else []
    if any(v < 1 for v in sides):
        sys.exit("--cam-min-side takes positive numbers, e.g. 4,7.")
    from zoo.explain.gradcam import CAM_CLASSES

    classes = a.cam_class.split(",") if a.cam_class else []
    if any(c not in CAM_CLASSES for c in classes):
        sys.exit(f"--cam-class takes {', '.join(CAM_CLASSES)}, e.g. pd,predicted.")
    if a.twins < 1:
        sys.exit("--twins takes a positive number.")
    t = time.perf_counter()
    run = json.loads((a.zoo / "run.json").read_text())
    cohort = load_cohort(a.cohort)
    if run.get("cohort_fingerprint") and run["cohort_fingerprint"] != cohort.fingerprint:
        sys.exit(f"{a.cohort} is not the cohort {a.zoo} was built on (fingerprints differ): its folds would not be "
                 "the zoo's.")
    profile, seed, pretrained = get_profile(run["profile"]["name"]), int(run.get("seed", 0)), bool(run.get("pretrained"))
    current = json.loads(json.dumps(asdict(profile), default=list))
    if run["profile"] != current:
        from zoo.training.trainer import _settings_differing

        print(f"Note: the fold models are trained with this code's {profile.name!r} profile, which differs from the "
              f"one {a.zoo} was built with ({_settings_differing(run['profile'], current)}).",
              file=sys.stderr, flush=True)
    split = split_from_dict(json.loads((a.zoo / "split.json").read_text()), cohort.patient_ids)
    # the trainer's own inputs: for cell models, training smears segmented with the cohort's annotation points
    data = prepare_data(cohort, None, split)[0]
    train, y_tr = data.subset(split.train), cohort.y[split.train]
    folds = []
    for f, (fit_idx, held) in enumerate(split.folds()):
        est = create_model(name, profile, seed=seed + 1000 * (f + 1), device="cpu", pretrained=pretrained,
                           **variant).fit(train.subset(fit_idx), y_tr[fit_idx])
        p = est.predict_proba(train.subset(held))[:, 1]
        ok = ~np.isnan(p)
        row = {"fold": f, "auc": round(float(roc_auc_score(y_tr[held][ok], p[ok])), 4)}
        # one random network per fold (seed TWIN_SEED + f), or ``--twins K`` of them (the first the same network)
        twins = [randomised_twin(est, train.subset(fit_idx), seed=TWIN_SEED + f + 1000 * j)
                 for j in range(a.twins)] if a.randomised else []
        for side in sides or [None]:
            for klass in classes or [None]:
                with _cam_side(side), _cam_class(klass):
                    tag = ("" if side is None else f"_{side}") + ("" if klass is None else f"_{klass}")
                    row.update(_attention(est, data, split, held, cohort, name, modality, tag))
                    numbered = len(twins) > 1  # one network keeps the "_randomised" keys; several are numbered
                    for j, tw in enumerate(twins):
                        row.update(_attention(tw, data, split, held, cohort, name, modality,
                                              f"_randomised{j if numbered else ''}{tag}"))
                    if numbered:
                        row[f"ratio_randomised_mean{tag}"] = round(float(np.mean(
                            [row[f"ratio_randomised{j}{tag}"] for j in range(len(twins))])), 3)
        folds.append(row)
        print(json.dumps(folds[-1]), flush=True)
    means = {f"mean_{k}": round(float(np.mean([r[k] for r in folds])), 3 if k.startswith("ratio") else 4)
             for k in folds[0] if k.startswith(("ratio", "attention")) and folds[0][k] is not None}
    print(json.dumps({"model": name, **variant, "cam_min_side": sides or None, "cam_class": classes or None,
                      "randomised": a.randomised,
                      "folds": folds, "mean_fold_auc": round(float(np.mean([r["auc"] for r in folds])), 4),
                      **means, "seconds": round(time.perf_counter() - t, 1)}, indent=2))


def _attention(est, data, split, held, cohort, name: str, modality: str, tag: str) -> dict:
    """Attention on target of one fitted model on the held-out training patients, as the leaderboard takes it:
    per patient over the images with a defined map, then over patients."""
    from zoo.explain.attention import attention_table

    att = attention_table({name: est}, data, np.asarray(split.train)[held], "oof", cohort.root, {name: modality})
    per = att[att["on_target"].notna()].groupby("patient_id")[["on_target", "target_share_of_image"]].mean()
    return {f"n_images{tag}": int(att["on_target"].notna().sum()),  # maps that are all zero have no share
            f"attention{tag}": round(float(per["on_target"].mean()), 4),
            f"chance{tag}": round(float(per["target_share_of_image"].mean()), 4),
            f"ratio{tag}": round(float(per["on_target"].mean() / per["target_share_of_image"].mean()), 3),
            f"on_bands{tag}": round(float(att["on_bands"].mean()), 4) if "on_bands" in att else None}


@contextlib.contextmanager
def _cam_side(side: int | None):
    """The product's CAM-layer rule (deepest map of at least N×N) with N = ``side`` for crops and lane views."""
    import zoo.explain.gradcam as gradcam
    import zoo.models.networks as networks

    saved = gradcam.CELL_CAM_MIN_SIDE, networks.MIN_CAM_SIDE
    if side is not None:
        gradcam.CELL_CAM_MIN_SIDE = networks.MIN_CAM_SIDE = side
    try:
        yield
    finally:
        gradcam.CELL_CAM_MIN_SIDE, networks.MIN_CAM_SIDE = saved


@contextlib.contextmanager
def _cam_class(klass: str | None):
    """The product's maps with the evidence of class ``klass`` (``zoo.explain.gradcam.CAM_CLASS``)."""
    import zoo.explain.gradcam as gradcam

    saved = gradcam.CAM_CLASS
    if klass is not None:
        gradcam.CAM_CLASS = klass
    try:
        yield
    finally:
        gradcam.CAM_CLASS = saved


if __name__ == "__main__":
    main()
