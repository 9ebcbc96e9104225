"""The shared sidebar: which cohort and zoo (by name), what state they are in, the synthetic-data notice.

Visitors choose among the names the administrator listed (dashboard/datasets.py); folders never reach
the browser, and every message shown is passed through ``datasets.redact`` first.
"""
from __future__ import annotations

import streamlit as st

from dashboard import datasets, state
from dashboard.loaders import load_cohort, load_zoo


def _catalog() -> datasets.Catalog:
    try:
        return datasets.load_catalog()
    except datasets.DatasetConfigError as e:
        st.error(f"The dataset catalog cannot be read: {datasets.redact(str(e))}")
        st.stop()


def _choose(label: str, key: str, options: list[str], default: str, help_: str) -> str:
    """A name picker bound to persistent ``key``; a stale or unknown name (e.g. from a link) falls back."""
    if st.session_state.get(key) not in options:
        st.session_state[key] = default
    wk, kw = state.bound(key, default)
    if st.session_state.get(wk) not in options:
        st.session_state[wk] = st.session_state[key]
    if len(options) == 1:
        return options[0]
    return st.selectbox(label, options, key=wk, help=help_, **kw)


def render() -> dict:
    """Draw the sidebar; returns the context every page reads (names, folders for loaders, cohort, zoo)."""
    catalog = _catalog()
    with st.sidebar:
        st.markdown("### :material/biotech: MyeloZoo")
        st.caption("2-year progression (PD vs non-PD) in NDMM on bortezomib-based induction")
        cohort_name = _choose("Cohort", "cohort", list(catalog.cohorts), catalog.default_cohort,
                              "Cohorts this server offers (the administrator lists them).")
        zoo_name = _choose("Zoo", "zoo", list(catalog.zoos), catalog.default_zoo,
                           "Trained zoos this server offers (the administrator lists them).")
        cohort_dir, zoo_dir = catalog.cohort_path(cohort_name), catalog.zoo_path(zoo_name)
        report, cohort = load_cohort(cohort_dir)
        zoo, zoo_err = load_zoo(zoo_dir)
        if cohort is None:
            st.error(f"Cohort **{cohort_name}** is not usable.")
        else:
            tag = "synthetic demo" if cohort.is_synthetic else "research cohort"
            st.markdown(f"**Cohort** `{cohort_name}` · {len(cohort.patient_ids)} patients · {tag}")
        building = build_progress(zoo_dir) if zoo is None else None
        if building is not None:
            _build_panel(zoo_dir)
        elif zoo is None:
            st.warning(f"No trained zoo loaded (`{zoo_name}`).")
        else:
            prof = zoo.manifest["profile"]["name"]
            st.markdown(f"**Zoo** `{zoo_name}` · {len(zoo.model_names)} models + {len(zoo.ensemble_names)} "
                        f"ensembles · profile `{prof}`")
            if cohort is not None and zoo.manifest["cohort"]["fingerprint"] != cohort.fingerprint:
                st.caption(":material/warning: This zoo was trained on a different cohort; predictions for this cohort's "
                           "patients are new-patient predictions.")
        if cohort is not None and cohort.is_synthetic:
            st.info("**Synthetic data.** The demo cohort is generated (python -m zoo synth); no real patients. "
                    "Research and demonstration only — not for clinical decisions.", icon=":material/science:")
        else:
            st.caption("Research use only — not a medical device.")
    return {"cohort_name": cohort_name, "zoo_name": zoo_name, "cohort_dir": cohort_dir, "zoo_dir": zoo_dir,
            "report": report, "cohort": cohort, "zoo": zoo, "catalog": catalog, "building": building,
            "zoo_error": datasets.redact(zoo_err, catalog) if zoo_err else None}


def need_cohort(ctx: dict):
    """Stop the page with an explanation when the cohort is unusable."""
    if ctx["cohort"] is None:
        st.error("The cohort cannot be loaded. Fix these problems (or choose another cohort in the sidebar):")
        text = "\n".join(str(p) for p in ctx["report"].errors[:50]) or "no clinical table"
        st.code(datasets.redact(text, ctx["catalog"]), language=None)
        st.stop()
    return ctx["cohort"]


def build_progress(zoo_dir) -> dict | None:
    """The demo build's status while its zoo is missing (None for any other zoo, or when no build ran)."""
    from zoo.demo import build_status

    root = datasets.demo_root()
    if zoo_dir is None or zoo_dir != root / "zoo":
        return None
    return build_status(root)


def _fmt_duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


@st.fragment(run_every=10)
def _build_panel(zoo_dir) -> None:
    """Which models are done and a rough ETA, re-read every 10 s; when the zoo's manifest lands, the whole app
    reruns and loads it. Said plainly when the builder is not running any more."""
    from dashboard.loaders import zoo_stamp

    if zoo_stamp(zoo_dir) != "missing":
        st.rerun(scope="app")
    status = build_progress(zoo_dir) or {}
    done, models = status.get("models_done", []), status.get("models", [])
    state_ = status.get("state")
    if state_ == "failed":
        from dashboard.auth import _md

        st.error(f"The demo zoo's training failed: {_md(datasets.redact(str(status.get('error') or '')))}. "
                 "See data/demo/build.log; `make run` again resumes it.", icon=":material/error:")
        return
    if not status.get("running"):
        st.warning("The demo zoo is not finished and its training is not running (stopped or killed). "
                   "`make run` again resumes it where it stopped.", icon=":material/pause_circle:")
    if state_ == "training" and models:
        eta = status.get("eta_s")
        st.progress(len(done) / len(models),
                    text=f"Training the demo zoo: {len(done)}/{len(models)} models"
                         + (f" · about {_fmt_duration(eta)} left" if eta else ""))
        if status.get("current"):
            st.caption(f"Now: `{status['current']}`")
        if done:
            st.caption("Done: " + ", ".join(f"`{m}`" for m in done))
    elif status.get("running"):
        st.info(f"Preparing the demo: {state_ or 'starting'} …", icon=":material/hourglass_top:")


def need_zoo(ctx: dict, what: str = "This page"):
    if ctx["zoo"] is None and ctx.get("building") is not None:
        st.info(f"{what} needs the demo zoo, which is still training in the background (progress in the "
                "sidebar). This page refreshes by itself when the zoo lands; the cohort explorer works meanwhile.",
                icon=":material/hourglass_top:")
        st.stop()
    if ctx["zoo"] is None:
        st.warning(f"{what} needs a trained zoo. {ctx['zoo_error'] or ''}")
        st.markdown(f"The administrator builds zoo `{ctx['zoo_name']}` on the server "
                    "(the demo does this on `make run`):")
        st.code("python -m zoo train --cohort COHORT_FOLDER --profile quick --out ZOO_FOLDER", language="bash")
        st.stop()
    return ctx["zoo"]
