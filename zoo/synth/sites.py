"""The two synthetic hospitals: what differs between them is what differs between real hospitals.

Case mix (age, stage, renal function), the era's baseline risk, lab units and
reporting precision, the LDH assay's upper limit, the FISH panel and its
cut-off, how often FISH is done at all, the microscope's magnification and
the gel platform. One frozen record per site; every generator module reads
its site's record instead of branching on the site's name.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Site:
    code: str
    age_mean: float
    burden_shift: float          # tumour-burden latent, SD units
    renal_shift: float           # renal-injury latent, SD units
    intercept_shift: float       # logit; era and supportive care at this site (external calibration drift)
    years: tuple[int, int]
    ldh_uln: float               # this lab's LDH upper limit of normal, U/L (LDH is drawn relative to it)
    # columns reported in a non-canonical unit (written to clinical.csv and declared in variables.yaml)
    units: dict[str, str] = field(default_factory=dict)
    # decimals each lab value is reported with, in the site's own unit
    decimals: dict[str, int] = field(default_factory=dict)
    fish_panel: tuple[str, ...] = ("fish_1q21_gain", "fish_del17p", "fish_t4_14", "fish_t14_16", "fish_t11_14")
    del17p_cutoff: float = 0.20  # share of nuclei with the deletion needed to call it positive
    fish_missing: float = 0.15   # share of patients without any FISH (panel complete or absent)
    magnification: float = 1.0   # cell size in pixels relative to site A's 100x oil objective
    gel: str = "A"               # gel platform (lane geometry and stain, see ife.GEL_PLATFORMS)


_SI_DECIMALS = {"hgb": 0, "alb": 1, "glb": 1, "creatinine": 0, "calcium": 2, "mprotein_level": 1, "b2m": 2,
                "ldh": 0, "wbc": 2, "plt": 0, "urine_light_chain": 0}
_US_DECIMALS = {"hgb": 1, "alb": 1, "glb": 1, "creatinine": 2, "calcium": 1, "mprotein_level": 2, "b2m": 2,
                "ldh": 0, "wbc": 2, "plt": 0, "urine_light_chain": 0}

SITES: dict[str, Site] = {
    "A": Site(code="A", age_mean=61.0, burden_shift=0.0, renal_shift=0.0, intercept_shift=0.0, years=(2017, 2023),
              ldh_uln=250.0, decimals=_SI_DECIMALS),
    # B: a US hospital; older and more advanced patients in a later era (lower baseline risk), labs in
    # conventional units, LDH assay with ULN 220 U/L, no t(14;16) probe, del(17p) called at 60 % of
    # nuclei (subclonal deletions are reported negative), FISH more often not done, smears photographed
    # at lower magnification (50x), a different gel platform.
    "B": Site(code="B", age_mean=66.0, burden_shift=0.25, renal_shift=0.2, intercept_shift=-0.55, years=(2019, 2024),
              ldh_uln=220.0,
              units={"hgb": "g/dL", "alb": "g/dL", "glb": "g/dL", "creatinine": "mg/dL", "calcium": "mg/dL",
                     "mprotein_level": "g/dL"},
              decimals=_US_DECIMALS,
              fish_panel=("fish_1q21_gain", "fish_del17p", "fish_t4_14", "fish_t11_14"),
              del17p_cutoff=0.60, fish_missing=0.30, magnification=0.75, gel="B"),
}


def get_site(code: str) -> Site:
    try:
        return SITES[code]
    except KeyError:
        raise ValueError(f"Expected site 'A' or 'B'. Got {code!r}.") from None
