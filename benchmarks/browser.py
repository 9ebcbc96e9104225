"""Shared by the browser test, the benchmarks and the screenshot script: start the app, drive Debian's chromium."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
# Many pages of one headless browser stand for many people, each with their own foreground tab: chromium must
# not throttle the timers of pages it considers in the background (Streamlit's client runs on them).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-background-timer-throttling",
                 "--disable-renderer-backgrounding", "--disable-backgrounding-occluded-windows"]


def start_streamlit(port: int, env: dict | None = None) -> subprocess.Popen:
    """The dashboard as ``make run`` starts it: through the launcher (``python -m dashboard``)."""
    return subprocess.Popen([sys.executable, "-m", "dashboard",
                             "--server.port", str(port), "--server.headless", "true",
                             "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env or dict(os.environ),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def wait_healthy(url: str, timeout: float = 60.0, poll: float = 0.05) -> bool:
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                return True
        except OSError:
            time.sleep(poll)
    return False


def wait_ready(pg, title: str, timeout_ms: int = 180_000) -> None:
    """Heading visible, then no running indicator and no spinner for a second."""
    pg.get_by_role("heading", name=title).first.wait_for(timeout=timeout_ms)
    quiet = 0
    for _ in range(1200):
        busy = pg.locator('[data-testid="stStatusWidget"]').count() + pg.locator('[data-testid="stSpinner"]').count()
        quiet = quiet + 1 if busy == 0 else 0
        if quiet >= 4:
            break
        time.sleep(0.25)
    time.sleep(0.5)
