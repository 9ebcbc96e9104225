"""One AppTest per page on the tiny cohort + test zoo."""
import pytest

from tests.dashboard.conftest import make_app

pytestmark = pytest.mark.slow


def _run(page: str | None = None, patient: str | None = None):
    at = make_app()
    if patient:
        at.session_state["patient"] = patient
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_cohort_explorer_renders(app_env):
    at = _run()
    assert at.title[0].value == "Cohort explorer"
    assert any("Patients" == m.label for m in at.metric)
    assert len(at.dataframe) >= 1, "Table 1"


def test_cohort_explorer_filters_update_views(app_env):
    at = _run()
    n_before = next(m.value for m in at.metric if m.label == "Patients")
    at.multiselect(key="ce_sex").set_value(["female"]).run()
    assert not at.exception
    n_after = next(m.value for m in at.metric if m.label == "Patients")
    assert int(n_after) < int(n_before)


def test_leaderboard_renders_and_threshold_drives_metrics(app_env):
    at = _run("../pages/leaderboard.py")
    assert at.title[0].value == "Leaderboard"
    table = at.dataframe[0].value
    assert {"AUC", "AUC 95% CI", "Published AUC"} <= set(table.columns)
    tables_before = [d.value.copy() for d in at.dataframe]
    at.slider(key="_w_threshold").set_value(0.9).run()
    assert not at.exception
    after = at.dataframe[1].value
    assert not tables_before[1].equals(after), "the threshold slider changes the metrics table"
    assert at.session_state["threshold"] == pytest.approx(0.9)


def test_predictor_form_changes_probability(app_env, tiny_cohort):
    pid = tiny_cohort.patient_ids[0]
    at = _run("../pages/predictor.py", patient=pid)
    p0 = next(m.value for m in at.metric if m.label.startswith("Ensemble P(PD"))
    key = f"pp_{pid}_ldh"
    at.number_input(key=key).set_value(3500.0)
    at.number_input(key=f"pp_{pid}_b2m").set_value(60.0)
    at.selectbox(key=f"pp_{pid}_fish_del17p").set_value("positive")
    at.selectbox(key=f"pp_{pid}_fish_1q21_gain").set_value("positive")
    at.button[0].click()  # the form's submit button
    at.run()
    assert not at.exception
    p1 = next(m.value for m in at.metric if m.label.startswith("Ensemble P(PD"))
    assert p0 != p1, f"probability unchanged: {p0}"


def test_predictor_corrupt_upload_shows_error_not_exception(app_env, tiny_cohort):
    pid = tiny_cohort.patient_ids[1]
    at = _run("../pages/predictor.py", patient=pid)
    at.number_input(key=f"pp_{pid}_age").set_value(77.0)
    at.file_uploader(key="pp_up_marrow").set_value(("broken_smear.png", b"\x89PNG but not really", "image/png"))
    at.button[0].click()
    at.run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any("broken_smear.png" in e and "Image not used" in e for e in errors), errors
    assert at.number_input(key=f"pp_{pid}_age").value == 77.0, "the rest of the form is kept"
    assert any(m.label.startswith("Ensemble P(PD") for m in at.metric), "a prediction is still shown"


def test_predictor_blank_patient_flags_values_outside_the_cohort(app_env):
    at = _run("../pages/predictor.py")
    assert not at.exception
    p = next(m.value for m in at.metric if m.label.startswith("Ensemble P(PD"))
    assert p.endswith("%")
    at.number_input(key="pp_blank_ldh").set_value(3900.0)
    at.button[0].click()
    at.run()
    assert not at.exception
    assert any("Lactate dehydrogenase (U/L) = 3900 is outside the cohort's observed range" in w.value
               for w in at.warning)


def test_explainability_renders(app_env, tiny_cohort):
    at = _run("../pages/explainability.py", patient=tiny_cohort.patient_ids[2])
    assert at.title[0].value == "Explainability"
    captions = " ".join(c.value for c in at.caption)
    assert "Explainer:" in captions and "Shapley" in captions


def test_failure_cases_review_survives_restart(app_env, test_zoo_dir):
    at = _run("../pages/failure_cases.py")
    assert at.title[0].value == "Failure cases"
    at.selectbox(key="fc_category").set_value("attention on gel edge/background")
    at.text_area(key="fc_note").set_value("attention sits on the gel edge")
    at.text_input(key="fc_reviewer_input").set_value("reviewer-1")
    at.button(key="fc_save").click()
    at.run()
    assert not at.exception
    at2 = _run("../pages/failure_cases.py")  # a fresh app session: a restart
    from zoo.reviews import ReviewStore

    notes = ReviewStore.beside(test_zoo_dir).all()["note"].tolist()
    assert "attention sits on the gel edge" in notes
    shown = [d.value for d in at2.dataframe]
    assert any("note" in df.columns and "attention sits on the gel edge" in df["note"].tolist() for df in shown)


def test_missing_zoo_explains_how_to_build(tiny_cohort_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("MYELOZOO_COHORT", str(tiny_cohort_dir))
    monkeypatch.setenv("MYELOZOO_ZOO", str(tmp_path / "no_zoo"))
    at = _run("../pages/leaderboard.py")
    assert any("python -m zoo train" in c.value for c in at.code)
    at = _run()
    assert at.title[0].value == "Cohort explorer", "the explorer works without a zoo"


def test_shared_state_comes_from_the_url_and_survives_page_switches(app_env, tiny_cohort):
    pid = tiny_cohort.patient_ids[3]
    at = make_app()
    at.query_params["patient"] = pid
    at.query_params["threshold"] = "0.7"
    at.run()
    at.switch_page("../pages/explainability.py")
    at.run()
    assert not at.exception
    assert at.selectbox(key="_w_patient").value == pid
    at.switch_page("../pages/leaderboard.py")
    at.run()
    assert at.slider(key="_w_threshold").value == 0.7
    at.switch_page("../pages/predictor.py")
    at.run()
    assert at.session_state["patient"] == pid
    assert at.query_params["patient"] == pid and at.query_params["threshold"] == "0.700"
