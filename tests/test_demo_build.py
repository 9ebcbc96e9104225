"""The demo builds in the background: one builder at a time, status for the sidebar, resumable after kill -9."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import wait_until
from zoo.demo import (STATUS, BuildLock, build_status, builder_running, demo_paths, estimate_remaining_s,
                      start_background_build)

ROOT = Path(__file__).resolve().parents[1]


def test_eta_uses_finished_models_of_the_same_kind_and_never_invents_one():
    """Without reference times (not a quick build): each remaining model at the mean of its kind's finished ones;
    no figure while a kind (IFE, marrow, joint, other) has none finished."""
    status = {"models": ["marrow_cell_resnet18", "marrow_cell_vgg16_bn", "ife_resnet18", "ife_alexnet",
                         "clinical_lr", "clinical_rf"],
              "models_done": ["marrow_cell_resnet18", "ife_resnet18", "clinical_lr"],
              "model_seconds": {"marrow_cell_resnet18": 100.0, "ife_resnet18": 50.0, "clinical_lr": 4.0}}
    assert estimate_remaining_s(status) == pytest.approx(154.0)
    assert estimate_remaining_s({**status, "profile": "test"}) == pytest.approx(154.0)
    # an IFE model's time says nothing of a cell model's (3-6x longer on the demo): no figure yet
    only_ife = {**status, "models_done": ["ife_resnet18"], "model_seconds": {"ife_resnet18": 50.0}}
    assert estimate_remaining_s(only_ife) is None
    assert estimate_remaining_s({**status, "models": [*status["models"], "joint_fusion"]}) is None
    assert estimate_remaining_s({**status, "models_done": status["models"]}) == 0.0


def test_a_quick_build_scales_each_models_reference_time_by_its_own_pace():
    """The demo's quick build: the reference seconds of what is left, times how much slower (or faster) this
    machine ran the finished models — so the first IFE model already foresees the long cell models."""
    from zoo.demo import QUICK_EVALUATION_SECONDS, QUICK_MODEL_SECONDS as REF

    models = list(REF)
    done = ["ife_alexnet", "ife_vgg16_bn"]
    secs = {"ife_alexnet": 2.0 * REF["ife_alexnet"], "ife_vgg16_bn": 3.0 * REF["ife_vgg16_bn"]}
    status = {"models": models, "models_done": done, "profile": "quick", "model_seconds": secs}
    pace = sum(secs.values()) / (REF["ife_alexnet"] + REF["ife_vgg16_bn"])  # time over reference time, pooled
    left = sum(REF[m] for m in models if m not in done) + QUICK_EVALUATION_SECONDS
    assert estimate_remaining_s(status) == pytest.approx(pace * left)
    # every model done, the evaluation still running: its share is left, not nothing
    all_done = {**status, "models_done": models, "model_seconds": {m: 2.0 * REF[m] for m in models}}
    assert estimate_remaining_s(all_done) == pytest.approx(2.0 * QUICK_EVALUATION_SECONDS)
    assert estimate_remaining_s(status) > pace * 5 * REF["ife_alexnet"], "the cell models are foreseen, not averaged"
    # a model the table does not know (a new registry entry): back to the per-kind estimate, not a guess
    unknown = {**status, "models": [*models, "marrow_cell_resnet50"]}
    assert estimate_remaining_s(unknown) is None
    # the staging models' near-zero references do not set the pace
    staged = {**status, "models_done": ["ref_iss"], "model_seconds": {"ref_iss": 5.0}}
    assert estimate_remaining_s(staged) is None


def test_the_eta_counts_down_through_the_model_in_training_and_never_below_what_follows_it(tmp_path):
    from zoo.demo import QUICK_EVALUATION_SECONDS, QUICK_MODEL_SECONDS as REF

    models = list(REF)
    done = ["ife_alexnet"]
    status = {"models": models, "models_done": done, "profile": "quick",
              "model_seconds": {"ife_alexnet": 2.0 * REF["ife_alexnet"]}, "current": "marrow_cell_densenet121"}
    full = 2.0 * (sum(REF[m] for m in models if m not in done) + QUICK_EVALUATION_SECONDS)
    assert estimate_remaining_s(status) == pytest.approx(full), "no start time: the model counts whole"
    t0 = 1_000_000.0
    running = {**status, "current_started": t0}
    assert estimate_remaining_s(running, now=t0 + 100) == pytest.approx(full - 100)
    # past its expected time (2 x 470 s here) the model counts as about to finish, not as negative time
    assert estimate_remaining_s(running, now=t0 + 5000) == pytest.approx(full - 2.0 * REF["marrow_cell_densenet121"])
    assert estimate_remaining_s(running, now=t0 - 50) == pytest.approx(full), "a clock step back: nothing subtracted"
    for bad in (float("nan"), True):
        assert estimate_remaining_s({**status, "current_started": bad}, now=t0) == pytest.approx(full)
    # a killed run's model in training is not carried into the resumed build's status
    from zoo.demo import _previous_status

    (tmp_path / STATUS).write_text(json.dumps({"state": "training", "models_done": done, "current": "ife_vgg16_bn",
                                               "current_started": t0}))
    prev = _previous_status(tmp_path)
    assert prev["models_done"] == done and "current" not in prev and "current_started" not in prev
    # every model done: the evaluation's share counts down too, from when the last model finished
    ended = {**status, "models_done": models, "current": None, "evaluation_started": t0}
    evaluation = 2.0 * QUICK_EVALUATION_SECONDS
    assert estimate_remaining_s({**ended, "evaluation_started": None}, now=t0 + 60) == pytest.approx(evaluation)
    assert estimate_remaining_s(ended, now=t0 + 60) == pytest.approx(evaluation - 60)
    assert estimate_remaining_s(ended, now=t0 + 10 * evaluation) == pytest.approx(0.0)
    # the per-kind estimate (no reference table) counts down the same way
    kinds = {"models": ["ife_a", "ife_b"], "models_done": ["ife_a"], "model_seconds": {"ife_a": 60.0},
             "current": "ife_b", "current_started": t0}
    assert estimate_remaining_s(kinds, now=t0 + 45) == pytest.approx(15.0)
    assert estimate_remaining_s(kinds, now=t0 + 90) == pytest.approx(0.0)
    # the status file carries the start; a start in the future, or not a number, is dropped
    import time as _time

    (tmp_path / STATUS).write_text(json.dumps({"state": "training", "models": models, "models_done": done,
                                               "current": "ife_vgg16_bn", "current_started": _time.time() - 30}))
    assert 0 < _time.time() - build_status(tmp_path)["current_started"] < 60
    for bad in (_time.time() + 3600, True, "yesterday"):
        (tmp_path / STATUS).write_text(json.dumps({"state": "training", "models": models, "current": "ife_vgg16_bn",
                                                   "current_started": bad}))
        assert build_status(tmp_path)["current_started"] is None, bad
    # the evaluation's start is passed on only once every model is done
    for done_now, expect in ((["ife_a"], True), ([], False)):
        (tmp_path / STATUS).write_text(json.dumps({"state": "training", "models": ["ife_a"], "models_done": done_now,
                                                   "evaluation_started": _time.time() - 5}))
        assert (build_status(tmp_path)["evaluation_started"] is not None) is expect


def test_a_failed_models_time_is_not_recorded_so_it_cannot_set_the_pace(tmp_path):
    from zoo.demo import _StatusWriter

    import time as _time

    w = _StatusWriter(tmp_path / STATUS)
    for name, info in (("ife_alexnet", {}), ("marrow_cell_alexnet", {"failed": True}),
                       ("marrow_cell_vgg16_bn", {"resumed": True})):
        w({"stage": "model_start", "model": name})
        started = json.loads((tmp_path / STATUS).read_text())
        assert started["current"] == name and abs(_time.time() - started["current_started"]) < 60
        w({"stage": "model_done", "model": name, **info})
        assert json.loads((tmp_path / STATUS).read_text())["current_started"] is None
    doc = json.loads((tmp_path / STATUS).read_text())
    assert doc["models_done"] == ["ife_alexnet", "marrow_cell_alexnet", "marrow_cell_vgg16_bn"]
    assert set(doc["model_seconds"]) == {"ife_alexnet"}
    assert doc.get("evaluation_started") is None, "models were left"
    # a builder that knows its model list marks when the last one finished: the evaluation's clock
    w.set(models=["ife_alexnet", "marrow_cell_alexnet", "marrow_cell_vgg16_bn", "ife_resnet18"])
    w({"stage": "model_start", "model": "ife_resnet18"})
    w({"stage": "model_done", "model": "ife_resnet18"})
    assert abs(_time.time() - json.loads((tmp_path / STATUS).read_text())["evaluation_started"]) < 60


def test_build_status_passes_the_profile_through_only_when_it_is_one(tmp_path):
    (tmp_path / STATUS).write_text(json.dumps({"state": "training", "profile": "quick", "models": ["ife_alexnet"],
                                               "models_done": [], "model_seconds": {}}))
    assert build_status(tmp_path)["profile"] == "quick"
    (tmp_path / STATUS).write_text(json.dumps({"state": "training", "profile": "<b>x</b>", "models": []}))
    assert build_status(tmp_path)["profile"] is None


def _hold_lock(root: Path) -> subprocess.Popen:
    code = ("import sys, time; from zoo.demo import BuildLock; l = BuildLock(sys.argv[1]); "
            "assert l.acquire(); print('held', flush=True); time.sleep(600)")
    p = subprocess.Popen([sys.executable, "-c", code, str(root)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    return p


def test_a_killed_builder_holds_no_lock(tmp_path):
    p = _hold_lock(tmp_path)
    try:
        assert builder_running(tmp_path)
        assert not BuildLock(tmp_path).acquire(), "a second builder is refused while the first runs"
        assert start_background_build(tmp_path) is None, "nothing is started while a builder runs"
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(10)
    assert not builder_running(tmp_path), "the kernel drops the lock of a process killed by -9"


@pytest.mark.slow
def test_background_build_after_kill_9_resumes_and_reports_every_model(tmp_path):
    size = {"profile": "test", "n": 60, "external_n": 30, "models": ["clinical_lr", "clinical_dt", "ref_iss"]}
    pid = start_background_build(tmp_path, **size)
    assert pid is not None
    assert wait_until(lambda: builder_running(tmp_path), 30), "the builder takes its lock"
    assert start_background_build(tmp_path, **size) is None, "a second launch does not start a second builder"
    # kill it during training, after its first model: the status says it is not running any more
    assert wait_until(lambda: len((build_status(tmp_path) or {}).get("models_done", [])) >= 1, 300), \
        (tmp_path / "build.log").read_text()[-3000:]
    os.kill(pid, signal.SIGKILL)
    first = build_status(tmp_path)["models_done"]
    assert wait_until(lambda: not builder_running(tmp_path), 10)
    assert not (demo_paths(tmp_path)["zoo"] / "manifest.json").is_file()

    pid2 = start_background_build(tmp_path, **size)  # what the next `make run` does
    assert pid2 is not None and pid2 != pid
    manifest = demo_paths(tmp_path)["zoo"] / "manifest.json"
    assert wait_until(lambda: manifest.is_file() and not builder_running(tmp_path), 600), \
        (tmp_path / "build.log").read_text()[-3000:]
    status = build_status(tmp_path)
    assert status["state"] == "done" and status["running"] is False
    assert status["models_done"][:len(first)] == first, "the resumed build keeps what the killed one finished"
    assert sorted(status["models_done"]) == sorted(size["models"])
    assert set(status["model_seconds"]) == set(size["models"])
    doc = json.loads(manifest.read_text())
    assert set(size["models"]) <= set(doc["models"])
    assert start_background_build(tmp_path, **size) is None, "a finished demo starts nothing"


def test_a_malformed_or_hostile_status_file_is_dropped_not_shown(tmp_path):
    (tmp_path / STATUS).write_text(json.dumps({
        "state": "training", "models": ["clinical_lr", "x`](https://evil.example)", 5],
        "models_done": ["clinical_lr", "clinical_lr", "ife_resnet18"], "model_seconds": {"clinical_lr": "slow"},
        "current": "a`![x](https://evil.example/p.png)"}))
    st = build_status(tmp_path)
    assert st["models"] == ["clinical_lr"] and st["models_done"] == ["clinical_lr"]
    assert st["current"] is None and st["model_seconds"] == {} and st["running"] is False
    (tmp_path / STATUS).write_text(json.dumps({"models_done": 5, "models": "all"}))
    assert build_status(tmp_path)["models"] == [] and build_status(tmp_path)["state"] is None
    (tmp_path / STATUS).write_text("[1, 2]")
    assert build_status(tmp_path) is None


def test_build_files_are_not_followed_through_symlinks(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    root = tmp_path / "demo"
    root.mkdir()
    (root / ".build.lock").symlink_to(victim)
    with pytest.raises(OSError):
        BuildLock(root).acquire()
    assert victim.read_text() == "keep me"


def test_status_times_only_models_trained_in_this_run(tmp_path):
    from zoo.demo import _StatusWriter

    w = _StatusWriter(tmp_path / STATUS, {"models": ["marrow_resnet18", "clinical_lr"]})
    w({"stage": "model_done", "model": "marrow_resnet18", "resumed": True})  # kept from a killed run
    w({"stage": "model_start", "model": "clinical_lr", "total": 1})
    w({"stage": "model_done", "model": "clinical_lr"})
    doc = json.loads((tmp_path / STATUS).read_text())
    assert doc["models_done"] == ["marrow_resnet18", "clinical_lr"]
    assert set(doc["model_seconds"]) == {"clinical_lr"} and doc["model_seconds"]["clinical_lr"] < 60
