"""Issue 16's three users, end to end in Debian's chromium: a US clinician, a reviewer, a research lead.

The server offers the tiny cohort, its external site and the test zoo by name (a catalog file), as an
administrator would; the browser only ever sends names.
"""
import os
import re
import time
from pathlib import Path

import pytest

from benchmarks.browser import CHROMIUM, CHROMIUM_ARGS, start_streamlit, wait_healthy, wait_ready
from tests.dashboard.conftest import free_port, require_browser_tools

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "screenshots"
MAIN = "P(PD within 24 months), main ensemble"



@pytest.fixture(scope="module")
def server(tiny_cohort_dir, tiny_external_dir, test_zoo_dir, tmp_path_factory):
    require_browser_tools("playwright")
    d = tmp_path_factory.mktemp("persona")
    (d / "datasets.toml").write_text(
        f'default_cohort = "tiny"\ndefault_zoo = "test"\n[cohorts]\ntiny = "{tiny_cohort_dir}"\n'
        f'tiny_site_b = "{tiny_external_dir}"\n[zoos]\ntest = "{test_zoo_dir}"\n')
    port = free_port()
    env = {**os.environ, "MYELOZOO_DATASETS": str(d / "datasets.toml"), "MYELOZOO_STATE": str(d / "state")}
    for k in ("MYELOZOO_COHORT", "MYELOZOO_ZOO"):
        env.pop(k, None)
    proc = start_streamlit(port, env)
    url = f"http://127.0.0.1:{port}"
    if not wait_healthy(url, timeout=90):
        proc.kill()
        pytest.fail("streamlit did not start: " + proc.stdout.read().decode()[-2000:])
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1500, "height": 2200}, accept_downloads=True)
    pg = ctx.new_page()
    yield pg
    ctx.close()


def _ready(pg, title: str) -> None:
    wait_ready(pg, title, timeout_ms=120_000)
    exc = pg.locator('[data-testid="stException"]')
    assert exc.count() == 0, exc.first.inner_text()


def _fill(pg, label: str, value: str) -> None:
    box = pg.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Enter")
    _ready(pg, "Patient predictor")


def _predict(pg) -> str | None:
    """Press Predict; the probability, or None when the page refuses to predict. A prediction may queue behind
    other computations on the server ("Queued: …"), so wait for an outcome rather than for a quiet page."""
    pg.get_by_role("button", name="Predict").click()
    m = pg.locator('[data-testid="stMetric"]').filter(has_text=MAIN)
    refused = pg.get_by_text(re.compile("Not predicted: fix"))
    deadline = time.monotonic() + 120
    while not (m.count() or refused.count()) and time.monotonic() < deadline:
        time.sleep(0.5)
    _ready(pg, "Patient predictor")
    return m.locator('[data-testid="stMetricValue"]').inner_text() if m.count() else None


def test_us_clinician_gets_the_same_probability_in_us_units_and_a_clear_message_for_a_wrong_one(server, page):
    us = "&".join(f"units={u}" for u in ("alb:g/dL", "creatinine:mg/dL", "mprotein_level:g/dL"))
    page.goto(f"{server}/predictor?{us}")
    _ready(page, "Patient predictor")
    assert page.locator('[data-testid="stMetric"]').filter(has_text=MAIN).count() == 0, "nothing before Predict"
    # haemoglobin's unit chosen in the form, the others came with the link
    # haemoglobin's unit box: the selectbox in the innermost row that holds the Haemoglobin field
    unit_box = page.locator('[data-testid="stHorizontalBlock"]').filter(
        has=page.get_by_label("Haemoglobin", exact=True)).last.locator('[data-testid="stSelectbox"]')
    unit_box.click()
    page.get_by_role("option", name="g/dL", exact=True).click()
    _ready(page, "Patient predictor")
    for label, v in (("Haemoglobin", "9.8"), ("Albumin", "3.1"), ("Creatinine", "1.9"), ("Serum M-protein", "3.2"),
                     ("Age (years)", "67")):
        _fill(page, label, v)
    p_us = _predict(page)
    page.screenshot(path=str(SHOTS / "persona_us_clinician.png"), full_page=True)
    assert p_us and p_us.endswith("%")
    assert "units=hgb%3Ag%2FdL" in page.url or "units=hgb:g/dL" in page.url, page.url

    si = page.context.new_page()
    si.goto(f"{server}/predictor")
    _ready(si, "Patient predictor")
    for label, v in (("Haemoglobin", "98"), ("Albumin", "31"), ("Creatinine", str(1.9 * 88.42)),
                     ("Serum M-protein", "32"), ("Age (years)", "67")):
        _fill(si, label, v)
    assert _predict(si) == p_us, "US units and the equivalent SI entry give the same probability"

    _fill(si, "Haemoglobin", "9.8")  # g/dL typed into the g/L box
    err = si.locator('[data-testid="stAlert"]').filter(has_text="Haemoglobin: 9.8 g/L is outside")
    assert err.count() == 1 and "g/dL" in err.inner_text()
    assert si.locator('[data-testid="stMetric"]').filter(has_text=MAIN).count() == 0, "no stale number"
    assert _predict(si) is None
    assert si.get_by_text(re.compile("Not predicted: fix Haemoglobin")).count() == 1
    si.screenshot(path=str(SHOTS / "persona_invalid_value.png"), full_page=True)


def test_reviewer_opens_an_external_failure_and_the_note_survives_a_reload(server, page):
    page.goto(f"{server}/failure_cases?split=external")
    _ready(page, "Failure cases")
    heading = page.locator("h3").filter(has_text=re.compile(r"(FP|FN) · P\(PD\)")).first.inner_text()
    pid = heading.split(":")[0].strip()
    page.locator('[data-testid="stImage"]').first.wait_for(timeout=120_000)  # Grad-CAMs render after the heading
    _ready(page, "Failure cases")
    assert page.get_by_text("is not offered by this server").count() == 0
    assert page.locator('[data-testid="stImage"]').count() >= 1, "the external patient's images are shown"
    category = page.locator('[data-testid="stSelectbox"]').filter(has_text="Category")
    category.wait_for(timeout=120_000)  # drawn after the case's Grad-CAM and SHAP, which may queue
    category.click()
    page.get_by_role("option").first.click()
    note = f"Reviewer check for {pid}: band pattern ambiguous."
    page.get_by_label("Note").fill(note)
    page.get_by_role("button", name="Save review").click()
    _ready(page, "Failure cases")
    assert page.get_by_text(f"Review of {pid} saved.").count() == 1
    url = page.url
    assert "split=external" in url and f"patient={pid}" in url, url
    page.goto(url)
    _ready(page, "Failure cases")
    page.get_by_text(note).wait_for(timeout=120_000)
    assert pid in page.locator("h3").filter(has_text=re.compile(r"(FP|FN) · P\(PD\)")).first.inner_text()
    assert page.get_by_text(note).count() == 1, "the note is shown on the patient after a reload"
    page.screenshot(path=str(SHOTS / "persona_reviewer.png"), full_page=True)


def test_research_lead_downloads_a_figure_with_its_legend_and_context(server, page, tmp_path, test_zoo):
    page.goto(f"{server}/leaderboard?threshold=0.3")
    _ready(page, "Leaderboard")
    assert page.get_by_text(re.compile("Best single model: ")).count() == 1
    with page.expect_download(timeout=120_000) as dl:  # the SVG is rendered on click
        page.locator('[data-testid="stDownloadButton"]').filter(has_text="SVG").first.click()
    svg_path = tmp_path / "roc.svg"
    dl.value.save_as(svg_path)
    svg = svg_path.read_text()
    assert "threshold 0.30" in svg and "internal hold-out test" in svg, "the title carries split and threshold"
    # the default overlay: the main ensemble and the best single model (by OOF AUC)
    best = test_zoo.metrics()["best_single"]
    chosen = [test_zoo.manifest["ensembles"]["ens_soft_vote"]["display"], test_zoo.manifest["models"][best]["display"]]
    for name in chosen:
        assert name in svg, f"legend entry {name!r} is complete in the downloaded figure"
    width = float(re.search(r'<svg[^>]*width="([\d.]+)"', svg).group(1))
    assert width >= 640
    page.screenshot(path=str(SHOTS / "persona_research_lead.png"), full_page=True)


def _download(pg, label: str, path: Path, timeout_ms: int = 240_000) -> Path:
    btn = pg.locator('[data-testid="stDownloadButton"]').filter(has_text=label).first
    btn.wait_for(timeout=timeout_ms)
    with pg.expect_download(timeout=timeout_ms) as dl:
        btn.click()
    dl.value.save_as(path)
    return path


def test_research_lead_reads_subgroups_and_downloads_the_model_card(server, page, tmp_path):
    from tests.reports.conftest import need_poppler, pdf_images, pdf_pages

    need_poppler()
    page.goto(f"{server}/leaderboard")
    _ready(page, "Leaderboard")
    page.get_by_role("tab", name="Subgroups").click()
    # the tiny cohort's test set has no group with 10 events: no forest plot, and the page says why
    page.get_by_text(re.compile("so there is no forest plot")).wait_for(timeout=240_000)
    _ready(page, "Leaderboard")
    assert page.get_by_role("button", name="Download subgroups (CSV)").count() == 1
    page.screenshot(path=str(SHOTS / "leaderboard_subgroups.png"), full_page=True)

    page.get_by_role("tab", name="Model card").click()
    page.get_by_role("button", name="Prepare the model card").click()
    pdf = _download(page, "Model card (PDF)", tmp_path / "card.pdf")
    html = _download(page, "Model card (HTML)", tmp_path / "card.html")
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf_pages(pdf) >= 4 and len(pdf_images(pdf)) >= 7
    text = html.read_text(encoding="utf-8")
    assert "TRIPOD+AI 3c, 14, 23a" in text and 'id="subgroups"' in text and "Site: external site" in text

    # the downloaded HTML renders in chromium on its own: no console error, every figure decoded
    viewer = page.context.new_page()
    errors = []
    viewer.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    viewer.on("pageerror", lambda e: errors.append(str(e)))
    viewer.goto(html.as_uri())
    viewer.wait_for_load_state("load")
    sizes = viewer.evaluate("Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0)")
    assert len(sizes) >= 7 and min(sizes) > 0, sizes
    assert errors == []
    viewer.screenshot(path=str(SHOTS / "model_card_html.png"))
    viewer.close()


def test_clinician_downloads_a_one_page_patient_report(server, page, tmp_path):
    from tests.reports.conftest import need_poppler, pdf_pages

    need_poppler()
    page.goto(f"{server}/predictor")
    _ready(page, "Patient predictor")
    for label, v in (("Age (years)", "72"), ("Haemoglobin", "92")):
        _fill(page, label, v)
    assert _predict(page)
    page.get_by_role("button", name="Prepare the patient report (PDF)").click()
    pdf = _download(page, "Download the patient report (PDF)", tmp_path / "report.pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf_pages(pdf) == 1
