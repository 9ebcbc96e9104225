"""Reviewer tags and notes on failure cases, in a SQLite database in the state folder (never in the zoo).

Why the state folder: a zoo is a read-only, hash-verified artifact that ``train --overwrite`` may replace;
notes are people's work and must outlive it. ``MYELOZOO_STATE`` names the folder (default ``data/state``).

Why it survives: the database opens lazily (a read-only or missing state folder costs the page nothing
until someone saves, and then says so in words); WAL journal with ``synchronous=FULL`` and one short
transaction per save, so two reviewers saving together both land and a killed process loses at most the
note it was writing; a lock that outlasts ``busy_timeout`` raises ``ReviewStoreBusy`` so the caller keeps
the note and asks to retry. Every note records who wrote it and when; exports are CSV-injection safe.
"""
from __future__ import annotations

import os
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pandas as pd

from zoo.csvsafe import safe_csv_bytes
from zoo.errors import MyeloZooError

CATEGORIES = ("attention on gel edge/background", "debris or artefact", "low contrast", "label doubt", "other")
DB_NAME = "reviews.sqlite"
MAX_NOTE_CHARS = 2000
MAX_REVIEWER_CHARS = 200
ANONYMOUS = "anonymous (local)"
ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["id", "zoo", "patient_id", "split", "category", "note", "reviewer", "created"]

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS reviews (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    zoo TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    split TEXT NOT NULL,
    category TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '' CHECK (length(note) <= {MAX_NOTE_CHARS}),
    reviewer TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS reviews_zoo_patient ON reviews (zoo, patient_id);
"""


class ReviewStoreUnavailable(MyeloZooError):
    """The state folder or its database cannot be opened for writing (or read)."""


class ReviewStoreBusy(MyeloZooError):
    """Another writer held the database longer than the busy timeout; nothing was saved, retry."""


def state_dir(environ: dict[str, str] | None = None) -> Path:
    """Where mutable state lives: ``MYELOZOO_STATE`` or ``data/state`` under the project."""
    env = os.environ if environ is None else environ
    return Path(env["MYELOZOO_STATE"]) if env.get("MYELOZOO_STATE") else ROOT / "data" / "state"


class ReviewStore:
    """Notes of one zoo (``zoo`` is its catalog name) in the shared database at ``path``.

    Nothing touches the disk until the first read or save.
    """

    def __init__(self, path: str | Path, zoo: str = "default", busy_timeout_s: float = 5.0) -> None:
        self.path = Path(path)
        self.zoo = zoo
        self.busy_timeout_s = busy_timeout_s
        self._ready = False

    @classmethod
    def in_state(cls, zoo: str, state: str | Path | None = None, **kw) -> "ReviewStore":
        """The store of ``zoo`` in the state folder (``MYELOZOO_STATE`` unless ``state`` is given)."""
        return cls((Path(state) if state is not None else state_dir()) / DB_NAME, zoo, **kw)

    # ----- connection ----------------------------------------------------------------------------
    def _unavailable(self, e: BaseException, doing: str) -> ReviewStoreUnavailable:
        return ReviewStoreUnavailable(
            f"Reviewer notes: expected a writable state folder ({self.path.parent.name}/, set by MYELOZOO_STATE) "
            f"to {doing}. Got {type(e).__name__}: {getattr(e, 'strerror', None) or e}. Point MYELOZOO_STATE at a "
            "folder the dashboard's account can write, then retry.")

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
        con.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
        con.execute("PRAGMA synchronous=FULL")
        return con

    def _ensure(self) -> None:
        """Create the folder, the database and its table once; WAL so readers never block a writer."""
        if self._ready:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(self._connect()) as con:
                con.execute("PRAGMA journal_mode=WAL")
                con.executescript(_SCHEMA)
        except sqlite3.OperationalError as e:
            if _is_busy(e):
                raise ReviewStoreBusy(_busy_message()) from e
            raise self._unavailable(e, "store notes") from e
        except OSError as e:
            raise self._unavailable(e, "store notes") from e
        self._ready = True

    # ----- writing -------------------------------------------------------------------------------
    def add(self, patient_id: str, split: str, category: str, note: str = "", reviewer: str = ANONYMOUS) -> int:
        """Save one note; returns its id. Raises ``ReviewStoreBusy`` (retry) or ``ReviewStoreUnavailable``."""
        if category not in CATEGORIES:
            raise ValueError(f"Expected a category in {list(CATEGORIES)}. Got {category!r}.")
        if len(note) > MAX_NOTE_CHARS:
            raise ValueError(f"Expected a note of at most {MAX_NOTE_CHARS:,} characters. Got {len(note):,}. "
                             "Shorten it (attach long reports elsewhere and cite them).")
        reviewer = (reviewer or ANONYMOUS).strip()[:MAX_REVIEWER_CHARS] or ANONYMOUS
        self._ensure()
        try:
            with closing(self._connect()) as con:
                con.execute("BEGIN IMMEDIATE")
                try:
                    cur = con.execute(
                        "INSERT INTO reviews (zoo, patient_id, split, category, note, reviewer, created) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (self.zoo, patient_id, split, category, note, reviewer, time.time()))
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                return int(cur.lastrowid)
        except sqlite3.OperationalError as e:
            if _is_busy(e):
                raise ReviewStoreBusy(_busy_message()) from e
            raise self._unavailable(e, "save this note") from e

    # ----- reading -------------------------------------------------------------------------------
    def all(self) -> pd.DataFrame:
        """This zoo's notes, oldest first; an empty table when nothing was ever saved (nothing is created)."""
        if not self.path.is_file():
            return _empty()
        try:
            with closing(self._connect()) as con:
                df = pd.read_sql_query("SELECT * FROM reviews WHERE zoo = ? ORDER BY created, id", con,
                                       params=(self.zoo,))
        except sqlite3.OperationalError as e:
            if _is_busy(e):
                raise ReviewStoreBusy(_busy_message()) from e
            raise self._unavailable(e, "read notes") from e
        df["created"] = pd.to_datetime(df["created"], unit="s", utc=True)
        return df

    def for_patient(self, patient_id: str) -> pd.DataFrame:
        df = self.all()
        return df[df["patient_id"] == patient_id]

    def to_csv(self) -> bytes:
        """Every note of this zoo as CSV; cells that a spreadsheet would run as a formula are escaped."""
        return safe_csv_bytes(self.all())


def _empty() -> pd.DataFrame:
    df = pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    df["created"] = pd.to_datetime(pd.Series([], dtype=float), unit="s", utc=True)
    return df


def _is_busy(e: sqlite3.OperationalError) -> bool:
    msg = str(e).lower()
    return "locked" in msg or "busy" in msg


def _busy_message() -> str:
    return ("Reviewer notes: expected to save within the busy timeout. Got a database held by another writer. "
            "Nothing was saved; your note is kept — press Save again.")
