"""Exact Shapley values of the three modalities for one patient's ensemble prediction.

Every ensemble predicts from any subset of modalities (members of missing
modalities are skipped; with none, the training prevalence), so the value
function v(S) is available for all 2^3 subsets and the Shapley values are exact.
"""
from __future__ import annotations

import itertools
from math import factorial
from typing import Callable

MODALITIES = ("clinical", "marrow", "electrophoresis")


def shapley(value: Callable[[frozenset], float], players=MODALITIES) -> dict[str, float]:
    n = len(players)
    cache = {frozenset(s): value(frozenset(s)) for r in range(n + 1) for s in itertools.combinations(players, r)}
    phi = {}
    for p in players:
        others = [q for q in players if q != p]
        tot = 0.0
        for r in range(len(others) + 1):
            for s in itertools.combinations(others, r):
                s = frozenset(s)
                w = factorial(len(s)) * factorial(n - len(s) - 1) / factorial(n)
                tot += w * (cache[s | {p}] - cache[s])
        phi[p] = tot
    phi["_base"] = cache[frozenset()]
    phi["_full"] = cache[frozenset(players)]
    return phi
