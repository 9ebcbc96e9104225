"""Links carry names only: a folder in ``?cohort=`` / ``?zoo=`` changes nothing and no page shows a server path;
a threshold or split from a link cannot break a page."""
import pytest

from tests.dashboard.conftest import all_text, make_app

pytestmark = pytest.mark.slow
PAGES = [None, "../pages/leaderboard.py", "../pages/predictor.py", "../pages/explainability.py",
         "../pages/failure_cases.py"]


def _with_query(params: dict, page: str | None = None):
    at = make_app()
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_folder_in_the_link_changes_nothing_and_shows_no_path(app_env, tmp_path):
    cohort_dir, zoo_dir = app_env
    (tmp_path / "x").mkdir()
    for page in PAGES:
        at = _with_query({"cohort": "/etc", "zoo": str(tmp_path / "x")}, page)
        text = all_text(at)
        assert "/etc" not in text and str(tmp_path) not in text
        assert str(cohort_dir) not in text and str(zoo_dir) not in text, "no server folder on any page"
        assert at.session_state["cohort"] == cohort_dir.name and at.session_state["zoo"] == zoo_dir.name
        assert not at.error, [e.value for e in at.error]
        assert "/etc" not in str(at.query_params.to_dict() if hasattr(at.query_params, "to_dict")
                                 else dict(at.query_params))


def test_a_cohort_is_chosen_by_name(app_env, tiny_external_dir, tmp_path, monkeypatch):
    cohort_dir, zoo_dir = app_env
    f = tmp_path / "datasets.toml"
    f.write_text(f'[cohorts]\nsite_a = "{cohort_dir}"\nsite_b = "{tiny_external_dir}"\n[zoos]\nmain = "{zoo_dir}"\n')
    monkeypatch.setenv("MYELOZOO_DATASETS", str(f))
    monkeypatch.delenv("MYELOZOO_COHORT")
    monkeypatch.delenv("MYELOZOO_ZOO")
    at = _with_query({"cohort": "site_b"})
    assert at.selectbox(key="_w_cohort").value == "site_b"
    assert at.selectbox(key="_w_cohort").options == ["site_a", "site_b"]
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "`site_b` · 40 patients" in sidebar
    at.selectbox(key="_w_cohort").set_value("site_a").run()
    assert "`site_a` · 80 patients" in " ".join(m.value for m in at.sidebar.markdown)
    assert at.query_params["cohort"] == "site_a"


@pytest.mark.parametrize("raw, shown", [("5", 0.99), ("-1", 0.01), ("nan", None), ("0.42", 0.42)])
def test_a_crafted_threshold_cannot_break_the_leaderboard(app_env, raw, shown):
    at = _with_query({"threshold": raw, "split": "bogus"}, "../pages/leaderboard.py")
    assert at.title[0].value == "Leaderboard"
    slider = at.slider(key="_w_threshold")
    if shown is not None:
        assert slider.value == pytest.approx(shown)
    assert 0.01 <= slider.value <= 0.99
    assert at.radio(key="_w_split").value == "test"


def test_a_missing_zoo_names_it_without_its_folder(tiny_cohort_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("MYELOZOO_COHORT", str(tiny_cohort_dir))
    monkeypatch.setenv("MYELOZOO_ZOO", str(tmp_path / "no_zoo"))
    monkeypatch.delenv("MYELOZOO_DATASETS", raising=False)
    at = _with_query({}, "../pages/leaderboard.py")
    text = all_text(at)
    assert "no_zoo" in text and str(tmp_path) not in text
