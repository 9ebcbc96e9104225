"""Bounded model work per server process, so many visitors queue instead of starving the server.

Why: Streamlit runs every session's script in a thread of one process. Under 20 predictor sessions on a
2-core machine, ten predictions ran at once and starved Streamlit's own event loop of the GIL: some sessions
stopped receiving their reruns and saved notes were never confirmed on the page (docs/BENCHMARKS.md, "Load").
A process-wide semaphore lets ``MYELOZOO_COMPUTE_SLOTS`` predictions run at a time (default: half the cores,
at least one); the rest wait in ``acquire`` (which holds no GIL) with a visible "queued" message.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import streamlit as st

WAIT_LIMIT_S = 300.0  # a session waiting longer than this is told the server is overloaded


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
    """A counting semaphore that also knows how many are waiting (for the "queued" message)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._sem = threading.BoundedSemaphore(n)
        self._lock = threading.Lock()
        self.waiting = 0
        self.running = 0
        self._held = threading.local()  # a thread already holding a slot re-enters freely (no self-deadlock)

    @contextmanager
    def slot(self, on_wait: Callable[[int], None] | None = None, timeout_s: float = WAIT_LIMIT_S) -> Iterator[float]:
        """Hold one slot for the block; yields the seconds spent queueing. ``on_wait(n_ahead)`` is called once
        when the caller has to queue. Raises TimeoutError after ``timeout_s``."""
        depth = getattr(self._held, "depth", 0)
        if depth:
            self._held.depth = depth + 1
            try:
                yield 0.0
            finally:
                self._held.depth -= 1
            return
        t0 = time.perf_counter()
        if not self._sem.acquire(blocking=False):
            with self._lock:
                self.waiting += 1
                ahead = self.waiting - 1 + self.running
            try:
                if on_wait is not None:
                    on_wait(ahead)
                if not self._sem.acquire(timeout=timeout_s):
                    raise TimeoutError(f"waited {timeout_s:.0f} s for a free compute slot")
            finally:
                with self._lock:
                    self.waiting -= 1
        with self._lock:
            self.running += 1
        self._held.depth = 1
        try:
            yield time.perf_counter() - t0
        finally:
            self._held.depth = 0
            with self._lock:
                self.running -= 1
            self._sem.release()


@st.cache_resource(show_spinner=False)
def compute_slots() -> ComputeSlots:
    """One instance per server process, shared by every session."""
    return ComputeSlots(slots_from_env())


@contextmanager
def model_work(what: str = "Running the models…") -> Iterator[None]:
    """A spinner around heavy model work that first waits for a free slot, saying so while it queues."""
    note = st.empty()

    def _queued(ahead: int) -> None:
        note.info(f"Queued: the server is busy with {ahead} other computation{'s' if ahead != 1 else ''}. "
                  "Yours starts as soon as one finishes.", icon=":material/hourglass_top:")

    try:
        with compute_slots().slot(on_wait=_queued):
            note.empty()
            with st.spinner(what):
                yield
    except TimeoutError:
        note.empty()
        st.error("The server is overloaded: no computation slot came free within "
                 f"{WAIT_LIMIT_S / 60:.0f} minutes. Try again in a moment, or ask the administrator to add capacity "
                 "(MYELOZOO_COMPUTE_SLOTS, more cores, or more server processes; see docs/DEPLOY.md).",
                 icon=":material/hourglass_disabled:")
        st.stop()


@st.cache_resource(show_spinner=False)
def warm_up_in_background() -> threading.Thread:
    """Once per server process: compile shap's numba kernels in a daemon thread, holding a compute slot so it
    does not compete with a visitor's prediction (see ``zoo.explain.shap_values.warm_up``)."""
    def _run() -> None:
        from zoo.explain.shap_values import warm_up

        with compute_slots().slot(timeout_s=3600):
            seconds = warm_up()
        print(f"MyeloZoo: explainers warmed up in {seconds:.1f} s", flush=True)

    t = threading.Thread(target=_run, name="myelozoo-warm-up", daemon=True)
    t.start()
    return t
