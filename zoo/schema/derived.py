"""Derived staging: ISS and R-ISS come from this one function everywhere.

The generator uses it to create the stages, the validator to check stages a
cohort supplies, and the predictor to fill them for a what-if patient.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

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
