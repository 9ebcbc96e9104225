"""The demo: cohort (site A), external cohort (site B) and the quick zoo, built when absent.

Why a background build: a newcomer's ``make run`` should show the dashboard in about a minute, not after the
zoo's half hour of training. ``make run`` builds the site-A cohort in the foreground (the cohort explorer
needs it), then starts ``python -m zoo demo`` as a separate process that builds site B and trains the zoo
while the dashboard already serves. That process:

* holds ``.build.lock`` (an ``flock``: the kernel drops it when the process dies, even by ``kill -9``), so two
  launches never build twice, and a dead builder is told apart from a running one;
* writes ``build_status.json`` atomically after every model: done models, the current one, each model's seconds
  (the reader turns them into an ETA: ``estimate_remaining_s``);
* resumes where it stopped when started again (the trainer keeps finished models);
* makes the zoo visible only when its manifest is written, last, so no page ever sees a half-written zoo.
"""
from __future__ import annotations

import fcntl
import json
import math
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
    """Write-then-rename through a fresh temporary file (mkstemp: never an existing file or a symlink)."""
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(doc, indent=2, sort_keys=True))
        os.chmod(tmp, 0o644 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _open_nofollow(path: Path, flags: int) -> int:
    """Open a build file without following a symlink planted in its place."""
    return os.open(path, flags | os.O_NOFOLLOW, 0o644)


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
            self.set(current=event.get("model"), current_started=time.time())
        elif stage == "model_done":
            secs = dict(self.doc.get("model_seconds", {}))
            # a model kept from an earlier run took no time now; a failed one's time says nothing of a model's cost
            if not event.get("resumed") and not event.get("failed") and self._t_model:
                secs[event["model"]] = round(time.perf_counter() - self._t_model, 1)
            self._t_model = 0.0
            done = [m for m in self.doc.get("models_done", []) if m != event["model"]] + [event["model"]]
            # the last model done: the ensembles and evaluation run next, with no event until the zoo lands
            last = bool(self.doc.get("models")) and set(self.doc["models"]) <= set(done)
            self.set(models_done=done, model_seconds=secs, current=None, current_started=None,
                     evaluation_started=time.time() if last else None)


def _previous_status(root: Path) -> dict:
    try:
        doc = json.loads((Path(root) / STATUS).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict) or doc.get("state") == "done":
        return {}
    doc.pop("error", None)
    # the model a killed run was training is not in training now: until the resumed build starts one, no
    # start time may count it as nearly done
    doc.pop("current", None)
    doc.pop("current_started", None)
    doc.pop("evaluation_started", None)
    return doc


# Seconds of each model, and of the ensembles and evaluation after them, in a `quick` demo build on the 2-core
# build machine (2026-12-07 13:55-14:29 UTC, build_total 1943 s; docs/BENCHMARKS.md). The cell models take 2-6x an
# IFE model, so an average over the models finished so far cannot foresee them; these relative costs, scaled by how
# fast this machine ran the models already finished, can. A measured table: it goes stale when a recipe changes.
QUICK_MODEL_SECONDS = {
    "ife_alexnet": 76, "ife_vgg16_bn": 64, "ife_resnet18": 44, "ife_mobilenet_v2": 28, "ife_densenet121": 79,
    "marrow_cell_alexnet": 164, "marrow_cell_vgg16_bn": 313, "marrow_cell_resnet18": 198,
    "marrow_cell_mobilenet_v2": 151, "marrow_cell_densenet121": 423, "joint_fusion": 65,
    "clinical_lr": 2, "clinical_rf": 17, "clinical_knn": 2, "clinical_gb": 4, "clinical_adaboost": 5,
    "clinical_svm": 2, "clinical_xgb": 2, "clinical_dt": 1, "ref_iss": 0.3, "ref_riss": 0.3, "ref_r2iss": 0.3,
    "ref_imwg": 0.3,
}
# ensembles, metrics and the attention pass after the last model, six random networks per image model (232 s of it)
QUICK_EVALUATION_SECONDS = 292


def _kind(model: str) -> str:
    return next((k for k in ("ife_", "marrow_", "joint") if model.startswith(k)), "other")


def estimate_remaining_s(status: dict, now: float | None = None) -> float | None:
    """Seconds left, or None when nothing finished yet says how fast this build runs.

    A `quick` build whose models all have a reference time: the reference seconds of what is left (models, then
    the evaluation) times this build's pace so far (its finished models' seconds over their reference seconds).
    Otherwise each remaining model at the mean time of finished models of its kind (IFE, marrow, joint, other),
    None while a kind has none finished, so the page never shows an invented figure; 0 when no model is left.
    A failed model's seconds are not recorded (``_StatusWriter``), so a crash does not set the pace.
    The model in training (``current``, started at ``current_started``, epoch seconds) counts with what is left
    of its expected time, never below zero: the figure counts down between models, which take up to 8 minutes
    each, instead of standing still.
    """
    secs: dict = status.get("model_seconds", {})
    remaining = [m for m in status.get("models", []) if m not in set(status.get("models_done", []))]
    ref = QUICK_MODEL_SECONDS
    measured = [m for m in secs if m in ref and ref[m] >= 1]
    if status.get("profile") == "quick" and measured and all(m in ref for m in remaining):
        pace = sum(secs[m] for m in measured) / sum(ref[m] for m in measured)
        expected = {m: pace * ref[m] for m in remaining}
        evaluation = pace * QUICK_EVALUATION_SECONDS  # follows the models; counts down once they are all done
        if not remaining:
            evaluation -= _elapsed(status.get("evaluation_started"), now, evaluation)
        return _less_elapsed(status, expected, now) + evaluation
    expected = {}
    for m in remaining:
        same = [s for n, s in secs.items() if _kind(n) == _kind(m)]
        if not same:
            return None
        expected[m] = sum(same) / len(same)
    return _less_elapsed(status, expected, now)


def _less_elapsed(status: dict, expected: dict[str, float], now: float | None) -> float:
    """The expected seconds of the remaining models, the one in training counted only for what is left of it."""
    total = sum(expected.values())
    cur = status.get("current")
    return total - _elapsed(status.get("current_started"), now, expected[cur]) if cur in expected else total


def _elapsed(started, now: float | None, cap: float) -> float:
    """Seconds since ``started`` (a status-file start time), between 0 and ``cap``; 0 when it is not a number."""
    started = _epoch(started)
    if started is None:
        return 0.0
    return min(max((time.time() if now is None else now) - started, 0.0), cap)


def _epoch(value, recent: bool = False) -> float | None:
    """A start time from the status file, or None when it is not a finite number (``recent``: nor after this
    machine's clock plus a minute, nor before 1970)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and recent:
        ok = 0 < value <= time.time() + 60
    return float(value) if ok else None


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
    """The builder's lock on ``root/.build.lock``: held for the whole build by exactly one process.

    A POSIX record lock (``lockf``), so that others can *test* it (``F_GETLK``) without taking it: a status
    reader never looks like a builder. The kernel drops it when the process dies, even by ``kill -9``.
    POSIX locks also drop when the holder closes *any* descriptor of the file, so the builder never opens
    the lock file a second time.
    """

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / LOCK
        self._fd: int | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = _open_nofollow(self.path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.lockf(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def holder(self) -> int | None:
        """The pid holding the lock, or None; asks the kernel (F_GETLK) without taking the lock."""
        import struct

        try:
            fd = _open_nofollow(self.path, os.O_RDONLY)
        except OSError:
            return None
        try:
            # struct flock on Linux: short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid
            query = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
            l_type, _, _, _, pid = struct.unpack("hhqqi4x", fcntl.fcntl(fd, fcntl.F_GETLK, query))
        finally:
            os.close(fd)
        return None if l_type == fcntl.F_UNLCK else int(pid)


def builder_running(root: Path) -> bool:
    """True while some process holds the build lock (a crashed builder holds nothing)."""
    return BuildLock(root).holder() is not None


def build_locked(root: Path = Path("data/demo"), profile: str = "quick", quiet: bool = False, **size) -> int:
    """``python -m zoo demo``: build under the lock; returns 0, or 3 when another process is building."""
    lock = BuildLock(root)
    if not lock.acquire():
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
    log = os.fdopen(_open_nofollow(root / LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND), "ab")
    extra = ["--n", str(n), "--external-n", str(external_n)] + (["--models", *models] if models else [])
    proc = subprocess.Popen([sys.executable, "-m", "zoo", "demo", "--root", str(root), "--profile", profile,
                             "--quiet", *extra], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    log.close()
    return proc.pid


_NAME_OK = set("abcdefghijklmnopqrstuvwxyz0123456789_")


def _names(value) -> list[str]:
    """Model names from the status file, kept only when they look like registry names."""
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, str) and 0 < len(v) <= 64 and set(v) <= _NAME_OK]


def build_status(root: Path = Path("data/demo")) -> dict | None:
    """What the sidebar shows while the zoo is missing: the status file, checked field by field, plus
    whether a builder is alive. Anything malformed is dropped rather than shown or trusted."""
    path = Path(root) / STATUS
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict):
        return None
    models = _names(raw.get("models"))
    done = [m for m in dict.fromkeys(_names(raw.get("models_done"))) if m in models]
    secs = raw.get("model_seconds") if isinstance(raw.get("model_seconds"), dict) else {}
    secs = {k: float(v) for k, v in secs.items() if k in models and isinstance(v, (int, float)) and 0 <= v < 1e6}
    current = _names([raw.get("current")])
    # a start time from the future or from before this machine's clock could say anything: dropped
    started = _epoch(raw.get("current_started"), recent=True) if current else None
    evaluating = _epoch(raw.get("evaluation_started"), recent=True)
    state = raw.get("state") if raw.get("state") in ("external cohort", "training", "done", "failed") else None
    from zoo.training.profiles import PROFILES

    profile = raw.get("profile") if isinstance(raw.get("profile"), str) and raw["profile"] in PROFILES else None
    doc = {"state": state, "models": models, "models_done": done, "model_seconds": secs, "profile": profile,
           "current": current[0] if current else None, "current_started": started,
           "evaluation_started": evaluating if models and set(models) <= set(done) else None,
           "error": str(raw.get("error", ""))[:500] if state == "failed" else None,
           "running": builder_running(root)}
    doc["eta_s"] = estimate_remaining_s(doc) if state == "training" else None
    return doc
