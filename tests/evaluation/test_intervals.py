"""Per-patient uncertainty: conformal sets keep their coverage, Venn–Abers brackets the calibrated risk."""
import json

import numpy as np
import pandas as pd
import pytest

from zoo.evaluation.intervals import RiskIntervals, interval_report


def _draw(n, rng, prevalence=0.3):
    """Scores from a calibrated model: y ~ Bernoulli(p)."""
    logit = rng.normal(np.log(prevalence / (1 - prevalence)), 1.2, n)
    p = 1 / (1 + np.exp(-logit))
    return p, (rng.random(n) < p).astype(int)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_conformal_coverage_on_a_synthetic_cohort_is_within_tolerance(seed):
    rng = np.random.default_rng(seed)
    p_cal, y_cal = _draw(600, rng)
    p_new, y_new = _draw(4000, rng)
    iv = RiskIntervals(0.90).fit(p_cal, y_cal)
    rep = interval_report(iv, y_new, p_new, n_boot=200)
    # label-conditional (Mondrian) validity: ≥ 90 % for each outcome, up to sampling error (n_cal ~ 180 PD)
    assert 0.87 <= rep["coverage"] <= 0.95
    assert rep["coverage_pd"] >= 0.87 and rep["coverage_non_pd"] >= 0.87
    lo, hi = rep["coverage_ci"]
    assert lo <= rep["coverage"] <= hi and hi - lo < 0.05
    assert rep["share_empty"] < 0.05 and 1 <= rep["mean_set_size"] <= 2


def test_a_miscalibrated_model_loses_coverage_and_the_report_shows_it():
    """The report is a measurement, not a restatement of the level: shifted scores lose PD coverage."""
    rng = np.random.default_rng(3)
    p_cal, y_cal = _draw(600, rng)
    p_new, y_new = _draw(4000, rng, prevalence=0.3)
    iv = RiskIntervals(0.90).fit(p_cal, y_cal)
    shifted = p_new * 0.3  # the new site's scores are squeezed towards 0
    rep = interval_report(iv, y_new, shifted, n_boot=50)
    assert rep["coverage_pd"] < 0.8


def test_venn_abers_interval_brackets_and_narrows_with_more_calibration_data():
    rng = np.random.default_rng(4)
    p_small, y_small = _draw(60, rng)
    p_big, y_big = _draw(3000, rng)
    grid = np.linspace(0.1, 0.7, 13)
    w_small = np.diff(RiskIntervals().fit(p_small, y_small).interval(grid), axis=1).mean()
    b = RiskIntervals().fit(p_big, y_big).interval(grid)
    assert (b[:, 0] <= b[:, 1]).all() and ((b >= 0) & (b <= 1)).all()
    assert np.diff(b, axis=1).mean() < w_small / 2
    # with plenty of calibration data from a calibrated model, the interval sits around the score
    mid = b.mean(axis=1)
    assert np.abs(mid - grid).max() < 0.08


@pytest.mark.parametrize("seed", [0, 1])
def test_the_calibration_band_holds_a_calibrated_models_probability_and_flags_an_overconfident_one(seed):
    """Its purpose: a warning on it carries information (the Venn–Abers pair excluded most calibrated scores)."""
    rng = np.random.default_rng(seed)
    p_cal, y_cal = _draw(480, rng)
    grid = 1 / (1 + np.exp(-rng.normal(np.log(0.3 / 0.7), 1.2, 400)))
    iv = RiskIntervals().fit(p_cal, y_cal)
    b = iv.band(grid)
    outside = (grid < b[:, 0]) | (grid > b[:, 1])
    assert (b[:, 0] <= b[:, 1]).all() and outside.mean() <= 0.2
    va = iv.interval(grid)
    assert ((grid < va[:, 0]) | (grid > va[:, 1])).mean() > outside.mean(), "the pair is narrower than the band"
    # the band follows the recalibration line of the stored pairs: for scores whose logits are twice what they
    # should be (pairs not recalibrated, so not the deployed path) it lies away from them
    lg = np.log(p_cal / (1 - p_cal))
    over = RiskIntervals().fit(1 / (1 + np.exp(-2 * lg)), y_cal)
    g2 = 1 / (1 + np.exp(-2 * np.log(grid / (1 - grid))))
    b2 = over.band(g2)
    assert ((g2 < b2[:, 0]) | (g2 > b2[:, 1])).mean() > 0.5
    assert iv.describe(0.3).to_dict()["calibration_band_95"] == [round(float(v), 4) for v in iv.band([0.3])[0]]


def test_the_calibration_band_carries_the_censoring_weights():
    """A cohort whose complete cases over-represent events (early-censored non-progressors dropped) is
    re-weighted: the band follows the weighted recalibration, and weights of 1 change nothing."""
    rng = np.random.default_rng(7)
    p, y = _draw(480, rng)
    plain = RiskIntervals().fit(p, y)
    assert np.array_equal(RiskIntervals().fit(p, y, np.ones(len(y))).band([0.2, 0.5]), plain.band([0.2, 0.5]))
    w = np.where(y == 1, 0.5, 1.5)  # events count a third as much as non-events
    weighted = RiskIntervals().fit(p, y, w)
    bp, bw = plain.band([0.5])[0], weighted.band([0.5])[0]
    assert bw[1] < bp[0], f"the weighted band {bw} should lie below the unweighted {bp}"
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(penalty=None).fit(np.log(p / (1 - p))[:, None], y, sample_weight=w)
    assert bw[0] <= lr.predict_proba([[0.0]])[0, 1] <= bw[1], "the band holds the weighted recalibration at 0.5"
    with pytest.raises(ValueError, match="case weight"):
        RiskIntervals().fit(p, y, -w)


def test_the_weighted_venn_abers_pair_is_the_packages_with_unit_weights():
    """The weighted pair is computed here (the package takes no weights); with every weight 1 it must be the
    package's pair, on new scores, on calibration scores (ties) and beyond both ends."""
    import warnings

    from venn_abers import VennAbers

    from zoo.evaluation.intervals import WeightedVennAbers

    rng = np.random.default_rng(11)
    for n, decimals in ((40, 6), (300, 2)):
        p, y = _draw(n, rng)
        p = np.round(p, decimals)
        q = np.r_[rng.uniform(size=100), p[:15], 0.0, 1.0]
        _, ours = WeightedVennAbers().fit(p, y, np.ones(n)).predict_proba(np.c_[1 - q, q])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, theirs = VennAbers().fit(np.c_[1 - p, p], y).predict_proba(np.c_[1 - q, q])
        np.testing.assert_allclose(ours, np.asarray(theirs, dtype=float), atol=1e-12)


def test_the_venn_abers_pair_and_coverage_carry_the_censoring_weights():
    """Complete cases that over-represent events (two of three non-progressors censored early and left out):
    the unweighted pair sits above the true risk, the weighted one around it; the coverage figures are
    weighted shares."""
    rng = np.random.default_rng(12)
    p, y = _draw(3000, rng)
    keep = (y == 1) | (rng.random(len(y)) < 1 / 3)
    w = np.where(y[keep] == 1, 1.0, 3.0)
    w = w / w.mean()
    grid = np.linspace(0.15, 0.6, 10)
    mid_plain = RiskIntervals().fit(p[keep], y[keep]).interval(grid).mean(axis=1)
    weighted = RiskIntervals().fit(p[keep], y[keep], w)
    mid_w = weighted.interval(grid).mean(axis=1)
    assert (mid_plain - grid).mean() > 0.1, "left out non-progressors push the unweighted pair up"
    assert np.abs(mid_w - grid).max() < 0.08
    rep = interval_report(weighted, y[keep][:400], p[keep][:400], n_boot=50, case_weights=w[:400])
    cov = weighted.prediction_sets(p[keep][:400])[np.arange(400), y[keep][:400]]
    assert rep["coverage"] == pytest.approx(np.average(cov, weights=w[:400])) and rep["weighted"]
    assert rep["coverage"] != pytest.approx(cov.mean())
    # a patient of weight 0 counts for nothing: the pair is the one without them (a tie group of such patients
    # had no mean, and the model silently lost its intervals)
    from zoo.evaluation.intervals import WeightedVennAbers

    pz, yz, wz = p[keep][:300], y[keep][:300], w[:300].copy()
    wz[:20] = 0.0
    pz = pz.copy()
    pz[:20] = 0.123  # one tie group, all weight 0
    q = np.c_[1 - grid, grid]
    np.testing.assert_allclose(WeightedVennAbers().fit(pz, yz, wz).predict_proba(q)[1],
                               WeightedVennAbers().fit(pz[20:], yz[20:], wz[20:]).predict_proba(q)[1])
    assert RiskIntervals().fit(pz, yz, wz).describe(0.3) is not None


def test_nan_probability_gets_no_interval_and_one_class_refuses():
    rng = np.random.default_rng(5)
    p, y = _draw(200, rng)
    iv = RiskIntervals().fit(p, y)
    out = iv.interval([np.nan, 0.4])
    assert np.isnan(out[0]).all() and not np.isnan(out[1]).any()
    assert iv.describe(float("nan")) is None
    with pytest.raises(ValueError, match="both outcomes"):
        RiskIntervals().fit(p, np.zeros_like(y))


def test_predict_json_carries_the_main_ensembles_interval(test_zoo_dir, tmp_path, capsys):
    from zoo.cli import main

    f = tmp_path / "patient.json"
    f.write_text(json.dumps({"age": 71, "ldh": 420, "fish_del17p": "positive", "b2m": 6.2, "alb": 31}))
    assert main(["predict", "--zoo", str(test_zoo_dir), "--clinical", str(f)]) == 0
    out = json.loads(capsys.readouterr().out)
    lo, hi = out["venn_abers_interval"]
    assert 0 <= lo <= hi <= 1
    blo, bhi = out["calibration_band_95"]
    assert 0 <= blo <= bhi <= 1
    assert out["conformal_set"] in ("none", "non-PD", "PD", "either") and out["conformal_level"] == 0.9


def test_batch_output_has_interval_columns(test_zoo, tiny_cohort_dir):
    from zoo.scoring.batch import score_cohort_dir

    table, _ = score_cohort_dir(test_zoo, tiny_cohort_dir, show_bar=False)
    for c in ("interval_low", "interval_high", "conformal_set_90"):
        assert c in table.columns, c
    ok = table["interval_low"].notna()
    assert ok.mean() > 0.9
    assert (table.loc[ok, "interval_low"] <= table.loc[ok, "interval_high"]).all()
    assert set(table["conformal_set_90"].dropna()) <= {"none", "non-PD", "PD", "either", ""}


def test_leaderboard_json_carries_calibration_and_coverage(test_zoo_dir, capsys):
    from zoo.cli import main

    assert main(["leaderboard", "--zoo", str(test_zoo_dir), "--json"]) == 0
    rows = pd.DataFrame(json.loads(capsys.readouterr().out))
    for c in ("brier", "null_brier", "scaled_brier", "cal_intercept", "cal_intercept_lo", "cal_slope",
              "cal_slope_hi", "conformal_coverage", "conformal_coverage_lo", "va_mean_width"):
        assert c in rows.columns, c
    ens = rows.set_index("model").loc["ens_soft_vote"]
    assert 0 <= ens["conformal_coverage"] <= 1
