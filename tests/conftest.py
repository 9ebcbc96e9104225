"""Shared fixtures: tiny synthetic cohorts and one test-profile zoo, built once per session."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")
TINY_N = 80
# Opt-in for local work on a slow machine: MYELOZOO_TEST_FIXTURES=DIR keeps the tiny cohorts and the test zoo
# in DIR between pytest runs (the zoo takes minutes to train on 2 cores). They are not rebuilt when the training
# code changes: delete DIR after changing zoo/. CI never sets it, so CI always trains afresh.
FIXTURES = os.environ.get("MYELOZOO_TEST_FIXTURES")


def wait_until(check, timeout_s: float = 60, poll_s: float = 0.5) -> bool:
    """Poll ``check`` until it is true or ``timeout_s`` has passed; whether it became true."""
    import time

    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(poll_s)
    return True


def _fixture_dir(tmp_path_factory, kind: str) -> Path:
    if FIXTURES:
        d = Path(FIXTURES) / kind
        d.mkdir(parents=True, exist_ok=True)
        return d
    return tmp_path_factory.mktemp(kind)


def pytest_collection_finish(session):
    if not session.items:
        raise pytest.UsageError("No tests were collected: refusing to report success on an empty run.")


@pytest.fixture(scope="session")
def tiny_cohort_dir(tmp_path_factory) -> Path:
    from zoo.synth.cohort import generate_cohort

    d = _fixture_dir(tmp_path_factory, "cohorts") / "tiny"
    if not (FIXTURES and (d / "clinical.csv").is_file()):
        generate_cohort(d, n=TINY_N, seed=1, image_size=64, workers=1, show_bar=False, overwrite=True)
    return d


@pytest.fixture(scope="session")
def tiny_external_dir(tmp_path_factory) -> Path:
    from zoo.synth.cohort import generate_cohort

    d = _fixture_dir(tmp_path_factory, "cohorts") / "tiny_site_b"
    if not (FIXTURES and (d / "clinical.csv").is_file()):
        generate_cohort(d, n=40, seed=2, site="B", image_size=64, workers=1, show_bar=False, overwrite=True)
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

    out = _fixture_dir(tmp_path_factory, "zoos") / "test_zoo"
    if not (FIXTURES and (out / "manifest.json").is_file()):
        train_zoo(tiny_cohort_dir, out, profile="test", external=tiny_external_dir, show_bars=False)
    return out


@pytest.fixture(scope="session")
def test_zoo(test_zoo_dir):
    from zoo.api import Zoo

    return Zoo.load(test_zoo_dir)


@pytest.fixture(scope="session")
def clinical_only_zoo_dir(tiny_cohort_dir, tiny_external_dir, tmp_path_factory) -> Path:
    """The default zoo on clinical-only copies of the tiny cohorts (no images): clinical models and staging systems."""
    from zoo.training.trainer import train_zoo

    root = tmp_path_factory.mktemp("cohorts")
    for name, src in (("clinical_only", tiny_cohort_dir), ("clinical_only_ext", tiny_external_dir)):
        (root / name).mkdir()
        for f in ("clinical.csv", "variables.yaml"):  # site B declares its US units in variables.yaml
            if (src / f).is_file():
                shutil.copy(src / f, root / name / f)
    out = tmp_path_factory.mktemp("zoos") / "clinical_only_zoo"
    train_zoo(root / "clinical_only", out, profile="test", external=root / "clinical_only_ext", show_bars=False)
    return out
