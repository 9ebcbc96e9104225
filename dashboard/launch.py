"""``python -m dashboard``: check the serving rule, prepare the demo, then start ``streamlit run dashboard/app.py``.

Why a launcher: ``auth.gate`` refuses every *session* of an unsafe setup, but the server would still be up and
listening. Started this way, a setup that would serve without sign-in beyond this machine does not start at
all, and says why, before anything listens. It reads the address the way Streamlit will (config files, then
``STREAMLIT_SERVER_ADDRESS``, then ``--server.address``) and ``[auth]`` from Streamlit's secrets files.
"""
from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path

APP = Path(__file__).resolve().parent / "app.py"


def flag_value(argv: Sequence[str], name: str) -> str | None:
    """The last ``--name value`` or ``--name=value`` in ``argv`` (the one Streamlit's click parser keeps)."""
    found = None
    for i, a in enumerate(argv):
        if a == f"--{name}" and i + 1 < len(argv):
            found = argv[i + 1]
        elif a.startswith(f"--{name}="):
            found = a.split("=", 1)[1]
    return found


def effective_address(argv: Sequence[str], environ: Mapping[str, str]) -> str | None:
    """server.address as the server will see it: flag, else environment, else config files, else unset."""
    flag = flag_value(argv, "server.address")
    if flag is not None:
        return flag
    if environ.get("STREAMLIT_SERVER_ADDRESS"):
        return environ["STREAMLIT_SERVER_ADDRESS"]
    from streamlit import config

    config.get_config_options(force_reparse=True)
    return config.get_option("server.address")


def secrets_have_auth(argv: Sequence[str]) -> tuple[bool, list[str]]:
    """Whether any of Streamlit's secrets files has a non-empty ``[auth]``; also the problems reading them."""
    from streamlit import config

    config.get_config_options(force_reparse=True)
    files = flag_value(argv, "secrets.files")
    paths = [files] if files else list(config.get_option("secrets.files"))
    found, problems = False, []
    for p in map(Path, paths):
        if not p.is_file():
            continue
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            problems.append(f"{p.name}: {e}")
            continue
        found = found or bool(data.get("auth"))
    return found, problems


def preflight(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> str | None:
    """Why the dashboard must not start with these arguments (None: it may)."""
    from dashboard.auth import serving_problem

    env = os.environ if environ is None else environ
    has_auth, problems = secrets_have_auth(argv)
    if problems:
        return ("MyeloZoo did not start: a secrets file could not be read (" + "; ".join(problems) + "). Fix the "
                "TOML syntax of .streamlit/secrets.toml and start again.")
    problem = serving_problem(effective_address(argv, env), has_auth, environ=env)
    return f"{problem} MyeloZoo did not start." if problem else None


def prepare_demo(environ: Mapping[str, str] | None = None, wait_s: float = 600) -> str | None:
    """When the server's default zoo is the demo: make sure the site-A cohort exists (built here, in the
    foreground, about a minute), then start the rest of the build in the background. Returns what was done."""
    import time

    from dashboard.datasets import demo_root, load_catalog
    from zoo.demo import BuildLock, builder_running, demo_paths, ensure_demo, start_background_build

    env = dict(os.environ if environ is None else environ)
    catalog = load_catalog(env)
    root = demo_root(env)
    if catalog.zoo_path(catalog.default_zoo) != root / "zoo":
        return None
    paths = demo_paths(root)
    if (paths["zoo"] / "manifest.json").is_file():
        return "demo ready"
    cohort_ready = (paths["cohort"] / "clinical.csv").is_file()
    if not cohort_ready and builder_running(root):
        print("MyeloZoo: another process is building the demo cohort; waiting for it ...", flush=True)
        end = time.monotonic() + wait_s
        while not (paths["cohort"] / "clinical.csv").is_file() and time.monotonic() < end:
            time.sleep(1)
    elif not cohort_ready:
        lock = BuildLock(root)
        if lock.acquire():
            try:
                ensure_demo(root, cohort_only=True)
            finally:
                lock.release()
    pid = start_background_build(root)
    if pid is not None:
        print(f"MyeloZoo: training the demo zoo in the background (process {pid}, log data/demo/build.log); "
              "the dashboard serves meanwhile and shows the progress in its sidebar.", flush=True)
        return "building in the background"
    return "build already running"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    check_only = "--check" in args
    args = [a for a in args if a != "--check"]
    problem = preflight(args)
    if problem:
        print(problem, file=sys.stderr, flush=True)
        return 2
    if check_only:
        print("MyeloZoo: the serving rule allows this setup.", flush=True)
        return 0
    if os.environ.get("MYELOZOO_NO_DEMO_BUILD") != "1":
        prepare_demo()
    os.execv(sys.executable, [sys.executable, "-m", "streamlit", "run", str(APP), *args])
    return 0  # not reached
