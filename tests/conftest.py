"""Shared fixtures: tiny synthetic cohorts and one test-profile zoo, built once per session."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")
TINY_N = 80


def pytest_collection_finish(session):
    if not session.items:
        raise pytest.UsageError("No tests were collected: refusing to report success on an empty run.")


@pytest.fixture(scope="session")
def tiny_cohort_dir(tmp_path_factory) -> Path:
    from zoo.synth.cohort import generate_cohort

    d = tmp_path_factory.mktemp("cohorts") / "tiny"
    generate_cohort(d, n=TINY_N, seed=1, image_size=64, workers=1, show_bar=False)
    return d


@pytest.fixture(scope="session")
def tiny_external_dir(tmp_path_factory) -> Path:
    from zoo.synth.cohort import generate_cohort

    d = tmp_path_factory.mktemp("cohorts") / "tiny_site_b"
    generate_cohort(d, n=40, seed=2, site="B", image_size=64, workers=1, show_bar=False)
    return d


@pytest.fixture(scope="session")
def tiny_cohort(tiny_cohort_dir):
    from zoo.cohort import load_cohort

    return load_cohort(tiny_cohort_dir)


@pytest.fixture
def cohort_copy(tiny_cohort_dir, tmp_path) -> Path:
    """A writable copy of the tiny cohort for tests that break it."""
    dst = tmp_path / "cohort"
    shutil.copytree(tiny_cohort_dir, dst)
    return dst


@pytest.fixture(scope="session")
def test_zoo_dir(tiny_cohort_dir, tiny_external_dir, tmp_path_factory) -> Path:
    """The whole default zoo, test profile, on the tiny cohort with an external site."""
    from zoo.training.trainer import train_zoo

    out = tmp_path_factory.mktemp("zoos") / "test_zoo"
    train_zoo(tiny_cohort_dir, out, profile="test", external=tiny_external_dir, show_bars=False)
    return out


@pytest.fixture(scope="session")
def test_zoo(test_zoo_dir):
    from zoo.api import Zoo

    return Zoo.load(test_zoo_dir)
