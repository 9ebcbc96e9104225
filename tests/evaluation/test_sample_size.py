"""Sample size: Riley et al.'s minimum for development, ≥ 100 events for external validation, wired end to end."""
import json
import math

import numpy as np
import pytest

from zoo.evaluation.sample_size import (EXTERNAL_MIN_EVENTS, candidate_parameters, max_r2_cs, riley_minimum,
                                        sample_size_report)


def test_riley_worked_binary_example():
    """The binary example of Riley et al. (p = 24, prevalence 0.174, R²_CS 0.288), as pmsampsize reports it."""
    r = riley_minimum(0.174, 24, 0.288)
    assert (r.n_shrinkage, r.n_optimism, r.n_intercept, r.n) == (623, 662, 221, 662)
    assert r.events == pytest.approx(115.2, abs=0.05)
    assert round(r.events_per_parameter, 1) == 4.8
    assert r.max_r2_cs == pytest.approx(0.6032, abs=1e-4)
    assert r.shrinkage == pytest.approx(0.905, abs=1e-3) and r.r2_source == "given"


def test_default_r2_is_15_percent_of_the_maximum():
    r = riley_minimum(0.33, 30)
    assert r.r2_cs == pytest.approx(0.15 * max_r2_cs(0.33))
    assert "15%" in r.r2_source
    # criterion 1 by hand: p / ((S - 1) ln(1 - R2/S))
    assert r.n_shrinkage == math.ceil(30 / ((0.9 - 1) * math.log(1 - r.r2_cs / 0.9)))
    assert r.n == max(r.n_shrinkage, r.n_optimism, r.n_intercept)


@pytest.mark.parametrize("kwargs,match", [
    ({"prevalence": 0.0, "parameters": 5}, "strictly between 0 and 1. Got 0.0"),
    ({"prevalence": 0.3, "parameters": 0}, "at least one candidate predictor parameter. Got 0"),
    ({"prevalence": 0.3, "parameters": 5, "r2_cs": 0.9}, "Cox–Snell R² between 0 and its maximum"),
])
def test_bad_inputs_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        riley_minimum(**kwargs)


def test_candidate_parameters_count_categorical_levels_minus_one():
    from zoo.schema import DEFAULT_SCHEMA as s

    assert candidate_parameters(s, ["age", "hgb"]) == 2
    assert candidate_parameters(s, ["sex"]) == len(s["sex"].levels) - 1
    assert candidate_parameters(s, ["mprotein_heavy"]) == len(s["mprotein_heavy"].levels) - 1
    assert candidate_parameters(s, ["iss", "fish_del17p"]) == 2, "ordinal and binary: one coded column each"


def test_report_warns_only_when_short():
    rng = np.random.default_rng(0)
    small = sample_size_report(rng.permutation([1] * 20 + [0] * 40), 25, [1] * 30 + [0] * 70)
    assert small["short"] and small["development"]["short"] and small["external"]["short"]
    assert small["development"]["events_per_parameter"] == pytest.approx(20 / 25)
    scopes = [w["scope"] for w in small["warnings"]]
    assert scopes == ["development", "external"]
    assert "60 training patients (20 events) for 25 candidate predictor parameters" in small["warnings"][0]["message"]
    assert "30 events and 70 non-events" in small["warnings"][1]["message"]
    need = small["development"]["riley"]["n"]
    big_y = np.r_[np.ones(need // 3 + 1), np.zeros(need - need // 3 + 1)]
    big = sample_size_report(big_y, 25, [1] * EXTERNAL_MIN_EVENTS + [0] * 300, r2_cs=None)
    assert not big["short"] and big["warnings"] == []
    assert not big["external"]["short"] and big["external"]["events"] == EXTERNAL_MIN_EVENTS
    assert sample_size_report([0, 0, 1, np.nan], 3)["development"]["n"] == 3, "unknown outcomes are not counted"


def test_a_split_with_too_few_of_one_outcome_says_why_it_has_no_intervals():
    from zoo.evaluation.bootstrap import MIN_CLASS_FOR_INTERVAL
    from zoo.leaderboard import sample_size_warnings

    few = MIN_CLASS_FOR_INTERVAL - 1
    rep = sample_size_report([1] * 200 + [0] * 400, 5, [1] * few + [0] * 300, y_test=[1] + [0] * 7)
    scopes = [w["scope"] for w in rep["warnings"]]
    assert scopes == ["external", "external", "test"] and rep["test"] == {"n": 8, "events": 1, "non_events": 7}
    assert "has 1 event and 7 non-events" in rep["warnings"][2]["message"]
    assert f"{few} events and 300 non-events: with fewer than {MIN_CLASS_FOR_INTERVAL}" in rep["warnings"][0]["message"]
    assert "Collins" in rep["warnings"][1]["message"], "the external minimum of 100 events is still said"
    m = {"sample_size": rep}
    assert len(sample_size_warnings(m, "test")) == 1 and "test split" in sample_size_warnings(m, "test")[0]
    assert len(sample_size_warnings(m, "external")) == 2 and len(sample_size_warnings(m)) == 3
    narrow = sample_size_report([1] * 200 + [0] * 400, 5, y_test=[1] * MIN_CLASS_FOR_INTERVAL + [0] * 7)
    assert "likely too narrow" in narrow["warnings"][0]["message"]
    ok = sample_size_report([1] * 200 + [0] * 400, 5, y_test=[1] * 10 + [0] * 10)
    assert ok["warnings"] == []


def test_trainer_writes_it_and_the_leaderboard_json_carries_it(test_zoo, capsys):
    from zoo.cli import main

    ss = test_zoo.metrics()["sample_size"]
    split = test_zoo.split()
    p = test_zoo.predictions()
    y_train = p[(p["split"] == "oof") & (p["model"] == "clinical_lr")].set_index("patient_id")["y"]
    assert ss["development"]["n"] == len(split["train"]) == len(y_train)
    assert ss["development"]["events"] == int(y_train.sum())
    assert ss["development"]["parameters"] == candidate_parameters(test_zoo.schema, test_zoo.features)
    assert ss["development"]["short"], "80 synthetic patients are far below Riley's minimum"
    y_ext = p[(p["split"] == "external") & (p["model"] == "clinical_lr")]["y"]
    assert ss["external"]["events"] == int(y_ext.sum()) and ss["external"]["short"]
    assert main(["leaderboard", "--zoo", str(test_zoo.path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert all(r["sample_size_short"] is True and r["riley_min_n"] == ss["development"]["riley"]["n"]
               and r["events_per_parameter"] == pytest.approx(ss["development"]["events_per_parameter"])
               and r["external_events"] == ss["external"]["events"] for r in rows)
    assert main(["leaderboard", "--zoo", str(test_zoo.path), "--split", "external"]) == 0
    err = capsys.readouterr().err
    assert "warning: SAMPLE SIZE: Development cohort too small" in err
    assert "warning: SAMPLE SIZE: External cohort too small" in err


@pytest.mark.slow
def test_train_summary_warns_when_short(tiny_cohort_dir, tiny_external_dir, tmp_path, capsys):
    from zoo.cli import main

    assert main(["train", "--cohort", str(tiny_cohort_dir), "--external", str(tiny_external_dir), "--profile", "test",
                 "--out", str(tmp_path / "zoo"), "--quiet", "--models", "clinical_lr", "clinical_rf"]) == 0
    err = capsys.readouterr().err
    assert "warning: SAMPLE SIZE: Development cohort too small" in err
    assert "Riley et al.'s minimum is" in err
    assert "warning: SAMPLE SIZE: External cohort too small" in err
