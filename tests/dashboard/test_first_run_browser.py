"""First run: with the demo cohort in place and its zoo still training, the dashboard serves at once.

The builder here is a stand-in that holds the build lock and writes the status file the real builder writes
(tests/test_demo_build.py runs the real one); the zoo then "lands" by an atomic rename, as the trainer's
final manifest write makes it visible.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from benchmarks.browser import CHROMIUM, CHROMIUM_ARGS, ROOT, start_streamlit, wait_healthy, wait_ready
from tests.dashboard.conftest import free_port, page_errors, require_browser_tools

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SHOTS = ROOT / "screenshots"


def test_first_page_renders_while_the_zoo_trains_and_pages_refresh_when_it_lands(tiny_cohort_dir, test_zoo_dir,
                                                                                  tmp_path):
    require_browser_tools("playwright")
    from playwright.sync_api import sync_playwright

    demo = tmp_path / "demo"
    shutil.copytree(tiny_cohort_dir, demo / "cohort")
    models = ["ife_alexnet", "ife_resnet18", "clinical_lr", "clinical_rf"]
    (demo / "build_status.json").write_text(json.dumps({
        "state": "training", "models": models, "models_done": ["ife_alexnet", "clinical_lr"],
        "model_seconds": {"ife_alexnet": 120.0, "clinical_lr": 3.0}, "current": "ife_resnet18"}))
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from zoo.demo import BuildLock; l = BuildLock(sys.argv[1]); "
         "assert l.acquire(); print('held', flush=True); time.sleep(900)", str(demo)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MYELOZOO_")}
    env.update(MYELOZOO_DEMO_ROOT=str(demo), MYELOZOO_STATE=str(tmp_path / "state"))
    port = free_port()
    t0 = time.monotonic()
    proc = start_streamlit(port, env)  # the launcher: it sees a running builder and starts no other
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_healthy(url, timeout=90), proc.stdout.read().decode()[-2000:]
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            pg = b.new_page(viewport={"width": 1500, "height": 1600})
            pg.goto(url)
            wait_ready(pg, "Cohort explorer", timeout_ms=90_000)
            first_page_s = time.monotonic() - t0
            sidebar = pg.locator('[data-testid="stSidebar"]')
            sidebar.get_by_text("Training the demo zoo: 2/4 models").wait_for(timeout=30_000)
            side = sidebar.inner_text()
            assert "about 2 min left" in side, side  # one IFE model at 120 s + one other at 3 s
            assert "ife_resnet18" in side and page_errors(pg) == []
            assert pg.get_by_text("Patients").first.is_visible(), "the explorer is usable"
            SHOTS.mkdir(exist_ok=True)
            pg.screenshot(path=str(SHOTS / "first_run_training.png"), full_page=True)

            pg.goto(f"{url}/predictor")
            pg.get_by_text("still training in the background").wait_for(timeout=60_000)
            assert pg.get_by_role("button", name="Predict").count() == 0, "no half-loaded predictor"

            # the zoo lands (the trainer's last act is its manifest: here, one rename of a finished zoo)
            shutil.copytree(test_zoo_dir, demo / ".zoo.landing")
            os.replace(demo / ".zoo.landing", demo / "zoo")
            pg.get_by_role("button", name="Predict").wait_for(timeout=60_000)
            wait_ready(pg, "Patient predictor", timeout_ms=90_000)
            assert page_errors(pg) == []
            assert "Training the demo zoo" not in pg.locator('[data-testid="stSidebar"]').inner_text()
            b.close()
        assert first_page_s < 90, f"first page after {first_page_s:.0f} s"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
