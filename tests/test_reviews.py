"""Reviewer notes: WAL SQLite, concurrent saves from two processes lose nothing, CSV export."""
import multiprocessing as mp

import pytest

from zoo.reviews import CATEGORIES, ReviewStore


def _save_many(path, who, n):
    store = ReviewStore(path)
    for i in range(n):
        store.add(f"P{i}", "test", CATEGORIES[i % len(CATEGORIES)], f"{who} note {i}", who)


def test_two_reviewers_saving_at_once_lose_nothing(tmp_path):
    path = tmp_path / "reviews.sqlite"
    ReviewStore(path)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_save_many, args=(path, who, 40)) for who in ("alice", "bob")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    df = ReviewStore(path).all()
    assert len(df) == 80 and df.groupby("reviewer").size().to_dict() == {"alice": 40, "bob": 40}
    import sqlite3

    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reviews_survive_reopen_and_export(tmp_path):
    ReviewStore(tmp_path / "r.sqlite").add("A0001", "test", "label doubt", "outcome date unclear", "carol")
    again = ReviewStore(tmp_path / "r.sqlite")
    assert again.for_patient("A0001")["note"].tolist() == ["outcome date unclear"]
    assert b"outcome date unclear" in again.to_csv()


def test_unknown_category_is_refused(tmp_path):
    with pytest.raises(ValueError, match="Expected a category in"):
        ReviewStore(tmp_path / "r.sqlite").add("A1", "test", "boring", "")
