"""Synthetic baseline clinical data for newly diagnosed myeloma (NDMM).

Every distribution is set against published NDMM series; docs/SYNTHETIC_COHORT.md
lists each variable's generator value beside its literature range and source.
Correlations come from two latents: tumour burden (marrow infiltration,
anaemia, β2M, LDH, calcium, albumin, bone disease) and renal injury
(creatinine, β2M). Stages are never sampled: Durie–Salmon follows its criteria
(``zoo.schema.durie_salmon``) and ISS/R-ISS come from ``zoo.schema.derived``,
both computed from the values as the site reports them. The image latents
(see ``risk.py``) are drawn apart from all of this, which keeps the
per-modality oracle exact.

Hidden columns (prefixed ``_``) carry biology the table does not show: the
latents, and FISH abnormalities the site's panel misses.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from zoo.schema import DEFAULT_SCHEMA, derive_stages
from zoo.schema.durie_salmon import durie_salmon_stage
from zoo.synth.sites import Site, get_site

# Share of missing values per variable (MCAR). FISH is missing per patient, as a whole panel
# (Site.fish_missing), because real records hold the whole panel or none of it.
MISSING_SHARE = {
    "wbc": 0.02, "hgb": 0.02, "plt": 0.02, "alb": 0.03, "glb": 0.04, "ldh": 0.06, "creatinine": 0.03,
    "calcium": 0.05, "b2m": 0.05, "mprotein_level": 0.04, "urine_light_chain": 0.10, "bmpc": 0.03,
    "bone_lesions": 0.05, "ds_stage": 0.03,
}
FISH_COLUMNS = ("fish_1q21_gain", "fish_del17p", "fish_t4_14", "fish_t14_16", "fish_t11_14")

HEAVY = ("IgG", "IgA", "IgM", "IgD", "light_chain_only")
HEAVY_P = (0.50, 0.22, 0.01, 0.05, 0.22)
# λ share by isotype: about 2:1 κ:λ overall, λ-dominant in IgD (Kyle 2003; Bladé 1994)
LAMBDA_P = {"IgG": 0.31, "IgA": 0.31, "IgM": 0.31, "IgD": 0.80, "light_chain_only": 0.40}
# median serum M-protein by isotype, g/L
M_MEDIAN = {"IgG": 36.0, "IgA": 27.0, "IgM": 20.0, "IgD": 6.0, "light_chain_only": 0.0}
# IgH translocations are mutually exclusive (one IgH locus partner per clone)
IGH_P = {"t4_14": 0.13, "t14_16": 0.03, "t11_14": 0.18, "none": 0.66}


def sample_clinical(n: int, rng: np.random.Generator, site: str | Site = "A") -> pd.DataFrame:
    """True clinical values for ``n`` patients as the site reports them; missingness is applied later."""
    s = site if isinstance(site, Site) else get_site(site)
    burden = rng.normal(s.burden_shift, 1.0, n)
    renal = 0.35 * burden + rng.normal(s.renal_shift, 0.94, n)

    age = np.clip(rng.normal(s.age_mean, 10.0, n), 30, 90).round()
    sex = np.where(rng.random(n) < 0.57, "male", "female")
    heavy = rng.choice(HEAVY, size=n, p=HEAVY_P)
    lam_p = np.vectorize(LAMBDA_P.get)(heavy)
    light = np.where(rng.random(n) < lam_p, "lambda", "kappa")
    lc_only = heavy == "light_chain_only"

    # marrow infiltration follows burden only loosely (aspirates are patchy and haemodilute)
    bmpc = np.clip(100 * expit(-0.40 + 0.20 * burden + rng.normal(0, 0.76, n)), 6, 95).round()
    med_m = np.vectorize(M_MEDIAN.get)(heavy)
    mlevel = np.clip(med_m * np.exp(0.30 * burden + rng.normal(0, 0.52, n)), 0, 140)
    polyclonal = np.clip(rng.normal(20.0, 4.5, n), 6, 40)
    glb = np.clip(polyclonal + 0.92 * mlevel + rng.normal(0, 2.5, n), 8, 155)
    ulc_med = np.select([lc_only, heavy == "IgD"], [1800.0, 900.0], 150.0)
    ulc = np.clip(ulc_med * np.exp(0.35 * burden + 0.25 * renal + rng.normal(0, 0.9, n)), 0, 38000).round()

    female = sex == "female"
    hgb = 105 - 0.13 * (bmpc - 40) - 6.5 * burden - 6.5 * renal - 8.0 * female + rng.normal(0, 12.5, n)
    hgb = np.clip(hgb, 45, 175)
    plt = np.clip(np.exp(np.log(200) - 0.008 * (bmpc - 40) - 0.08 * burden + rng.normal(0, 0.35, n)), 15, 700).round()
    wbc = np.clip(np.exp(np.log(5.8) - 0.004 * (bmpc - 40) + rng.normal(0, 0.33, n)), 1.0, 30)

    lc_nephro = lc_only | (heavy == "IgD")
    creat = np.exp(np.log(82) + 0.62 * renal + 0.30 * lc_nephro + 0.08 * (age - 60) / 10 + rng.normal(0, 0.22, n))
    creat = np.clip(creat, 38, 1400)
    b2m = np.exp(np.log(4.0) + 0.55 * np.log(creat / 78) + 0.33 * burden + rng.normal(0, 0.33, n))
    b2m = np.clip(b2m, 0.8, 90)
    alb = np.clip(37.5 - 2.6 * burden - 0.04 * mlevel + rng.normal(0, 4.2, n), 18, 52)
    ldh = s.ldh_uln * np.clip(np.exp(np.log(0.74) + 0.24 * burden + rng.normal(0, 0.30, n)), 0.3, 10)
    # bone disease with burden; hypercalcaemia mostly with extensive bone disease and renal injury
    bone_lat = 0.55 * burden + rng.normal(0, 0.85, n)
    bone = np.array(["0", "1-2", "3+"])[np.digitize(bone_lat, [-0.58, -0.22])]
    calcium = np.clip(2.40 + 0.10 * np.maximum(burden, 0) + 0.09 * (bone == "3+") + 0.07 * renal
                      + rng.normal(0, 0.16, n), 1.7, 4.2)

    df = pd.DataFrame({
        "age": age, "sex": sex, "wbc": wbc, "hgb": hgb, "plt": plt, "alb": alb, "glb": glb, "ldh": ldh,
        "creatinine": creat, "calcium": calcium, "b2m": b2m, "mprotein_heavy": heavy, "mprotein_light": light,
        "mprotein_level": mlevel, "urine_light_chain": ulc, "bmpc": bmpc, "bone_lesions": bone,
    })
    df = quantise(df, s)
    df["mprotein_level"] = df["mprotein_level"].where(~lc_only, 0.0)

    # FISH: IgH translocations exclusive; 1q21 gain co-occurs with t(4;14); del(17p) clone sizes vary and
    # the site's cut-off decides which are reported; probes the panel lacks are not reported at all.
    igh = rng.choice(list(IGH_P), size=n, p=list(IGH_P.values()))
    gain1q = rng.random(n) < np.where(igh == "t4_14", 0.62, 0.36)
    del17p = rng.random(n) < 0.10
    clone = rng.uniform(0.20, 1.0, n)
    reported = {"fish_1q21_gain": gain1q, "fish_del17p": del17p & (clone >= s.del17p_cutoff),
                "fish_t4_14": igh == "t4_14", "fish_t14_16": igh == "t14_16", "fish_t11_14": igh == "t11_14"}
    for col in FISH_COLUMNS:
        df[col] = reported[col].astype(float) if col in s.fish_panel else np.nan

    df["ds_stage"] = durie_salmon_stage(df)
    stages = derive_stages(df, ldh_uln=s.ldh_uln)
    df["iss"] = stages["iss"]
    df["riss"] = stages["riss"]
    df["_burden"] = burden
    df["_renal"] = renal
    df["_del17p"] = del17p.astype(float)
    df["_t14_16"] = (igh == "t14_16").astype(float)
    df["_ldh_ratio"] = df["ldh"] / s.ldh_uln
    return df


def quantise(df: pd.DataFrame, site: Site) -> pd.DataFrame:
    """Round every lab to the precision the site reports it with, in the site's unit, and return the table in
    canonical units computed exactly as the cohort loader converts them (value × factor + offset).

    Staging is then derived from the values a reader of the site's file will see, so a stage never
    disagrees with the table after unit conversion.
    """
    out = df.copy()
    for col, dec in site.decimals.items():
        if col not in out:
            continue
        var = DEFAULT_SCHEMA[col]
        unit = site.units.get(col)
        if unit is None:
            out[col] = out[col].round(dec)
            continue
        f, o = var.alt_units[unit]
        shown = ((out[col] - o) / f).round(dec)
        out[col] = shown * f + o
    return out


def to_site_units(df: pd.DataFrame, site: Site) -> pd.DataFrame:
    """The canonical table in the units (and precision) the site's clinical.csv uses."""
    out = df.copy()
    for col, unit in site.units.items():
        if col in out:
            f, o = DEFAULT_SCHEMA[col].alt_units[unit]
            out[col] = ((out[col] - o) / f).round(site.decimals.get(col, 6))
    return out


def apply_missingness(df: pd.DataFrame, rng: np.random.Generator, site: str | Site = "A") -> pd.DataFrame:
    """Observed table: MCAR holes per lab, whole FISH panels missing, then ISS/R-ISS re-derived from
    what is observed (a missing β2M gives a missing ISS, as in real records)."""
    s = site if isinstance(site, Site) else get_site(site)
    out = df.drop(columns=[c for c in df.columns if c.startswith("_")]).copy()
    for col, share in MISSING_SHARE.items():
        hole = rng.random(len(out)) < share
        if col in out:
            out.loc[hole, col] = np.nan
    no_fish = rng.random(len(out)) < s.fish_missing
    out.loc[no_fish, [c for c in FISH_COLUMNS if c in out]] = np.nan
    stages = derive_stages(out, ldh_uln=s.ldh_uln)
    out["iss"] = stages["iss"]
    out["riss"] = stages["riss"]
    return out
