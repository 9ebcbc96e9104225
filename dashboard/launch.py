"""``python -m dashboard``: check the serving rule, prepare the demo, then start ``streamlit run dashboard/app.py``.

Why a launcher: ``auth.gate`` refuses every *session* of an unsafe setup, but the server would still be up and
listening. Started this way, a setup that would serve without sign-in beyond this machine does not start at
all, and says why, before anything listens. It reads the address and the secrets files with Streamlit's own parser and
config loader (``streamlit_options``), so it sees what the server will use, and it reads ``[auth]`` from
those secrets files.
"""
from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path

APP = Path(__file__).resolve().parent / "app.py"


class LaunchError(ValueError):
    """Arguments the launcher will not pass on (its message says why and what to do)."""


def streamlit_options(argv: Sequence[str], environ: Mapping[str, str]) -> dict:
    """Streamlit's effective config for ``streamlit run dashboard/app.py ARGV``, parsed by Streamlit itself.

    Parsing by hand missed forms Streamlit accepts (a ``--`` separator, a flag whose value is another flag,
    ``STREAMLIT_*`` variables, a ``.streamlit/config.toml`` beside the script): the check must see exactly
    what the server will use. Returns ``{"server.address": …, "secrets.files": […]}``.
    """
    import click
    from streamlit import config
    from streamlit.web import bootstrap
    from streamlit.web.cli import main_run

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(environ)  # click reads STREAMLIT_* from the process environment
    try:
        try:
            ctx = main_run.make_context("run", [str(APP), *argv], auto_envvar_prefix="STREAMLIT")
        except click.ClickException as e:
            raise LaunchError(f"MyeloZoo did not start: {e.format_message()} Check the streamlit flags.") from None
        if ctx.params.get("args"):
            raise LaunchError("MyeloZoo did not start: the dashboard takes no script arguments. Got "
                              f"{' '.join(ctx.params['args'])!r}; pass Streamlit options as --section.option "
                              "value, before any '--'.")
        config._main_script_path = str(APP)  # so dashboard/.streamlit/config.toml counts, as when serving
        bootstrap.load_config_options({k: v for k, v in ctx.params.items() if k not in ("target", "args")})
        return {"server.address": config.get_option("server.address"),
                "secrets.files": list(config.get_option("secrets.files"))}
    finally:
        os.environ.clear()
        os.environ.update(saved)


def secrets_have_auth(files: Sequence[str]) -> tuple[bool, list[str]]:
    """Whether any of Streamlit's secrets files has a non-empty ``[auth]``; also the problems reading them."""
    found, problems = False, []
    for p in map(Path, files):
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

    env = dict(os.environ if environ is None else environ)
    try:
        opts = streamlit_options(argv, env)
    except LaunchError as e:
        return str(e)
    has_auth, problems = secrets_have_auth(opts["secrets.files"])
    if problems:
        return ("MyeloZoo did not start: a secrets file could not be read (" + "; ".join(problems) + "). Fix the "
                "TOML syntax of .streamlit/secrets.toml and start again.")
    if env.get("MYELOZOO_COMPUTE_SLOTS") or env.get("MYELOZOO_MAX_QUEUED_PER_USER"):
        from dashboard.throttle import max_queued_per_user, slots_from_env

        try:
            slots_from_env(env)
            max_queued_per_user(env)
        except ValueError as e:
            return f"MyeloZoo did not start: {e}"
    problem = serving_problem(opts["server.address"], has_auth, environ=env)
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
