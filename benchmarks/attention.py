"""Attention on target of a zoo's image models, recomputed with the current Grad-CAM code (the zoo is not changed).

    python benchmarks/attention.py --zoo data/demo/zoo --cohort data/demo/cohort [--models 'marrow_cell_*'] \
        [--copies 3] [--randomised [--twin-seeds 12345,1,2]]

A zoo stores the attention figures of the code that built it; this prints what the current explanation code
gives on the same models and test patients, e.g. after a change of the CAM layer, without a rebuild. Every ratio is
taken as the leaderboard takes it: per patient over the images with a defined map, then over patients (until
2026-12-07 the model's own figures here were means over images).
``--copies K`` also times, model by model, mapping a fold bag of K copies of the model (what storing K fold
models' attention would cost; its figures equal the model's), after the model's own pass, so the test smears'
segmentation, done in the first pass, is not counted in it. ``--randomised`` also maps with each model's
randomised twin (every fold member's conv, linear and BatchNorm layers re-initialised, BatchNorm re-estimated on
the training patients' inputs; ``zoo.explain.attention.randomised_twin``): the attention a network that learned nothing
gets on the same images, a floor to read each model's figure against besides the uniform map's chance. By default
the build's first random network of each model (``twin_seed(name, 0)``); ``--twin-seeds`` maps one twin per given
seed instead (``twin_ratio_shared`` then lists one figure per seed): the spread between random networks.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    from zoo.api import Zoo
    from zoo.cohort import load_cohort
    from zoo.data import PatientData
    from zoo.explain.attention import attention_table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoo", type=Path, required=True)
    ap.add_argument("--cohort", type=Path, required=True)
    ap.add_argument("--models", default="*")
    ap.add_argument("--copies", type=int, default=0, help="also time a fold bag of this many copies of each model")
    ap.add_argument("--randomised", action="store_true", help="also map with each model's randomised twin")
    ap.add_argument("--twin-seeds", default=None, help="comma-separated seeds: one randomised twin per seed")
    a = ap.parse_args()
    t = time.perf_counter()
    zoo = Zoo.load(a.zoo, device="cpu")
    cohort = load_cohort(a.cohort)
    data = PatientData.from_cohort(cohort)  # every image segmented unprompted, as for a new patient
    test = [data.ids.index(p) for p in zoo.split()["test"]]
    names = [n for n in zoo.model_names if zoo.manifest["models"][n]["family"] in ("cnn", "cell")
             and fnmatch.fnmatch(n, a.models)]
    models = {n: zoo.model(n) for n in names}
    modality_of = {n: zoo.manifest["models"][n]["modality"] for n in names}
    if a.copies:
        from zoo.models.cnn import FoldBag

        parts, seconds = [], {}
        for n, m in models.items():
            t0 = time.perf_counter()
            parts.append(attention_table({n: m}, data, np.asarray(test), "test", cohort.root, modality_of))
            t1 = time.perf_counter()
            net_model = getattr(m, "base", m)  # the CNN inside its recalibration wrapper
            attention_table({n: FoldBag([net_model] * a.copies)}, data, np.asarray(test), "test", cohort.root,
                            modality_of)
            seconds[n] = {"model": round(t1 - t0, 1), f"bag_of_{a.copies}": round(time.perf_counter() - t1, 1)}
        att = pd.concat(parts, ignore_index=True)
    else:
        att = attention_table(models, data, np.asarray(test), "test", cohort.root, modality_of)
    floor = {}
    if a.randomised:
        from zoo.explain.attention import randomised_model, twin_seed

        train = data.subset(np.asarray([data.ids.index(p) for p in zoo.split()["train"]]))
        seeds = [int(v) for v in a.twin_seeds.split(",")] if a.twin_seeds else None
        for n, m in models.items():
            tables = [attention_table({n: randomised_model(m, train, sd)}, data, np.asarray(test), "test",
                                      cohort.root, modality_of)
                      for sd in (seeds or [twin_seed(n, 0)])]  # default: the build's first random network
            if seeds:
                floor[n] = {"seeds": seeds, "twin_ratio_shared": [_shared_ratio(att[att["model"] == n], g)[1]
                                                                  for g in tables]}
                continue
            g = tables[0]
            mine, twin = _shared_ratio(att[att["model"] == n], g)
            floor[n] = {"twin_defined": int(g["on_target"].notna().sum()),
                        "shared_images": int(len(_both(att[att["model"] == n], g))),
                        "ratio_shared": mine, "twin_ratio_shared": twin}
    out = {}
    for n, g in att.groupby("model"):
        # as the leaderboard takes it: per patient over the images with a defined map, then over patients
        per = g[g["on_target"].notna()].groupby("patient_id")[["on_target", "target_share_of_image"]].mean()
        mean, chance = float(per["on_target"].mean()), float(per["target_share_of_image"].mean())
        out[n] = {"attention": round(mean, 4), "chance": round(chance, 4), "ratio": round(mean / chance, 3),
                  "whole_image_share": round(float(g["target_share_whole_image"].mean()), 4),
                  "images": int(len(g)), "defined": int(g["on_target"].notna().sum()),
                  **({"seconds": seconds[n]} if a.copies else {}),
                  **({"randomised": floor[n]} if n in floor else {})}
    print(json.dumps({"models": out, "seconds": round(time.perf_counter() - t, 1)}, indent=2))


def _both(model_rows: pd.DataFrame, twin_rows: pd.DataFrame) -> pd.DataFrame:
    """The model's and its twin's shares on the images where both maps have one (an all-zero map has none)."""
    return (model_rows.set_index(["patient_id", "image"])[["on_target", "target_share_of_image"]]
            .join(twin_rows.set_index(["patient_id", "image"])[["on_target"]], rsuffix="_twin").dropna())


def _shared_ratio(model_rows: pd.DataFrame, twin_rows: pd.DataFrame) -> tuple[float | None, float | None]:
    """(model's, twin's) mean attention over the model's chance, per patient then over patients, on the images
    where both maps have a share."""
    both = _both(model_rows, twin_rows)
    if both.empty:
        return None, None
    per = both.groupby(level="patient_id").mean()
    chance = float(per["target_share_of_image"].mean())
    return round(float(per["on_target"].mean()) / chance, 3), round(float(per["on_target_twin"].mean()) / chance, 3)


if __name__ == "__main__":
    main()
