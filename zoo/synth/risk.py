"""The documented latent risk model behind the synthetic outcome.

logit P(PD within 24 months) = intercept
    + clinical component  (the study's factors: 1q21 gain, ISS III, high LDH,
                           creatinine, hypercalcaemia, haemoglobin, age > 65,
                           plus high-risk FISH)
    + marrow component    (plasmablastic share of plasma cells, seen only on smears)
    + IFE component       (extra free-light-chain band / second clone, and
                           immunoparesis depth, seen only on the gel)

The two image latents are drawn independently of every clinical variable, so
the oracle for each modality (the AUC of E[p | that modality's information])
can be computed exactly: for the clinical table it is monotone in the
clinical component; for each image modality it is averaged over a large
reference population drawn from the same generator (``oracle_scores``).
Coefficients are calibrated (scripts/calibrate_synth.py) so the oracle AUCs
follow the paper's pattern clinical < marrow < IFE < all three.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.metrics import roc_auc_score

from zoo.schema import HIGH_RISK_FISH, LDH_ULN_U_PER_L


@dataclass(frozen=True)
class RiskCoefficients:
    intercept: float = -7.58       # sets the PD rate near 38 % at site A
    gain1q21: float = 0.80
    iss3: float = 0.69
    ldh_high: float = 0.69
    log_creatinine: float = 0.52   # per SD of log creatinine
    hypercalcaemia: float = 0.52   # corrected calcium > 2.75 mmol/L
    hgb: float = -0.46             # per SD of haemoglobin
    age_over_65: float = 0.52
    high_risk_fish: float = 0.80
    marrow_blast: float = 8.5      # per unit plasmablastic share of plasma cells
    ife_extra_flc: float = 3.4
    ife_biclonal: float = 4.8
    ife_paresis: float = 5.6       # per unit immunoparesis depth


COEF = RiskCoefficients()
IFE_PATTERNS = ("single", "extra_flc", "biclonal")
IFE_PATTERN_P = (0.70, 0.18, 0.12)
_LOG_CREAT_MEAN, _LOG_CREAT_SD = np.log(85.0), 0.40
_HGB_MEAN, _HGB_SD = 112.0, 19.0


def sample_image_latents(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Latents only the images show; independent of the clinical table by design."""
    aggressive = rng.random(n) < 0.3
    blast = np.where(aggressive, rng.beta(3.0, 3.0, n), rng.beta(1.0, 14.0, n))
    pattern = rng.choice(IFE_PATTERNS, size=n, p=IFE_PATTERN_P)
    paresis = rng.beta(2.0, 2.0, n)
    return pd.DataFrame({"marrow_blast": blast.round(4), "ife_pattern": pattern, "ife_paresis": paresis.round(4)})


def clinical_component(df: pd.DataFrame, c: RiskCoefficients = COEF) -> np.ndarray:
    """Risk from the true clinical values (computed before any value goes missing)."""
    hr = (df[list(HIGH_RISK_FISH)] == 1).any(axis=1).to_numpy()
    return (
        c.gain1q21 * (df["fish_1q21_gain"].to_numpy() == 1)
        + c.iss3 * (df["iss"].to_numpy() == "III")
        + c.ldh_high * (df["ldh"].to_numpy() > LDH_ULN_U_PER_L)
        + c.log_creatinine * (np.log(df["creatinine"].to_numpy()) - _LOG_CREAT_MEAN) / _LOG_CREAT_SD
        + c.hypercalcaemia * (df["calcium"].to_numpy() > 2.75)
        + c.hgb * (df["hgb"].to_numpy() - _HGB_MEAN) / _HGB_SD
        + c.age_over_65 * (df["age"].to_numpy() > 65)
        + c.high_risk_fish * hr
    )


def marrow_component(lat: pd.DataFrame, c: RiskCoefficients = COEF) -> np.ndarray:
    return c.marrow_blast * lat["marrow_blast"].to_numpy()


def ife_component(lat: pd.DataFrame, c: RiskCoefficients = COEF) -> np.ndarray:
    p = lat["ife_pattern"].to_numpy()
    return (c.ife_extra_flc * (p == "extra_flc") + c.ife_biclonal * (p == "biclonal")
            + c.ife_paresis * lat["ife_paresis"].to_numpy())


def components(clin: pd.DataFrame, lat: pd.DataFrame, c: RiskCoefficients = COEF) -> pd.DataFrame:
    return pd.DataFrame({
        "clinical": clinical_component(clin, c),
        "marrow": marrow_component(lat, c),
        "electrophoresis": ife_component(lat, c),
    }, index=clin.index)


def true_probability(comp: pd.DataFrame, c: RiskCoefficients = COEF) -> np.ndarray:
    return expit(c.intercept + comp.sum(axis=1).to_numpy())


def sample_survival(p: np.ndarray, rng: np.random.Generator, shape: float = 1.3,
                    horizon: float = 24.0, max_follow_up: float = 60.0) -> pd.DataFrame:
    """Weibull time to progression whose 24-month CDF equals ``p``; censored at 24-60 months.

    Every patient is followed at least 24 months, so ``progressed`` (T <= 24) is
    always known and agrees with the survival data.
    """
    scale = horizon / np.power(-np.log1p(-np.clip(p, 1e-6, 1 - 1e-6)), 1.0 / shape)
    t = scale * np.power(-np.log(rng.random(len(p))), 1.0 / shape)
    censor = np.minimum(max_follow_up, rng.uniform(horizon, 84.0, len(p)))
    event = t <= censor
    return pd.DataFrame({
        "progressed": (t <= horizon).astype(int),
        "months_to_event": np.minimum(t, censor).round(1),
        "event": event.astype(int),
    })


def _cell_keys_marrow(clin: pd.DataFrame, edges: np.ndarray) -> np.ndarray:
    return np.digitize(clin["bmpc"].to_numpy(), edges)


def _cell_keys_ife(clin: pd.DataFrame, edges: dict) -> np.ndarray:
    heavy = clin["mprotein_heavy"].to_numpy()
    m = clin["mprotein_level"].to_numpy()
    keys = np.empty(len(clin), dtype=object)
    for h in np.unique(heavy):
        sel = heavy == h
        e = edges.get(h, np.array([]))
        keys[sel] = [f"{h}:{k}" for k in np.digitize(m[sel], e)]
    light = clin["mprotein_light"].to_numpy()
    return np.array([f"{k}:{l}" for k, l in zip(keys, light)], dtype=object)


def oracle_scores(clin: pd.DataFrame, comp: pd.DataFrame, ref_clin: pd.DataFrame, ref_comp: pd.DataFrame,
                  c: RiskCoefficients = COEF, n_bins: int = 20) -> pd.DataFrame:
    """E[p | each modality's information] for every patient.

    clinical: the clinical component is a sufficient ranking (image latents are
    independent of it). marrow: (plasma-cell %, plasmablastic share). IFE:
    (isotype, light chain, M-protein level bin, band pattern, immunoparesis).
    The clinically-correlated part of image information (plasma-cell % and
    M-protein level) is integrated over reference patients in the same bin.
    """
    out = pd.DataFrame(index=clin.index)
    out["p_true"] = true_probability(comp, c)
    base = c.intercept
    # Averaged over reference image latents: monotone in the clinical component.
    rest = (ref_comp["marrow"] + ref_comp["electrophoresis"]).to_numpy()
    out["p_clinical"] = [float(np.mean(expit(base + x + rest))) for x in comp["clinical"].to_numpy()]

    edges = np.quantile(ref_clin["bmpc"], np.linspace(0, 1, n_bins + 1)[1:-1])
    out["p_marrow"] = _binned_expectation(
        base, comp["marrow"].to_numpy(), _cell_keys_marrow(clin, edges), _cell_keys_marrow(ref_clin, edges),
        (ref_comp["clinical"] + ref_comp["electrophoresis"]).to_numpy())
    heavy_edges = {h: np.quantile(g, [0.2, 0.4, 0.6, 0.8]) for h, g in ref_clin.groupby("mprotein_heavy")["mprotein_level"]
                   if h != "light_chain_only"}
    out["p_electrophoresis"] = _binned_expectation(
        base, comp["electrophoresis"].to_numpy(), _cell_keys_ife(clin, heavy_edges), _cell_keys_ife(ref_clin, heavy_edges),
        (ref_comp["clinical"] + ref_comp["marrow"]).to_numpy())
    return out


def _binned_expectation(base: float, own: np.ndarray, keys: np.ndarray, ref_keys: np.ndarray, ref_other: np.ndarray,
                        min_ref: int = 50) -> np.ndarray:
    """E[expit(base + own + other)] with ``other`` drawn from reference patients in the same bin
    (all reference patients when a bin has fewer than ``min_ref``)."""
    out = np.empty(len(own))
    for key in np.unique(keys):
        sel = keys == key
        o = ref_other[ref_keys == key]
        if len(o) < min_ref:
            o = ref_other
        out[sel] = expit(base + own[sel, None] + o[None, :]).mean(axis=1)
    return out


def oracle_aucs(oracle: pd.DataFrame, y: np.ndarray) -> dict[str, float]:
    return {m: float(roc_auc_score(y, oracle[f"p_{m}"]))
            for m in ("clinical", "marrow", "electrophoresis", "true")}
