"""Which cohorts and zoos this server offers, by name. Visitors pick a name; only the administrator writes paths.

A browser never sends a folder: the sidebar and the ``?cohort=`` / ``?zoo=`` link parameters carry names,
and a name that is not in this catalog changes nothing. Sources, first match wins for each name:

1. ``MYELOZOO_COHORT`` / ``MYELOZOO_ZOO``: one folder each, offered under the folder's own name (or
   ``MYELOZOO_COHORT_NAME`` / ``MYELOZOO_ZOO_NAME``) and made the default;
2. the catalog file ``MYELOZOO_DATASETS`` (default ``.streamlit/datasets.toml``)::

       default_cohort = "site_a"          # optional; else the first listed
       default_zoo = "main"
       [cohorts]
       site_a = "/srv/myelozoo/cohorts/site_a"   # relative paths resolve against this file's folder
       [zoos]
       main = "/srv/myelozoo/zoos/main"

3. nothing configured: the synthetic demo (``data/demo``), offered as ``demo``.

This module has no Streamlit import so that tests and the CLI can read the same catalog.
"""
from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FILE = ROOT / ".streamlit" / "datasets.toml"
DEMO_ROOT = ROOT / "data" / "demo"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class DatasetConfigError(ValueError):
    """The administrator's catalog cannot be used (the message names the file and the entry)."""


def demo_root(environ=None) -> Path:
    """Where the demo lives: ``data/demo``, or ``MYELOZOO_DEMO_ROOT`` (an administrator's choice, e.g. for tests)."""
    env = os.environ if environ is None else environ
    return Path(env["MYELOZOO_DEMO_ROOT"]) if env.get("MYELOZOO_DEMO_ROOT") else DEMO_ROOT


def valid_name(name: object) -> bool:
    """A catalog name: letters, digits, ``_.-``; at most 64 characters; never a path."""
    return isinstance(name, str) and NAME_RE.fullmatch(name) is not None and ".." not in name


def _name_for(path: Path, override: str | None) -> str:
    if override:
        if not valid_name(override):
            raise DatasetConfigError(f"Expected a dataset name of letters, digits, '_', '.' or '-'. Got {override!r}.")
        return override
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", path.name).strip("._-") or "default"
    return cleaned[:64] if valid_name(cleaned[:64]) else "default"


@dataclass(frozen=True)
class Catalog:
    """Named cohorts and zoos; ``default_*`` is shown when the visitor (or a link) names nothing usable."""

    cohorts: dict[str, Path] = field(default_factory=dict)
    zoos: dict[str, Path] = field(default_factory=dict)
    default_cohort: str | None = None
    default_zoo: str | None = None

    def cohort_name(self, requested: object) -> str | None:
        """``requested`` when the catalog offers it, else the default (never a path from the visitor)."""
        return requested if valid_name(requested) and requested in self.cohorts else self.default_cohort

    def zoo_name(self, requested: object) -> str | None:
        return requested if valid_name(requested) and requested in self.zoos else self.default_zoo

    def cohort_path(self, name: str | None) -> Path | None:
        return self.cohorts.get(name) if name else None

    def zoo_path(self, name: str | None) -> Path | None:
        return self.zoos.get(name) if name else None

    def known_paths(self) -> dict[str, str]:
        """Every configured folder -> a label for it, so messages can name the dataset instead of the folder."""
        out = {}
        for kind, entries in (("cohort", self.cohorts), ("zoo", self.zoos)):
            for name, p in entries.items():
                out[str(p)] = f"<{kind} {name}>"
                out[str(p.resolve())] = f"<{kind} {name}>"
        return out


def _read_file(path: Path) -> tuple[dict[str, Path], dict[str, Path], str | None, str | None]:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise DatasetConfigError(f"{path.name}: expected a readable TOML catalog of [cohorts] and [zoos]. "
                                 f"Got {type(e).__name__}: {e}. Fix the file or unset MYELOZOO_DATASETS.") from e
    out = []
    for section in ("cohorts", "zoos"):
        entries = doc.get(section, {})
        if not isinstance(entries, dict):
            raise DatasetConfigError(f"{path.name}: expected a [{section}] table of name = \"folder\". "
                                     f"Got {type(entries).__name__}.")
        parsed = {}
        for name, folder in entries.items():
            if not valid_name(name):
                raise DatasetConfigError(f"{path.name} [{section}]: expected a name of letters, digits, '_', '.' or "
                                         f"'-' (at most 64). Got {name!r}. Rename the entry.")
            if not isinstance(folder, str) or not folder:
                raise DatasetConfigError(f"{path.name} [{section}] {name}: expected a folder path as a string. "
                                         f"Got {folder!r}.")
            p = Path(folder).expanduser()
            parsed[name] = p if p.is_absolute() else (path.parent / p).resolve()
        out.append(parsed)
    defaults = [doc.get("default_cohort"), doc.get("default_zoo")]
    return out[0], out[1], *defaults


def load_catalog(environ: dict[str, str] | None = None) -> Catalog:
    """Build the catalog from the environment, the catalog file, or the demo (see the module docstring)."""
    env = os.environ if environ is None else environ
    cohorts: dict[str, Path] = {}
    zoos: dict[str, Path] = {}
    default_cohort = default_zoo = None
    file = Path(env["MYELOZOO_DATASETS"]) if env.get("MYELOZOO_DATASETS") else DEFAULT_FILE
    if env.get("MYELOZOO_DATASETS") and not file.is_file():
        raise DatasetConfigError(f"MYELOZOO_DATASETS: expected a catalog file. Got no file named {file.name}. "
                                 "Create it or unset the variable.")
    if file.is_file():
        cohorts, zoos, default_cohort, default_zoo = _read_file(file)
    if env.get("MYELOZOO_COHORT"):
        p = Path(env["MYELOZOO_COHORT"])
        name = _name_for(p, env.get("MYELOZOO_COHORT_NAME"))
        cohorts = {name: p, **{k: v for k, v in cohorts.items() if k != name}}
        default_cohort = name
    if env.get("MYELOZOO_ZOO"):
        p = Path(env["MYELOZOO_ZOO"])
        name = _name_for(p, env.get("MYELOZOO_ZOO_NAME"))
        zoos = {name: p, **{k: v for k, v in zoos.items() if k != name}}
        default_zoo = name
    demo = demo_root(env)
    if not cohorts:
        cohorts = {"demo": demo / "cohort"}
        if (demo / "cohort_site_b").is_dir():
            cohorts["demo_site_b"] = demo / "cohort_site_b"
    if not zoos:
        zoos = {"demo": demo / "zoo"}
    for kind, default, entries in (("default_cohort", default_cohort, cohorts), ("default_zoo", default_zoo, zoos)):
        if default is not None and default not in entries:
            raise DatasetConfigError(f"{file.name}: expected {kind} to be one of {sorted(entries)}. Got {default!r}.")
    return Catalog(cohorts, zoos, default_cohort or next(iter(cohorts)), default_zoo or next(iter(zoos)))


_ABS_PATH = re.compile(r"(?<![\w.:])(?:/[\w.@+-]+){2,}/?")


def redact(text: str, catalog: Catalog | None = None) -> str:
    """``text`` with server folders replaced: configured ones by their dataset name, any other absolute path
    by its last part. Messages from the zoo name files for the administrator; visitors see names only."""
    known = (catalog.known_paths() if catalog else {}) | {str(ROOT): "<app>"}
    for p in sorted(known, key=len, reverse=True):
        text = text.replace(p, known[p])
    return _ABS_PATH.sub(lambda m: m.group(0).rstrip("/").rsplit("/", 1)[-1], text)
