"""Bounded model work per server process, so many visitors queue instead of overloading the server.

Why: Streamlit runs every session's script in a thread of one process. Under 20 predictor sessions on a
2-core machine, ten predictions ran at once, each taking seconds instead of a fraction of one. A
process-wide semaphore lets ``MYELOZOO_COMPUTE_SLOTS`` predictions run at a time (default: half the cores, at
least one). The rest wait their turn, first come first served, with a visible "queued" message. A signed-in
person holds at most ``MYELOZOO_MAX_QUEUED_PER_USER`` places (default 3) across all their tabs, so one person
cannot fill the queue. (Pages that stalled under that load had another cause, garbage collection on the
event-loop thread: see zoo/heap.py.)
"""
from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import streamlit as st

from dashboard import auth

WAIT_LIMIT_S = 300.0  # a session waiting longer than this is told the server is overloaded
MAX_QUEUED_PER_USER = 3


class OwnerQueueFull(RuntimeError):
    """This person already holds as many running or queued computations as one person may."""


def slots_from_env(environ: dict[str, str] | None = None, cores: int | None = None) -> int:
    """The number of concurrent model computations: ``MYELOZOO_COMPUTE_SLOTS`` or half the cores (≥ 1)."""
    env = os.environ if environ is None else environ
    raw = env.get("MYELOZOO_COMPUTE_SLOTS", "").strip()
    if raw:
        try:
            n = int(raw)
        except ValueError:
            raise ValueError(f"Expected MYELOZOO_COMPUTE_SLOTS to be a whole number ≥ 1. Got {raw!r}.") from None
        if n < 1:
            raise ValueError(f"Expected MYELOZOO_COMPUTE_SLOTS to be a whole number ≥ 1. Got {n}.")
        return n
    return max(1, (cores if cores is not None else (os.cpu_count() or 2)) // 2)


class ComputeSlots:
    """A first-come-first-served counting semaphore that knows its queue (for the "queued" message).

    First come, first served: a newcomer never overtakes someone already waiting. Waiting happens in short
    steps, and ``on_wait(n_ahead)`` is called at every step, so a caller can refresh its message and, in
    Streamlit, be interrupted there by a rerun or a closed tab instead of computing for nobody.
    """

    def __init__(self, n: int, step_s: float = 1.0) -> None:
        self.n = n
        self.step_s = step_s
        self._cond = threading.Condition()
        self._queue: list[int] = []  # tickets waiting, in arrival order
        self._next_ticket = 0
        self.running = 0
        self._held = threading.local()  # a thread already holding a slot re-enters freely (no self-deadlock)
        self._owners: dict[int, str] = {}  # ticket -> owner, for tickets queued or running

    @property
    def waiting(self) -> int:
        return len(self._queue)

    @contextmanager
    def slot(self, on_wait: Callable[[int], None] | None = None, timeout_s: float = WAIT_LIMIT_S,
             owner: str | None = None, max_per_owner: int | None = None) -> Iterator[float]:
        """Hold one slot for the block; yields the seconds spent queueing. Raises TimeoutError after
        ``timeout_s``, and OwnerQueueFull at once when ``owner`` already holds ``max_per_owner`` tickets
        (queued or running); whatever ``on_wait`` raises leaves the queue cleanly."""
        depth = getattr(self._held, "depth", 0)
        if depth:
            self._held.depth = depth + 1
            try:
                yield 0.0
            finally:
                self._held.depth -= 1
            return
        t0 = time.perf_counter()
        with self._cond:
            if owner is not None and max_per_owner is not None:
                held = sum(1 for o in self._owners.values() if o == owner)
                if held >= max_per_owner:
                    raise OwnerQueueFull(f"{held} computations of yours are already running or queued")
            ticket = self._next_ticket
            self._next_ticket += 1
            self._queue.append(ticket)
            if owner is not None:
                self._owners[ticket] = owner
        try:
            while True:
                with self._cond:
                    if self._queue[0] == ticket and self.running < self.n:
                        self._queue.pop(0)
                        self.running += 1
                        self._cond.notify_all()
                        break
                    ahead = self._queue.index(ticket) + self.running
                if on_wait is not None:
                    on_wait(ahead)  # outside the lock: it may draw, or raise to abandon the wait
                if time.perf_counter() - t0 > timeout_s:
                    raise TimeoutError(f"waited {timeout_s:.0f} s for a free compute slot")
                with self._cond:
                    self._cond.wait(self.step_s)
        except BaseException:
            with self._cond:
                self._owners.pop(ticket, None)
                if ticket in self._queue:
                    self._queue.remove(ticket)
                    self._cond.notify_all()
            raise
        self._held.depth = 1
        try:
            yield time.perf_counter() - t0
        finally:
            self._held.depth = 0
            with self._cond:
                self.running -= 1
                self._owners.pop(ticket, None)
                self._cond.notify_all()


def max_queued_per_user(environ: dict[str, str] | None = None) -> int:
    """``MYELOZOO_MAX_QUEUED_PER_USER`` (a whole number ≥ 1) or 3."""
    env = os.environ if environ is None else environ
    raw = env.get("MYELOZOO_MAX_QUEUED_PER_USER", "").strip()
    if not raw:
        return MAX_QUEUED_PER_USER
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"Expected MYELOZOO_MAX_QUEUED_PER_USER to be a whole number ≥ 1. Got {raw!r}.")
    return int(raw)


@st.cache_resource(show_spinner=False)
def compute_slots() -> ComputeSlots:
    """One instance per server process, shared by every session."""
    return ComputeSlots(slots_from_env())


@contextmanager
def model_work(what: str = "Running the models…") -> Iterator[None]:
    """A spinner around heavy model work that first waits for a free slot, saying so while it queues."""
    note = st.empty()

    def _queued(ahead: int) -> None:  # redrawn every second: a rerun or a closed tab stops the wait here
        note.info(f"Queued: {ahead} computation{'s are' if ahead != 1 else ' is'} ahead of yours on this server. "
                  "Yours starts as soon as a slot is free.", icon=":material/hourglass_top:")

    owner, cap = None, None
    if auth.auth_configured():  # signed in: one person, however many tabs (local mode has one anonymous person)
        owner, cap = auth.current_user(), max_queued_per_user()
    try:
        with compute_slots().slot(on_wait=_queued, owner=owner, max_per_owner=cap):
            note.empty()
            with st.spinner(what):
                yield
    except OwnerQueueFull as e:
        note.empty()
        st.warning(f"Not started: {e} (other tabs of yours), and one person may hold {cap} at a time. Wait for "
                   "them to finish, or close tabs you no longer need, then try again.",
                   icon=":material/hourglass_disabled:")
        st.stop()
    except TimeoutError:
        note.empty()
        st.error("The server is overloaded: no computation slot came free within "
                 f"{WAIT_LIMIT_S / 60:.0f} minutes. Try again in a moment, or ask the administrator to add capacity "
                 "(MYELOZOO_COMPUTE_SLOTS, more cores, or more server processes; see docs/DEPLOY.md).",
                 icon=":material/hourglass_disabled:")
        st.stop()


@st.cache_resource(show_spinner=False)
def install_diagnostics() -> bool:
    """Once per server process: ``kill -USR1 <pid>`` writes every thread's stack to the server's stderr, to see
    where a stuck session waits under load (docs/BENCHMARKS.md, "Load")."""
    import faulthandler
    import signal

    try:
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    except (AttributeError, ValueError, OSError):  # no SIGUSR1 on this platform
        return False
    return True


def warm_up() -> None:
    """Compile shap's numba kernels, settle the heap and log the time (the body of the background warm-up)."""
    from zoo.explain.shap_values import warm_up as compile_explainers
    from zoo.heap import settle, tune_collector

    tune_collector()
    seconds = compile_explainers()
    frozen = settle()  # libraries and compiled kernels: out of the collector's walk (zoo/heap.py)
    # stderr, as a server log line: a thread writing to stdout would land inside whatever else the process
    # prints there (a `predict` JSON in the same process broke on it)
    print(f"MyeloZoo: explainers warmed up in {seconds:.1f} s; {frozen:,} long-lived objects frozen",
          file=sys.stderr, flush=True)


@st.cache_resource(show_spinner=False)
def warm_up_in_background() -> threading.Thread:
    """Once per server process: ``warm_up`` in a daemon thread (see ``zoo.explain.shap_values.warm_up``). It
    takes no compute slot: with one slot, a visitor's first prediction would wait behind the compile (seen in the
    browser tests), and the compile is a one-off of seconds."""
    t = threading.Thread(target=warm_up, name="myelozoo-warm-up", daemon=True)
    t.start()
    return t
