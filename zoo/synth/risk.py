"""The documented latent risk model behind the synthetic outcome.

logit P(PD within 24 months) = intercept (+ the site's era shift)
    + clinical component  (1q21 gain, del(17p), t(4;14), t(14;16), ISS III, LDH above the
                           site's upper limit, haemoglobin, creatinine, hypercalcaemia,
                           age > 65, advanced bone disease; marrow plasma-cell % adds nothing)
    + marrow component    (a continuous plasma-cell maturity grade; the smear shows it as the
                           share of plasmablasts and as nuclear immaturity of every plasma cell)
    + IFE component       (depth of immunoparesis, shown by the polyclonal background of every
                           lane, plus small effects of a free-light-chain band and a second clone)

The image latents are common, continuous and moderate in effect: they stand for the part of
the disease's biology that the table measures imperfectly, not for rare findings with huge
effects. They are drawn apart from every clinical value (the band pattern depends only on
whether the isotype has an intact heavy chain), so the oracle for each modality, E[p | what
that modality shows], is computed exactly by integrating over a large reference population
from the same generator (``oracle_scores``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit, logit
from sklearn.metrics import roc_auc_score


@dataclass(frozen=True)
class RiskCoefficients:
    intercept: float = -1.58       # site A: PD within 24 months ≈ 45 %
    gain1q21: float = 0.95
    del17p: float = 1.45
    t4_14: float = 0.45
    t14_16: float = 0.40
    iss3: float = 0.70
    ldh_high: float = 0.55         # LDH above the site's upper limit of normal
    hgb: float = -0.38             # per SD (18 g/L) of haemoglobin
    log_creatinine: float = 0.12   # per SD of log creatinine
    hypercalcaemia: float = 0.25   # corrected calcium > 2.75 mmol/L
    age_over_65: float = 0.60
    bone_advanced: float = 0.10    # ≥ 3 lytic lesions
    marrow_grade: float = 1.27     # per SD of the plasma-cell maturity grade
    ife_paresis: float = 6.4       # per unit immunoparesis depth (0 = normal background, 1 = none left)
    ife_extra_flc: float = 0.30
    ife_biclonal: float = 0.20


COEF = RiskCoefficients()
IFE_PATTERNS = ("single", "extra_flc", "biclonal")
# Among patients with an intact heavy chain (IgG/IgA/IgM); light-chain-only and IgD gels show one band.
IFE_PATTERN_P = (0.88, 0.10, 0.02)
INTACT_HEAVY = ("IgG", "IgA", "IgM")
# plasmablast share of plasma cells = expit(BLAST_A + BLAST_B · grade); > 20 % in about 9 % of patients
BLAST_A, BLAST_B = -3.15, 1.32
PLASMABLASTIC_SHARE = 0.20
PARESIS_BETA = (2.5, 1.5)
_PARESIS_MEAN = PARESIS_BETA[0] / sum(PARESIS_BETA)
_LOG_CREAT_MEAN, _LOG_CREAT_SD = np.log(85.0), 0.40
_HGB_MEAN, _HGB_SD = 102.0, 18.0


def sample_image_latents(n: int, rng: np.random.Generator, heavy: np.ndarray | None = None) -> pd.DataFrame:
    """Latents only the images show; independent of the clinical table except that a second clone or an
    extra free-light-chain band needs an intact heavy chain (``heavy``: each patient's isotype)."""
    grade = rng.normal(0.0, 1.0, n)
    blast = expit(BLAST_A + BLAST_B * grade)
    pattern = rng.choice(IFE_PATTERNS, size=n, p=IFE_PATTERN_P)
    if heavy is not None:
        pattern = np.where(np.isin(heavy, INTACT_HEAVY), pattern, "single")
    paresis = rng.beta(*PARESIS_BETA, n)
    return pd.DataFrame({"marrow_grade": grade, "marrow_blast": blast, "ife_pattern": pattern,
                         "ife_paresis": paresis})


def clinical_component(df: pd.DataFrame, c: RiskCoefficients = COEF) -> np.ndarray:
    """Risk from the true clinical values and biology (computed before any value goes missing)."""
    def col(name: str, hidden: str | None = None) -> np.ndarray:
        return df[hidden if hidden and hidden in df else name].to_numpy(dtype=float)

    ldh_high = col("_ldh_ratio") > 1.0 if "_ldh_ratio" in df else df["ldh"].to_numpy() > 250.0
    return (
        c.gain1q21 * (col("fish_1q21_gain") == 1)
        + c.del17p * (col("fish_del17p", "_del17p") == 1)
        + c.t4_14 * (col("fish_t4_14") == 1)
        + c.t14_16 * (col("fish_t14_16", "_t14_16") == 1)
        + c.iss3 * (df["iss"].to_numpy() == "III")
        + c.ldh_high * ldh_high
        + c.hgb * (col("hgb") - _HGB_MEAN) / _HGB_SD
        + c.log_creatinine * (np.log(col("creatinine")) - _LOG_CREAT_MEAN) / _LOG_CREAT_SD
        + c.hypercalcaemia * (col("calcium") > 2.75)
        + c.age_over_65 * (col("age") > 65)
        + c.bone_advanced * (df["bone_lesions"].to_numpy() == "3+")
    )


def marrow_component(lat: pd.DataFrame, c: RiskCoefficients = COEF) -> np.ndarray:
    if "marrow_grade" in lat:
        grade = lat["marrow_grade"].to_numpy()
    else:  # only the share was kept: the grade is its logit, rescaled
        grade = (logit(np.clip(lat["marrow_blast"].to_numpy(), 1e-9, 1 - 1e-9)) - BLAST_A) / BLAST_B
    return c.marrow_grade * grade


def ife_component(lat: pd.DataFrame, c: RiskCoefficients = COEF) -> np.ndarray:
    p = lat["ife_pattern"].to_numpy()
    return (c.ife_extra_flc * (p == "extra_flc") + c.ife_biclonal * (p == "biclonal")
            + c.ife_paresis * (lat["ife_paresis"].to_numpy() - _PARESIS_MEAN))


def components(clin: pd.DataFrame, lat: pd.DataFrame, c: RiskCoefficients = COEF) -> pd.DataFrame:
    return pd.DataFrame({
        "clinical": clinical_component(clin, c),
        "marrow": marrow_component(lat, c),
        "electrophoresis": ife_component(lat, c),
    }, index=clin.index)


def true_probability(comp: pd.DataFrame, c: RiskCoefficients = COEF, intercept: float | None = None) -> np.ndarray:
    b = c.intercept if intercept is None else intercept
    return expit(b + comp.sum(axis=1).to_numpy())


def intercept_for_prevalence(ref_comp: pd.DataFrame, prevalence: float) -> float:
    """The intercept at which the reference population's mean risk equals ``prevalence``."""
    if not 0.01 <= prevalence <= 0.95:
        raise ValueError(f"Expected a prevalence between 0.01 and 0.95. Got {prevalence}.")
    total = ref_comp.sum(axis=1).to_numpy()
    return float(brentq(lambda b: expit(b + total).mean() - prevalence, -20.0, 20.0, xtol=1e-6))


def _weibull_scale(p: np.ndarray, shape: float, horizon: float) -> np.ndarray:
    return horizon / np.power(-np.log1p(-np.clip(p, 1e-6, 1 - 1e-6)), 1.0 / shape)


def sample_survival(p: np.ndarray, rng: np.random.Generator, shape: float = 1.3, horizon: float = 24.0,
                    max_follow_up: float = 60.0, censor_early: float = 0.0) -> pd.DataFrame:
    """Weibull time to progression whose 24-month CDF equals ``p``.

    Without ``censor_early`` every patient is followed 24-60 months, so ``progressed`` (T <= 24) is
    always known. ``censor_early`` (0-0.5) is the expected share of patients lost to follow-up before
    24 months without an event: some patients get a drop-out time uniform on 1-24 months, drawn
    independently of their risk (so inverse-probability-of-censoring weights are valid), sized so
    that the expected share censored early is ``censor_early``. Their 24-month outcome is unknown;
    ``progressed`` says 0 for them, as a naive export would, and ``progressed_true`` keeps the truth.
    """
    if not 0.0 <= censor_early <= 0.5:
        raise ValueError(f"Expected censor_early between 0 and 0.5. Got {censor_early}.")
    n = len(p)
    scale = _weibull_scale(p, shape, horizon)
    t = scale * np.power(-np.log(rng.random(n)), 1.0 / shape)
    censor = np.minimum(max_follow_up, rng.uniform(horizon, 84.0, n))
    dropout_u = rng.random(n)
    dropout_t = rng.uniform(1.0, horizon, n)
    if censor_early > 0:
        grid = np.linspace(1.0, horizon, 47)
        still_free = np.exp(-np.power(grid[None, :] / scale[:, None], shape)).mean()  # E P(T > C)
        q = censor_early / still_free
        if q > 1:
            raise ValueError(f"Expected censor_early at most {still_free:.2f} for this cohort (the share still "
                             f"progression-free when drop-out happens). Got {censor_early}.")
        censor = np.where(dropout_u < q, dropout_t, censor)
    event = t <= censor
    truth = (t <= horizon).astype(int)
    early = (~event) & (censor < horizon)
    months = np.minimum(t, censor)
    shown = months.round(1)
    shown = np.where((months > horizon) & (shown <= horizon), horizon + 0.1, shown)  # rounding never crosses 24
    return pd.DataFrame({
        "progressed": np.where(early, 0, truth),
        "months_to_event": shown,
        "event": event.astype(int),
        "progressed_true": truth,
    })


def _grid_expectation(base: float, own: np.ndarray, other: np.ndarray, n_grid: int = 400) -> np.ndarray:
    """E[expit(base + x + other)] at each x in ``own``, over the ``other`` sample (interpolated on a grid)."""
    if len(own) == 0:
        return np.empty(0)
    lo, hi = float(own.min()), float(own.max())
    grid = np.linspace(lo, hi if hi > lo else lo + 1e-9, n_grid)
    vals = np.empty(n_grid)
    for i in range(0, n_grid, 50):
        vals[i:i + 50] = expit(base + grid[i:i + 50, None] + other[None, :]).mean(axis=1)
    return np.interp(own, grid, vals)


def _binned_expectation(base: float, own: np.ndarray, keys: np.ndarray, ref_keys: np.ndarray, ref_other: np.ndarray,
                        fallback_keys: np.ndarray | None = None, ref_fallback: np.ndarray | None = None,
                        min_ref: int = 200) -> np.ndarray:
    """E[expit(base + own + other)] with ``other`` drawn from reference patients in the same bin
    (the coarser fallback bin, else everyone, when a bin has fewer than ``min_ref``)."""
    out = np.empty(len(own))
    for key in np.unique(keys):
        sel = keys == key
        o = ref_other[ref_keys == key]
        if len(o) < min_ref and fallback_keys is not None:
            fk = fallback_keys[sel][0]
            o = ref_other[ref_fallback == fk]
        if len(o) < min_ref:
            o = ref_other
        out[sel] = _grid_expectation(base, own[sel], o, n_grid=100)
    return out


def _ife_keys(clin: pd.DataFrame, edges: dict) -> np.ndarray:
    heavy = clin["mprotein_heavy"].to_numpy()
    m = clin["mprotein_level"].to_numpy()
    light = clin["mprotein_light"].to_numpy()
    level = np.zeros(len(clin), dtype=int)
    for h, e in edges.items():
        sel = heavy == h
        level[sel] = np.digitize(m[sel], e)
    return np.array([f"{h}:{l}:{k}" for h, l, k in zip(heavy, light, level)], dtype=object)


def oracle_scores(clin: pd.DataFrame, comp: pd.DataFrame, ref_clin: pd.DataFrame, ref_comp: pd.DataFrame,
                  c: RiskCoefficients = COEF, n_bins: int = 20, intercept: float | None = None) -> pd.DataFrame:
    """E[p | each modality's information] for every patient.

    clinical: the clinical component and whether the isotype has an intact heavy chain (which decides
    whether a band pattern other than a single band is possible). marrow: plasma-cell % (bin), rouleaux
    grade (from globulin) and the maturity grade. IFE: isotype, light chain, M-protein level quintile,
    band pattern and immunoparesis. The clinically correlated part of each image's information is
    integrated over reference patients in the same bin.
    """
    from zoo.synth.marrow import rouleaux_grade

    base = c.intercept if intercept is None else intercept
    out = pd.DataFrame(index=clin.index)
    out["p_true"] = expit(base + comp.sum(axis=1).to_numpy())

    intact = np.isin(clin["mprotein_heavy"].to_numpy(), INTACT_HEAVY)
    ref_intact = np.isin(ref_clin["mprotein_heavy"].to_numpy(), INTACT_HEAVY)
    rest = (ref_comp["marrow"] + ref_comp["electrophoresis"]).to_numpy()
    p_clin = np.empty(len(clin))
    own = comp["clinical"].to_numpy()
    for g in (True, False):
        sel = intact == g
        p_clin[sel] = _grid_expectation(base, own[sel], rest[ref_intact == g])
    out["p_clinical"] = p_clin

    edges = np.quantile(ref_clin["bmpc"], np.linspace(0, 1, n_bins + 1)[1:-1])
    pc_bin, ref_pc_bin = np.digitize(clin["bmpc"], edges), np.digitize(ref_clin["bmpc"], edges)
    keys = pc_bin * 10 + rouleaux_grade(clin["glb"].to_numpy())
    ref_keys = ref_pc_bin * 10 + rouleaux_grade(ref_clin["glb"].to_numpy())
    ref_other = (ref_comp["clinical"] + ref_comp["electrophoresis"]).to_numpy()
    out["p_marrow"] = _binned_expectation(base, comp["marrow"].to_numpy(), keys, ref_keys, ref_other,
                                          fallback_keys=pc_bin, ref_fallback=ref_pc_bin)

    levels = ref_clin.groupby("mprotein_heavy")["mprotein_level"]
    heavy_edges = {h: np.quantile(g, [0.2, 0.4, 0.6, 0.8]) for h, g in levels if h != "light_chain_only"}
    ife_keys, ref_ife_keys = _ife_keys(clin, heavy_edges), _ife_keys(ref_clin, heavy_edges)
    out["p_electrophoresis"] = _binned_expectation(
        base, comp["electrophoresis"].to_numpy(), ife_keys, ref_ife_keys,
        (ref_comp["clinical"] + ref_comp["marrow"]).to_numpy(),
        fallback_keys=clin["mprotein_heavy"].to_numpy(), ref_fallback=ref_clin["mprotein_heavy"].to_numpy())
    return out


def oracle_aucs(oracle: pd.DataFrame, y: np.ndarray) -> dict[str, float]:
    return {m: float(roc_auc_score(y, oracle[f"p_{m}"]))
            for m in ("clinical", "marrow", "electrophoresis", "true")}
