import os

import pytest


@pytest.fixture
def app_env(tiny_cohort_dir, test_zoo_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("MYELOZOO_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("MYELOZOO_COHORT", str(tiny_cohort_dir))
    monkeypatch.setenv("MYELOZOO_ZOO", str(test_zoo_dir))
    monkeypatch.delenv("MYELOZOO_EXTERNAL", raising=False)
    monkeypatch.delenv("MYELOZOO_DATASETS", raising=False)
    return tiny_cohort_dir, test_zoo_dir


TEXT_ELEMENTS = ("title", "header", "subheader", "markdown", "caption", "text", "code", "error", "warning", "info",
                 "success", "exception", "toast", "latex")


def all_text(at) -> str:
    """Every piece of text the app drew (main area and sidebar), for 'shows no path' checks."""
    parts = []
    for kind in TEXT_ELEMENTS:
        for el in getattr(at, kind, []):
            parts.append(str(getattr(el, "value", "")))
    for kind in ("selectbox", "multiselect", "radio", "text_input", "text_area", "number_input", "slider"):
        for el in getattr(at, kind, []):
            parts.append(str(getattr(el, "label", "")))
            parts.append(str(getattr(el, "value", "")))
            parts.append(str(getattr(el, "options", "")))
    for df in getattr(at, "dataframe", []):
        parts.append(df.value.to_string())
    return "\n".join(parts)


def make_app(timeout: float = 120):
    from streamlit.testing.v1 import AppTest

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return AppTest.from_file(os.path.join(root, "dashboard", "app.py"), default_timeout=timeout)


# ----- live dashboard + browser helpers (sign-in, refusal and load tests) ------------------------------------
def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_browser_tools(*modules: str) -> None:
    """Skip locally when Debian's chromium (or a test-only package) is missing; under CI=true, fail instead."""
    import importlib.util

    from benchmarks.browser import CHROMIUM

    missing = [] if os.path.exists(CHROMIUM) else [f"{CHROMIUM} (apt-get install chromium)"]
    missing += [f"{m} (pip install -r requirements-dev.txt)" for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but missing: " + ", ".join(missing) + "; `make test` installs them")
        pytest.skip("missing: " + ", ".join(missing) + "; CI always runs this test")


def write_secrets(path, auth: dict | None = None, access: dict | None = None):
    """A secrets.toml for the served app: [auth] and [access] only when given (nothing: local mode)."""
    import json

    lines = ["# written by the test suite"]
    for name, sec in (("auth", auth), ("access", access)):
        if sec:
            lines.append(f"[{name}]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in sec.items()]  # JSON strings/lists are valid TOML
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class LiveDashboard:
    """`streamlit run dashboard/app.py` on a free port with extra flags; its output goes to a file to read."""

    def __init__(self, env: dict, log_path, *flags: str, host: str = "127.0.0.1", port: int | None = None):
        import subprocess
        import sys

        from benchmarks.browser import ROOT

        self.port = port or free_port()
        self.url = f"http://{host}:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"), "--server.port",
             str(self.port), "--server.headless", "true", "--browser.gatherUsageStats", "false", *flags],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def output(self) -> str:
        self._log.flush()
        return open(self.log_path, encoding="utf-8", errors="replace").read()

    def wait(self, timeout: float = 120) -> "LiveDashboard":
        from benchmarks.browser import wait_healthy

        if not wait_healthy(f"http://127.0.0.1:{self.port}", timeout=timeout):
            self.stop()
            pytest.fail("streamlit did not start: " + self.output()[-2000:])
        return self

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except Exception:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


def dashboard_env(cohort_dir, zoo_dir, state_dir, **extra) -> dict:
    """The environment of a served dashboard on one cohort and one zoo, notes in ``state_dir``."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MYELOZOO_ALLOW_ANONYMOUS", "MYELOZOO_DATASETS", "MYELOZOO_EXTERNAL")}
    env.update(MYELOZOO_COHORT=str(cohort_dir), MYELOZOO_ZOO=str(zoo_dir), MYELOZOO_STATE=str(state_dir))
    env.update({k: str(v) for k, v in extra.items()})
    return env


def page_errors(pg) -> list[str]:
    """Streamlit exception boxes and error alerts on the page, as text."""
    out = [pg.locator('[data-testid="stException"]').nth(i).inner_text()
           for i in range(pg.locator('[data-testid="stException"]').count())]
    out += [pg.locator('[data-testid="stAlertContentError"]').nth(i).inner_text()
            for i in range(pg.locator('[data-testid="stAlertContentError"]').count())]
    return out
