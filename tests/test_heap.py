"""The serving processes keep the garbage collector off their long-lived heap (zoo/heap.py)."""
from __future__ import annotations

import gc

from zoo.heap import GEN0_THRESHOLD, preload_and_settle, settle, tune_collector


def test_preload_loads_every_model_and_ensemble_then_freezes_them(test_zoo_dir):
    from zoo.api import Zoo

    zoo = Zoo.load(test_zoo_dir)
    assert not zoo._models
    before = gc.get_threshold()
    try:
        tune_collector()
        assert gc.get_threshold()[0] >= GEN0_THRESHOLD
        preload_and_settle(zoo, background=True).join(timeout=300)
        assert set(zoo._models) == set(zoo.model_names) and set(zoo._ensembles) == set(zoo.ensemble_names)
        assert gc.get_freeze_count() > 100_000  # the models, torch and the libraries: out of every collection
        frozen = gc.get_freeze_count()
        assert settle() >= frozen  # a second settle only adds
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
