"""Out-of-fold AUC and attention on target of an image model's fold models, training patients only.

    python benchmarks/fold_attention.py --zoo data/demo/zoo --cohort data/demo/cohort --arch resnet18 \
        [--density raw|albumin]
    python benchmarks/fold_attention.py --zoo data/demo/zoo --cohort data/demo/cohort \
        --model marrow_cell_vgg16_bn [--mask-background] [--images-per-patient 16]

Retrains the zoo's CV folds of one image model (``--arch A`` means ``--model ife_A``) with its cohort, split,
profile and seeds (seed + 1000·(fold + 1), as the trainer does) and reports each fold model's AUC and Grad-CAM attention on its held-out training
patients. The test patients are never used (their images are decoded with the rest, nothing is fitted on
them). Two uses: how much a single model's attention figure varies between
training runs (the leaderboard's interval is over patients only), and whether an input change helps, judged
on training folds before any build is looked at on test (``--density albumin``: lanes relative to the gel's
albumin, ``zoo.lanes.albumin_scaled``; ``--mask-background``: plasma-cell crops with everything outside
the cell's mask filled with the cell's mean colour, ``zoo.segment.cells.crops_from``; ``--images-per-patient``:
crops drawn per training patient per epoch for a cell model, instead of its profile's number).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    from sklearn.metrics import roc_auc_score

    from zoo.cohort import load_cohort
    from zoo.explain.attention import attention_table
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
    t = time.perf_counter()
    run = json.loads((a.zoo / "run.json").read_text())
    cohort = load_cohort(a.cohort)
    if run.get("cohort_fingerprint") and run["cohort_fingerprint"] != cohort.fingerprint:
        sys.exit(f"{a.cohort} is not the cohort {a.zoo} was built on (fingerprints differ): its folds would not be "
                 "the zoo's.")
    profile, seed, pretrained = get_profile(run["profile"]["name"]), int(run.get("seed", 0)), bool(run.get("pretrained"))
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
        att = attention_table({name: est}, data, np.asarray(split.train)[held], "oof", cohort.root,
                              {name: modality})
        # as the leaderboard: per patient over the images with a defined map, then over patients
        per = att[att["on_target"].notna()].groupby("patient_id")[["on_target", "target_share_of_image"]].mean()
        folds.append({"fold": f, "auc": round(float(roc_auc_score(y_tr[held][ok], p[ok])), 4),
                      "attention": round(float(per["on_target"].mean()), 4),
                      "chance": round(float(per["target_share_of_image"].mean()), 4),
                      "ratio": round(float(per["on_target"].mean() / per["target_share_of_image"].mean()), 3),
                      "on_bands": round(float(att["on_bands"].mean()), 4) if "on_bands" in att else None})
        print(json.dumps(folds[-1]), flush=True)
    print(json.dumps({"model": name, **variant, "folds": folds,
                      "mean_fold_auc": round(float(np.mean([r["auc"] for r in folds])), 4),
                      "mean_attention": round(float(np.mean([r["attention"] for r in folds])), 4),
                      "mean_ratio": round(float(np.mean([r["ratio"] for r in folds])), 3),
                      "seconds": round(time.perf_counter() - t, 1)}, indent=2))


if __name__ == "__main__":
    main()
