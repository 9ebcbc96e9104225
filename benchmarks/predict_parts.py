"""Where a single-patient prediction with new images spends its time (docs/BENCHMARKS.md).

    python benchmarks/predict_parts.py [--zoo data/demo/zoo] [--calls 15]

The demo's first test patient (as ``benchmarks/run.py predict``), the zoo's image cache cleared before each
call, so every call segments the smears and runs every image model. The predictor's own methods are wrapped
with timers for the measured calls only; the figures are medians over calls, in ms. A cell-level model's time
includes the smears' segmentation when it is the first to ask for it (``segmentation`` is shown separately as
well); the joint model's includes building its inputs (``joint inputs``). What is not listed (late
ensembles, the prediction record) is the total minus the parts.
"""
import argparse
import functools
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    from benchmarks.run import DEMO, _demo_patient
    from zoo.api import Zoo
    from zoo.cohort import load_cohort
    from zoo.models.joint import JointFusionClassifier

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoo", type=Path, default=DEMO / "zoo")
    ap.add_argument("--calls", type=int, default=15)
    a = ap.parse_args()
    zoo = Zoo.load(a.zoo)
    cohort = load_cohort(DEMO / "cohort", decode_images=False)
    pid, values, imgs = _demo_patient(zoo, cohort)
    current: dict[str, float] = defaultdict(float)

    def timed(owner, attr: str, label, per_model: bool = False) -> None:
        real = getattr(owner, attr)

        @functools.wraps(real)
        def wrapper(*args, **kw):
            t = time.perf_counter()
            try:
                return real(*args, **kw)
            finally:
                current[f"{label}: {args[1]}" if per_model else label] += (time.perf_counter() - t) * 1000

        setattr(owner, attr, wrapper)

    def call():
        zoo._image_cache = type(zoo._image_cache)()
        return zoo.predict_patient(values, imgs)

    for _ in range(3):
        call()
    timed(Zoo, "_cell_probs", "cell model", per_model=True)
    timed(Zoo, "_image_probs", "IFE model", per_model=True)
    timed(Zoo, "_segmentation", "segmentation (inside the first cell model)")
    timed(Zoo, "clinical_probabilities", "clinical models (one shared preprocessing)")
    timed(Zoo, "clinical_frame", "clinical frame (derived stages)")
    timed(Zoo, "uncertainty", "intervals (Venn-Abers, conformal)")
    timed(JointFusionClassifier, "predict_proba", "joint model")
    timed(JointFusionClassifier, "_inputs", "joint inputs (inside the joint model)")
    parts: dict[str, list[float]] = defaultdict(list)
    totals = []
    for _ in range(a.calls):
        current.clear()
        t = time.perf_counter()
        call()
        totals.append((time.perf_counter() - t) * 1000)
        for k, v in current.items():
            parts[k].append(v)
    print(f"patient {pid}: {', '.join(f'{len(v)} {m}' for m, v in imgs.items())}; {a.calls} calls, medians (ms)")
    print(f"{'whole prediction':55s} {statistics.median(totals):7.1f}  (range {min(totals):.1f}-{max(totals):.1f})")
    for k, v in sorted(parts.items(), key=lambda kv: -statistics.median(kv[1])):
        print(f"{k:55s} {statistics.median(v):7.1f}")


if __name__ == "__main__":
    main()
