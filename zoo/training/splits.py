"""Patient-level splits: a stratified hold-out test set and stratified folds inside training.

Images never decide a split; a patient's images all follow the patient.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split


@dataclass(frozen=True)
class Split:
    train: np.ndarray      # row indices into the cohort's patient order
    test: np.ndarray
    fold: np.ndarray       # fold id per training row (aligned with ``train``)

    def folds(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(fit, held-out) positions within ``train`` for each fold."""
        return [(np.flatnonzero(self.fold != f), np.flatnonzero(self.fold == f)) for f in np.unique(self.fold)]

    def to_dict(self, ids: list[str]) -> dict:
        return {"train": [ids[i] for i in self.train], "test": [ids[i] for i in self.test],
                "fold": {ids[i]: int(f) for i, f in zip(self.train, self.fold)}}


def make_split(y: np.ndarray, test_size: float = 0.2, n_folds: int = 5, seed: int = 0) -> Split:
    y = np.asarray(y, dtype=int)
    idx = np.arange(len(y))
    min_class = int(np.bincount(y, minlength=2).min())
    if min_class < 4:
        raise ValueError(f"Expected at least 4 patients in each outcome class. Got {min_class}. "
                         "A cohort this small cannot be split honestly; add patients.")
    train, test = train_test_split(idx, test_size=test_size, stratify=y, random_state=seed)
    train, test = np.sort(train), np.sort(test)
    k = int(min(n_folds, np.bincount(y[train], minlength=2).min()))
    fold = np.zeros(len(train), dtype=int)
    for f, (_, va) in enumerate(StratifiedKFold(k, shuffle=True, random_state=seed).split(train, y[train])):
        fold[va] = f
    return Split(train=train, test=test, fold=fold)


def split_from_dict(d: dict, ids: list[str]) -> Split:
    """Rebuild a stored split (``split.json``) for a cohort with the same patients."""
    pos = {p: i for i, p in enumerate(ids)}
    missing = [p for p in d["train"] + d["test"] if p not in pos]
    if missing or len(d["train"]) + len(d["test"]) != len(ids):
        raise ValueError(f"Expected the stored split to cover this cohort's {len(ids)} patients. Got "
                         f"{len(d['train']) + len(d['test'])} ids, {len(missing)} unknown (e.g. {missing[:3]}).")
    train = np.array(sorted(pos[p] for p in d["train"]))
    test = np.array(sorted(pos[p] for p in d["test"]))
    fold = np.array([d["fold"][ids[i]] for i in train])
    return Split(train=train, test=test, fold=fold)
