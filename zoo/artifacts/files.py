"""Atomic, hash-verified files. A crash never leaves a half-written file that looks complete."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from zoo.errors import ZooIntegrityError


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


FILE_MODE = 0o644  # before the umask: a dashboard running under another account can read the zoo


def current_umask() -> int:
    """The process umask, read without changing it (os.umask would race with other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable: the directory entry is on disk, not only the file's bytes."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_with(path: Path, write) -> None:
    """``write(tmp_path)`` fills a temp file beside ``path``; it is fsynced, given mode 0644 & ~umask, renamed
    over ``path`` and the directory fsynced. A crash leaves the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE & ~current_umask())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write_with(Path(path), lambda tmp: tmp.write_bytes(data))


def atomic_write_parquet(path: Path, df) -> None:
    """A DataFrame as Parquet, atomically (pandas writes in place, so a crash could leave half a file)."""
    atomic_write_with(Path(path), lambda tmp: df.to_parquet(tmp, index=False))


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default).encode())


def _json_default(o):
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return None if np.isnan(o) else float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, tuple)):
        return list(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_json(path: Path):
    return json.loads(Path(path).read_text())


def hash_tree(root: Path, exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """SHA-256 of every file under ``root`` (relative POSIX paths), skipping temp files."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not p.is_symlink() and not p.name.startswith(".") and rel not in exclude \
                and ".tmp-" not in rel:  # a symlink is never listed: loading refuses one that leads out
            out[rel] = sha256_file(p)
    return out


def resolve_member(root: Path, rel: str, what: str) -> Path:
    """``root / rel`` resolved, refused unless ``rel`` is a plain relative POSIX path that stays inside ``root``
    (no absolute path, no ``..``, no symbolic link leading out): a manifest is input, not trusted."""
    if (not isinstance(rel, str) or not rel or len(rel) > 1024 or "\\" in rel or "\x00" in rel
            or rel.startswith("/") or (len(rel) > 1 and rel[1] == ":")
            or any(part in ("", ".", "..") for part in rel.split("/"))):
        raise ZooIntegrityError(
            f"{what}: expected a relative path inside the zoo folder. Got {str(rel)[:120]!r} in the manifest. "
            "The manifest was edited; restore the zoo from a trusted copy or retrain it.")
    base = Path(root).resolve()
    p = (base / rel).resolve()
    if p == base or not p.is_relative_to(base):
        raise ZooIntegrityError(
            f"{what}: expected {rel} to stay inside the zoo folder. Got a path that leads outside it (a symbolic "
            "link). Remove the link, or restore the zoo from a trusted copy.")
    return p


class ArtifactDir:
    """A model's or ensemble's folder as ``model_io`` reads it: which files it has, and their paths."""

    def has(self, name: str) -> bool:
        raise NotImplementedError

    def path(self, name: str) -> Path:
        raise NotImplementedError


class PlainDir(ArtifactDir):
    """A folder read as it is (training, resume): every file present counts. Loading a zoo uses the
    manifest's view instead (zoo.artifacts.manifest.ListedDir), where only listed, hash-checked files do."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def has(self, name: str) -> bool:
        return (self.directory / name).is_file()

    def path(self, name: str) -> Path:
        return self.directory / name


def verify_hashes(root: Path, expected: dict[str, str], what: str) -> None:
    for rel, digest in expected.items():
        p = resolve_member(root, rel, what)
        if not p.is_file():
            raise ZooIntegrityError(
                f"{what}: expected file {rel} listed in the manifest. Got no such file. "
                "The zoo is incomplete or was modified; retrain it with python -m zoo train.")
        got = sha256_file(p)
        if got != digest:
            raise ZooIntegrityError(
                f"{what}: expected SHA-256 {digest[:12]}… for {rel}. Got {got[:12]}…. The file was modified after "
                "training (tampering or corruption); it will not be loaded. Retrain or restore the zoo.")
