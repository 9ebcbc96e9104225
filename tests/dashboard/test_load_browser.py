"""A small version of benchmarks/load.py (issue 12, item 7): concurrent predictor sessions while two reviewers save
notes through the Failure-cases form, in one chromium against `streamlit run dashboard/app.py`.

The full run (20 sessions, 2 x 50 notes) is a benchmark, reported in docs/BENCHMARKS.md, not a test.
"""
import pytest

from tests.dashboard.conftest import require_browser_tools

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_three_predictor_sessions_and_two_reviewers_saving_ten_notes(tiny_cohort_dir, test_zoo_dir, tmp_path):
    require_browser_tools()
    from benchmarks.load import run

    res = run(sessions=3, reviewers=2, notes=5, via="ui", cohort=tiny_cohort_dir, zoo=test_zoo_dir,
              timeout_s=300)
    assert res["errors"] == 0, res["error_samples"]
    assert res["notes_in_store"] == 10 and res["distinct_notes"] == 10, res
    assert res["sessions_that_predicted"] == 3 and res["predictions"] >= 3, res
