import os

import pytest


@pytest.fixture
def app_env(tiny_cohort_dir, test_zoo_dir, monkeypatch):
    monkeypatch.setenv("MYELOZOO_COHORT", str(tiny_cohort_dir))
    monkeypatch.setenv("MYELOZOO_ZOO", str(test_zoo_dir))
    monkeypatch.delenv("MYELOZOO_EXTERNAL", raising=False)
    return tiny_cohort_dir, test_zoo_dir


def make_app(timeout: float = 120):
    from streamlit.testing.v1 import AppTest

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return AppTest.from_file(os.path.join(root, "dashboard", "app.py"), default_timeout=timeout)
