"""The launcher refuses an unsafe setup before anything listens; compute slots bound concurrent model work."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dashboard.throttle import ComputeSlots, slots_from_env
from tests.dashboard.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def _launch(tmp_path: Path, *args: str, config: str | None = None, secrets: str | None = None,
            env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    (tmp_path / ".streamlit").mkdir(exist_ok=True)
    if config is not None:
        (tmp_path / ".streamlit" / "config.toml").write_text(config)
    if secrets is not None:
        (tmp_path / ".streamlit" / "secrets.toml").write_text(secrets)
    e = {k: v for k, v in os.environ.items() if not k.startswith(("STREAMLIT_", "MYELOZOO_ALLOW"))}
    e.update({"PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}, **(env or {}))
    return subprocess.run([sys.executable, "-m", "dashboard", *args], cwd=tmp_path, env=e, capture_output=True,
                          text=True, timeout=timeout)


AUTH = '[auth]\nredirect_uri = "https://x.example/oauth2callback"\ncookie_secret = "s"\nclient_id = "c"\n' \
       'client_secret = "d"\nserver_metadata_url = "https://idp.example/.well-known/openid-configuration"\n'


@pytest.mark.parametrize("how", ["config", "env", "flag", "flag="])
def test_launcher_refuses_a_network_address_without_sign_in(tmp_path, how):
    config = '[server]\naddress = "0.0.0.0"\n' if how == "config" else '[server]\naddress = "localhost"\n'
    env = {"STREAMLIT_SERVER_ADDRESS": "0.0.0.0"} if how == "env" else {}
    args = {"flag": ["--server.address", "0.0.0.0"], "flag=": ["--server.address=0.0.0.0"]}.get(how, [])
    r = _launch(tmp_path, "--check", *args, config=config, env=env)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "refuses to serve on 0.0.0.0 without sign-in" in r.stderr and "did not start" in r.stderr
    assert "MYELOZOO_ALLOW_ANONYMOUS=1" in r.stderr


@pytest.mark.parametrize("args", [
    ["--server.address", "0.0.0.0", "--", "--server.address=localhost"],          # after '--': script arguments
    ["--server.address", "0.0.0.0", "--browser.serverAddress", "--server.address=localhost"],  # eaten as a value
], ids=["separator", "flag_as_value"])
def test_launcher_sees_the_address_streamlit_will_bind(tmp_path, args):
    r = _launch(tmp_path, "--check", *args, config='[server]\naddress = "localhost"\n')
    assert r.returncode == 2, r.stdout + r.stderr
    assert "did not start" in r.stderr


def test_launcher_reads_the_secrets_files_streamlit_will_read(tmp_path):
    # [auth] in the project's secrets.toml does not count when STREAMLIT_SECRETS_FILES points elsewhere
    other = tmp_path / "other.toml"
    other.write_text("[access]\nviewers = []\n")
    r = _launch(tmp_path, "--check", config='[server]\naddress = "0.0.0.0"\n', secrets=AUTH,
                env={"STREAMLIT_SECRETS_FILES": str(other)})
    assert r.returncode == 2 and "without sign-in" in r.stderr
    assert _launch(tmp_path, "--check", config='[server]\naddress = "0.0.0.0"\n', secrets=AUTH,
                   env={"STREAMLIT_SERVER_ADDRESS": "127.0.0.1"}).returncode == 0


def test_launcher_refuses_a_bad_compute_slot_setting(tmp_path):
    r = _launch(tmp_path, "--check", config='[server]\naddress = "localhost"\n',
                env={"MYELOZOO_COMPUTE_SLOTS": "zero"})
    assert r.returncode == 2 and "MYELOZOO_COMPUTE_SLOTS" in r.stderr
    r = _launch(tmp_path, "--check", config='[server]\naddress = "localhost"\n',
                env={"MYELOZOO_MAX_QUEUED_PER_USER": "-1"})
    assert r.returncode == 2 and "MYELOZOO_MAX_QUEUED_PER_USER" in r.stderr


def test_launcher_allows_loopback_auth_or_an_explicit_anonymous_opt_in(tmp_path):
    assert _launch(tmp_path, "--check", config='[server]\naddress = "127.0.0.1"\n').returncode == 0
    # a flag beats the config file, as in Streamlit
    assert _launch(tmp_path, "--check", "--server.address", "localhost",
                   config='[server]\naddress = "0.0.0.0"\n').returncode == 0
    assert _launch(tmp_path, "--check", config='[server]\naddress = "0.0.0.0"\n', secrets=AUTH).returncode == 0
    bare = tmp_path / "no_secrets"
    bare.mkdir()
    r = _launch(bare, "--check", config='[server]\naddress = "0.0.0.0"\n', env={"MYELOZOO_ALLOW_ANONYMOUS": "1"})
    assert r.returncode == 0, r.stderr


def test_launcher_names_an_unreadable_secrets_file(tmp_path):
    r = _launch(tmp_path, "--check", config='[server]\naddress = "localhost"\n', secrets="[auth\nbroken")
    assert r.returncode == 2 and "secrets.toml" in r.stderr and "TOML" in r.stderr


@pytest.mark.slow
def test_refused_launch_exits_before_anything_listens(tmp_path):
    port = free_port()
    t0 = time.monotonic()
    r = _launch(tmp_path, "--server.address", "0.0.0.0", "--server.port", str(port), "--server.headless", "true",
                config="", timeout=60)
    assert r.returncode == 2 and "did not start" in r.stderr
    assert time.monotonic() - t0 < 60
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "something listens on the refused port"


def test_slots_from_env():
    assert slots_from_env({}, cores=2) == 1 and slots_from_env({}, cores=16) == 8 and slots_from_env({}, cores=1) == 1
    assert slots_from_env({"MYELOZOO_COMPUTE_SLOTS": " 3 "}, cores=2) == 3
    for bad in ("0", "-1", "two"):
        with pytest.raises(ValueError, match="MYELOZOO_COMPUTE_SLOTS"):
            slots_from_env({"MYELOZOO_COMPUTE_SLOTS": bad})


def test_one_slot_queues_the_second_computation_and_says_how_many_are_ahead():
    slots = ComputeSlots(1, step_s=0.05)
    inside, release, waited, order = threading.Event(), threading.Event(), [], []

    def first():
        with slots.slot():
            order.append("first in")
            inside.set()
            release.wait(10)
            order.append("first out")

    def second():
        with slots.slot(on_wait=waited.append):
            order.append("second in")

    a = threading.Thread(target=first)
    a.start()
    assert inside.wait(10)
    b = threading.Thread(target=second)
    b.start()
    for _ in range(200):
        if slots.waiting == 1:
            break
        time.sleep(0.01)
    assert slots.waiting == 1 and order == ["first in"]  # queued, not running
    release.set()
    a.join(10)
    b.join(10)
    assert order == ["first in", "first out", "second in"] and waited and set(waited) == {1}
    assert slots.waiting == 0 and slots.running == 0


def test_a_thread_holding_a_slot_re_enters_without_deadlock_and_waits_time_out():
    slots = ComputeSlots(1)
    with slots.slot():
        with slots.slot() as waited:  # e.g. a cached SHAP call inside a prediction
            assert waited == 0.0
        errors = []

        def other():
            try:
                with slots.slot(timeout_s=0.2):
                    pass
            except TimeoutError as e:
                errors.append(str(e))

        t = threading.Thread(target=other)
        t.start()
        t.join(5)
        assert errors and "compute slot" in errors[0]
    with slots.slot():  # released after the nested block and the timeout
        assert slots.running == 1


def test_waiters_are_served_in_arrival_order_and_an_abandoned_wait_leaves_the_queue():
    slots = ComputeSlots(1, step_s=0.02)
    order, release, started = [], threading.Event(), threading.Event()

    def holder():
        with slots.slot():
            started.set()
            release.wait(10)

    def waiter(name):
        with slots.slot():
            order.append(name)

    class Abandon(Exception):
        pass

    def quitter():  # a visitor who reruns or closes the tab while queued
        try:
            with slots.slot(on_wait=lambda ahead: (_ for _ in ()).throw(Abandon())):
                order.append("quitter")
        except Abandon:
            order.append("left")

    h = threading.Thread(target=holder)
    h.start()
    assert started.wait(5)
    threads = []
    for name in ("b", "c", "d"):
        t = threading.Thread(target=waiter, args=(name,))
        t.start()
        threads.append(t)
        for _ in range(200):  # each joins the queue before the next arrives
            if slots.waiting == len(threads):
                break
            time.sleep(0.005)
    q = threading.Thread(target=quitter)
    q.start()
    q.join(5)
    assert order == ["left"] and slots.waiting == 3
    release.set()
    for t in [h, *threads]:
        t.join(10)
    assert order == ["left", "b", "c", "d"] and slots.waiting == 0 and slots.running == 0


def test_one_person_holds_at_most_their_share_of_places_and_others_are_not_affected():
    import threading

    import pytest

    from dashboard.throttle import OwnerQueueFull, max_queued_per_user

    slots = ComputeSlots(1, step_s=0.02)
    release = threading.Event()
    entered = []

    def hold(owner):
        with slots.slot(owner=owner, max_per_owner=2):
            entered.append(owner)
            release.wait(10)

    first = threading.Thread(target=hold, args=("alice@h.example",))
    first.start()
    while not entered:
        threading.Event().wait(0.01)
    second = threading.Thread(target=hold, args=("alice@h.example",))  # queued behind the first
    second.start()
    while slots.waiting < 1:
        threading.Event().wait(0.01)
    with pytest.raises(OwnerQueueFull, match="2 computations of yours"):
        with slots.slot(owner="alice@h.example", max_per_owner=2):
            pass
    bob = threading.Thread(target=hold, args=("bob@h.example",))  # another person still gets a place
    bob.start()
    while slots.waiting < 2:
        threading.Event().wait(0.01)
    release.set()
    for t in (first, second, bob):
        t.join(10)
    assert entered == ["alice@h.example", "alice@h.example", "bob@h.example"]
    with slots.slot(owner="alice@h.example", max_per_owner=2):  # places are given back when done
        pass
    assert max_queued_per_user({}) == 3 and max_queued_per_user({"MYELOZOO_MAX_QUEUED_PER_USER": "5"}) == 5
    with pytest.raises(ValueError, match="whole number"):
        max_queued_per_user({"MYELOZOO_MAX_QUEUED_PER_USER": "0"})


def test_the_warm_up_line_goes_to_stderr_never_into_stdout(monkeypatch, capfd):
    """A background thread's log line on stdout broke a `predict` JSON printed by the same process."""
    from dashboard import throttle
    from zoo import heap
    from zoo.explain import shap_values

    monkeypatch.setattr(shap_values, "warm_up", lambda: 0.1)
    monkeypatch.setattr(heap, "settle", lambda: 7)
    monkeypatch.setattr(heap, "tune_collector", lambda: None)
    throttle.warm_up()  # the thread's body, run here: another test's real warm-up may still hold the GIL
    out, err = capfd.readouterr()
    assert "explainers warmed up" not in out and "explainers warmed up in 0.1 s" in err
