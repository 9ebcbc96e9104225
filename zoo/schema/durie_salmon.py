"""Durie–Salmon staging criteria (Durie & Salmon, Cancer 1975), in the schema's canonical units.

Stage I needs every one of: haemoglobin > 100 g/L, calcium ≤ 3.0 mmol/L (12 mg/dL),
no lytic lesion (normal bone or a solitary plasmacytoma), IgG M-protein < 50 g/L,
IgA M-protein < 30 g/L, urinary light chain < 4 g/24 h.
Stage III needs any one of: haemoglobin < 85 g/L, calcium > 3.0 mmol/L, advanced
lytic bone disease (≥ 3 lesions), IgG > 70 g/L, IgA > 50 g/L, urinary light chain
> 12 g/24 h. Stage II is everything between. Substage B: creatinine ≥ 177 µmol/L (2 mg/dL).

The generator stages its patients with this function and the tests check every
patient of a large draw against it, so a stage never contradicts the labs.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

HGB_STAGE_I, HGB_STAGE_III = 100.0, 85.0          # g/L
CALCIUM_LIMIT = 3.0                                # mmol/L (12 mg/dL)
IGG_STAGE_I, IGG_STAGE_III = 50.0, 70.0            # g/L
IGA_STAGE_I, IGA_STAGE_III = 30.0, 50.0            # g/L
ULC_STAGE_I, ULC_STAGE_III = 4000.0, 12000.0       # mg/24 h
CREATININE_B = 177.0                               # µmol/L
BONE_NONE, BONE_ADVANCED = "0", "3+"


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    return pd.to_numeric(df[name], errors="coerce") if name in df else pd.Series(np.nan, index=df.index)


def durie_salmon_criteria(df: pd.DataFrame) -> pd.DataFrame:
    """Per patient: ``meets_i`` (every stage I criterion holds), ``meets_iii`` (any stage III criterion
    holds), ``substage_b``; each is ``None`` where a missing value could decide it."""
    hgb, ca, ulc, creat = _col(df, "hgb"), _col(df, "calcium"), _col(df, "urine_light_chain"), _col(df, "creatinine")
    m = _col(df, "mprotein_level")
    heavy = df["mprotein_heavy"] if "mprotein_heavy" in df else pd.Series(np.nan, index=df.index)
    bone = df["bone_lesions"].astype(object) if "bone_lesions" in df else pd.Series(np.nan, index=df.index)
    igg, iga = heavy == "IgG", heavy == "IgA"
    known_heavy = heavy.notna()

    def tri(true: pd.Series, known: pd.Series) -> pd.Series:
        return pd.Series(np.where(known, true, None), index=df.index, dtype=object)

    i_parts = [
        tri(hgb > HGB_STAGE_I, hgb.notna()),
        tri(ca <= CALCIUM_LIMIT, ca.notna()),
        tri(bone == BONE_NONE, bone.notna()),
        tri(~((igg & (m >= IGG_STAGE_I)) | (iga & (m >= IGA_STAGE_I))), known_heavy & (m.notna() | ~(igg | iga))),
        tri(ulc < ULC_STAGE_I, ulc.notna()),
    ]
    iii_parts = [
        tri(hgb < HGB_STAGE_III, hgb.notna()),
        tri(ca > CALCIUM_LIMIT, ca.notna()),
        tri(bone == BONE_ADVANCED, bone.notna()),
        tri((igg & (m > IGG_STAGE_III)) | (iga & (m > IGA_STAGE_III)), known_heavy & (m.notna() | ~(igg | iga))),
        tri(ulc > ULC_STAGE_III, ulc.notna()),
    ]
    return pd.DataFrame({"meets_i": _all(i_parts), "meets_iii": _any(iii_parts),
                         "substage_b": tri(creat >= CREATININE_B, creat.notna())}, index=df.index)


def _all(parts: list[pd.Series]) -> pd.Series:
    """Three-valued AND: False if any part is False, True if all are True, else unknown."""
    frame = pd.concat(parts, axis=1)
    out = pd.Series(None, index=frame.index, dtype=object)
    out[(frame == True).all(axis=1)] = True  # noqa: E712 (object columns hold True/False/None)
    out[(frame == False).any(axis=1)] = False  # noqa: E712
    return out


def _any(parts: list[pd.Series]) -> pd.Series:
    """Three-valued OR: True if any part is True, False if all are False, else unknown."""
    frame = pd.concat(parts, axis=1)
    out = pd.Series(None, index=frame.index, dtype=object)
    out[(frame == False).all(axis=1)] = False  # noqa: E712
    out[(frame == True).any(axis=1)] = True  # noqa: E712
    return out


def durie_salmon_stage(df: pd.DataFrame) -> pd.Series:
    """The stage (IA … IIIB) the criteria give; missing where a missing value could change it."""
    c = durie_salmon_criteria(df)
    core = pd.Series(None, index=df.index, dtype=object)
    core[c["meets_iii"] == True] = "III"  # noqa: E712
    core[(c["meets_iii"] == False) & (c["meets_i"] == True)] = "I"  # noqa: E712
    core[(c["meets_iii"] == False) & (c["meets_i"] == False)] = "II"  # noqa: E712
    sub = c["substage_b"].map({True: "B", False: "A"})
    out = core + sub
    return out.where(core.notna() & sub.notna(), np.nan)


def durie_salmon_contradictions(df: pd.DataFrame) -> pd.DataFrame:
    """Patients whose recorded ``ds_stage`` contradicts what their recorded values decide.

    Only decided criteria count: a stage I patient with anaemia, a stage III patient that meets no
    stage III criterion although every one of them is known, a substage that disagrees with creatinine.
    """
    if "ds_stage" not in df:
        return pd.DataFrame(columns=["ds_stage", "reason"])
    c = durie_salmon_criteria(df)
    stage = df["ds_stage"].astype(object)
    core = stage.str.rstrip("AB")
    sub = stage.str[-1]
    reasons = pd.Series("", index=df.index, dtype=object)
    reasons[(core == "I") & (c["meets_i"] == False)] += "stage I but a stage I criterion fails; "  # noqa: E712
    reasons[(core != "III") & core.notna() & (c["meets_iii"] == True)] += "a stage III criterion holds; "  # noqa: E712
    reasons[(core == "III") & (c["meets_iii"] == False)] += "stage III but no stage III criterion holds; "  # noqa: E712
    reasons[(core == "II") & (c["meets_i"] == True)] += "stage II but every stage I criterion holds; "  # noqa: E712
    reasons[(sub == "B") & (c["substage_b"] == False)] += "substage B with creatinine < 177 µmol/L; "  # noqa: E712
    reasons[(sub == "A") & (c["substage_b"] == True)] += "substage A with creatinine ≥ 177 µmol/L; "  # noqa: E712
    bad = reasons != ""
    return pd.DataFrame({"ds_stage": stage[bad], "reason": reasons[bad].str.rstrip("; ")})
