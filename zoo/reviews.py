"""Reviewer tags and notes on failure cases, in a SQLite database beside the zoo.

WAL journal mode and one short transaction per save: two reviewers saving at
the same moment both land; nothing is kept in memory between saves.
"""
from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pandas as pd

CATEGORIES = ("attention on gel edge/background", "debris or artefact", "low contrast", "label doubt", "other")
DB_NAME = "reviews.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reviews (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    patient_id TEXT NOT NULL,
    split TEXT NOT NULL,
    category TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    reviewer TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL
)
"""


class ReviewStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute(_SCHEMA)
            con.commit()

    @classmethod
    def beside(cls, zoo_dir: str | Path) -> "ReviewStore":
        return cls(Path(zoo_dir) / DB_NAME)

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=10.0)
        con.execute("PRAGMA busy_timeout=10000")
        return con

    def add(self, patient_id: str, split: str, category: str, note: str = "", reviewer: str = "") -> int:
        if category not in CATEGORIES:
            raise ValueError(f"Expected a category in {list(CATEGORIES)}. Got {category!r}.")
        with closing(self._connect()) as con, con:
            cur = con.execute("INSERT INTO reviews (patient_id, split, category, note, reviewer, created) "
                              "VALUES (?, ?, ?, ?, ?, ?)", (patient_id, split, category, note, reviewer, time.time()))
            return int(cur.lastrowid)

    def all(self) -> pd.DataFrame:
        with closing(self._connect()) as con:
            df = pd.read_sql_query("SELECT * FROM reviews ORDER BY created", con)
        df["created"] = pd.to_datetime(df["created"], unit="s", utc=True)
        return df

    def for_patient(self, patient_id: str) -> pd.DataFrame:
        df = self.all()
        return df[df["patient_id"] == patient_id]

    def to_csv(self) -> bytes:
        return self.all().to_csv(index=False).encode()
