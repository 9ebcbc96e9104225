"""First run on a set-up machine with no demo yet (issue 11, item 5): seconds until the dashboard serves and
until the cohort explorer is usable in a browser, while the zoo trains in the background.

    python benchmarks/first_run.py [--root /tmp/fresh_demo] [--keep-building]

It starts the dashboard exactly as ``make run`` does (``python -m dashboard``), with ``MYELOZOO_DEMO_ROOT``
pointing at an empty folder, so the 600-patient cohort is generated in the foreground and the zoo build is
started in the background. Unless ``--keep-building``, the background builder is stopped at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.browser import CHROMIUM, CHROMIUM_ARGS, wait_healthy, wait_ready  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=None, help="an empty folder for the demo (default: a temp dir)")
    ap.add_argument("--keep-building", action="store_true")
    ap.add_argument("--port", type=int, default=8599)
    a = ap.parse_args(argv)
    root = a.root or Path(tempfile.mkdtemp(prefix="myelozoo_first_run_"))
    if root.exists() and any(root.iterdir()):
        ap.error(f"{root} is not empty: the benchmark measures a first run")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MYELOZOO_")}
    env.update(MYELOZOO_DEMO_ROOT=str(root), MYELOZOO_STATE=str(root / "state"))
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "dashboard", "--server.port", str(a.port),
                             "--server.headless", "true", "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{a.port}"
    result: dict = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "cores": os.cpu_count(),
                    "load_average_at_start": os.getloadavg()[0]}
    try:
        if not wait_healthy(url, timeout=600, poll=0.2):
            raise RuntimeError("the dashboard did not start within 600 s")
        result["serving_s"] = round(time.perf_counter() - t0, 1)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            pg = b.new_page(viewport={"width": 1500, "height": 1400})
            pg.goto(url)
            wait_ready(pg, "Cohort explorer", timeout_ms=300_000)
            pg.get_by_text("Patients").first.wait_for(timeout=60_000)
            result["explorer_usable_s"] = round(time.perf_counter() - t0, 1)
            result["sidebar"] = pg.locator('[data-testid="stSidebar"]').inner_text()[-400:]
            b.close()
        status = json.loads((root / "build_status.json").read_text()) if (root / "build_status.json").is_file() else {}
        result["background_build_state"] = status.get("state")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if not a.keep_building:
            from zoo.demo import BuildLock

            pid = BuildLock(root).holder()
            if pid:
                os.killpg(os.getpgid(pid), signal.SIGKILL)  # the builder runs in its own session
            if a.root is None:
                time.sleep(1)
                shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
