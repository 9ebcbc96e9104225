"""The clinical schema: one definition of every baseline variable.

Validation, the dashboard's forms, Table 1, model preprocessing and SHAP
labels all read these entries, so adding a variable is one entry here (or, for
a research team's own cohort, one entry in its ``variables.yaml``).
"""
from __future__ import annotations

import math
import re
import unicodedata
from enum import Enum
from typing import Iterable

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from zoo.errors import SchemaError, UnitError

SCHEMA_VERSION = "1.0"

# R-ISS uses "LDH above the upper limit of normal"; labs differ, 250 U/L is a
# common adult ULN. A cohort may override it in variables.yaml (ldh_uln).
LDH_ULN_U_PER_L = 250.0

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class Kind(str, Enum):
    numeric = "numeric"
    binary = "binary"
    categorical = "categorical"
    ordinal = "ordinal"


class Variable(BaseModel):
    """A baseline variable. Numeric values are stored in the canonical ``unit``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(max_length=64)
    kind: Kind
    display: str = Field(max_length=200)  # names and display names feed patterns and page layouts: kept short
    help: str = ""
    group: str = "Other"
    unit: str | None = None
    # other unit -> (factor, offset) such that canonical = value * factor + offset
    alt_units: dict[str, tuple[float, float]] = Field(default_factory=dict)
    # valid_range: plausible values; outside it a value is set to missing with a warning (an error with --strict).
    # physical_range: possible values at all; outside it a value is an error (a typo, a wrong column).
    valid_range: tuple[float, float] | None = None
    physical_range: tuple[float, float] | None = None
    typical_range: tuple[float, float] | None = None
    # where a cohort's median lies in newly diagnosed myeloma: a column whose median falls outside it, but inside it
    # read in one of alt_units, is flagged (a unit the value ranges cannot reveal: M-spike in g/dL read as g/L)
    typical_median: tuple[float, float] | None = None
    levels: tuple[str, ...] = ()
    # accepted spellings -> canonical level (matched case-insensitively)
    aliases: dict[str, str] = Field(default_factory=dict)
    # its one-letter aliases mean different levels in other languages' exports (sex: M is male in English, mujer
    # in Spanish): a column with a letter none knows gets none of them guessed
    letters_vary_by_language: bool = False
    # other header spellings hospitals export (matched ignoring case, spaces and punctuation)
    synonyms: tuple[str, ...] = ()
    # LOINC codes a FHIR Observation of this variable may carry (zoo/interop/fhir.py); each looked up, see docs/API.md
    loinc: tuple[str, ...] = ()
    derived: bool = False
    role: str = "feature"  # feature | outcome | input (read from files, turned into a feature, never modelled)
    decimals: int = 1

    @field_validator("name")
    @classmethod
    def _name_is_identifier(cls, v: str) -> str:
        if not _NAME_RE.match(v):
            raise ValueError(
                f"Expected a lower-case identifier (letters, digits, _). Got {v!r}. "
                "Rename the variable, e.g. 'ecog_score'."
            )
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "Variable":
        if self.kind is Kind.numeric:
            if self.valid_range is None:
                raise ValueError(f"Numeric variable {self.name!r} needs a valid_range [min, max].")
            lo, hi = self.valid_range
            if not lo < hi:
                raise ValueError(f"Variable {self.name!r}: expected valid_range min < max. Got {lo}, {hi}.")
            if self.physical_range is not None:
                plo, phi = self.physical_range
                if not (plo <= lo < hi <= phi):
                    raise ValueError(
                        f"Variable {self.name!r}: physical_range {self.physical_range} must contain "
                        f"valid_range {self.valid_range}."
                    )
            if self.typical_range is not None:
                tlo, thi = self.typical_range
                if not (lo <= tlo < thi <= hi):
                    raise ValueError(
                        f"Variable {self.name!r}: typical_range {self.typical_range} must lie inside "
                        f"valid_range {self.valid_range}."
                    )
        elif self.kind in (Kind.categorical, Kind.ordinal):
            if len(self.levels) < 2:
                raise ValueError(f"{self.kind.value} variable {self.name!r} needs at least two levels.")
            if len(set(self.levels)) != len(self.levels):
                raise ValueError(f"Variable {self.name!r} has duplicate levels {self.levels}.")
        for alias, level in self.aliases.items():
            if level not in self.levels:
                raise ValueError(f"Variable {self.name!r}: alias {alias!r} points to unknown level {level!r}.")
        return self

    # ----- labels -----------------------------------------------------------
    @property
    def label(self) -> str:
        """Display name with unit, as used on axes, forms and SHAP plots."""
        return f"{self.display} ({self.unit})" if self.unit else self.display

    @property
    def possible_range(self) -> tuple[float, float]:
        """Values outside this are impossible (errors). Defaults to non-negative and unbounded above."""
        if self.physical_range is not None:
            return self.physical_range
        lo = min(0.0, self.valid_range[0]) if self.valid_range else 0.0
        return (lo, math.inf)

    @property
    def is_numeric_like(self) -> bool:
        return self.kind in (Kind.numeric, Kind.binary, Kind.ordinal)

    # ----- units ------------------------------------------------------------
    def units(self) -> list[str]:
        return ([self.unit] if self.unit else []) + list(self.alt_units)

    def to_canonical(self, value: float, unit: str | None) -> float:
        """Convert ``value`` from ``unit`` to the canonical unit."""
        if unit is None or unit == self.unit or (self.unit and _norm_unit(unit) == _norm_unit(self.unit)):
            return value
        key = _match_unit(unit, self.alt_units)
        if key is None:
            raise UnitError(
                f"Variable {self.name!r}: expected one of the units {self.units()}. Got {unit!r}. "
                "Convert the column or declare one of the accepted units in variables.yaml."
            )
        f, o = self.alt_units[key]
        return value * f + o

    def from_canonical(self, value: float, unit: str) -> float:
        if unit == self.unit or (self.unit and _norm_unit(unit) == _norm_unit(self.unit)):
            return value
        key = _match_unit(unit, self.alt_units)
        if key is None:
            raise UnitError(f"Variable {self.name!r}: unknown unit {unit!r}; known: {self.units()}.")
        f, o = self.alt_units[key]
        return (value - o) / f

    def unit_hint(self, value: float) -> str | None:
        """If ``value`` is implausible in the canonical unit but plausible in an
        alternative one, name that unit; this catches e.g. HGB 10.2 in a g/L column."""
        if self.kind is not Kind.numeric or self.valid_range is None or math.isnan(value):
            return None
        ref = self.typical_range or self.valid_range
        for unit, (f, o) in self.alt_units.items():
            if f == 1.0 and o == 0.0:
                continue
            converted = value * f + o
            if ref[0] <= converted <= ref[1]:
                return unit
        return None

    # ----- levels -----------------------------------------------------------
    def normalise_level(self, raw: object) -> str | None:
        """Map a spelling to its canonical level; ``None`` when unknown."""
        s = str(raw).strip()
        for lvl in self.levels:
            if s.lower() == lvl.lower():
                return lvl
        for alias, lvl in self.aliases.items():
            if s.lower() == alias.lower():
                return lvl
        return None


def _match_unit(unit: str, table: dict) -> str | None:
    norm = _norm_unit(unit)
    for k in table:
        if _norm_unit(k) == norm:
            return k
    return None


# how lab systems abbreviate the time units (a header 'Age (yrs)', 'PFS (mo)')
_UNIT_WORDS = {"yrs": "years", "yr": "years", "year": "years", "y": "years", "jahre": "years",
               "mo": "months", "mos": "months", "mth": "months", "mths": "months", "month": "months",
               "monate": "months", "d": "days", "day": "days", "tage": "days", "wk": "weeks", "wks": "weeks",
               "week": "weeks"}


def _norm_unit(u: str) -> str:
    """One spelling per unit: ×10⁹/L = x10^9/L = 10*9/L = 10^9/L (superscripts, carets, a leading 'x'), µ = μ = u,
    and the time units' abbreviations."""
    u = unicodedata.normalize("NFKC", str(u))
    u = u.replace(" ", "").replace("μ", "u").replace("µ", "u").replace("×", "x").replace("^", "").replace("*", "")
    u = re.sub(r"^x(?=10)", "", u.lower())
    return _UNIT_WORDS.get(u, u)


_BIN_ALIASES = {"yes": "1", "no": "0", "true": "1", "false": "0", "positive": "1", "negative": "0",
                "pos": "1", "neg": "0", "y": "1", "n": "0", "+": "1", "-": "0", "1.0": "1", "0.0": "0",
                "t": "1", "f": "0", "present": "1", "absent": "0", "detected": "1", "not detected": "0",
                "ja": "1", "nein": "0", "oui": "1", "non": "0", "si": "1", "sí": "1",
                # German, abbreviations with a full stop, REDCap's labelled checkbox export
                "positiv": "1", "negativ": "0", "pos.": "1", "neg.": "0", "checked": "1", "unchecked": "0"}
_OUTCOME_ALIASES = {**_BIN_ALIASES, "pd": "1", "non-pd": "0", "no pd": "0", "nonpd": "0", "progression": "1",
                    "no progression": "0"}


def _binary(name: str, display: str, help: str, group: str, role: str = "feature",
            synonyms: tuple[str, ...] = (), aliases: dict[str, str] | None = None) -> Variable:
    return Variable(name=name, kind=Kind.binary, display=display, help=help, group=group,
                    levels=("0", "1"), aliases=aliases or _BIN_ALIASES, role=role, decimals=0, synonyms=synonyms)


# The paper's baseline variables (Table 1 of the study) in canonical units.
# valid_range spans real extremes (a dialysis patient's creatinine, plasma-cell leukaemia counts); values
# outside it are implausible and set to missing with a warning. physical_range bounds what can exist at all.
BUILTIN_VARIABLES: tuple[Variable, ...] = (
    Variable(name="age", kind=Kind.numeric, display="Age", unit="years", group="Demographics",
             valid_range=(18, 110), physical_range=(0, 130), typical_range=(30, 90), decimals=0,
             synonyms=("age_years", "age at diagnosis", "age_at_dx", "age_dx"),
             help="Age at diagnosis. The study found age > 65 years associated with progression."),
    Variable(name="sex", kind=Kind.categorical, display="Sex", group="Demographics",
             levels=("male", "female"), aliases={"m": "male", "f": "female", "man": "male", "woman": "female",
                                                 "männlich": "male", "weiblich": "female", "w": "female"},
             letters_vary_by_language=True, synonyms=("gender",),
             help="Sex recorded at diagnosis. Numeric codes (1/2) are mapped with codes: in variables.yaml."),
    Variable(name="wbc", kind=Kind.numeric, display="White blood cells", unit="×10⁹/L", group="Blood counts",
             alt_units={"×10³/µL": (1.0, 0.0), "10^9/L": (1.0, 0.0), "G/L": (1.0, 0.0), "K/µL": (1.0, 0.0),
                        "/µL": (0.001, 0.0)},
             valid_range=(0.1, 300), physical_range=(0, 2000), typical_range=(1.5, 20),
             synonyms=("leukocytes", "leucocytes", "white blood cells", "white cell count", "wcc", "wbc count"),
             loinc=('6690-2', '26464-8'),
             help="Leukocyte count."),
    Variable(name="hgb", kind=Kind.numeric, display="Haemoglobin", unit="g/L", group="Blood counts",
             alt_units={"g/dL": (10.0, 0.0), "mmol/L": (16.11, 0.0)},
             valid_range=(30, 220), physical_range=(0, 400), typical_range=(45, 180), decimals=0,
             synonyms=("hb", "haemoglobin", "hemoglobin", "hgb"),
             loinc=('718-7',),
             help="Haemoglobin. Anaemia reflects marrow infiltration; lower HGB predicted progression in the study."),
    Variable(name="plt", kind=Kind.numeric, display="Platelets", unit="×10⁹/L", group="Blood counts",
             alt_units={"×10³/µL": (1.0, 0.0), "10^9/L": (1.0, 0.0), "G/L": (1.0, 0.0), "K/µL": (1.0, 0.0)},
             valid_range=(1, 2000), physical_range=(0, 10000), typical_range=(20, 600), decimals=0,
             synonyms=("platelets", "platelet", "platelet count", "thrombocytes", "plt count"),
             loinc=('777-3',),
             help="Platelet count."),
    Variable(name="alb", kind=Kind.numeric, display="Albumin", unit="g/L", group="Chemistry",
             alt_units={"g/dL": (10.0, 0.0)}, valid_range=(5, 65), physical_range=(0, 150), typical_range=(18, 55),
             synonyms=("albumin", "serum albumin"),
             loinc=('1751-7',),
             help="Serum albumin; with β2-microglobulin it defines ISS."),
    Variable(name="glb", kind=Kind.numeric, display="Globulin", unit="g/L", group="Chemistry",
             alt_units={"g/dL": (10.0, 0.0)}, valid_range=(5, 200), physical_range=(0, 400), typical_range=(10, 120),
             synonyms=("globulin", "glob", "serum globulin"),
             help="Serum globulin; rises with IgG/IgA M-protein."),
    Variable(name="ldh", kind=Kind.numeric, display="Lactate dehydrogenase", unit="U/L", group="Chemistry",
             alt_units={"IU/L": (1.0, 0.0), "µkat/L": (60.0, 0.0)}, valid_range=(30, 10000),
             physical_range=(0, 200000), typical_range=(80, 1200), typical_median=(100, 600), decimals=0,
             synonyms=("lactate dehydrogenase", "ld"),
             loinc=('2532-0', '14804-9'),
             help=f"LDH above the upper limit of normal ({LDH_ULN_U_PER_L:.0f} U/L) is an R-ISS criterion."),
    Variable(name="creatinine", kind=Kind.numeric, display="Creatinine", unit="µmol/L", group="Chemistry",
             alt_units={"mg/dL": (88.42, 0.0)}, valid_range=(15, 2500), physical_range=(0, 10000),
             typical_range=(35, 1200), decimals=0,
             synonyms=("cr", "creat", "crea", "serum creatinine", "scr"),
             loinc=('2160-0',),
             help="Serum creatinine; ≥ 177 µmol/L (2 mg/dL) marks Durie–Salmon substage B."),
    Variable(name="calcium", kind=Kind.numeric, display="Corrected calcium", unit="mmol/L", group="Chemistry",
             alt_units={"mg/dL": (0.2495, 0.0)}, valid_range=(1.0, 6.0), physical_range=(0, 15),
             typical_range=(1.8, 4.0), decimals=2,
             synonyms=("ca", "corrected calcium", "calcium corrected", "corrected ca", "ca corrected", "ca corr", "corr ca",
                       "adjusted calcium", "adjusted ca",
                       "albumin corrected calcium"),
             help="Albumin-corrected serum calcium; > 2.75 mmol/L is hypercalcaemia."),
    Variable(name="b2m", kind=Kind.numeric, display="β2-microglobulin", unit="mg/L", group="Chemistry",
             alt_units={"µg/mL": (1.0, 0.0), "nmol/L": (0.0118, 0.0)}, valid_range=(0.3, 200),
             physical_range=(0, 2000), typical_range=(1.0, 40),
             synonyms=("β2-mg", "β2m", "b2mg", "beta2m", "beta 2 microglobulin", "beta2 microglobulin",
                       "b2 microglobulin", "β2-microglobulin", "beta-2-microglobulin"),
             loinc=('1952-1',),
             help="Serum β2-microglobulin; < 3.5 mg/L (with albumin ≥ 35 g/L) is ISS I, ≥ 5.5 mg/L is ISS III."),
    Variable(name="mprotein_heavy", kind=Kind.categorical, display="M-protein heavy chain", group="Disease burden",
             levels=("IgG", "IgA", "IgM", "IgD", "light_chain_only"),
             aliases={"lc": "light_chain_only", "light chain": "light_chain_only", "lco": "light_chain_only",
                      "light-chain only": "light_chain_only", "light chain only": "light_chain_only",
                      "bence jones": "light_chain_only", "bence-jones": "light_chain_only", "g": "IgG", "a": "IgA", "m": "IgM", "d": "IgD"},
             synonyms=("isotype", "heavy chain", "m protein isotype", "m-protein type", "paraprotein type",
                       "mprotein type", "heavy chain isotype"),
             help="Isotype of the monoclonal protein on immunofixation; 'light_chain_only' for Bence-Jones myeloma."),
    Variable(name="mprotein_light", kind=Kind.categorical, display="M-protein light chain", group="Disease burden",
             levels=("kappa", "lambda"), aliases={"κ": "kappa", "k": "kappa", "λ": "lambda", "l": "lambda"},
             synonyms=("light chain", "light chain type", "lc type", "light chain isotype"),
             help="Light-chain type of the monoclonal protein (κ or λ)."),
    Variable(name="mprotein_level", kind=Kind.numeric, display="Serum M-protein", unit="g/L", group="Disease burden",
             alt_units={"g/dL": (10.0, 0.0)}, valid_range=(0, 200), physical_range=(0, 400), typical_range=(0, 110),
             typical_median=(8, 80),
             synonyms=("m-spike", "mspike", "m spike", "m protein", "m-protein", "paraprotein", "serum m protein",
                       "serum m-protein", "m protein level"),
             loinc=('33358-3',),
             help="Serum monoclonal protein concentration (0 in light-chain-only disease)."),
    Variable(name="urine_light_chain", kind=Kind.numeric, display="24-h urinary light chain", unit="mg/24h",
             group="Disease burden", alt_units={"g/24h": (1000.0, 0.0)}, valid_range=(0, 60000),
             physical_range=(0, 500000), typical_range=(0, 20000), typical_median=(20, 5000), decimals=0,
             synonyms=("bence jones protein", "bjp", "urine lc", "ulc", "24h urine light chain",
                       "urinary light chain", "upep"),
             help="Urinary monoclonal light chain excretion over 24 hours."),
    Variable(name="bmpc", kind=Kind.numeric, display="Marrow plasma cells", unit="%", group="Disease burden",
             alt_units={"fraction": (100.0, 0.0)}, valid_range=(0, 100), physical_range=(0, 100), typical_range=(5, 95),
             typical_median=(10, 90), decimals=0,
             synonyms=("bm pc", "bmpc%", "marrow plasma cells", "bone marrow plasma cells", "plasma cells",
                       "bm plasma cells", "pc%"),
             help="Bone-marrow plasma-cell percentage on the smear."),
    Variable(name="bone_lesions", kind=Kind.ordinal, display="Lytic bone lesions", group="Disease burden",
             levels=("0", "1-2", "3+"),
             aliases={"none": "0", "no": "0", "absent": "0", "1": "1-2", "2": "1-2", "1–2": "1-2", "solitary": "1-2",
                      "3": "3+", "≥3": "3+", ">=3": "3+", ">2": "3+", "multiple": "3+", "diffuse": "3+"},
             synonyms=("lytic lesions", "bone disease", "osteolytic lesions", "lytic bone lesions", "bone lesions"),
             help="Lytic lesions on skeletal survey, low-dose CT or PET-CT: none, 1–2, or 3 or more "
                  "(advanced bone disease, a Durie–Salmon stage III criterion)."),
    Variable(name="ds_stage", kind=Kind.ordinal, display="Durie–Salmon stage", group="Staging",
             levels=("IA", "IB", "IIA", "IIB", "IIIA", "IIIB"),
             aliases={"1a": "IA", "1b": "IB", "2a": "IIA", "2b": "IIB", "3a": "IIIA", "3b": "IIIB"},
             synonyms=("ds", "durie salmon", "durie-salmon stage", "ds stage", "dss"),
             help="Durie–Salmon stage with substage B for creatinine ≥ 2 mg/dL."),
    Variable(name="iss", kind=Kind.ordinal, display="ISS stage", group="Staging", levels=("I", "II", "III"),
             aliases={"1": "I", "2": "II", "3": "III"}, derived=True, synonyms=("iss stage",),
             help="International Staging System from β2-microglobulin and albumin (derived)."),
    Variable(name="riss", kind=Kind.ordinal, display="R-ISS stage", group="Staging", levels=("I", "II", "III"),
             aliases={"1": "I", "2": "II", "3": "III"}, derived=True, synonyms=("r-iss", "revised iss", "riss stage"),
             help="Revised ISS from ISS, LDH and high-risk FISH (derived)."),
    _binary("fish_1q21_gain", "1q21 gain", "FISH: gain/amplification of 1q21; associated with progression in the study.",
            "Cytogenetics (FISH)", synonyms=("1q21", "1q gain", "gain 1q", "1q21 gain", "gain(1q21)", "amp1q",
                                              "1q21+", "+1q")),
    _binary("fish_del17p", "del(17p)", "FISH: deletion of 17p (TP53); high-risk.", "Cytogenetics (FISH)",
            synonyms=("del17p", "del(17p)", "17p", "17p deletion", "17p-", "tp53 deletion")),
    _binary("fish_t4_14", "t(4;14)", "FISH: translocation t(4;14); high-risk.", "Cytogenetics (FISH)",
            synonyms=("t(4;14)", "t4;14", "t4_14")),
    _binary("fish_t14_16", "t(14;16)", "FISH: translocation t(14;16); high-risk.", "Cytogenetics (FISH)",
            synonyms=("t(14;16)", "t14;16", "t14_16")),
    _binary("fish_t11_14", "t(11;14)", "FISH: translocation t(11;14); standard-risk.", "Cytogenetics (FISH)",
            synonyms=("t(11;14)", "t11;14", "t11_14")),
)

# Read from files when a cohort has them, turned into a feature by zoo/schema/derived.py, never modelled.
INPUT_VARIABLES: tuple[Variable, ...] = (
    Variable(name="calcium_total", kind=Kind.numeric, display="Total calcium", unit="mmol/L", group="Chemistry",
             alt_units={"mg/dL": (0.2495, 0.0)}, valid_range=(1.0, 6.0), physical_range=(0, 15),
             typical_range=(1.6, 4.0), decimals=2, role="input",
             synonyms=("total calcium", "calcium total", "ca total", "total ca", "serum calcium"),
             loinc=('17861-6',),
             help="Total serum calcium; with albumin it gives corrected calcium "
                  "(Payne: Ca + 0.02 × (40 − albumin g/L) mmol/L)."),
)

OUTCOME_VARIABLES: tuple[Variable, ...] = (
    _binary("progressed", "Progression within 24 months", "Outcome: 1 = progressive disease (PD) within 24 months.",
            "Outcome", role="outcome", aliases=_OUTCOME_ALIASES,
            synonyms=("pd", "pd24", "pd 24m", "pd_24m", "progressed 24m", "progression 24m", "progression",
                      "outcome", "pd within 24 months")),
    Variable(name="months_to_event", kind=Kind.numeric, display="Months to progression or censoring",
             unit="months", group="Outcome", valid_range=(0, 600), physical_range=(0, 1500), role="outcome",
             typical_median=(6, 150),
             alt_units={"days": (1 / 30.4375, 0.0), "weeks": (7 / 30.4375, 0.0), "years": (12.0, 0.0)},
             synonyms=("pfs months", "pfs_months", "pfs", "ttp", "time to progression", "followup months",
                       "follow-up months", "time to event", "months"),
             help="Time from diagnosis to progression or last follow-up."),
    _binary("event", "Progression observed", "1 = progression observed at months_to_event, 0 = censored.",
            "Outcome", role="outcome", synonyms=("pfs event", "pfs_event", "progression event", "pd event",
                                                 "event observed"),
            aliases={**_BIN_ALIASES, "censored": "0", "progressed": "1", "progression": "1", "pd": "1", "relapse": "1",
                     "relapsed": "1"}),
)

ID_COLUMN = "patient_id"
# header spellings of the patient identifier
ID_SYNONYMS = ("id", "patient", "patient id", "patientid", "pid", "subject", "subject id", "study id", "record id",
               "case id", "pat id", "patient number", "patient no")
OUTCOME = "progressed"
REQUIRED_COLUMNS = (ID_COLUMN, OUTCOME)
HIGH_RISK_FISH = ("fish_del17p", "fish_t4_14", "fish_t14_16")
GROUP_ORDER = ("Demographics", "Blood counts", "Chemistry", "Disease burden", "Staging",
               "Cytogenetics (FISH)", "Other", "Outcome")


class Schema:
    """The variables a cohort may carry: built-ins plus a cohort's own extras.

    Immutable after construction; ``with_extras`` returns a new schema.
    """

    def __init__(self, variables: Iterable[Variable], ldh_uln: float = LDH_ULN_U_PER_L) -> None:
        self._vars: dict[str, Variable] = {}
        for v in variables:
            if v.name in self._vars or v.name == ID_COLUMN:
                raise SchemaError(
                    f"Expected unique variable names. Got {v.name!r} twice. "
                    "Rename the extra variable in variables.yaml."
                )
            self._vars[v.name] = v
        self.ldh_uln = ldh_uln

    def with_extras(self, extras: Iterable[Variable], ldh_uln: float | None = None) -> "Schema":
        return Schema([*self._vars.values(), *extras], ldh_uln=ldh_uln or self.ldh_uln)

    def __contains__(self, name: object) -> bool:
        return name in self._vars

    def __getitem__(self, name: str) -> Variable:
        try:
            return self._vars[name]
        except KeyError:
            raise SchemaError(
                f"Expected a known variable. Got {name!r}. Known: {', '.join(self._vars)}."
            ) from None

    def __iter__(self):
        return iter(self._vars.values())

    def names(self) -> list[str]:
        return list(self._vars)

    def features(self, present: Iterable[str] | None = None) -> list[Variable]:
        """Feature variables in schema order, optionally only those in ``present``."""
        keep = None if present is None else set(present)
        return [v for v in self._vars.values() if v.role == "feature" and (keep is None or v.name in keep)]

    def inputs(self) -> list[Variable]:
        """Variables read from files only to derive a feature (total calcium -> corrected calcium)."""
        return [v for v in self._vars.values() if v.role == "input"]

    def outcomes(self) -> list[Variable]:
        return [v for v in self._vars.values() if v.role == "outcome"]

    def label(self, name: str) -> str:
        """Display label for a column or a model feature name (e.g. one-hot 'sex=female')."""
        base, _, level = name.partition("=")
        if base in self._vars:
            lab = self._vars[base].label
            return f"{lab} = {level}" if level else lab
        return name

    def grouped(self, present: Iterable[str] | None = None) -> dict[str, list[Variable]]:
        out: dict[str, list[Variable]] = {}
        for v in self.features(present):
            out.setdefault(v.group, []).append(v)
        order = {g: i for i, g in enumerate(GROUP_ORDER)}
        return dict(sorted(out.items(), key=lambda kv: order.get(kv[0], len(order))))


DEFAULT_SCHEMA = Schema([*BUILTIN_VARIABLES, *INPUT_VARIABLES, *OUTCOME_VARIABLES])
