"""The demo: cohort (site A), external cohort (site B) and the quick zoo, built when absent.

Why a background build: a newcomer's ``make run`` should show the dashboard in about a minute, not after the
zoo's 10+ minutes of training. ``make run`` builds the site-A cohort in the foreground (the cohort explorer
needs it), then starts ``python -m zoo demo`` as a separate process that builds site B and trains the zoo
while the dashboard already serves. That process:

* holds ``.build.lock`` (an ``flock``: the kernel drops it when the process dies, even by ``kill -9``), so two
  launches never build twice, and a dead builder is told apart from a running one;
* writes ``build_status.json`` atomically after every model: done models, the current one, and a rough ETA;
* resumes where it stopped when started again (the trainer keeps finished models);
* makes the zoo visible only when its manifest is written, last, so no page ever sees a half-written zoo.
"""
from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

DEMO_N, DEMO_EXTERNAL_N, DEMO_SEED = 600, 300, 0
STATUS, LOCK, LOG = "build_status.json", ".build.lock", "build.log"


def demo_paths(root: Path) -> dict[str, Path]:
    return {"cohort": root / "cohort", "external": root / "cohort_site_b", "zoo": root / "zoo"}


def _write_json_atomic(path: Path, doc: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True))
    os.replace(tmp, path)


@dataclass
class _StatusWriter:
    """Collects the trainer's progress events into ``build_status.json`` (one write per finished model)."""

    path: Path
    doc: dict = field(default_factory=dict)
    _t_model: float = 0.0

    def set(self, **kw) -> None:
        self.doc.update(kw, updated=time.time(), pid=os.getpid())
        _write_json_atomic(self.path, self.doc)

    def __call__(self, event: dict) -> None:
        stage = event.get("stage")
        if stage == "model_start":
            self._t_model = time.perf_counter()
            self.set(current=event.get("model"))
        elif stage == "model_done":
            secs = dict(self.doc.get("model_seconds", {}))
            secs[event["model"]] = round(time.perf_counter() - self._t_model, 1)
            done = [m for m in self.doc.get("models_done", []) if m != event["model"]] + [event["model"]]
            self.set(models_done=done, model_seconds=secs, current=None)


def _previous_status(root: Path) -> dict:
    try:
        doc = json.loads((Path(root) / STATUS).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict) or doc.get("state") == "done":
        return {}
    doc.pop("error", None)
    return doc


def estimate_remaining_s(status: dict) -> float | None:
    """Seconds left: each remaining model at the mean time of finished models of its kind (image or not).

    Rough by design (image models dominate and differ by architecture); None until a model of that kind has
    finished, so the page never shows an invented figure.
    """
    secs: dict = status.get("model_seconds", {})
    remaining = [m for m in status.get("models", []) if m not in set(status.get("models_done", []))]
    if not remaining:
        return 0.0

    def is_image(m: str) -> bool:
        return m.startswith(("marrow_", "ife_"))

    total = 0.0
    for m in remaining:
        same = [s for n, s in secs.items() if is_image(n) == is_image(m)]
        if not same:
            return None
        total += sum(same) / len(same)
    return total


def ensure_demo(root: Path = Path("data/demo"), profile: str = "quick", quiet: bool = False,
                cohort_only: bool = False, n: int = DEMO_N, external_n: int = DEMO_EXTERNAL_N,
                models: list[str] | None = None) -> dict[str, Path]:
    """Build whatever of the demo is missing, in order: site-A cohort, site-B cohort, zoo (resumable).

    ``n``, ``external_n`` and ``models`` exist for small trial builds (the tests); the demo uses the defaults.
    """
    from zoo.synth.cohort import generate_cohort
    from zoo.training.trainer import train_zoo

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    p = demo_paths(root)
    if not (p["cohort"] / "clinical.csv").is_file():
        print(f"Building the synthetic demo cohort ({n} patients) in {p['cohort']} ...", flush=True)
        generate_cohort(p["cohort"], n=n, seed=DEMO_SEED, site="A", overwrite=True, show_bar=not quiet)
    if cohort_only:
        return p
    status = _StatusWriter(root / STATUS, _previous_status(root))  # a resumed build keeps what was done
    if not (p["external"] / "clinical.csv").is_file():
        status.set(state="external cohort", started=status.doc.get("started", time.time()))
        print(f"Building the external-site cohort ({external_n} patients, site B) in {p['external']} ...",
              flush=True)
        generate_cohort(p["external"], n=external_n, seed=DEMO_SEED + 1, site="B", overwrite=True,
                        show_bar=not quiet)
    if not (p["zoo"] / "manifest.json").is_file():
        from zoo.models.registry import list_models

        names = models or list_models(default_only=True, profile=profile)
        status.set(state="training", profile=profile, models=names, started=status.doc.get("started", time.time()))
        print(f"Training the {profile} zoo in {p['zoo']} (resumes if interrupted) ...", flush=True)
        try:
            train_zoo(p["cohort"], p["zoo"], profile=profile, external=p["external"], show_bars=not quiet,
                      progress=status, models=models)
        except BaseException as e:
            status.set(state="failed", error=f"{type(e).__name__}: {e}"[:500])
            raise
    status.set(state="done", current=None)
    print(f"Demo ready: cohort {p['cohort']}, zoo {p['zoo']}", flush=True)
    return p


class BuildLock:
    """The builder's ``flock`` on ``root/.build.lock``: held for the whole build by exactly one process."""

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / LOCK
        self._fd: int | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def builder_running(root: Path) -> bool:
    """True while some process holds the build lock (a crashed builder holds nothing)."""
    lock = BuildLock(root)
    if not lock.path.exists():
        return False
    if lock.acquire():
        lock.release()
        return False
    return True


def build_locked(root: Path = Path("data/demo"), profile: str = "quick", quiet: bool = False, **size) -> int:
    """``python -m zoo demo``: build under the lock; returns 0, or 3 when another process is building."""
    lock = BuildLock(root)
    # a status reader (the sidebar) tests liveness by taking the lock for an instant: retry briefly
    for _ in range(10):
        if lock.acquire():
            break
        time.sleep(0.2)
    else:
        print(f"Another process is already building the demo in {root}; nothing to do.", flush=True)
        return 3
    try:
        ensure_demo(root, profile=profile, quiet=quiet, **size)
    finally:
        lock.release()
    return 0


def start_background_build(root: Path = Path("data/demo"), profile: str = "quick", n: int = DEMO_N,
                           external_n: int = DEMO_EXTERNAL_N, models: list[str] | None = None) -> int | None:
    """Start the rest of the demo build as a detached process; its pid, or None when nothing is to be done."""
    root = Path(root)
    if (demo_paths(root)["zoo"] / "manifest.json").is_file() or builder_running(root):
        return None
    root.mkdir(parents=True, exist_ok=True)
    log = open(root / LOG, "ab")
    extra = ["--n", str(n), "--external-n", str(external_n)] + (["--models", *models] if models else [])
    proc = subprocess.Popen([sys.executable, "-m", "zoo", "demo", "--root", str(root), "--profile", profile,
                             "--quiet", *extra], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    log.close()
    return proc.pid


def build_status(root: Path = Path("data/demo")) -> dict | None:
    """What the sidebar shows while the zoo is missing: the status file plus whether a builder is alive."""
    path = Path(root) / STATUS
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    doc["running"] = builder_running(root)
    doc["eta_s"] = estimate_remaining_s(doc) if doc.get("state") == "training" else None
    return doc
