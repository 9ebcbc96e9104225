"""Keep Python's cyclic garbage collector off the long-lived heap of a serving process.

A loaded zoo, torch, shap and pandas leave about 500,000–750,000 tracked objects that live as long as the
process. Each full collection walks all of them, holding the GIL. In the dashboard under load, such passes ran
on the event-loop thread, which then could not send the sessions' messages. Stack dumps showed that thread
"Garbage-collecting", and the queued messages grew to thousands while pages waited (docs/BENCHMARKS.md, "Load").
Freezing the long-lived objects once they are loaded (``gc.freeze``) takes them out of every later collection.
Raising the first-generation threshold makes collections of short-lived objects rarer. Reference counting still
frees everything at once; only garbage in reference cycles among frozen objects is kept (a replaced zoo's).
"""
from __future__ import annotations

import gc
import threading

GEN0_THRESHOLD = 50_000
_tuned = threading.Event()


def tune_collector() -> None:
    """Once per process: rarer first-generation collections (700 allocations by default)."""
    if not _tuned.is_set():
        _, g1, g2 = gc.get_threshold()
        gc.set_threshold(max(GEN0_THRESHOLD, gc.get_threshold()[0]), g1, g2)
        _tuned.set()


def settle() -> int:
    """Collect once, then freeze everything alive now; returns how many objects the collector now skips."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def preload_and_settle(zoo, background: bool = True) -> threading.Thread | None:
    """Load every model and ensemble of ``zoo``, then ``settle``: what a server keeps for its lifetime leaves
    the collector's walk. In a daemon thread by default, so the first visitor does not wait for it; the zoo's
    own lock serialises loading with any prediction that asks for a model meanwhile."""
    def _run() -> None:
        zoo.preload()
        settle()

    if not background:
        _run()
        return None
    t = threading.Thread(target=_run, name="myelozoo-preload", daemon=True)
    t.start()
    return t
