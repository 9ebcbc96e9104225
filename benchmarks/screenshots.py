"""Screenshots of every page on the demo cohort and zoo (for reviews and the README); saved under screenshots/demo_*.

    python benchmarks/screenshots.py
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def wait(pg, title: str) -> None:
    pg.get_by_role("heading", name=title).first.wait_for(timeout=180_000)
    quiet = 0
    for _ in range(1200):
        busy = pg.locator('[data-testid="stStatusWidget"]').count() + pg.locator('[data-testid="stSpinner"]').count()
        quiet = quiet + 1 if busy == 0 else 0
        if quiet >= 6:
            break
        time.sleep(0.25)
    time.sleep(1.0)


def main() -> None:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(exist_ok=True)
    port = 8777
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"),
                             "--server.port", str(port), "--server.headless", "true"], cwd=ROOT, env=dict(os.environ),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            pg = b.new_page(viewport={"width": 1500, "height": 2600})
            shots = [("cohort_explorer", "Cohort explorer", "", None),
                     ("cohort_explorer", "Cohort explorer", "", "Time to progression"),
                     ("leaderboard", "Leaderboard", "", None),
                     ("predictor", "Patient predictor", "?patient=A0006", None),
                     ("explainability", "Explainability", "?patient=A0006", None),
                     ("explainability", "Explainability", "?patient=A0006", "Clinical · SHAP"),
                     ("explainability", "Explainability", "?patient=A0006", "Marrow segmentation"),
                     ("failure_cases", "Failure cases", "", None)]
            for page, title, query, click in shots:
                pg.goto(f"{url}/{'' if page == 'cohort_explorer' else page}{query}")  # the default page is /
                wait(pg, title)
                name = page
                if click:
                    pg.get_by_text(click, exact=True).first.click()
                    wait(pg, title)
                    name += "_" + click.split()[0].lower().replace("·", "")
                pg.screenshot(path=str(OUT / f"demo_{name}.png"), full_page=True)
                print("saved", OUT / f"demo_{name}.png")
            b.close()
    finally:
        proc.terminate()


if __name__ == "__main__":
    main()
