"""Explorer summaries stay small for a 100k-patient cohort (aggregated server-side)."""
import numpy as np
import pandas as pd

from zoo.cohort_stats import MAX_CHART_ROWS, CohortFilter, distribution, grouping_series, kaplan_meier, missingness
from zoo.schema import DEFAULT_SCHEMA
from zoo.synth.clinical import apply_missingness, sample_clinical


def _big(n=100_000):
    rng = np.random.default_rng(0)
    df = apply_missingness(sample_clinical(n, rng).drop(columns=["_burden", "_renal"]), rng)
    df["progressed"] = rng.integers(0, 2, n)
    df["months_to_event"] = rng.uniform(1, 60, n)
    df["event"] = rng.integers(0, 2, n)
    df.index = [f"P{i}" for i in range(n)]
    return df


def test_chart_data_for_100k_patients_is_bounded():
    df = _big()
    for v in DEFAULT_SCHEMA.features(df.columns):
        assert len(distribution(df, v)) <= MAX_CHART_ROWS
    km = kaplan_meier(df, grouping_series(df, DEFAULT_SCHEMA, "iss"))
    assert len(km.curves) <= MAX_CHART_ROWS and km.p_value is not None
    assert len(missingness(df, DEFAULT_SCHEMA)) == len(DEFAULT_SCHEMA.features(df.columns))


def test_filters_combine():
    df = _big(2000)
    cov = pd.DataFrame({"clinical": True, "marrow": np.arange(2000) % 2 == 0, "electrophoresis": True}, index=df.index)
    m = CohortFilter(age=(60, 70), sex=["female"], iss=["III"], require_modalities=["marrow"]).apply(df, cov)
    sub = df[m]
    assert len(sub) > 0 and sub["age"].between(60, 70).all() and (sub["sex"] == "female").all()
    assert (sub["iss"] == "III").all() and cov.loc[sub.index, "marrow"].all()


def test_km_numbers_at_risk_and_groups_too_small_to_draw():
    import pandas as pd

    from zoo.cohort_stats import kaplan_meier

    clin = pd.DataFrame({"months_to_event": [3, 8, 14, 30, 40, 5, 26, 12], "event": [1, 0, 1, 0, 0, 1, 0, 1]},
                        index=[f"P{i}" for i in range(8)])
    groups = pd.Series(["high", "high", "high", "high", "intermediate", "intermediate", "intermediate", "low"],
                       index=clin.index)
    km = kaplan_meier(clin, groups, levels=["low", "intermediate", "high"], at_times=(0, 12, 24))
    assert km.at_risk.loc["high"].tolist() == [4, 2, 1]          # times ≥ 0, ≥ 12, ≥ 24 among 3, 8, 14, 30
    assert km.at_risk.loc["intermediate"].tolist() == [3, 2, 2]  # 40, 5, 26
    assert km.not_drawn == {"low": 1}, "a defined group with one patient is named, not silently dropped"
    km2 = kaplan_meier(clin[groups != "low"], groups[groups != "low"], levels=["low", "intermediate", "high"])
    assert km2.not_drawn == {"low": 0}


def test_side_by_side_km_panels_describe_the_same_patients():
    import pandas as pd

    from zoo.cohort_stats import kaplan_meier, on_common_patients

    clin = pd.DataFrame({"months_to_event": [3, 8, 14, 30, 40, 5, 26, 12], "event": [1, 0, 1, 0, 0, 1, 0, 1]},
                        index=[f"P{i}" for i in range(8)])
    risk = pd.Series(["high", "high", "low", "low", "low", "high", None, "low"], index=clin.index)
    stage = pd.Series(["III", None, "I", "I", "II", "III", "II", None], index=clin.index)  # undecided: None
    both = on_common_patients({"predicted_risk": risk, "r2iss": stage})
    kept = {k: set(v.dropna().index) for k, v in both.items()}
    assert kept["predicted_risk"] == kept["r2iss"] == {"P0", "P2", "P3", "P4", "P5"}
    for g in both.values():
        km = kaplan_meier(clin, g)
        assert sum(km.groups.values()) + sum(km.not_drawn.values()) == 5


def test_filter_tokens_round_trip_and_unknown_values_are_dropped():
    from zoo.schema import DEFAULT_SCHEMA

    cols = ["age", "sex", "iss", "riss", "mprotein_heavy", "fish_del17p"]
    f = CohortFilter(age=(50, 70), sex=["female"], iss=["III", "II"], fish_positive=["fish_del17p"],
                     require_modalities=["marrow"])
    tokens = f.to_tokens()
    assert tokens == ["age:50-70", "sex:female", "iss:III", "iss:II", "fish:fish_del17p", "has:marrow"]
    back = CohortFilter.from_tokens(tokens, DEFAULT_SCHEMA, cols, (40, 85))
    assert back == f
    assert back.chips(DEFAULT_SCHEMA)[0] == "Age 50–70" and "Has marrow smear" in back.chips(DEFAULT_SCHEMA)
    hostile = ["iss:IV", "sex:<b>", "fish:fish_t4_14", "has:/etc", "age:30-200", "age:x-y", "riss:I"]
    got = CohortFilter.from_tokens(hostile, DEFAULT_SCHEMA, cols, (40, 85))
    # t(4;14) is not a column of this cohort; the age range is clamped to what was observed (40-85 = no filter)
    assert got == CohortFilter(riss=["I"])
    assert CohortFilter.from_tokens(["age:70-50"], DEFAULT_SCHEMA, cols, (40, 85)).age is None
    assert CohortFilter.from_tokens(["age:60-99"], DEFAULT_SCHEMA, cols, (40, 85)).age == (60, 85)
