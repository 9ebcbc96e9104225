"""Derived staging: ISS and R-ISS come from this one function everywhere.

The generator uses it to create the stages, the validator to check stages a
cohort supplies, and the predictor to fill them for a what-if patient.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from zoo.lru import LRU
from zoo.schema.variables import HIGH_RISK_FISH, LDH_ULN_U_PER_L

ISS_LEVELS = ("I", "II", "III")


def derive_iss(b2m: pd.Series, alb: pd.Series) -> pd.Series:
    """ISS (Greipp 2005): I = β2M < 3.5 mg/L and ALB ≥ 35 g/L; III = β2M ≥ 5.5; II otherwise."""
    b2m = pd.to_numeric(b2m, errors="coerce")
    alb = pd.to_numeric(alb, errors="coerce")
    out = pd.Series(np.nan, index=b2m.index, dtype="object")
    out[b2m >= 5.5] = "III"
    mid = (b2m < 5.5)
    out[mid & (b2m >= 3.5)] = "II"
    low = b2m < 3.5
    out[low & (alb >= 35)] = "I"
    out[low & (alb < 35)] = "II"
    return out


def derive_riss(iss: pd.Series, ldh: pd.Series, fish: pd.DataFrame | None,
                ldh_uln: float = LDH_ULN_U_PER_L) -> pd.Series:
    """R-ISS (Palumbo 2015) with honest handling of unknowns.

    I needs ISS I, normal LDH and every high-risk FISH known negative; III needs
    ISS III and LDH high or any high-risk FISH positive; when the missing value
    could change the stage the result is missing rather than guessed.
    """
    idx = iss.index
    ldh = pd.to_numeric(ldh, errors="coerce")
    hr_cols = [c for c in HIGH_RISK_FISH if fish is not None and c in fish]
    if hr_cols:
        hr = fish[hr_cols].apply(pd.to_numeric, errors="coerce")
        any_pos = (hr == 1).any(axis=1)
        all_neg = (hr == 0).all(axis=1) & (len(hr_cols) == len(HIGH_RISK_FISH))
    else:
        any_pos = pd.Series(False, index=idx)
        all_neg = pd.Series(False, index=idx)
    ldh_high = ldh > ldh_uln
    ldh_norm = ldh <= ldh_uln
    out = pd.Series(np.nan, index=idx, dtype="object")
    out[iss == "II"] = "II"
    out[(iss == "I") & ldh_norm & all_neg] = "I"
    out[(iss == "I") & (ldh_high | any_pos)] = "II"
    out[(iss == "III") & (ldh_high | any_pos)] = "III"
    out[(iss == "III") & ldh_norm & all_neg] = "II"
    return out


def corrected_calcium(total_mmol_l: pd.Series, alb_g_l: pd.Series) -> pd.Series:
    """Albumin-corrected calcium (Payne 1973, in SI units): Ca + 0.02 × (40 − albumin g/L) mmol/L.

    Missing albumin gives a missing result, never a guess.
    """
    total = pd.to_numeric(total_mmol_l, errors="coerce")
    alb = pd.to_numeric(alb_g_l, errors="coerce")
    return total + 0.02 * (40.0 - alb)


def derive_stages(df: pd.DataFrame, ldh_uln: float = LDH_ULN_U_PER_L) -> pd.DataFrame:
    """ISS and R-ISS for every row, from whatever inputs the frame has."""
    n = len(df)
    nan = pd.Series(np.nan, index=df.index)
    iss = derive_iss(df["b2m"] if "b2m" in df else nan, df["alb"] if "alb" in df else nan)
    fish = df[[c for c in HIGH_RISK_FISH if c in df]] if any(c in df for c in HIGH_RISK_FISH) else None
    riss = derive_riss(iss, df["ldh"] if "ldh" in df else nan, fish, ldh_uln)
    return pd.DataFrame({"iss": iss, "riss": riss}, index=df.index[:n])


def stage_mismatches(df: pd.DataFrame, ldh_uln: float = LDH_ULN_U_PER_L) -> list[tuple[int, str, str, str]]:
    """Rows where a supplied ISS/R-ISS disagrees with the derivation: (row, column, given, derived)."""
    derived = derive_stages(df, ldh_uln)
    out = []
    for col in ("iss", "riss"):
        if col not in df:
            continue
        given = df[col]
        for i in range(len(df)):
            g, d = given.iloc[i], derived[col].iloc[i]
            if pd.isna(g) or pd.isna(d):
                continue
            if str(g) != str(d):
                out.append((i, col, str(g), str(d)))
    return out


def with_derived_stages(rows: pd.DataFrame, ldh_uln: float = LDH_ULN_U_PER_L) -> pd.DataFrame:
    """``rows`` with ISS and R-ISS (re)derived from their inputs wherever the inputs decide them.

    Used for form and what-if patients, so a changed β2M or LDH moves the stage too.
    """
    out = rows.copy()
    st = derive_stages(out, ldh_uln)
    for col in ("iss", "riss"):
        if col in out:
            out[col] = st[col].where(st[col].notna(), out[col])
        else:
            out[col] = st[col]
    return out


# ----- staging systems scored as reference models ----------------------------------------------------
# R2-ISS (D'Agostino et al., J Clin Oncol 2022;40:3406-3418): an additive score, then four groups.
R2ISS_ISS_POINTS = {"I": 0.0, "II": 1.0, "III": 1.5}
R2ISS_POINTS = {"ldh_high": 1.0, "fish_del17p": 1.0, "fish_t4_14": 1.0, "fish_1q21_gain": 0.5}
R2ISS_GROUPS = (("I", 0.0), ("II", 1.0), ("III", 2.5), ("IV", 5.0))  # (group, highest score in it)
# IMS/IMWG high risk (Avet-Loiseau et al., J Clin Oncol 2025;43:2739-2751): β2M ≥ 5.5 mg/L counts only
# with normal creatinine, < 1.2 mg/dL = 106.1 µmol/L (1 mg/dL = 88.42 µmol/L).
IMWG_B2M_MG_L = 5.5
IMWG_CREATININE_UMOL_L = 1.2 * 88.42


class StagingSystem:
    """A staging system's name, levels (lowest risk first), display label and source."""

    def __init__(self, key: str, display: str, levels: tuple[str, ...], citation: str) -> None:
        self.key, self.display, self.levels, self.citation = key, display, levels, citation


STAGING_SYSTEMS: dict[str, StagingSystem] = {s.key: s for s in (
    StagingSystem("iss", "ISS", ISS_LEVELS, "Greipp et al., J Clin Oncol 2005;23:3412-3420"),
    StagingSystem("riss", "R-ISS", ISS_LEVELS, "Palumbo et al., J Clin Oncol 2015;33:2863-2869"),
    StagingSystem("r2iss", "R2-ISS", ("I", "II", "III", "IV"), "D'Agostino et al., J Clin Oncol 2022;40:3406-3418"),
    StagingSystem("imwg_hr", "IMS/IMWG high risk", ("standard", "high"),
                  "Avet-Loiseau et al., J Clin Oncol 2025;43:2739-2751"),
)}


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    return pd.to_numeric(df[name], errors="coerce") if name in df else pd.Series(np.nan, index=df.index)


def _known(cond: pd.Series, *inputs: pd.Series) -> pd.Series:
    """A nullable boolean: ``cond`` where every input is known, <NA> otherwise (Kleene logic downstream)."""
    out = pd.Series(cond.to_numpy(dtype=bool), index=cond.index, dtype="boolean")
    missing = np.zeros(len(cond), dtype=bool)
    for s in inputs:
        missing |= s.isna().to_numpy()
    out[missing] = pd.NA
    return out


def _resolved_iss(df: pd.DataFrame) -> pd.Series:
    """ISS derived from β2M and albumin where they decide it, else the stage the cohort supplies."""
    iss = derive_iss(_col(df, "b2m"), _col(df, "alb"))
    if "iss" in df:
        iss = iss.where(iss.notna(), df["iss"].where(df["iss"].isin(ISS_LEVELS)))
    return iss


def derive_r2iss(df: pd.DataFrame, ldh_uln: float = LDH_ULN_U_PER_L) -> pd.Series:
    """R2-ISS group (I-IV) per row; missing where a missing input could change the group.

    Each unknown input is bounded by its lowest and highest possible points (an unknown ISS with
    β2M < 3.5 mg/L is I or II, so 0-1 point); the group is given only when both bounds fall in it.
    """
    iss = _resolved_iss(df)
    b2m, alb, ldh = _col(df, "b2m"), _col(df, "alb"), _col(df, "ldh")
    pts = iss.map(R2ISS_ISS_POINTS).astype(float)
    iss_lo = pts.where(pts.notna(), np.where(b2m.isna() & (alb < 35), 1.0, 0.0))
    iss_hi = pts.where(pts.notna(), np.where(b2m < 3.5, 1.0, 1.5))
    lo, hi = iss_lo.to_numpy(dtype=float), iss_hi.to_numpy(dtype=float)
    flags = {"ldh_high": (ldh > ldh_uln).astype(float).where(ldh.notna())}
    flags.update({c: _col(df, c).where(_col(df, c).isin([0, 1])) for c in R2ISS_POINTS if c != "ldh_high"})
    for name, f in flags.items():
        p = R2ISS_POINTS[name]
        lo = lo + np.where(f.isna(), 0.0, f.fillna(0).to_numpy() * p)
        hi = hi + np.where(f.isna(), p, f.fillna(0).to_numpy() * p)
    g_lo, g_hi = _r2iss_group(lo), _r2iss_group(hi)
    out = pd.Series(np.nan, index=df.index, dtype="object")
    decided = g_lo == g_hi
    out[decided] = g_lo[decided]
    return out


def _r2iss_group(score: np.ndarray) -> np.ndarray:
    edges = np.array([hi for _, hi in R2ISS_GROUPS])
    names = np.array([g for g, _ in R2ISS_GROUPS], dtype=object)
    return names[np.searchsorted(edges, np.round(score, 6), side="left").clip(0, len(names) - 1)]


def derive_imwg_high_risk(df: pd.DataFrame) -> pd.Series:
    """IMS/IMWG 2024 high-risk flag ('high' / 'standard') from the criteria the schema records.

    High risk is any of: del(17p); t(4;14) or t(14;16) together with 1q gain/amplification; β2M ≥
    5.5 mg/L with creatinine < 1.2 mg/dL. The consensus's other criteria (TP53 mutation, del(1p32),
    t(14;20), the del(17p) clonal fraction > 20 %) are not in the schema: a positive del(17p) is taken at
    the laboratory's cut-off. Missing inputs follow Kleene logic: one known criterion makes a patient
    high risk; standard risk needs every criterion known to be absent; otherwise the flag is missing.
    """
    d17, t414, t1416, g1q = (_col(df, c) for c in ("fish_del17p", "fish_t4_14", "fish_t14_16", "fish_1q21_gain"))
    b2m, creat = _col(df, "b2m"), _col(df, "creatinine")
    c1 = _known(d17 == 1, d17)
    c2 = (_known(t414 == 1, t414) | _known(t1416 == 1, t1416)) & _known(g1q == 1, g1q)
    c3 = _known(b2m >= IMWG_B2M_MG_L, b2m) & _known(creat < IMWG_CREATININE_UMOL_L, creat)
    hr = c1 | c2 | c3
    out = pd.Series(np.nan, index=df.index, dtype="object")
    out[hr.fillna(False).to_numpy(dtype=bool)] = "high"
    out[(~hr).fillna(False).to_numpy(dtype=bool)] = "standard"
    return out


_SMALL_FRAME = 8  # a predictor request: one patient, derived once for the four staging models and the card
_memo = LRU(512)


def derive_staging_systems(df: pd.DataFrame, ldh_uln: float = LDH_ULN_U_PER_L) -> pd.DataFrame:
    """ISS, R-ISS, R2-ISS and the IMS/IMWG flag per row (missing where the inputs do not decide them).

    A stage the cohort supplies is used only where its inputs are missing; where the inputs decide a
    stage, the derivation wins (as everywhere else in MyeloZoo).

    One patient's prediction asks for the same rows five times (four staging models and the card), and
    pandas' per-call overhead made that a third of a prediction; small frames are memoised by the exact
    text of their values, so a different value (or type) is always a different key.
    """
    if len(df) > _SMALL_FRAME:
        return _derive_staging_systems(df, ldh_uln)
    key = (float(ldh_uln), tuple(map(str, df.columns)), repr(df.index.tolist()),
           repr(df.to_numpy(dtype=object).tolist()))
    hit = _memo.get(key)
    if hit is not None:
        return hit.copy()
    out = _derive_staging_systems(df, ldh_uln)
    _memo.put(key, out.copy())
    return out


def _derive_staging_systems(df: pd.DataFrame, ldh_uln: float) -> pd.DataFrame:
    iss = _resolved_iss(df)
    fish = df[[c for c in HIGH_RISK_FISH if c in df]] if any(c in df for c in HIGH_RISK_FISH) else None
    riss = derive_riss(iss, _col(df, "ldh"), fish, ldh_uln)
    if "riss" in df:
        riss = riss.where(riss.notna(), df["riss"].where(df["riss"].isin(ISS_LEVELS)))
    return pd.DataFrame({"iss": iss, "riss": riss, "r2iss": derive_r2iss(df, ldh_uln),
                         "imwg_hr": derive_imwg_high_risk(df)}, index=df.index)
