"""How often the main ensemble's probability lies outside its Venn–Abers pair and outside its calibration band.

    python benchmarks/calibration_band.py --zoo data/demo/zoo
    python benchmarks/calibration_band.py --simulate     # a calibrated and an over-confident model, 20 draws each

Test and external patients from the zoo's stored predictions, read with the calibration of the ensemble's
all-modality pattern (every demo patient has all three modalities; predictions.parquet does not store patterns);
a statistician's review (2026-12-07) found the pair excluded the probability for most patients, which made a
warning on it noise. Prints the shares and the median widths (docs/MODELS.md, "Per-patient uncertainty").
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--zoo", type=Path)
    ap.add_argument("--simulate", action="store_true")
    args = ap.parse_args()
    if args.simulate:
        return simulate()
    from zoo.api import MAIN_ENSEMBLE, Zoo

    zoo = Zoo.load(args.zoo)
    P = zoo.predictions()
    for split in ("test", "external"):
        rows = P[(P["model"] == MAIN_ENSEMBLE) & (P["split"] == split)]
        if rows.empty:
            continue
        full = max(getattr(zoo.ensemble(MAIN_ENSEMBLE), "oof_by_pattern_", {}) or {None: 0}, key=lambda k: len(k or ""))
        patterns = np.full(len(rows), full, dtype=object)
        p = rows["prob"].to_numpy(float)
        cols = zoo.interval_columns(MAIN_ENSEMBLE, p, patterns)
        ok = np.isfinite(p) & np.isfinite(cols["band_low"])
        out_va = (p < cols["interval_low"] - 5e-4) | (p > cols["interval_high"] + 5e-4)
        out_band = (p < cols["band_low"] - 5e-4) | (p > cols["band_high"] + 5e-4)
        print(f"{split}: n={int(ok.sum())}  outside Venn–Abers pair {int(out_va[ok].sum())} "
              f"({out_va[ok].mean():.0%}), median width {np.nanmedian(cols['interval_high'] - cols['interval_low']):.3f}"
              f"  |  outside calibration band {int(out_band[ok].sum())} ({out_band[ok].mean():.0%}), median width "
              f"{np.nanmedian(cols['band_high'] - cols['band_low']):.3f}")


def simulate(n_cal: int = 480, n_new: int = 400, draws: int = 20) -> None:
    """Share of new patients whose probability lies outside the pair / the band, for a calibrated model and for
    one whose logits are twice what they should be (scores ~ logit-normal around a 30 % prevalence)."""
    from zoo.evaluation.intervals import RiskIntervals

    rng = np.random.default_rng(0)
    for slope in (1.0, 2.0):
        va, band = [], []
        for _ in range(draws):
            def draw(n):
                t = 1 / (1 + np.exp(-rng.normal(np.log(0.3 / 0.7), 1.2, n)))
                return 1 / (1 + np.exp(-slope * np.log(t / (1 - t)))), (rng.random(n) < t).astype(int)
            (pc, yc), (pn, _) = draw(n_cal), draw(n_new)
            iv = RiskIntervals().fit(pc, yc)
            a, b = iv.interval(pn), iv.band(pn)
            va.append(np.mean((pn < a[:, 0]) | (pn > a[:, 1])))
            band.append(np.mean((pn < b[:, 0]) | (pn > b[:, 1])))
        print(f"logit slope x{slope:g} ({'calibrated' if slope == 1 else 'over-confident'}), {n_cal} calibration "
              f"patients, {draws} draws: outside the pair {np.mean(va):.0%}, outside the band {np.mean(band):.0%}")


if __name__ == "__main__":
    main()
