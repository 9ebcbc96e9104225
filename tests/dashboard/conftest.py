import os

import pytest


@pytest.fixture
def app_env(tiny_cohort_dir, test_zoo_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("MYELOZOO_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("MYELOZOO_COHORT", str(tiny_cohort_dir))
    monkeypatch.setenv("MYELOZOO_ZOO", str(test_zoo_dir))
    monkeypatch.delenv("MYELOZOO_EXTERNAL", raising=False)
    monkeypatch.delenv("MYELOZOO_DATASETS", raising=False)
    return tiny_cohort_dir, test_zoo_dir


TEXT_ELEMENTS = ("title", "header", "subheader", "markdown", "caption", "text", "code", "error", "warning", "info",
                 "success", "exception", "toast", "latex")


def all_text(at) -> str:
    """Every piece of text the app drew (main area and sidebar), for 'shows no path' checks."""
    parts = []
    for kind in TEXT_ELEMENTS:
        for el in getattr(at, kind, []):
            parts.append(str(getattr(el, "value", "")))
    for kind in ("selectbox", "multiselect", "radio", "text_input", "text_area", "number_input", "slider"):
        for el in getattr(at, kind, []):
            parts.append(str(getattr(el, "label", "")))
            parts.append(str(getattr(el, "value", "")))
            parts.append(str(getattr(el, "options", "")))
    for df in getattr(at, "dataframe", []):
        parts.append(df.value.to_string())
    return "\n".join(parts)


def make_app(timeout: float = 120):
    from streamlit.testing.v1 import AppTest

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return AppTest.from_file(os.path.join(root, "dashboard", "app.py"), default_timeout=timeout)
