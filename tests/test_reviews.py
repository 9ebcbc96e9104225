"""Reviewer notes: WAL SQLite in the state folder, concurrent saves lose nothing, guarded saves, limits,
who/when, CSV-injection-safe export, and a kill -9 mid-save leaves a sound database."""
import csv
import io
import multiprocessing as mp
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from zoo.reviews import (
    ANONYMOUS, CATEGORIES, MAX_NOTE_CHARS, ReviewStore, ReviewStoreBusy, ReviewStoreUnavailable, state_dir,
)

ROOT = Path(__file__).resolve().parents[1]


def _save_many(path, who, n):
    store = ReviewStore(path, "z")
    for i in range(n):
        store.add(f"P{i}", "test", CATEGORIES[i % len(CATEGORIES)], f"{who} note {i}", who)


def test_two_reviewers_saving_at_once_lose_nothing(tmp_path):
    path = tmp_path / "reviews.sqlite"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_save_many, args=(path, who, 40)) for who in ("alice", "bob")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    df = ReviewStore(path, "z").all()
    assert len(df) == 80 and df.groupby("reviewer").size().to_dict() == {"alice": 40, "bob": 40}
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reviews_survive_reopen_and_export(tmp_path):
    ReviewStore(tmp_path / "r.sqlite", "z").add("A0001", "test", "label doubt", "outcome date unclear", "carol")
    again = ReviewStore(tmp_path / "r.sqlite", "z")
    assert again.for_patient("A0001")["note"].tolist() == ["outcome date unclear"]
    assert b"outcome date unclear" in again.to_csv()


def test_unknown_category_is_refused(tmp_path):
    with pytest.raises(ValueError, match="Expected a category in"):
        ReviewStore(tmp_path / "r.sqlite").add("A1", "test", "boring", "")


def test_store_lives_in_the_state_folder_not_the_zoo(tmp_path):
    assert state_dir({"MYELOZOO_STATE": str(tmp_path / "st")}) == tmp_path / "st"
    assert state_dir({}) == ROOT / "data" / "state"
    store = ReviewStore.in_state("main", tmp_path / "st")
    assert store.path == tmp_path / "st" / "reviews.sqlite"
    store.add("A1", "test", "other", "x")
    assert store.path.is_file()


def test_opening_is_lazy_and_an_unwritable_state_folder_says_so(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    store = ReviewStore.in_state("main", blocker / "state")  # cannot be created, even by root
    assert store.all().empty, "reading a store that was never written shows no notes and creates nothing"
    assert store.for_patient("A1").empty
    with pytest.raises(ReviewStoreUnavailable, match=r"expected a writable state folder \(state/, set by "
                                                     r"MYELOZOO_STATE\) to store notes\. Got"):
        store.add("A1", "test", "other", "kept in the form")
    assert str(tmp_path) not in str(pytest.raises(ReviewStoreUnavailable, store.add, "A1", "test", "other").value)


def test_a_locked_database_raises_busy_and_the_note_can_be_saved_on_retry(tmp_path):
    path = tmp_path / "r.sqlite"
    store = ReviewStore(path, "z", busy_timeout_s=0.2)
    store.add("A0", "test", "other", "first")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    t0 = time.perf_counter()
    with pytest.raises(ReviewStoreBusy, match="Nothing was saved; your note is kept — press Save again"):
        store.add("A1", "test", "other", "second")
    assert time.perf_counter() - t0 < 3
    holder.execute("ROLLBACK")
    holder.close()
    store.add("A1", "test", "other", "second")
    assert store.all()["note"].tolist() == ["first", "second"]


def test_notes_have_a_length_limit_in_code_and_in_the_database(tmp_path):
    store = ReviewStore(tmp_path / "r.sqlite", "z")
    store.add("A1", "test", "other", "x" * MAX_NOTE_CHARS)
    with pytest.raises(ValueError, match=f"Expected a note of at most {MAX_NOTE_CHARS:,} characters. Got 20,000,000"):
        store.add("A1", "test", "other", "x" * 20_000_000)
    con = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.IntegrityError):
        con.execute("INSERT INTO reviews (zoo, patient_id, split, category, note, reviewer, created) "
                    "VALUES ('z', 'A1', 'test', 'other', ?, 'x', 0)", ("y" * (MAX_NOTE_CHARS + 1),))
    assert len(store.all()) == 1


def test_each_note_records_who_and_when_and_zoos_are_kept_apart(tmp_path):
    path = tmp_path / "r.sqlite"
    t0 = time.time()
    ReviewStore(path, "zoo_a").add("A1", "test", "other", "by alice", "alice@hospital.example")
    ReviewStore(path, "zoo_a").add("A1", "test", "other", "nobody signed in")
    ReviewStore(path, "zoo_b").add("A1", "test", "other", "another zoo")
    df = ReviewStore(path, "zoo_a").all()
    assert df["reviewer"].tolist() == ["alice@hospital.example", ANONYMOUS]
    assert (df["created"].map(lambda t: t.timestamp()) >= t0 - 1).all()
    assert ReviewStore(path, "zoo_b").all()["note"].tolist() == ["another zoo"]


@pytest.mark.parametrize("payload", ['=HYPERLINK("http://evil","x")', "+cmd|' /C calc'!A0", "@SUM(1+1)*cmd",
                                     "-2+3+cmd|' /C calc'!A0", "\t=1+1", "\r=1+1"])
def test_export_escapes_every_formula_cell(tmp_path, payload):
    store = ReviewStore(tmp_path / "r.sqlite", "z")
    store.add("A1", "test", "other", payload, payload)
    rows = list(csv.DictReader(io.StringIO(store.to_csv().decode(), newline="")))
    assert rows[0]["note"] == "'" + payload and rows[0]["reviewer"].startswith("'")


_WRITER = """
import sys
sys.path.insert(0, {root!r})
from zoo.reviews import ReviewStore
s = ReviewStore({path!r}, "z")
i = 0
while True:
    nid = s.add(f"P{{i}}", "test", "other", "note " + "x" * 1500 + str(i), "w")
    print(nid, flush=True)
    i += 1
"""


def test_kill_9_during_saves_keeps_the_database_sound_and_every_committed_note(tmp_path):
    path = tmp_path / "r.sqlite"
    committed: list[int] = []
    for round_ in range(3):  # kill at different moments
        proc = subprocess.Popen([sys.executable, "-c", _WRITER.format(root=str(ROOT), path=str(path))],
                                stdout=subprocess.PIPE, text=True)
        for line in proc.stdout:
            committed.append(int(line))
            if len(committed) >= 40 * (round_ + 1):
                break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    ids = {r[0] for r in con.execute("SELECT id FROM reviews")}
    assert set(committed) <= ids, f"lost {sorted(set(committed) - ids)[:5]}"
