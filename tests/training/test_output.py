"""Safe training output: --overwrite replaces only a zoo or run, only once the new zoo is complete; a lock
stops two trainings on one output; kill -9 then resume gives the same files as an uninterrupted run."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from zoo.api import Zoo
from zoo.errors import ZooIntegrityError
from zoo.training.output import OutputLock, TrainingLocked, is_run, is_zoo, staging_dir
from zoo.training.trainer import Interrupted, train_zoo

ROOT = Path(__file__).resolve().parents[2]
FAST = ["clinical_lr", "clinical_dt"]


def _snapshot(d: Path) -> dict:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_overwrite_refuses_a_folder_that_is_not_a_zoo_and_leaves_it_intact(tiny_cohort_dir, tmp_path):
    precious = tmp_path / "thesis"
    (precious / "chapters").mkdir(parents=True)
    (precious / "chapters" / "one.tex").write_text("years of work")
    (precious / "manifest.json").write_text('{"not": "a zoo"}')  # a manifest alone does not make a zoo
    before = _snapshot(precious)
    with pytest.raises(ZooIntegrityError, match="Refusing to overwrite thesis: expected a MyeloZoo zoo"):
        train_zoo(tiny_cohort_dir, precious, profile="test", models=FAST, overwrite=True, show_bars=False)
    assert _snapshot(precious) == before
    assert not staging_dir(precious).exists()


def test_without_overwrite_a_foreign_non_empty_folder_is_refused(tiny_cohort_dir, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("x")
    with pytest.raises(ZooIntegrityError, match="expected an empty folder, a zoo or an interrupted run"):
        train_zoo(tiny_cohort_dir, other, profile="test", models=FAST, show_bars=False)
    assert _snapshot(other) == {"notes.txt": b"x"}


def test_overwrite_keeps_the_old_zoo_until_the_new_one_is_complete(tiny_cohort_dir, tmp_path):
    out = tmp_path / "zoo"
    train_zoo(tiny_cohort_dir, out, profile="test", models=FAST, show_bars=False)
    assert is_zoo(out)
    (out / "reviews.sqlite").write_bytes(b"legacy notes kept inside an old zoo")
    before = _snapshot(out)
    with pytest.raises(Interrupted):  # a crash part-way through the new training
        train_zoo(tiny_cohort_dir, out, profile="test", models=FAST, seed=5, overwrite=True, stop_after=1,
                  show_bars=False)
    assert _snapshot(out) == before, "the old zoo is untouched while the new one trains"
    assert Zoo.load(out).model_names == FAST
    assert is_run(staging_dir(out))
    train_zoo(tiny_cohort_dir, out, profile="test", models=FAST, seed=5, overwrite=True, show_bars=False)
    assert Zoo.load(out).manifest["seed"] == 5
    assert not staging_dir(out).exists() and not (tmp_path / ".zoo.old").exists()
    assert (out / "reviews.sqlite").read_bytes() == b"legacy notes kept inside an old zoo", "notes never touched"


def test_a_lock_stops_two_trainings_writing_one_output(tiny_cohort_dir, tmp_path):
    out = tmp_path / "zoo"
    with OutputLock(out):
        with pytest.raises(TrainingLocked, match="expected no other training writing this output. Got one running"):
            train_zoo(tiny_cohort_dir, out, profile="test", models=FAST, show_bars=False)
        with pytest.raises(TrainingLocked):
            train_zoo(tiny_cohort_dir, out, profile="test", models=FAST, overwrite=True, show_bars=False)
    assert not out.exists()
    train_zoo(tiny_cohort_dir, out, profile="test", models=FAST, show_bars=False)  # free again
    assert is_zoo(out)


def test_the_lock_is_held_across_processes(tmp_path):
    out = tmp_path / "zoo"
    code = (f"import sys, time; sys.path.insert(0, {str(ROOT)!r}); from zoo.training.output import OutputLock; "
            f"l = OutputLock(__import__('pathlib').Path({str(out)!r})).__enter__(); print('held', flush=True); "
            "time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(TrainingLocked):
            OutputLock(out).__enter__()
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # kill -9 releases the lock: no stale lock file blocks the next run
        proc.wait()
    with OutputLock(out):
        pass


KILL_MODELS = ["clinical_lr", "ife_alexnet", "clinical_dt"]


def _train_cmd(cohort: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "zoo", "train", "--cohort", str(cohort), "--profile", "test", "--out", str(out),
            "--models", *KILL_MODELS, "--seed", "3", "--quiet"]


@pytest.mark.slow
def test_kill_9_during_train_then_resume_matches_an_uninterrupted_run(tiny_cohort_dir, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_train_cmd(tiny_cohort_dir, killed), cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (killed / "models" / "clinical_lr" / "DONE.json").is_file():  # first model committed ...
        assert proc.poll() is None and time.time() < deadline, "training ended before it could be killed"
        time.sleep(0.05)
    time.sleep(1.0)  # ... and the CNN is part-way through its epochs
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "manifest.json").exists()
    subprocess.run(_train_cmd(tiny_cohort_dir, killed), cwd=ROOT, env=env, check=True, capture_output=True)
    straight = tmp_path / "straight"
    subprocess.run(_train_cmd(tiny_cohort_dir, straight), cwd=ROOT, env=env, check=True, capture_output=True)
    a = json.loads((killed / "manifest.json").read_text())["files"]
    b = json.loads((straight / "manifest.json").read_text())["files"]
    assert a == b, {k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)}
    Zoo.load(killed, verify="all")
