"""End to end in a real browser: Debian's chromium via Playwright against `streamlit run dashboard/app.py`."""
import os
from pathlib import Path

import pytest

from benchmarks.browser import CHROMIUM, CHROMIUM_ARGS, start_streamlit, wait_healthy, wait_ready
from tests.conftest import wait_until
from tests.dashboard.conftest import free_port, require_browser_tools

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "screenshots"
PAGES = ["cohort_explorer", "leaderboard", "predictor", "explainability", "failure_cases"]



@pytest.fixture(scope="module")
def server(tiny_cohort_dir, test_zoo_dir):
    require_browser_tools("playwright")
    port = free_port()
    env = {**os.environ, "MYELOZOO_COHORT": str(tiny_cohort_dir), "MYELOZOO_ZOO": str(test_zoo_dir)}
    proc = start_streamlit(port, env)
    url = f"http://127.0.0.1:{port}"
    if not wait_healthy(url, timeout=90):
        proc.kill()
        pytest.fail("streamlit did not start: " + proc.stdout.read().decode()[-2000:])
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pg = browser.new_page(viewport={"width": 1500, "height": 2400})  # tall: Streamlit scrolls internally
        yield pg
        browser.close()


def _wait_ready(pg, title: str) -> None:
    wait_ready(pg, title, timeout_ms=90_000)
    assert pg.locator('[data-testid="stException"]').count() == 0, pg.locator('[data-testid="stException"]').first.inner_text()
    assert pg.get_by_text("Page not found").count() == 0


TITLES = {"cohort_explorer": "Cohort explorer", "leaderboard": "Leaderboard", "predictor": "Patient predictor",
          "explainability": "Explainability", "failure_cases": "Failure cases"}


def test_every_page_renders_in_chromium(server, page):
    SHOTS.mkdir(exist_ok=True)
    for name in PAGES:
        page.goto(f"{server}/{'' if name == 'cohort_explorer' else name}")  # the default page lives at /
        _wait_ready(page, TITLES[name])
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
        assert (SHOTS / f"{name}.png").stat().st_size > 10_000


def _metric_value(pg, label_prefix: str) -> str:
    m = pg.locator('[data-testid="stMetric"]').filter(has_text=label_prefix).first
    return m.locator('[data-testid="stMetricValue"]').inner_text()


def test_threshold_slider_moves_the_metrics(server, page):
    page.goto(f"{server}/leaderboard")
    _wait_ready(page, "Leaderboard")
    slider = page.locator('[data-testid="stSlider"]').filter(has_text="Decision threshold").locator(
        'input[type="range"]')
    before = slider.input_value()
    # the per-model summary line (explanations of a degenerate threshold also mention sensitivity, not PPV)
    summary = page.locator('[data-testid="stMarkdownContainer"]').filter(has_text="PPV").first
    text_before = summary.inner_text()
    slider.focus()
    page.keyboard.press("End")  # to 0.99: every model's operating point moves
    _wait_ready(page, "Leaderboard")
    after = slider.input_value()
    assert float(after) > float(before)
    # the slider moves at once in the browser; the rerun it sends may start after the page looked quiet
    assert wait_until(lambda: summary.inner_text() != text_before), "the metrics follow the threshold"
    # page.url is refreshed only when Playwright talks to the browser: ask the page itself
    assert wait_until(lambda: "threshold=" in page.evaluate("window.location.href")), "the threshold is in the URL"
    page.screenshot(path=str(SHOTS / "leaderboard_threshold.png"), full_page=True)


def test_what_if_control_changes_the_prediction(server, page):
    page.goto(f"{server}/predictor")
    _wait_ready(page, "Patient predictor")
    page.locator('[data-testid="stSelectbox"]').first.click()
    page.get_by_role("option").nth(1).click()  # the first cohort patient
    _wait_ready(page, "Patient predictor")
    page.get_by_role("button", name="Predict").click()  # what-if starts from a current prediction
    _wait_ready(page, "Patient predictor")
    page.locator('[data-testid="stMetric"]').filter(has_text="P(PD) with").first.wait_for(timeout=120_000)
    # β2-microglobulin drives both the synthetic outcome and ISS, so every clinical member responds to it
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Change one baseline value").click()
    page.get_by_role("option", name="β2-microglobulin").click()
    _wait_ready(page, "Patient predictor")
    page.locator('[data-testid="stMetric"]').filter(has_text="P(PD) with β2-microglobulin").first.wait_for(
        timeout=60_000)
    before = _metric_value(page, "P(PD) with")
    box = page.get_by_role("spinbutton", name="β2-microglobulin (mg/L)", exact=True)  # the what-if box, not the form's
    box.fill("30")
    box.press("Enter")
    # the what-if panel is a fragment: its rerun may not raise the app's status widget, so poll the value
    wait_until(lambda: _metric_value(page, "P(PD) with") != before)
    _wait_ready(page, "Patient predictor")
    after = _metric_value(page, "P(PD) with")
    assert before != after, f"what-if probability unchanged ({before})"
    page.screenshot(path=str(SHOTS / "predictor_whatif.png"), full_page=True)
