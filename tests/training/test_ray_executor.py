"""The Ray executor: the test profile on a local Ray (2 CPUs) gives the zoo the local executor gives."""
from __future__ import annotations

import json

import pytest

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.slow  # a local Ray cluster plus one test-profile training: about 2-4 minutes on 2 cores


@pytest.fixture(scope="module")
def local_ray():
    from zoo.training.ray_executor import init_ray

    init_ray(num_cpus=2)
    yield
    ray.shutdown()


def _models_and_metrics(zoo_dir):
    m = json.loads((zoo_dir / "manifest.json").read_text())
    metrics = json.loads((zoo_dir / "metrics.json").read_text())
    return sorted(m["models"]), sorted(m["ensembles"]), metrics


def test_train_on_ray_gives_the_local_zoos_models_and_metrics(local_ray, tiny_cohort_dir, tiny_external_dir,
                                                               test_zoo_dir, tmp_path):
    from zoo.training.trainer import train_zoo

    out = train_zoo(tiny_cohort_dir, tmp_path / "ray_zoo", profile="test", external=tiny_external_dir,
                    show_bars=False, executor="ray")
    local_models, local_ens, local_metrics = _models_and_metrics(test_zoo_dir)
    ray_models, ray_ens, ray_metrics = _models_and_metrics(out)
    assert ray_models == local_models and ray_ens == local_ens
    # every AUC, Brier, CI and threshold, to the last digit (compared as JSON text: NaN equals NaN there)
    assert json.dumps(ray_metrics, sort_keys=True) == json.dumps(local_metrics, sort_keys=True)


def test_scoring_a_cohort_on_ray_gives_the_local_table(local_ray, test_zoo, test_zoo_dir, tiny_external_dir):
    import pandas as pd

    from zoo.scoring.batch import score_cohort_dir
    from zoo.training.ray_executor import score_cohort_dir_on_ray

    local, _ = score_cohort_dir(test_zoo, tiny_external_dir, show_bar=False)
    distributed, _ = score_cohort_dir_on_ray(test_zoo_dir, tiny_external_dir, batch_size=16, actors=2)
    pd.testing.assert_frame_equal(distributed.reset_index(drop=True), local.reset_index(drop=True),
                                  check_dtype=False)
