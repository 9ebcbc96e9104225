"""Where a training run writes: one writer per output folder, and nothing deleted that is not ours.

* A lock (``fcntl.flock`` on ``.NAME.lock`` beside the output) stops two trainings writing one folder; the
  kernel drops it when the process dies, even by ``kill -9``, so a crash never leaves a stale lock.
* A folder is ours when it is a MyeloZoo zoo (``manifest.json`` with ``zoo_format_version`` and ``files``)
  or an interrupted run (``run.json`` with the cohort fingerprint and profile). ``--overwrite`` refuses
  anything else and leaves it as it was.
* ``--overwrite`` trains into the sibling ``.NAME.new`` and swaps it in only once its manifest is written,
  so until then the old zoo keeps serving; a crash during the swap is finished by the next run.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
from pathlib import Path

from zoo.artifacts.files import fsync_dir
from zoo.errors import ZooIntegrityError

MANIFEST, RUN = "manifest.json", "run.json"
LEGACY_NOTES = ("reviews.sqlite", "reviews.sqlite-wal", "reviews.sqlite-shm")


class TrainingLocked(ZooIntegrityError):
    """Another training holds this output folder."""


def _json(path: Path) -> dict | None:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def is_zoo(path: Path) -> bool:
    doc = _json(Path(path) / MANIFEST)
    return bool(doc) and "zoo_format_version" in doc and isinstance(doc.get("files"), dict)


def is_run(path: Path) -> bool:
    doc = _json(Path(path) / RUN)
    return bool(doc) and "cohort_fingerprint" in doc and "profile" in doc


def is_ours(path: Path) -> bool:
    return is_zoo(path) or is_run(path)


def staging_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.new"


def _old_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.old"


def check_replaceable(out: Path) -> None:
    """Refuse (and touch nothing) unless ``out`` is absent, an empty folder, a zoo or a run."""
    if not out.exists() and not out.is_symlink():
        return
    if out.is_dir() and not out.is_symlink() and (is_ours(out) or not any(out.iterdir())):
        return
    raise ZooIntegrityError(
        f"Refusing to overwrite {out.name}: expected a MyeloZoo zoo (manifest.json) or an interrupted training run "
        "(run.json). Got a folder (or file) that is neither. Nothing was deleted; choose another --out.")


def check_writable_target(out: Path) -> None:
    """Without --overwrite: train into an absent or empty folder, or resume a run; never mix into other files."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ZooIntegrityError(f"{out.name}: expected a folder for the zoo. Got a file. Choose another --out.")
    if is_run(out) or not any(out.iterdir()):
        return
    raise ZooIntegrityError(
        f"{out.name}: expected an empty folder, a zoo or an interrupted run. Got a folder with other files. "
        "Nothing was written; choose another --out.")


class OutputLock:
    """Exclusive, non-blocking lock on one output folder for the duration of a training."""

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.path = self.out.parent / f".{self.out.name}.lock"
        self._fd: int | None = None

    def __enter__(self) -> "OutputLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise TrainingLocked(
                    f"{self.out.name}: expected no other training writing this output. Got one running (it holds "
                    f"{self.path.name}). Wait for it to finish, or choose another --out.") from e
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def recover(out: Path) -> None:
    """Finish a swap that a crash interrupted (call with the lock held)."""
    new, old = staging_dir(out), _old_dir(out)
    if not out.exists() and is_zoo(new):
        os.rename(new, out)
        fsync_dir(out.parent)
    if old.exists() and out.exists() and is_ours(old):
        shutil.rmtree(old)


def swap_in(new: Path, out: Path) -> None:
    """Replace ``out`` by the complete zoo ``new``; notes a legacy zoo kept inside move across untouched."""
    if not is_zoo(new):
        raise ZooIntegrityError(f"{new.name}: expected a complete zoo to swap in. Got no manifest; nothing replaced.")
    old = _old_dir(out)
    if old.exists():
        if not is_ours(old):
            raise ZooIntegrityError(f"{old.name}: expected a previous zoo left by an interrupted swap. Got other "
                                    "files. Move it away, then rerun.")
        shutil.rmtree(old)
    if out.exists():
        for name in LEGACY_NOTES:
            if (out / name).is_file():
                os.replace(out / name, new / name)
        os.rename(out, old)
    os.rename(new, out)
    fsync_dir(out.parent)
    if old.exists():
        shutil.rmtree(old)
