"""What a zoo's manifest may say, its optional signature, and the one way the API reads a zoo's files.

The manifest lists every file of a zoo with its SHA-256. A zoo folder can come from elsewhere (a copy, a
share, a download), so the manifest is input like any other:

* its paths must be relative and resolve inside the zoo folder (no ``/etc/...``, no ``..``, no symlink
  leading out), and model and ensemble names must be plain names, so that no name becomes a path out;
* :class:`ZooFiles` is the only reader: a file the manifest does not list is never opened, and a listed
  one is hashed before its first read;
* with ``MYELOZOO_MANIFEST_KEY`` set, training signs the manifest (HMAC-SHA256) and loading refuses an
  unsigned or wrongly signed one. Without a key the hashes detect corruption, not tampering: whoever can
  change a file can also rewrite its hash in the manifest. docs/DEPLOY.md ("Zoo integrity") says which
  mode guarantees what.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import io
import re
import threading
from pathlib import Path

from zoo.artifacts.files import ArtifactDir, _json_default, read_json, resolve_member, sha256_file
from zoo.errors import ZooIntegrityError

KEY_ENV = "MYELOZOO_MANIFEST_KEY"
MIN_KEY_CHARS = 32
SIGNATURE_FIELD = "signature"
SIGNATURE_ALG = "HMAC-SHA256"
# A model or ensemble name: it becomes a folder name (models/<name>/), so it may not hold a separator or dots.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_KEY_HINT = "Generate one with python -c 'import secrets; print(secrets.token_hex(32))'."


# ----- signing ------------------------------------------------------------------------------------------------
def manifest_key() -> bytes | None:
    """The signing key from the environment; None when unset or empty (hash checks only)."""
    raw = os.environ.get(KEY_ENV, "")
    if not raw:
        return None
    if len(raw) < MIN_KEY_CHARS:
        raise ZooIntegrityError(
            f"{KEY_ENV}: expected a key of at least {MIN_KEY_CHARS} characters. Got {len(raw)}. {_KEY_HINT}")
    return raw.encode("utf-8")


def canonical_bytes(manifest: dict) -> bytes:
    """The bytes a signature covers: the manifest without its signature, as it reads back from disk
    (numpy numbers as JSON numbers), keys sorted, no whitespace. Writing and loading agree on this."""
    body = {k: v for k, v in manifest.items() if k != SIGNATURE_FIELD}
    as_read = json.loads(json.dumps(body, default=_json_default))
    return json.dumps(as_read, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _mac(manifest: dict, key: bytes) -> str:
    return hmac.new(key, canonical_bytes(manifest), hashlib.sha256).hexdigest()


def sign_manifest(manifest: dict, key: bytes | None = None) -> dict:
    """``manifest`` with an HMAC-SHA256 signature when a key is given or set in the environment;
    unchanged (and unsigned) without one."""
    key = key if key is not None else manifest_key()
    body = {k: v for k, v in manifest.items() if k != SIGNATURE_FIELD}
    if key is None:
        return body
    return {**body, SIGNATURE_FIELD: {"alg": SIGNATURE_ALG, "value": _mac(body, key)}}


def check_signature(manifest: dict, what: str, key: bytes | None = None) -> bool:
    """Refuse an unsigned or wrongly signed manifest when a key is set. True when a signature was checked,
    False when no key is set (then nothing is checked: the hashes detect corruption only)."""
    key = key if key is not None else manifest_key()
    if key is None:
        return False
    sig = manifest.get(SIGNATURE_FIELD)
    if not isinstance(sig, dict) or "value" not in sig:
        raise ZooIntegrityError(
            f"{what}: expected a manifest signed with {KEY_ENV} (it is set here). Got an unsigned manifest. "
            f"Retrain the zoo with the key set, or sign this one after checking it: python -m zoo.artifacts.manifest "
            "sign ZOO_FOLDER.")
    value = sig.get("value")
    if sig.get("alg") != SIGNATURE_ALG or not isinstance(value, str) \
            or not hmac.compare_digest(value.encode("ascii", "replace"), _mac(manifest, key).encode("ascii")):
        raise ZooIntegrityError(
            f"{what}: expected a manifest signature made with this {KEY_ENV}. Got a signature that does not match: "
            "the manifest was changed after signing, or signed with another key. It will not be loaded; restore "
            "the zoo from a trusted copy or retrain it.")
    return True


# ----- what a manifest may say --------------------------------------------------------------------------------
def check_manifest(root: Path, manifest: dict, what: str) -> None:
    """Paths relative and inside ``root``, digests well formed, names plain and consistent; else refuse."""
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise ZooIntegrityError(f"{what}: expected a manifest with a 'files' table. Got {type(files).__name__}. "
                                "Retrain the zoo.")
    for rel, digest in files.items():
        resolve_member(root, rel, what)
        if rel == "manifest.json":
            raise ZooIntegrityError(f"{what}: expected the manifest not to list itself. Got an entry for "
                                    "manifest.json. The manifest was edited; retrain the zoo.")
        if not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest):
            raise ZooIntegrityError(f"{what}: expected a SHA-256 (64 hex digits) for {rel}. Got {str(digest)[:80]!r}. "
                                    "The manifest was edited; retrain the zoo.")
    for table, order in (("models", "model_order"), ("ensembles", "ensemble_order")):
        entries = manifest.get(table)
        if not isinstance(entries, dict):
            raise ZooIntegrityError(f"{what}: expected a '{table}' table in the manifest. Got "
                                    f"{type(entries).__name__}. Retrain the zoo.")
        for name, rec in entries.items():
            check_name(name, what)
            if not isinstance(rec, dict):
                raise ZooIntegrityError(f"{what}: expected a record for {table[:-1]} {name}. Got "
                                        f"{type(rec).__name__}. Retrain the zoo.")
        listed = manifest.get(order)
        if listed is not None and (not isinstance(listed, list)
                                   or any(not isinstance(n, str) or n not in entries for n in listed)):
            unknown = [n for n in (listed if isinstance(listed, list) else [listed])
                       if not isinstance(n, str) or n not in entries]
            raise ZooIntegrityError(f"{what}: expected '{order}' to name only {table} of the manifest. Got "
                                    f"{str(unknown)[:200]}. The manifest was edited; retrain the zoo.")
    for ens, rec in manifest["ensembles"].items():
        for mname in (rec.get("embedding_models") or {}).values():
            if mname not in manifest["models"]:
                raise ZooIntegrityError(f"{what}: expected ensemble {ens} to embed a model of this zoo. Got "
                                        f"{str(mname)[:80]!r}. The manifest was edited; retrain the zoo.")


def check_name(name, what: str) -> str:
    if not isinstance(name, str) or not SAFE_NAME.fullmatch(name):
        raise ZooIntegrityError(
            f"{what}: expected a model or ensemble name of letters, digits, '_' and '-' (at most 64). Got "
            f"{str(name)[:80]!r}. The manifest was edited; retrain the zoo.")
    return name


# ----- the one reader ----------------------------------------------------------------------------------------
class ZooFiles:
    """Reads a zoo's files: only those the manifest lists, each inside the zoo, each hashed before its first
    read in this process (``verify`` up front, or lazily by ``path``) and hashed again whenever its size,
    modification time or inode changed since. JSON and Parquet are parsed from the very bytes that were hashed,
    so an edit between the check and the read cannot slip through (the dashboard re-reads them when its cache
    entries are evicted)."""

    def __init__(self, root: Path, files: dict[str, str], what: str) -> None:
        self.root, self.files, self.what = Path(root), dict(files), what
        self._verified: dict[str, tuple[int, int, int]] = {}  # rel -> (size, mtime_ns, inode) when hashed
        self._lock = threading.Lock()

    def has(self, rel: str) -> bool:
        return rel in self.files

    def path(self, rel: str) -> Path:
        """The checked path of a listed file (hash verified once); refuses a file the manifest does not list."""
        self.verify(rel)
        return resolve_member(self.root, rel, self.what)  # again: a symlink may have been swapped in since

    def verify(self, *rels: str) -> None:
        for rel in rels:
            self._listed(rel)
        for rel in rels:
            p = resolve_member(self.root, rel, self.what)
            sig = self._signature(rel, p)
            with self._lock:
                if self._verified.get(rel) == sig:
                    continue
            self._check(rel, sha256_file(p))
            with self._lock:
                self._verified[rel] = sig

    def read_bytes(self, rel: str) -> bytes:
        """A listed file's bytes, hashed as read (once: not streamed for ``verify`` and read again): what is
        parsed is what was checked."""
        self._listed(rel)
        p = resolve_member(self.root, rel, self.what)
        sig = self._signature(rel, p)
        data = p.read_bytes()
        self._check(rel, hashlib.sha256(data).hexdigest())
        with self._lock:
            self._verified[rel] = sig
        return data

    def _listed(self, rel: str) -> None:
        if rel not in self.files:
            raise ZooIntegrityError(
                f"{self.what}: expected {rel} to be listed in the manifest before it is read. Got no entry. "
                "The zoo is incomplete or was modified; retrain it with python -m zoo train.")

    def _signature(self, rel: str, p: Path) -> tuple[int, int, int]:
        """(size, mtime_ns, inode) of a listed file, which must exist: a change of any means hash it again."""
        try:
            st = p.stat()
        except OSError:
            st = None
        if st is None or not p.is_file():
            raise ZooIntegrityError(
                f"{self.what}: expected file {rel} listed in the manifest. Got no such file. "
                "The zoo is incomplete or was modified; retrain it with python -m zoo train.")
        return (st.st_size, st.st_mtime_ns, st.st_ino)

    def _check(self, rel: str, got: str) -> None:
        if not hmac.compare_digest(got, self.files[rel]):
            raise ZooIntegrityError(
                f"{self.what}: expected SHA-256 {self.files[rel][:12]}… for {rel}. Got {got[:12]}…. The file was "
                "modified after training (tampering or corruption); it will not be loaded. Retrain or restore "
                "the zoo.")

    def verify_all(self) -> None:
        self.verify(*self.files)

    def read_json(self, rel: str):
        return json.loads(self.read_bytes(rel))

    def read_parquet(self, rel: str):
        import pandas as pd

        return pd.read_parquet(io.BytesIO(self.read_bytes(rel)))

    def dir(self, prefix: str) -> ListedDir:
        return ListedDir(self, prefix)


class ListedDir(ArtifactDir):
    """One model's or ensemble's folder seen through :class:`ZooFiles` (what ``model_io`` loads from)."""

    def __init__(self, files: ZooFiles, prefix: str) -> None:
        self._files, self._prefix = files, prefix.rstrip("/")

    def has(self, name: str) -> bool:
        return self._files.has(f"{self._prefix}/{name}")

    def path(self, name: str) -> Path:
        return self._files.path(f"{self._prefix}/{name}")


def sign_zoo(root: Path) -> None:
    """Sign an existing zoo's manifest with the key in the environment, after verifying every file against it.

    For zoos trained before a key was set: the signature then vouches for the zoo as it is now, so run it only
    on a zoo you trust.
    """
    from zoo.artifacts.files import atomic_write_json

    key = manifest_key()
    if key is None:
        raise ZooIntegrityError(f"{KEY_ENV}: expected a signing key in the environment. Got none. {_KEY_HINT}")
    mpath = Path(root) / "manifest.json"
    manifest = read_json(mpath)
    what = f"zoo {Path(root).name}"
    check_manifest(Path(root), manifest, what)
    ZooFiles(Path(root), manifest["files"], what).verify_all()
    atomic_write_json(mpath, sign_manifest(manifest, key))


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 3 or sys.argv[1] != "sign":
        sys.exit("usage: MYELOZOO_MANIFEST_KEY=... python -m zoo.artifacts.manifest sign ZOO_FOLDER")
    try:
        sign_zoo(Path(sys.argv[2]))
    except ZooIntegrityError as e:
        sys.exit(str(e))
    print(f"Signed {Path(sys.argv[2]).name}/manifest.json.")
