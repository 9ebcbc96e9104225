"""Cohort-level summaries for the explorer: filters, Table 1, missingness, distributions, Kaplan–Meier.

All aggregation happens here, server-side, so a chart never ships more than
a few thousand rows to the browser whatever the cohort size.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from zoo.schema import Kind, Schema

MAX_CHART_ROWS = 5000
LEVEL_FILTERS = ("sex", "iss", "riss", "mprotein_heavy")  # categorical filters: any of the chosen levels
MODALITIES = ("clinical", "marrow", "electrophoresis")
MODALITY_LABELS = {"clinical": "clinical data", "marrow": "marrow smear", "electrophoresis": "IFE gel"}


@dataclass
class CohortFilter:
    """The explorer's filters; empty selections mean 'no restriction'."""

    age: tuple[float, float] | None = None
    sex: list[str] = field(default_factory=list)
    iss: list[str] = field(default_factory=list)
    riss: list[str] = field(default_factory=list)
    mprotein_heavy: list[str] = field(default_factory=list)
    fish_positive: list[str] = field(default_factory=list)  # FISH variables that must be positive
    require_modalities: list[str] = field(default_factory=list)

    def apply(self, clinical: pd.DataFrame, coverage: pd.DataFrame | None = None) -> pd.Series:
        """Boolean mask over ``clinical`` rows."""
        m = pd.Series(True, index=clinical.index)
        if self.age is not None and "age" in clinical:
            m &= clinical["age"].between(*self.age)  # unknown age is excluded once an age range is set
        for col in LEVEL_FILTERS:
            sel = getattr(self, col)
            if sel and col in clinical:
                m &= clinical[col].isin(sel)
        for col in self.fish_positive:
            if col in clinical:
                m &= clinical[col] == 1
        if coverage is not None:
            for mod in self.require_modalities:
                m &= coverage[mod].reindex(clinical.index).fillna(False).astype(bool)
        return m

    # ----- links and chips: one token per active choice, e.g. "age:50-70", "iss:III", "fish:fish_del17p" -----
    def to_tokens(self) -> list[str]:
        """The active filters as short ``field:value`` tokens (what the URL carries)."""
        out = [f"age:{self.age[0]:g}-{self.age[1]:g}"] if self.age is not None else []
        for col in LEVEL_FILTERS:
            out += [f"{col}:{v}" for v in getattr(self, col)]
        out += [f"fish:{v}" for v in self.fish_positive]
        out += [f"has:{v}" for v in self.require_modalities]
        return out

    @classmethod
    def from_tokens(cls, tokens: list[str], schema: Schema, columns, age_bounds: tuple[float, float] | None
                    ) -> "CohortFilter":
        """Tokens from a link, kept only when they name a level, FISH variable or modality this cohort has.

        A link is input from anyone: unknown fields and values are dropped, never shown or used, and an age
        range is clamped into the cohort's observed range (an empty or inverted range is dropped).
        """
        kept: dict[str, list] = {c: [] for c in (*LEVEL_FILTERS, "fish_positive", "require_modalities")}
        age = None
        cols = set(columns)
        fish = [v for v in schema.names() if v.startswith("fish_") and v in cols]
        for t in tokens:
            field_, _, value = str(t).partition(":")
            if field_ in LEVEL_FILTERS and field_ in cols and field_ in schema and value in schema[field_].levels:
                target = kept[field_]
            elif field_ == "fish" and value in fish:
                target = kept["fish_positive"]
            elif field_ == "has" and value in MODALITIES:
                target = kept["require_modalities"]
            elif field_ == "age" and age_bounds is not None:
                lo_s, sep, hi_s = value.partition("-")
                try:
                    lo, hi = float(lo_s), float(hi_s)
                except ValueError:
                    continue
                if sep and np.isfinite(lo) and np.isfinite(hi):
                    lo, hi = max(lo, age_bounds[0]), min(hi, age_bounds[1])
                    age = (int(lo), int(hi)) if lo <= hi and (lo, hi) != tuple(age_bounds) else None
                continue
            else:
                continue
            if value not in target:
                target.append(value)
        return cls(age=age, **kept)

    def chips(self, schema: Schema) -> list[str]:
        """Human labels of the active filters, one per chip: "Age 50–70", "ISS: III", "FISH+: del(17p)"."""
        out = [f"Age {self.age[0]:g}–{self.age[1]:g}"] if self.age is not None else []
        for col in LEVEL_FILTERS:
            if getattr(self, col):
                name = schema[col].display if col in schema else col
                out.append(f"{name}: {', '.join(map(str, getattr(self, col)))}")
        out += [f"FISH+: {schema.label(v) if v in schema else v}" for v in self.fish_positive]
        out += [f"Has {MODALITY_LABELS.get(v, v)}" for v in self.require_modalities]
        return out


def overview(clinical: pd.DataFrame, coverage: pd.DataFrame, outcome: str = "progressed") -> dict:
    return {"n": int(len(clinical)), "n_pd": int(clinical[outcome].sum()),
            "pd_rate": float(clinical[outcome].mean()) if len(clinical) else float("nan"),
            "coverage": {m: int(coverage[m].reindex(clinical.index).sum()) for m in coverage.columns}}


def missingness(clinical: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    feats = [v for v in schema.features(clinical.columns)]
    return pd.DataFrame({"variable": [v.name for v in feats], "label": [v.label for v in feats],
                         "group": [v.group for v in feats],
                         "missing": [float(clinical[v.name].isna().mean()) for v in feats]})


def table_one(clinical: pd.DataFrame, schema: Schema, outcome: str = "progressed") -> pd.DataFrame:
    """Table 1 by PD vs non-PD with p-values (tableone), labelled from the schema."""
    from tableone import TableOne

    feats = [v for v in schema.features(clinical.columns) if clinical[v.name].notna().any()]
    df = clinical[[v.name for v in feats]].copy()
    df["Group"] = np.where(clinical[outcome] == 1, "PD", "non-PD")
    categorical = [v.name for v in feats if v.kind is not Kind.numeric]
    for c in categorical:
        df[c] = df[c].map(lambda x: x if pd.isna(x) else (str(int(x)) if isinstance(x, float) else str(x)))
    continuous = [v.name for v in feats if v.kind is Kind.numeric]
    nonnormal = [c for c in continuous if c not in ("age", "hgb", "alb", "calcium")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t1 = TableOne(df, columns=[v.name for v in feats], categorical=categorical, continuous=continuous,
                      groupby="Group", nonnormal=nonnormal, pval=True, missing=False,
                      rename={v.name: v.label for v in feats}, overall=True, order={"Group": ["non-PD", "PD"]})
    out = t1.tableone.copy()
    out.columns = [" ".join(str(x) for x in c if x and not str(x).startswith("Grouped by")).strip()
                   for c in out.columns.to_flat_index()]
    out = out.reset_index().rename(columns={"level_0": "Variable", "level_1": "Level"})
    return out.astype(str).replace({"nan": ""})  # tableone mixes counts and "mean (SD)" strings


def distribution(clinical: pd.DataFrame, var, outcome: str = "progressed", bins: int = 30) -> pd.DataFrame:
    """Binned (numeric) or counted (categorical) distribution by outcome group: at most bins x 2 rows."""
    grp = np.where(clinical[outcome] == 1, "PD", "non-PD")
    s = clinical[var.name]
    if var.kind is Kind.numeric:
        x = s.dropna()
        if x.empty:
            return pd.DataFrame(columns=["group", "bin_start", "bin_end", "count", "share"])
        edges = np.histogram_bin_edges(x, bins=bins)
        rows = []
        for g in ("non-PD", "PD"):
            vals = s[(grp == g) & s.notna().to_numpy()]
            counts, _ = np.histogram(vals, bins=edges)
            tot = max(counts.sum(), 1)
            rows += [{"group": g, "bin_start": edges[i], "bin_end": edges[i + 1], "count": int(c), "share": c / tot}
                     for i, c in enumerate(counts)]
        return pd.DataFrame(rows)
    df = pd.DataFrame({"group": grp, "level": s.map(lambda v: "missing" if pd.isna(v) else
                                                    (str(int(v)) if isinstance(v, float) else str(v)))})
    c = df.groupby(["group", "level"]).size().rename("count").reset_index()
    c["share"] = c["count"] / c.groupby("group")["count"].transform("sum")
    return c


@dataclass
class KMResult:
    curves: pd.DataFrame          # group, time, survival, lower, upper, at_risk
    p_value: float | None
    test: str
    groups: dict[str, int]
    # numbers at risk under the curves (group x month), and defined groups with too few patients to draw
    at_risk: pd.DataFrame = field(default_factory=pd.DataFrame)
    not_drawn: dict[str, int] = field(default_factory=dict)


def kaplan_meier(clinical: pd.DataFrame, groups: pd.Series, time_col: str = "months_to_event",
                 event_col: str = "event", max_points: int = 400, levels: list[str] | None = None,
                 at_times: tuple[int, ...] = (0, 6, 12, 18, 24, 30, 36)) -> KMResult:
    """KM curves per group with a (multivariate) log-rank p (lifelines); curves thinned for charts."""
    from lifelines import KaplanMeierFitter
    from lifelines.statistics import multivariate_logrank_test

    if time_col not in clinical or event_col not in clinical:
        raise ValueError(f"Expected columns {time_col!r} and {event_col!r} for Kaplan–Meier. Got neither; "
                         "the cohort has no time-to-progression data.")
    df = pd.DataFrame({"t": clinical[time_col], "e": clinical[event_col], "g": groups.reindex(clinical.index)})
    df = df.dropna()
    rows, sizes = [], {}
    for g, sub in df.groupby("g", sort=True):
        if len(sub) < 2:
            continue
        kmf = KaplanMeierFitter().fit(sub["t"], sub["e"], label=str(g))
        sf = kmf.survival_function_.join(kmf.confidence_interval_)
        sf.columns = ["survival", "lower", "upper"]
        at_risk = kmf.event_table["at_risk"].reindex(sf.index).ffill()
        sf = sf.assign(at_risk=at_risk.to_numpy()).reset_index().rename(columns={"timeline": "time"})
        if len(sf) > max_points:
            sf = sf.iloc[np.unique(np.linspace(0, len(sf) - 1, max_points).astype(int))]
        sf["group"] = str(g)
        rows.append(sf)
        sizes[str(g)] = int(len(sub))
    p = None
    if len(sizes) >= 2:
        res = multivariate_logrank_test(df["t"], df["g"].astype(str), df["e"])
        p = float(res.p_value)
    curves = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["time", "survival", "lower", "upper", "at_risk", "group"])
    # a risk table as printed under KM plots: patients still followed and event-free at each time
    at_risk = pd.DataFrame({f"{t} mo": [int((df.loc[df["g"].astype(str) == g, "t"] >= t).sum()) for g in sizes]
                            for t in at_times}, index=list(sizes))
    at_risk.index.name = "group"
    counts = df["g"].astype(str).value_counts()
    not_drawn = {str(g): int(counts.get(str(g), 0)) for g in (levels or []) if str(g) not in sizes}
    not_drawn.update({g: int(n) for g, n in counts.items() if g not in sizes and g not in not_drawn})
    return KMResult(curves=curves, p_value=p, test="log-rank", groups=sizes, at_risk=at_risk, not_drawn=not_drawn)


def grouping_series(clinical: pd.DataFrame, schema: Schema, by: str,
                    predicted: pd.Series | None = None, cuts: tuple[float, float] = (0.25, 0.5)) -> pd.Series:
    """Group labels for KM: a schema variable, a derived staging system (r2iss, imwg_hr), or the zoo's
    predicted risk group."""
    if by == "predicted_risk":
        if predicted is None:
            raise ValueError("Expected zoo predictions for grouping by predicted risk. Got none; train a zoo first.")
        p = predicted.reindex(clinical.index)
        return pd.cut(p, [-0.01, cuts[0], cuts[1], 1.01], labels=["low", "intermediate", "high"]).astype(object)
    if by in ("r2iss", "imwg_hr"):  # staging systems with no schema column: derived from their inputs
        from zoo.schema.derived import derive_staging_systems

        return derive_staging_systems(clinical, schema.ldh_uln)[by].astype(object)
    var = schema[by]
    s = clinical[by]
    if var.kind is Kind.numeric:
        med = s.median()
        return pd.Series(np.where(s.isna(), None, np.where(s > med, f"> {med:g}", f"≤ {med:g}")), index=s.index)
    return s.map(lambda v: None if pd.isna(v) else (str(int(v)) if isinstance(v, float) else str(v)))


def on_common_patients(groupings: dict[str, pd.Series]) -> dict[str, pd.Series]:
    """The same groupings with each patient kept only where every one of them has a group.

    Why: two Kaplan–Meier panels shown side by side (predicted risk beside R2-ISS) invite comparing their
    separation and log-rank p; when one grouping leaves out the patients it cannot decide, the panels would
    describe different patients.
    """
    if not groupings:
        return {}
    index = next(iter(groupings.values())).index
    both = pd.Series(True, index=index)
    for g in groupings.values():
        both &= g.reindex(index).notna()
    return {k: g.reindex(index).where(both, None) for k, g in groupings.items()}
