"""Before/after recalibration on a trained zoo: calibration intercept, slope and Brier per model.

"Before" is what the app showed before every probability was recalibrated: each model's own score
(``prob_raw`` in ``models/<name>/predictions.parquet``) and, for the soft vote, the plain mean of its
members' raw scores over the members a patient has. "After" is the stored calibrated probability
(``predictions.parquet``). Same models, same patients, same bootstrap resamples; nothing is refitted.

    python benchmarks/calibration.py --zoo data/demo/zoo [--markdown]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def before_after(zoo_dir: Path, n_boot: int = 1000) -> pd.DataFrame:
    from zoo.api import MAIN_ENSEMBLE, Zoo
    from zoo.evaluation.bootstrap import resample_weights
    from zoo.evaluation.report import metric_suite

    zoo = Zoo.load(zoo_dir)
    P = zoo.predictions()
    members = zoo.metrics()["ensemble_members"]
    oof = P[(P["split"] == "oof") & (P["model"] == zoo.model_names[0])]
    prevalence = float(oof["y"].mean())
    raw = {}
    for name in zoo.model_names:
        f = zoo_dir / "models" / name / "predictions.parquet"
        df = pd.read_parquet(f)
        if "prob_raw" in df:
            raw[name] = df[df["split"] != "oof"].set_index(["split", "patient_id"])["prob_raw"]
    rows = []
    for split in [s for s in ("test", "external") if (P["split"] == s).any()]:
        ps = P[P["split"] == split]
        y = ps.drop_duplicates("patient_id").set_index("patient_id")["y"]
        W = resample_weights(y.to_numpy(dtype=int), n_boot, 0)
        for name in [*zoo.model_names, MAIN_ENSEMBLE]:
            after = ps[ps["model"] == name].set_index("patient_id")["prob"].reindex(y.index)
            if name == MAIN_ENSEMBLE:
                wide = pd.DataFrame({m: raw[m].xs(split).reindex(y.index) for m in members if m in raw})
                before = wide.mean(axis=1, skipna=True)
            elif name in raw:
                before = raw[name].xs(split).reindex(y.index)
            else:
                continue
            for label, p in (("before", before), ("after", after)):
                m = metric_suite(y.to_numpy(), p.to_numpy(dtype=float), 0.5, prevalence, W)
                if "cal_intercept" not in m:
                    continue
                rows.append({"split": split, "model": name, "when": label, "n": m["n"], "events": m["n_pd"],
                             "mean_p": m["mean_predicted"], "observed": m["observed_rate"],
                             "intercept": m["cal_intercept"], "intercept_lo": m["cal_intercept_ci"][0],
                             "intercept_hi": m["cal_intercept_ci"][1], "slope": m["cal_slope"],
                             "slope_lo": m["cal_slope_ci"][0], "slope_hi": m["cal_slope_ci"][1],
                             "brier": m["brier"], "null_brier": m["null_brier"], "auc": m["auc"]})
    return pd.DataFrame(rows)


def markdown(df: pd.DataFrame) -> str:
    out = ["| split | model | mean p before → after (observed) | intercept before | intercept after (95 % CI) "
           "| slope before | slope after (95 % CI) | Brier before → after (null) |",
           "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for (split, model), g in df.groupby(["split", "model"], sort=False):
        b, a = g.set_index("when").loc["before"], g.set_index("when").loc["after"]
        out.append(f"| {split} | {model} | {b.mean_p:.2f} → {a.mean_p:.2f} ({a.observed:.2f}) | {b.intercept:+.2f} "
                   f"| {a.intercept:+.2f} ({a.intercept_lo:+.2f}, {a.intercept_hi:+.2f}) | {b.slope:.2f} "
                   f"| {a.slope:.2f} ({a.slope_lo:.2f}, {a.slope_hi:.2f}) "
                   f"| {b.brier:.3f} → {a.brier:.3f} ({a.null_brier:.3f}) |")
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--zoo", default=str(ROOT / "data" / "demo" / "zoo"))
    p.add_argument("--markdown", action="store_true")
    a = p.parse_args()
    df = before_after(Path(a.zoo))
    if a.markdown:
        print(markdown(df))
    else:
        print(json.dumps(df.to_dict("records"), indent=1, default=float))


if __name__ == "__main__":
    main()
