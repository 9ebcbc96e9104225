"""Would threads shorten a single-patient prediction on 2 cores? Measured, not adopted (docs/BENCHMARKS.md).

    python benchmarks/predict_threads.py [--zoo data/demo/zoo]

Times, on the demo's first test patient with new images (caches cleared each call; medians of 12 after 3 warm
calls): the three smears' segmentation one after another vs on two threads; the clinical models then the five
cell-level CNNs vs the clinical models on a second thread while the CNNs run; and the whole prediction. The
clinical models are mostly Python (GIL-bound) and the CNNs already use both cores, so overlapping them only helps
if the CNN kernels leave a core idle.
"""
import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    from benchmarks.run import DEMO, _demo_patient
    from zoo.api import Zoo, _content_keys
    from zoo.cohort import load_cohort

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoo", type=Path, default=DEMO / "zoo")
    a = ap.parse_args()
    zoo = Zoo.load(a.zoo)
    cohort = load_cohort(DEMO / "cohort", decode_images=False)
    _, values, imgs = _demo_patient(zoo, cohort)
    keys = _content_keys(imgs["marrow"])
    X = zoo.clinical_frame([values])
    pool = ThreadPoolExecutor(2)
    cells = [n for n in zoo.model_names if zoo.manifest["models"][n]["family"] == "cell"]

    def fresh():
        zoo._image_cache = type(zoo._image_cache)()

    def med(f, n=12):
        for _ in range(3):
            f()
        ts = []
        for _ in range(n):
            t = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t)
        return round(1000 * float(np.median(ts)), 1)

    def segs_serial():
        fresh()
        for k, im in zip(keys, imgs["marrow"]):
            zoo._segmentation(k, im)

    def segs_threads():
        fresh()
        list(pool.map(lambda kv: zoo._segmentation(*kv), zip(keys, imgs["marrow"])))

    def clinical():
        zoo.clinical_probabilities(X, shared={})

    def cell_models():
        fresh()
        memo: dict = {}
        for n in cells:
            zoo._cell_probs(n, zoo.model(n), imgs["marrow"], keys, memo)

    def serial():
        clinical()
        cell_models()

    def overlapped():
        f = pool.submit(clinical)
        cell_models()
        f.result()

    def whole():
        fresh()
        zoo.predict_patient(values, imgs)

    out = {"prediction_new_images": med(whole), "segmentation_serial": med(segs_serial),
           "segmentation_two_threads": med(segs_threads), "clinical_then_cells": med(serial),
           "clinical_beside_cells": med(overlapped), "prediction_new_images_again": med(whole)}
    print(out)


if __name__ == "__main__":
    main()
