"""Synthetic baseline clinical data for newly diagnosed myeloma (NDMM).

Distributions follow published single-centre NDMM series (median age ~60-65,
~55-60 % male, IgG ~50 %, light-chain-only ~20 %, IgD a few %, ISS III ~35-45 %,
1q21 gain ~40 %, del(17p) ~10 %, t(4;14) ~12-15 %, t(11;14) ~15-20 %).
Correlations come from two latents: tumour burden (marrow infiltration,
anaemia, β2M, LDH, calcium, albumin) and renal injury (creatinine, β2M).
The image latents (see ``risk.py``) are drawn independently of all of this,
which is what makes the per-modality oracle AUCs exact.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from zoo.schema import derive_stages

# Share of missing values per variable (MCAR), within the 2-10 % band.
MISSING_SHARE = {
    "wbc": 0.02, "hgb": 0.02, "plt": 0.02, "alb": 0.03, "glb": 0.04, "ldh": 0.06, "creatinine": 0.03,
    "calcium": 0.05, "b2m": 0.05, "mprotein_level": 0.04, "urine_light_chain": 0.10, "bmpc": 0.03,
    "ds_stage": 0.03, "fish_1q21_gain": 0.08, "fish_del17p": 0.08, "fish_t4_14": 0.08, "fish_t14_16": 0.08,
    "fish_t11_14": 0.08,
}

SITES = {
    # case mix per site; B is older, more advanced, and imaged differently (see render modules)
    "A": {"age_mean": 61.0, "burden_shift": 0.0, "renal_shift": 0.0, "years": (2017, 2023)},
    "B": {"age_mean": 66.0, "burden_shift": 0.25, "renal_shift": 0.2, "years": (2019, 2024)},
}

HEAVY = ("IgG", "IgA", "IgM", "IgD", "light_chain_only")
HEAVY_P = (0.50, 0.22, 0.01, 0.05, 0.22)


def sample_clinical(n: int, rng: np.random.Generator, site: str = "A") -> pd.DataFrame:
    """True (complete) clinical values for ``n`` patients; missingness is applied later."""
    cfg = SITES[site]
    burden = rng.normal(cfg["burden_shift"], 1.0, n)
    renal = 0.35 * burden + rng.normal(cfg["renal_shift"], 0.94, n)

    age = np.clip(rng.normal(cfg["age_mean"], 9.5, n), 30, 90).round()
    sex = np.where(rng.random(n) < 0.57, "male", "female")
    heavy = rng.choice(HEAVY, size=n, p=HEAVY_P)
    lam_p = np.where(heavy == "IgD", 0.85, 0.38)
    light = np.where(rng.random(n) < lam_p, "lambda", "kappa")
    lc_only = heavy == "light_chain_only"

    bmpc = np.clip(100 * expit(-0.55 + 0.85 * burden + rng.normal(0, 0.45, n)), 6, 95).round()
    med_m = np.select([heavy == "IgG", heavy == "IgA", heavy == "IgM", heavy == "IgD"], [38.0, 30.0, 22.0, 9.0], 0.0)
    mlevel = np.where(lc_only, 0.0, med_m * np.exp(0.32 * burden + rng.normal(0, 0.45, n)))
    mlevel = np.clip(mlevel, 0, 140).round(1)
    polyclonal = np.clip(rng.normal(21.0, 4.5, n), 6, 40)
    glb = np.clip(polyclonal + 0.92 * mlevel + rng.normal(0, 2.5, n), 8, 155).round(1)
    ulc_med = np.select([lc_only, heavy == "IgD"], [1800.0, 900.0], 160.0)
    ulc = np.clip(ulc_med * np.exp(0.35 * burden + 0.25 * renal + rng.normal(0, 0.9, n)), 0, 38000).round()

    female = sex == "female"
    hgb = 129 - 0.42 * (bmpc - 35) - 7.0 * renal - 9.0 * female + rng.normal(0, 13.0, n)
    hgb = np.clip(hgb, 45, 175).round()
    plt = np.clip(np.exp(np.log(200) - 0.009 * (bmpc - 35) + rng.normal(0, 0.35, n)), 15, 700).round()
    wbc = np.clip(np.exp(np.log(5.6) - 0.004 * (bmpc - 35) + rng.normal(0, 0.33, n)), 1.0, 30).round(2)

    lc_nephro = lc_only | (heavy == "IgD")
    creat = np.exp(np.log(80) + 0.62 * renal + 0.30 * lc_nephro + 0.08 * (age - 60) / 10 + rng.normal(0, 0.22, n))
    creat = np.clip(creat, 38, 1400).round()
    b2m = np.exp(np.log(4.3) + 0.55 * np.log(creat / 78) + 0.33 * burden + rng.normal(0, 0.33, n))
    b2m = np.clip(b2m, 0.8, 90).round(2)
    alb = np.clip(38.0 - 2.6 * burden - 0.04 * mlevel + rng.normal(0, 4.2, n), 18, 52).round(1)
    ldh = np.clip(np.exp(np.log(185) + 0.22 * burden + rng.normal(0, 0.30, n)), 70, 2500).round()
    calcium = np.clip(2.36 + 0.17 * np.maximum(burden, 0) + 0.07 * renal + rng.normal(0, 0.19, n), 1.7, 4.2).round(2)

    # FISH: IgH translocations are mutually exclusive; 1q21 gain co-occurs with t(4;14).
    igh = rng.choice(["t4_14", "t14_16", "t11_14", "none"], size=n, p=[0.14, 0.04, 0.18, 0.64])
    t4_14 = (igh == "t4_14").astype(float)
    t14_16 = (igh == "t14_16").astype(float)
    t11_14 = (igh == "t11_14").astype(float)
    gain1q = (rng.random(n) < np.where(t4_14 == 1, 0.65, 0.36)).astype(float)
    del17p = (rng.random(n) < 0.10).astype(float)

    ds_core = np.digitize(burden + rng.normal(0, 0.5, n), [-1.15, -0.35])  # 0,1,2 -> I, II, III
    ds = np.array(["I", "II", "III"])[ds_core]
    ds = np.char.add(ds, np.where(creat >= 177, "B", "A"))

    df = pd.DataFrame({
        "age": age, "sex": sex, "wbc": wbc, "hgb": hgb, "plt": plt, "alb": alb, "glb": glb, "ldh": ldh,
        "creatinine": creat, "calcium": calcium, "b2m": b2m, "mprotein_heavy": heavy, "mprotein_light": light,
        "mprotein_level": mlevel, "urine_light_chain": ulc, "bmpc": bmpc, "ds_stage": ds,
        "fish_1q21_gain": gain1q, "fish_del17p": del17p, "fish_t4_14": t4_14, "fish_t14_16": t14_16,
        "fish_t11_14": t11_14,
    })
    stages = derive_stages(df)
    df["iss"] = stages["iss"]
    df["riss"] = stages["riss"]
    df["_burden"] = burden
    df["_renal"] = renal
    return df


def apply_missingness(df: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Observed table: MCAR holes per variable, then ISS/R-ISS re-derived from what is observed."""
    out = df.copy()
    for col, share in MISSING_SHARE.items():
        hole = rng.random(len(out)) < share
        out.loc[hole, col] = np.nan
    stages = derive_stages(out)
    out["iss"] = stages["iss"]
    out["riss"] = stages["riss"]
    return out
