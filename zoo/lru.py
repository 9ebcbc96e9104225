"""A small bounded, thread-safe LRU cache shared by the zoo's per-image outputs and the staging memo."""
from __future__ import annotations

import threading
from collections import OrderedDict


class LRU:
    """A bounded, thread-safe cache. Another thread may evict any entry at any time, so a caller uses the
    value it computed rather than reading it back after ``put``."""

    def __init__(self, size: int = 4096) -> None:
        self.size, self.d, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, k):
        with self.lock:
            if k in self.d:
                self.d.move_to_end(k)
                return self.d[k]
        return None

    def put(self, k, v) -> None:
        with self.lock:
            self.d[k] = v
            self.d.move_to_end(k)
            while len(self.d) > self.size:
                self.d.popitem(last=False)
