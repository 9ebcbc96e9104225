"""Staging systems as reference models: stage rates, missing stages, persistence, out-of-fold honesty."""
import json

import numpy as np
import pandas as pd
import pytest

from zoo.models import create_model, list_models, model_config
from zoo.models.staging import StagingModel
from zoo.schema.derived import derive_staging_systems

# ISS I, II, III and one patient whose ISS is undecided (β2M < 3.5 mg/L, albumin unknown)
ROWS = pd.DataFrame({"b2m": [2.0, 2.0, 2.0, 4.0, 4.0, 6.0, 6.0, 6.0, 2.0],
                     "alb": [40.0, 40.0, 40.0, 40.0, 40.0, 30.0, 30.0, 30.0, np.nan]})
Y = np.array([0, 0, 1, 0, 1, 1, 1, 0, 1])


def test_every_staging_system_is_registered_as_a_reference_model():
    refs = list_models(modality="reference")
    assert {model_config(n).extra["system"] for n in refs} == {"iss", "riss", "r2iss", "imwg_hr"}
    assert all(model_config(n).family == "staging" for n in refs)
    assert set(refs) <= set(list_models(default_only=True, profile="test")), "scored in every default build"


def test_risk_is_the_stage_rate_and_an_undecided_stage_gets_none():
    m = StagingModel("iss").fit(ROWS, Y)
    assert m.rates_ == pytest.approx({"I": 1 / 3, "II": 1 / 2, "III": 2 / 3})
    assert m.counts_ == {"I": 3, "II": 2, "III": 3}, "the undecided patient is not counted"
    p = m.predict_proba(ROWS)[:, 1]
    assert p[:3] == pytest.approx([1 / 3] * 3) and p[5] == pytest.approx(2 / 3)
    assert np.isnan(p[8]), "no stage, no prediction"


def test_case_weights_weight_the_stage_rates():
    w = np.array([1, 1, 2, 1, 1, 1, 1, 1, 1], dtype=float)
    m = StagingModel("iss").fit(ROWS, Y, sample_weight=w)
    assert m.rates_["I"] == pytest.approx(2 / 4)


def test_a_stage_without_training_patients_borrows_its_nearest_neighbours():
    m = StagingModel("iss").fit(ROWS.iloc[[0, 1, 2, 5, 6, 7]], Y[[0, 1, 2, 5, 6, 7]])
    assert m.counts_["II"] == 0
    assert m.rates_["II"] == pytest.approx((1 / 3 + 2 / 3) / 2)


def test_fitted_state_round_trips_through_json():
    m = StagingModel("r2iss")
    df = pd.DataFrame({"b2m": [2, 4, 6, 6, 2, 4], "alb": [40, 40, 30, 30, 40, 40], "ldh": [150, 300, 300, 150, 150, 150],
                       "fish_del17p": [0, 0, 1, 0, 0, 1], "fish_t4_14": [0, 0, 1, 0, 0, 0],
                       "fish_1q21_gain": [0, 1, 1, 0, 0, 0]}, dtype=float)
    m.fit(df, [0, 1, 1, 0, 0, 1])
    back = StagingModel.from_dict(json.loads(json.dumps(m.to_dict())))
    assert np.array_equal(back.predict_proba(df), m.predict_proba(df), equal_nan=True)


def test_unknown_system_and_unfitted_model_are_refused():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(ValueError, match="Expected a staging system in"):
        StagingModel("durie").fit(ROWS, Y)
    with pytest.raises(NotFittedError, match="not fitted"):
        create_model("ref_r2iss", "test").predict_proba(ROWS)


def _stage_rates(stage: pd.Series, y: pd.Series, w: pd.Series) -> dict:
    ok = stage.notna()
    return {s: float(np.average(y[ok & (stage == s)], weights=w[ok & (stage == s)]))
            for s in stage[ok].unique()}


@pytest.mark.parametrize("name", ["ref_r2iss", "ref_iss"])
def test_oof_risks_come_from_the_other_training_folds_only(clinical_only_zoo_dir, tiny_cohort, name):
    """Each OOF patient's raw risk is its stage's rate among the training patients of the other folds."""
    split = json.loads((clinical_only_zoo_dir / "split.json").read_text())
    pred = pd.read_parquet(clinical_only_zoo_dir / "models" / name / "predictions.parquet")
    oof = pred[pred["split"] == "oof"].set_index("patient_id")
    system = model_config(name).extra["system"]
    clin = tiny_cohort.clinical[tiny_cohort.feature_columns]
    stage = derive_staging_systems(clin, tiny_cohort.schema.ldh_uln)[system]
    y = tiny_cohort.clinical["progressed"]
    w = (tiny_cohort.case_weights.reindex(y.index) if tiny_cohort.case_weights is not None
         else pd.Series(1.0, index=y.index))
    fold = pd.Series(split["fold"])
    checked = 0
    for f in fold.unique():
        others = fold.index[fold != f]
        rates = _stage_rates(stage[others], y[others], w[others])
        for pid in fold.index[fold == f]:
            got = oof.loc[pid, "prob_raw"]
            if pd.isna(stage[pid]):
                assert np.isnan(got), f"{pid}: no stage, yet a prediction"
                continue
            if stage[pid] in rates:
                assert got == pytest.approx(rates[stage[pid]]), pid
                checked += 1
    assert checked >= 20
    # the test patients' raw risks are the rates over the whole training set
    train = fold.index
    rates = _stage_rates(stage[train], y[train], w[train])
    test = pred[pred["split"] == "test"].set_index("patient_id")
    for pid in split["test"]:
        if pd.notna(stage[pid]) and stage[pid] in rates:
            assert test.loc[pid, "prob_raw"] == pytest.approx(rates[stage[pid]])
