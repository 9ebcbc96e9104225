"""Load test (issue 12, item 7): N browser sessions on the Patient predictor while reviewers save notes.

    python benchmarks/load.py                                  # 20 predictor sessions, 2 reviewers x 50 notes
    python benchmarks/load.py --sessions 3 --reviewers 2 --notes 5 --json out.json
    MYELOZOO_COHORT=DIR MYELOZOO_ZOO=DIR python benchmarks/load.py   # on a given cohort and zoo

Without MYELOZOO_COHORT/MYELOZOO_ZOO (or --cohort/--zoo) it builds the test suite's tiny data (80 patients,
64-px images, ``test`` profile zoo) in --work, once, and reuses it.

One dashboard (`streamlit run dashboard/app.py` on 127.0.0.1, local mode, a fresh state folder), one headless
chromium, one browser context per person. First one visitor alone warms the server up (the predictor once, the
Failure-cases page once; timed and reported as ``warm_up_s``; --cold skips it). Then, all at once:

* each predictor session opens /predictor, types an age into the form, presses **Predict** and waits for the
  main-ensemble probability; after --think seconds it repeats with another age, until every reviewer is done
  (at least once);
* each reviewer opens /failure_cases and saves ``--notes`` notes through the form (``--notes-via ui``, the
  default), waiting for each save to commit before typing the next; or ``--notes-via store`` writes them with
  ``zoo.reviews.ReviewStore`` from threads while the browsers load the predictor.

An error is an uncaught page exception, a Streamlit exception box, an error alert, a timeout, or a save that
asked to be retried (counted separately as ``busy``; the note is then saved again). At the end the notes in the
store are counted. Prints one JSON line; --json writes it to a file too.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.browser import CHROMIUM, CHROMIUM_ARGS, start_streamlit, wait_healthy  # noqa: E402

from zoo.reviews import CATEGORIES  # noqa: E402

PREDICT_DONE = "P(PD within 24 months), main ensemble"
ERROR_SELECTORS = ('[data-testid="stException"]', '[data-testid="stAlertContentError"]')


def tiny_data(work: Path) -> tuple[Path, Path]:
    """The test suite's tiny cohort and test-profile zoo, built once in ``work``."""
    from zoo.synth.cohort import generate_cohort
    from zoo.training.trainer import train_zoo

    cohort, site_b, zoo = work / "cohorts" / "tiny", work / "cohorts" / "tiny_site_b", work / "zoos" / "test_zoo"
    if not (cohort / "clinical.csv").is_file():
        generate_cohort(cohort, n=80, seed=1, image_size=64, workers=1, show_bar=False, overwrite=True)
    if not (site_b / "clinical.csv").is_file():
        generate_cohort(site_b, n=40, seed=2, site="B", image_size=64, workers=1, show_bar=False, overwrite=True)
    if not (zoo / "manifest.json").is_file():
        train_zoo(cohort, zoo, profile="test", external=site_b, show_bars=False)
    return cohort, zoo


class Tally:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.busy = 0
        self.predict_s: list[float] = []
        self.first_load_s: list[float] = []
        self.save_s: list[float] = []
        self.notes_saved_ui = 0

    def error(self, who: str, what: str) -> None:
        self.errors.append(f"{who}: {what}"[:1500])


async def _idle(pg, quiet_polls: int = 3, timeout_s: float = 300) -> None:
    """No running indicator and no spinner for a few polls in a row."""
    quiet, end = 0, time.perf_counter() + timeout_s
    while quiet < quiet_polls:
        if time.perf_counter() > end:
            raise TimeoutError("the page stayed busy")
        busy = (await pg.locator('[data-testid="stStatusWidget"]').count()
                + await pg.locator('[data-testid="stSpinner"]').count())
        quiet = quiet + 1 if busy == 0 else 0
        await asyncio.sleep(0.25)


async def _errors_on_page(pg) -> list[str]:
    out = []
    for sel in ERROR_SELECTORS:
        loc = pg.locator(sel)
        for i in range(await loc.count()):
            out.append((await loc.nth(i).inner_text())[:300])
    return out


async def predictor_session(browser, url: str, i: int, tally: Tally, done: asyncio.Event, timeout_ms: int,
                            think_s: float) -> int:
    who = f"predictor {i}"
    ctx = await browser.new_context(viewport={"width": 1400, "height": 1800})
    ctx.set_default_timeout(timeout_ms)
    pg = await ctx.new_page()
    pg.on("pageerror", lambda e: tally.error(who, f"page exception: {e}"))
    net = _watch_network(pg)
    rounds = 0
    try:
        t0 = time.perf_counter()
        await pg.goto(f"{url}/predictor", timeout=timeout_ms)
        await pg.get_by_role("heading", name="Patient predictor").first.wait_for(timeout=timeout_ms)
        await pg.get_by_role("button", name="Predict").wait_for(timeout=timeout_ms)
        await _idle(pg, timeout_s=timeout_ms / 1000)
        tally.first_load_s.append(time.perf_counter() - t0)
        age = pg.locator('input[aria-label="Age (years)"]').first  # the form's; the what-if panel may have one
        while True:
            value = str(40 + (7 * i + 3 * rounds) % 45)
            await age.fill(value)
            await age.press("Enter")
            await _idle(pg, timeout_s=timeout_ms / 1000)
            t1 = time.perf_counter()
            await pg.get_by_role("button", name="Predict").click()
            await pg.get_by_text(PREDICT_DONE).first.wait_for(timeout=timeout_ms)
            # the earlier result (marked out of date) is on the page until this prediction's rerun replaces it:
            # done when the mark is gone and the page is idle, an error when that takes longer than the timeout
            end = time.perf_counter() + timeout_ms / 1000
            while True:
                await _idle(pg, timeout_s=timeout_ms / 1000)
                if not await pg.get_by_text("Out of date").count():
                    break
                if time.perf_counter() > end:
                    raise AssertionError(f"the result stayed out of date {timeout_ms / 1000:.0f} s after Predict")
                await asyncio.sleep(0.25)
            tally.predict_s.append(time.perf_counter() - t1)
            rounds += 1
            for e in await _errors_on_page(pg):
                tally.error(who, e)
            if done.is_set():
                break
            await asyncio.sleep(think_s)  # a person reads the result before changing a value
    except Exception as e:  # noqa: BLE001 - every failure is a counted error, the run goes on
        tally.error(who, f"{type(e).__name__}: {e}" + net.summary())
        await _shot(pg, f"predictor{i}_error")
    finally:
        await ctx.close()
    return rounds


async def _export_count(pg) -> int:
    label = await pg.get_by_role("button", name="Export all reviews").first.inner_text()
    return int(label.rsplit(",", 1)[1].strip(" )\n"))


async def reviewer_session(browser, url: str, r: int, notes: int, tally: Tally, timeout_ms: int) -> None:
    who = f"reviewer {r}"
    ctx = await browser.new_context(viewport={"width": 1400, "height": 2200})
    ctx.set_default_timeout(timeout_ms)
    pg = await ctx.new_page()
    pg.on("pageerror", lambda e: tally.error(who, f"page exception: {e}"))
    net = _watch_network(pg)
    try:
        await pg.goto(f"{url}/failure_cases", timeout=timeout_ms)
        await pg.get_by_role("heading", name="Failure cases").first.wait_for(timeout=timeout_ms)
        await pg.get_by_role("button", name="Save review").wait_for(timeout=timeout_ms)
        await _idle(pg, timeout_s=timeout_ms / 1000)
        box = pg.get_by_label("Note")
        category = CATEGORIES[r % len(CATEGORIES)]
        k = 0
        while k < notes:
            chosen = pg.locator('[data-testid="stSelectbox"]').filter(has_text="Category")
            if category not in await chosen.inner_text():  # chosen once; it stays chosen after a save
                await chosen.click()
                await pg.get_by_role("option", name=category).click()
                await _idle(pg, quiet_polls=2, timeout_s=timeout_ms / 1000)
            before = await _export_count(pg)
            await box.fill(f"load test: reviewer {r}, note {k + 1} of {notes}")
            t0 = time.perf_counter()
            await pg.get_by_role("button", name="Save review").click()
            end = time.perf_counter() + timeout_ms / 1000
            while True:  # the save committed when the export count grew and the form was cleared
                await _idle(pg, quiet_polls=2, timeout_s=timeout_ms / 1000)
                if await pg.get_by_text("Retry.").count():
                    tally.busy += 1
                    break
                if await _export_count(pg) > before and await box.input_value() == "":
                    tally.save_s.append(time.perf_counter() - t0)
                    tally.notes_saved_ui += 1
                    k += 1
                    break
                if time.perf_counter() > end:
                    raise TimeoutError(f"note {k + 1} (saved at {t0 - net.t0:.0f} s) not confirmed")
            for e in await _errors_on_page(pg):
                tally.error(who, e)
    except Exception as e:  # noqa: BLE001
        tally.error(who, f"{type(e).__name__}: {e}" + net.summary())
        await _shot(pg, f"reviewer{r}_error")
    finally:
        await ctx.close()


class _Network(list):
    """Failed requests, requests still pending and console errors of one page. A component whose code never
    arrived (a lazily loaded chunk) leaves a grey placeholder that the server side cannot see. The page's usual
    noise (icons from a CDN that this offline machine cannot reach) is left out."""

    NOISE = ("24px.svg", "ERR_NAME_NOT_RESOLVED", "status of 404")

    def __init__(self, pg) -> None:
        super().__init__()
        self.pending: dict[object, tuple[str, float]] = {}
        pg.on("request", lambda r: self.pending.__setitem__(r, (r.url, time.perf_counter())))
        pg.on("requestfinished", lambda r: self.pending.pop(r, None))
        pg.on("requestfailed", self._failed)
        pg.on("console", lambda m: self._add(f"console {m.type}: {m.text[:160]}") if m.type == "error" else None)
        self.t0 = time.perf_counter()
        self.sockets: list[dict] = []  # the page's WebSockets: a dropped one loses the reruns sent while it was down
        pg.on("websocket", self._socket)

    def _socket(self, ws) -> None:
        rec = {"opened": time.perf_counter() - self.t0, "closed": None, "frames_in": 0, "last_in": None,
               "recent": []}
        self.sockets.append(rec)

        def _frame(payload) -> None:
            rec["frames_in"] += 1
            rec["last_in"] = time.perf_counter() - self.t0
            rec["recent"] = (rec["recent"] + [(rec["last_in"], payload)])[-6:]

        ws.on("framereceived", _frame)
        ws.on("close", lambda _ws: rec.__setitem__("closed", time.perf_counter() - self.t0))
        ws.on("socketerror", lambda err: self._add(f"websocket error: {err}"))

    def _add(self, text: str) -> None:
        if not any(n in text for n in self.NOISE):
            self.append(text)

    def _failed(self, r) -> None:
        self.pending.pop(r, None)
        self._add(f"request failed: {r.url.rsplit('/', 1)[-1]} ({r.failure})")

    @staticmethod
    def _socket_line(w: dict) -> str:
        closed = "open" if w["closed"] is None else f"closed at {w['closed']:.0f} s"
        return (f"opened at {w['opened']:.0f} s, {closed}, {w['frames_in']} frames in (last at {w['last_in'] or 0:.0f} s"
                f"; the last ones: {_describe_frames(w['recent'])})")

    def summary(self) -> str:
        now = time.perf_counter()
        stuck = [f"pending {now - t0:.0f} s: {u.rsplit('/', 1)[-1][:60]}" for u, t0 in self.pending.values()
                 if now - t0 > 30 and not u.startswith(("ws:", "wss:")) and "/_stcore/stream" not in u]
        parts = self[:6] + stuck[:6]
        if self.sockets:
            parts.append("websockets: " + ", ".join(self._socket_line(w) for w in self.sockets))
        return f" | browser side: {'; '.join(parts)}" if parts else " | browser side: no failed or pending request"


def _describe_frames(recent: list) -> str:
    """What the server last sent a page (Streamlit ForwardMsg types), to tell a finished run from a cut one."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    out = []
    for t, payload in recent:
        try:
            msg = ForwardMsg()
            msg.ParseFromString(payload if isinstance(payload, bytes) else payload.encode("latin-1"))
            kind = msg.WhichOneof("type")
            if kind == "script_finished":
                kind += f"({msg.script_finished})"
            elif kind == "session_status_changed":
                kind += f"(running={msg.session_status_changed.script_is_running})"
        except Exception as e:  # noqa: BLE001 - a diagnostic only
            kind = f"?{type(e).__name__}"
        out.append(f"{t:.0f} s {kind}")
    return ", ".join(out) or "none"


def _watch_network(pg) -> _Network:
    return _Network(pg)


async def _shot(pg, name: str) -> None:
    """A full-page screenshot in MYELOZOO_LOAD_SHOTS (when set), to see what a failed session showed."""
    folder = os.environ.get("MYELOZOO_LOAD_SHOTS")
    if folder:
        try:
            Path(folder).mkdir(parents=True, exist_ok=True)
            await pg.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True, timeout=60_000)
        except Exception:  # noqa: BLE001 - a diagnostic only
            pass


def store_writers(state: Path, zoo_name: str, reviewers: int, notes: int, tally: Tally,
                  interval_s: float = 2.0) -> list[threading.Thread]:
    """``--notes-via store``: each reviewer a thread saving through ReviewStore, as the page's callback does."""
    from zoo.reviews import ReviewStore, ReviewStoreBusy

    def run(r: int) -> None:
        store = ReviewStore.in_state(zoo_name, state=state)
        k = 0
        while k < notes:
            t0 = time.perf_counter()
            try:
                store.add("P0001", "test", CATEGORIES[k % len(CATEGORIES)], f"load test: reviewer {r}, note {k + 1}",
                          f"reviewer{r}@load.test")
            except ReviewStoreBusy:
                tally.busy += 1
                continue
            except Exception as e:  # noqa: BLE001
                tally.error(f"reviewer {r}", f"{type(e).__name__}: {e}")
                return
            tally.save_s.append(time.perf_counter() - t0)
            k += 1
            time.sleep(interval_s)  # spreads the saves over the browsers' load, as people would

    return [threading.Thread(target=run, args=(r,), daemon=True) for r in range(reviewers)]


async def drive(url: str, sessions: int, reviewers: int, notes: int, via: str, state: Path, zoo_name: str,
                tally: Tally, timeout_ms: int, think_s: float, warm_first: bool = True) -> dict:
    from playwright.async_api import async_playwright

    done = asyncio.Event()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        warm = await warm_up(browser, url, timeout_ms) if warm_first else {}
        t0 = time.perf_counter()
        preds = [asyncio.create_task(predictor_session(browser, url, i, tally, done, timeout_ms, think_s))
                 for i in range(sessions)]
        if via == "ui":
            revs = [asyncio.create_task(reviewer_session(browser, url, r, notes, tally, timeout_ms))
                    for r in range(reviewers)]
            await asyncio.gather(*revs)
        else:
            threads = store_writers(state, zoo_name, reviewers, notes, tally)
            for t in threads:
                t.start()
            while any(t.is_alive() for t in threads):
                await asyncio.sleep(0.2)
        notes_s = time.perf_counter() - t0
        done.set()
        rounds = await asyncio.gather(*preds)
        wall = time.perf_counter() - t0
        await browser.close()
    return {"rounds": rounds, "notes_s": notes_s, "wall_s": wall, "warm_up_s": warm}


async def warm_up(browser, url: str, timeout_ms: int) -> dict:
    """One visitor, no load: the predictor once, then the Failure-cases page until its form is drawn.

    A fresh server pays one-off costs on the first visit: loading the zoo, and the numba JIT compilation of
    shap's masked-model code (shap.utils._masked_model) before the first SHAP waterfall. Measured here, alone, so the load phase
    measures a server in its steady state. Without it (--cold), the first Failure-cases visit compiles while
    20 sessions load the predictor, and on 2 shared cores that took over 10 minutes.
    """
    ctx = await browser.new_context(viewport={"width": 1400, "height": 2200})
    ctx.set_default_timeout(timeout_ms)
    pg = await ctx.new_page()
    out = {}
    t0 = time.perf_counter()
    await pg.goto(f"{url}/predictor")
    await pg.get_by_role("button", name="Predict").wait_for()
    await _idle(pg, timeout_s=timeout_ms / 1000)
    await pg.get_by_role("button", name="Predict").click()
    await pg.get_by_text(PREDICT_DONE).first.wait_for()
    await _idle(pg, timeout_s=timeout_ms / 1000)
    out["predictor"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    await pg.goto(f"{url}/failure_cases")
    await pg.get_by_role("button", name="Save review").wait_for()
    await _idle(pg, timeout_s=timeout_ms / 1000)
    out["failure_cases"] = round(time.perf_counter() - t0, 1)
    await ctx.close()
    return out


def _q(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(q * (len(xs) - 1) + 0.5))], 2)


def run(sessions: int = 20, reviewers: int = 2, notes: int = 50, via: str = "ui", cohort: Path | None = None,
        zoo: Path | None = None, work: Path | None = None, timeout_s: float = 600, think_s: float = 5.0,
        warm_first: bool = True) -> dict:
    """Start the dashboard, drive the load, count errors and notes; returns the result dict."""
    from dashboard.datasets import load_catalog
    from zoo.reviews import ReviewStore

    if cohort is None or zoo is None:
        cohort, zoo = tiny_data(work or Path(tempfile.gettempdir()) / "myelozoo_load")
    state = Path(tempfile.mkdtemp(prefix="myelozoo_load_state_"))
    env = {k: v for k, v in os.environ.items()
           if k not in ("MYELOZOO_ALLOW_ANONYMOUS", "MYELOZOO_DATASETS", "MYELOZOO_EXTERNAL")}
    env.update(MYELOZOO_COHORT=str(cohort), MYELOZOO_ZOO=str(zoo), MYELOZOO_STATE=str(state))
    zoo_name = load_catalog(env).default_zoo
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t_start = time.perf_counter()
    proc = start_streamlit(port, env)
    url = f"http://127.0.0.1:{port}"
    out: list[bytes] = []
    reader = threading.Thread(target=lambda: out.extend(iter(proc.stdout.readline, b"")), daemon=True)
    reader.start()  # drain the pipe so a chatty server never blocks on it
    try:
        if not wait_healthy(url, timeout=120):
            raise RuntimeError("streamlit did not start: " + b"".join(out).decode(errors="replace")[-2000:])
        startup = time.perf_counter() - t_start
        nginx = _nginx_in_front(port) if os.environ.get("MYELOZOO_LOAD_NGINX") else None
        if nginx is not None:
            url = nginx[1]
        tally = Tally()
        timing = asyncio.run(drive(url, sessions, reviewers, notes, via, state, zoo_name, tally,
                                   int(timeout_s * 1000), think_s, warm_first))
    finally:
        if "nginx" in locals() and nginx is not None:
            nginx[0].terminate()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except Exception:  # noqa: BLE001
            proc.kill()
    if os.environ.get("MYELOZOO_LOAD_SERVER_LOG"):  # the server's own output, e.g. stack dumps (kill -USR1)
        Path(os.environ["MYELOZOO_LOAD_SERVER_LOG"]).write_bytes(b"".join(out))
    df = ReviewStore.in_state(zoo_name, state=state).all()
    server_tracebacks = b"".join(out).decode(errors="replace").count("Traceback")
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": f"{os.cpu_count()} CPU cores, {platform.machine()}, Python {platform.python_version()}",
        "sessions": sessions, "reviewers": reviewers, "notes_each": notes, "notes_via": via, "think_s": think_s,
        "errors": len(tally.errors) + server_tracebacks, "error_samples": tally.errors[:10],
        "server_tracebacks": server_tracebacks, "busy_retries": tally.busy,
        "notes_in_store": len(df), "notes_expected": reviewers * notes,
        "distinct_notes": int(df["note"].nunique()) if len(df) else 0,
        "predictions": sum(timing["rounds"]), "sessions_that_predicted": sum(1 for r in timing["rounds"] if r),
        "warm_up_s": timing["warm_up_s"], "startup_s": round(startup, 1), "wall_s": round(timing["wall_s"], 1), "notes_phase_s": round(timing["notes_s"], 1),
        "first_load_s": {"median": _q(tally.first_load_s, .5), "p95": _q(tally.first_load_s, .95),
                         "max": _q(tally.first_load_s, 1)},
        "predict_s": {"median": _q(tally.predict_s, .5), "p95": _q(tally.predict_s, .95),
                      "max": _q(tally.predict_s, 1)},
        "save_s": {"median": _q(tally.save_s, .5), "p95": _q(tally.save_s, .95), "max": _q(tally.save_s, 1)},
    }


def _nginx_in_front(port: int):
    """MYELOZOO_LOAD_NGINX=1: nginx on another port proxies the app and serves Streamlit's static files itself,
    as docs/DEPLOY.md deploys it, so the Python process never queues its own JavaScript. (process, url)"""
    import shutil
    import socket
    import subprocess

    import streamlit

    exe = shutil.which("nginx") or "/usr/sbin/nginx"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        front = s.getsockname()[1]
    d = Path(tempfile.mkdtemp(prefix="myelozoo_nginx_"))
    static = Path(streamlit.__file__).parent / "static" / "static"
    (d / "logs").mkdir()
    (d / "nginx.conf").write_text(f"""
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
  include /etc/nginx/mime.types;
  access_log off;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
  server {{
    listen 127.0.0.1:{front};
    location /static/ {{ alias {static}/; expires 1h; }}
    location / {{
      proxy_pass http://127.0.0.1:{port};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_read_timeout 86400;
    }}
  }}
}}
""")
    proc = subprocess.Popen([exe, "-p", str(d), "-c", str(d / "nginx.conf")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{front}"
    if not wait_healthy(url, timeout=30):
        proc.kill()
        raise RuntimeError(f"nginx did not start; see {d}/logs/error.log")
    return proc, url


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=20, help="predictor browser sessions (default 20)")
    ap.add_argument("--reviewers", type=int, default=2)
    ap.add_argument("--notes", type=int, default=50, help="notes each reviewer saves (default 50)")
    ap.add_argument("--notes-via", choices=["ui", "store"], default="ui")
    ap.add_argument("--cohort", type=Path, default=os.environ.get("MYELOZOO_COHORT") or None)
    ap.add_argument("--zoo", type=Path, default=os.environ.get("MYELOZOO_ZOO") or None)
    ap.add_argument("--work", type=Path, default=None, help="where the tiny data is built (default: temp dir)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds any one wait may take")
    ap.add_argument("--think", type=float, default=5.0, help="seconds a predictor session pauses between rounds")
    ap.add_argument("--cold", action="store_true", help="no warm-up visit before the load (see warm_up)")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    res = run(a.sessions, a.reviewers, a.notes, a.notes_via, a.cohort, a.zoo, a.work, a.timeout, a.think, not a.cold)
    line = json.dumps(res)
    print(line)
    if a.json:
        a.json.write_text(line + "\n", encoding="utf-8")
    ok = res["errors"] == 0 and res["notes_in_store"] == res["notes_expected"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
