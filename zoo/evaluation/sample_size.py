"""Is the cohort large enough for the models it trains and the validation it reports?

Development: the minimum sample size of Riley et al. for a binary outcome (BMJ 2020;368:m441;
Stat Med 2019;38:1276–1296), the largest n meeting three criteria:

1. expected uniform shrinkage of predictor effects S ≥ 0.9:
   n₁ = p / ((S − 1) · ln(1 − R²_CS / S));
2. optimism in Nagelkerke's R² ≤ δ = 0.05, i.e. n₂ is n₁ with S = R²_CS / (R²_CS + δ · max R²_CS);
3. the overall risk estimated within ±0.05: n₃ = (1.96 / 0.05)² · φ(1 − φ);

with φ the outcome proportion, p the number of candidate predictor parameters and
max R²_CS = 1 − (φ^φ (1 − φ)^(1 − φ))². When no anticipated R²_CS is known, Riley et al. suggest
R²_CS = 0.15 · max R²_CS (a Nagelkerke R² of 15 %), the default here. Events per candidate
parameter (EPP) are reported beside it, counting the rarer outcome class.

External validation: at least 100 events and 100 non-events (Collins, Ogundimu & Altman,
Stat Med 2016;35:214–226; Riley et al., Stat Med 2021;40:4230–4251 for a tailored calculation).

Why not a package: the authors' ``pmsampsize`` exists on PyPI but requires Python ≥ 3.12 (the
project runs 3.11). The formulas are short; the test pins them to the package's own binary example
(p = 24, φ = 0.174, R²_CS = 0.288 → 623 / 662 / 221, minimum 662, EPP 4.8).

Scope: p counts the clinical model's candidate parameters (numeric, binary and ordinal variables
1 each, a categorical variable its levels − 1). Image networks have millions of weights; no such
formula covers them, which is one more reason to read a small cohort's image results with care.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from zoo.schema import Kind, Schema

SHRINKAGE = 0.9
NAGELKERKE_OPTIMISM = 0.05
INTERCEPT_MARGIN = 0.05
DEFAULT_R2_FRACTION = 0.15  # of max R²_CS, when the anticipated R²_CS is unknown (Riley et al. 2020)
EXTERNAL_MIN_EVENTS = 100

RILEY_2020 = "Riley et al., BMJ 2020;368:m441"
COLLINS_2016 = "Collins, Ogundimu & Altman, Stat Med 2016;35:214-226"


def max_r2_cs(prevalence: float) -> float:
    """The largest Cox–Snell R² a model can reach at this outcome proportion."""
    phi = float(prevalence)
    if not 0 < phi < 1:
        raise ValueError(f"Expected an outcome proportion strictly between 0 and 1. Got {phi}.")
    ln_null = phi * math.log(phi) + (1 - phi) * math.log(1 - phi)  # log-likelihood per patient, null model
    return 1 - math.exp(2 * ln_null)


def _n_for_shrinkage(parameters: int, r2_cs: float, s: float) -> int:
    return math.ceil(parameters / ((s - 1) * math.log(1 - r2_cs / s)))


@dataclass(frozen=True)
class RileyMinimum:
    """The three criteria's sample sizes and the minimum that meets them all."""

    prevalence: float
    parameters: int
    r2_cs: float
    r2_source: str            # "given" or "15% of max R²_CS (Riley et al. 2020 default)"
    max_r2_cs: float
    n_shrinkage: int          # criterion 1
    n_optimism: int           # criterion 2
    n_intercept: int          # criterion 3
    n: int                    # the minimum sample size
    events: float             # n · φ
    events_per_parameter: float
    shrinkage: float          # expected shrinkage guaranteed at n: max(0.9, criterion 2's S)


def riley_minimum(prevalence: float, parameters: int, r2_cs: float | None = None, shrinkage: float = SHRINKAGE,
                  delta: float = NAGELKERKE_OPTIMISM, margin: float = INTERCEPT_MARGIN) -> RileyMinimum:
    """Riley et al.'s minimum development sample size for a logistic prediction model."""
    if parameters < 1:
        raise ValueError(f"Expected at least one candidate predictor parameter. Got {parameters}.")
    mx = max_r2_cs(prevalence)
    source = "given"
    if r2_cs is None:
        r2_cs, source = DEFAULT_R2_FRACTION * mx, f"{DEFAULT_R2_FRACTION:.0%} of max R²_CS ({RILEY_2020} default)"
    if not 0 < r2_cs < mx:
        raise ValueError(f"Expected an anticipated Cox–Snell R² between 0 and its maximum {mx:.3f} at prevalence "
                         f"{prevalence:.3f}. Got {r2_cs}.")
    n1 = _n_for_shrinkage(parameters, r2_cs, shrinkage)
    s2 = r2_cs / (r2_cs + delta * mx)
    n2 = _n_for_shrinkage(parameters, r2_cs, s2)
    n3 = math.ceil((1.96 / margin) ** 2 * prevalence * (1 - prevalence))
    n = max(n1, n2, n3)
    events = n * prevalence
    return RileyMinimum(prevalence=float(prevalence), parameters=int(parameters), r2_cs=float(r2_cs),
                        r2_source=source, max_r2_cs=mx, n_shrinkage=n1, n_optimism=n2, n_intercept=n3, n=n,
                        events=events, events_per_parameter=min(events, n - events) / parameters,
                        shrinkage=max(shrinkage, s2))


def candidate_parameters(schema: Schema, features: list[str]) -> int:
    """Candidate predictor parameters of the clinical models: 1 per variable, levels − 1 per categorical."""
    p = 0
    for f in features:
        v = schema[f]
        p += max(len(v.levels) - 1, 1) if v.kind is Kind.categorical else 1
    return p


def _counts(y) -> tuple[int, int]:
    y = np.asarray(y, dtype=float)
    y = y[~np.isnan(y)]
    return int((y == 1).sum()), int((y == 0).sum())


def _warning(scope: str, message: str) -> dict:
    return {"scope": scope, "message": message}


FEW_FOR_NARROW = 10  # under this many of one outcome (and at least MIN_CLASS_FOR_INTERVAL) intervals run narrow


def _no_interval(scope: str, events: int, non_events: int) -> dict | None:
    """A split with fewer than MIN_CLASS_FOR_INTERVAL patients of one outcome gets no intervals at all
    (zoo.evaluation.bootstrap.resample_weights; the pages show '—'); with fewer than FEW_FOR_NARROW its AUC
    intervals are likely too narrow. Simulated coverage of the 95 % percentile interval of the AUC (docs/MODELS.md):
    30–83 % with 1–3 events, 75–93 % with 5–10."""
    from zoo.evaluation.bootstrap import MIN_CLASS_FOR_INTERVAL

    rare = min(events, non_events)
    if not 0 < rare < FEW_FOR_NARROW:
        return None

    def count(k: int, word: str) -> str:
        return f"{k} {word}" + ("" if k == 1 else "s")

    name = {"test": "The test split", "external": "The external cohort"}[scope]
    head = f"{name} has {count(events, 'event')} and {count(non_events, 'non-event')}: "
    if rare < MIN_CLASS_FOR_INTERVAL:
        return _warning(scope, head + f"with fewer than {MIN_CLASS_FOR_INTERVAL} patients of one outcome no interval "
                        "or p-value is given, because any would be far too narrow (in a simulation, 95 % intervals "
                        "held the true AUC in 30–83 % of cohorts). Its AUC and other figures are single values that "
                        "one patient more or less could change completely; do not compare models on it.")
    return _warning(scope, head + f"with fewer than {FEW_FOR_NARROW} patients of one outcome its AUC intervals are "
                    "likely too narrow (in a simulation, 95 % intervals held the true AUC in 75–93 % of cohorts); "
                    "read differences between models with care.")


def sample_size_report(y_development, parameters: int, y_external=None, r2_cs: float | None = None,
                       y_test=None) -> dict:
    """The development cohort against Riley's minimum and EPP, the external cohort against 100 events.

    ``y_development``: outcomes of the patients the models were fitted on (the training split, patients
    with an unknown 24-month outcome already left out). JSON-ready; ``warnings`` holds one
    ``{"scope": "development" | "test" | "external", "message": ...}`` per shortfall, for the leaderboard and
    ``train``'s summary.
    """
    events, non_events = _counts(y_development)
    n = events + non_events
    epp = min(events, non_events) / parameters if parameters else None
    out: dict = {"development": {"n": n, "events": events, "non_events": non_events, "parameters": int(parameters),
                                 "events_per_parameter": epp},
                 "external": None, "warnings": [], "short": False,
                 "references": {"development": RILEY_2020, "external": COLLINS_2016}}
    dev = out["development"]
    if events and non_events:
        rm = riley_minimum(events / n, parameters, r2_cs)
        dev["prevalence"] = events / n
        dev["riley"] = asdict(rm)
        dev["short"] = n < rm.n
        if dev["short"]:
            out["warnings"].append(_warning(
                "development",
                f"Development cohort too small: {n} training patients ({events} events) for {parameters} candidate "
                f"predictor parameters (EPP {epp:.1f}); Riley et al.'s minimum is {rm.n} patients "
                f"({rm.events:.0f} events, EPP {rm.events_per_parameter:.1f}) at prevalence {events / n:.2f} and "
                f"anticipated R²_CS {rm.r2_cs:.3f}. Expect overfitting: read the test and external results, not the "
                "training ones."))
    else:
        dev["short"] = True
        out["warnings"].append(_warning("development", f"Development cohort has {events} events and {non_events} "
                                        "non-events: no prediction model can be developed from one outcome class."))
    if y_external is not None:
        e_ev, e_non = _counts(y_external)
        ext = {"n": e_ev + e_non, "events": e_ev, "non_events": e_non, "min_events": EXTERNAL_MIN_EVENTS,
               "short": min(e_ev, e_non) < EXTERNAL_MIN_EVENTS}
        out["external"] = ext
        if (w := _no_interval("external", e_ev, e_non)) is not None:
            out["warnings"].append(w)
        if ext["short"]:
            out["warnings"].append(_warning(
                "external",
                f"External cohort too small for a precise validation: {e_ev} events and {e_non} non-events; at "
                f"least {EXTERNAL_MIN_EVENTS} of each are recommended ({COLLINS_2016}). Its AUC and calibration "
                "have wide intervals."))
    if y_test is not None:
        t_ev, t_non = _counts(y_test)
        out["test"] = {"n": t_ev + t_non, "events": t_ev, "non_events": t_non}
        if (w := _no_interval("test", t_ev, t_non)) is not None:
            out["warnings"].append(w)
    out["short"] = bool(out["warnings"])
    return out
