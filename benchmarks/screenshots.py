"""Screenshots of every page on the demo cohort and zoo (for reviews and the README); saved under screenshots/demo_*.

    python benchmarks/screenshots.py
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.browser import CHROMIUM, CHROMIUM_ARGS, start_streamlit, wait_healthy  # noqa: E402
from benchmarks.browser import wait_ready as wait  # noqa: E402

OUT = ROOT / "screenshots"


def main() -> None:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(exist_ok=True)
    port = 8777
    proc = start_streamlit(port)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, timeout=90)
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            pg = b.new_page(viewport={"width": 1500, "height": 2600})
            shots = [("cohort_explorer", "Cohort explorer", "", None),
                     ("cohort_explorer", "Cohort explorer", "", "Time to progression"),
                     ("cohort_explorer", "Cohort explorer", "?filters=sex:female&filters=iss:III&filters=has:marrow",
                      "filtered"),
                     ("leaderboard", "Leaderboard", "", None),
                     ("leaderboard", "Leaderboard", "", "Attention on target: correct vs wrong predictions"),
                     ("predictor", "Patient predictor", "?patient=A0006", None),
                     ("explainability", "Explainability", "?patient=A0006", None),
                     ("explainability", "Explainability", "?patient=A0006", "Clinical · SHAP"),
                     ("explainability", "Explainability", "?patient=A0006", "Marrow segmentation"),
                     ("failure_cases", "Failure cases", "", None)]
            for page, title, query, click in shots:
                pg.goto(f"{url}/{'' if page == 'cohort_explorer' else page}{query}")  # the default page is /
                wait(pg, title)
                if page == "failure_cases":  # the page is quiet between its marrow and IFE sections: wait for the
                    try:                     # colour scale drawn after the last Grad-CAM row
                        pg.get_by_text("Grad-CAM colour scale").first.wait_for(timeout=180_000)
                        wait(pg, title)
                    except Exception as e:  # noqa: BLE001 - a page without image members has no scale
                        print(f"failure_cases: no Grad-CAM colour scale ({type(e).__name__}); shot as drawn")
                if page == "leaderboard":  # the curves' SVG/PNG exports take seconds each, with no running
                    pg.get_by_role("heading", name="At threshold").first.wait_for(timeout=180_000)  # indicator
                    wait(pg, title)  # shown: wait for the section after them, then for the charts to draw
                    _wait_for_charts(pg, 3)
                name = page
                if click == "filtered":  # filters from the link, shown as chips
                    name += "_filtered"
                elif click:
                    pg.get_by_text(click, exact=True).first.click()
                    wait(pg, title)
                    name += "_" + click.split()[0].lower().replace("·", "")
                pg.screenshot(path=str(OUT / f"demo_{name}.png"), full_page=True)
                print("saved", OUT / f"demo_{name}.png")
            b.close()
    finally:
        proc.terminate()


def _wait_for_charts(pg, n: int, timeout_s: float = 60.0) -> None:
    """Until ``n`` Vega-Lite charts have drawn (a canvas or an svg inside each): a chart's frame appears before
    its drawing, and a shot taken between the two shows an empty box or none (seen: a leaderboard with only its
    ROC). Said, not raised, when they do not: the shot is taken as drawn."""
    import time

    charts = pg.locator('[data-testid="stVegaLiteChart"]')
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if charts.count() >= n and all(charts.nth(i).locator("canvas, svg").count() for i in range(n)):
            time.sleep(0.5)
            return
        time.sleep(0.25)
    print(f"only {charts.count()} of {n} charts drawn after {timeout_s:.0f} s; shot as drawn")


if __name__ == "__main__":
    main()
