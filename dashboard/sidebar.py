"""The shared sidebar: which cohort and zoo, what state they are in, the synthetic-data notice."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import config
from dashboard.loaders import load_cohort, load_zoo


def render() -> dict:
    """Draw the sidebar; returns the context every page reads (paths, cohort, zoo, messages)."""
    with st.sidebar:
        st.markdown("### :material/biotech: MyeloZoo")
        st.caption("2-year progression (PD vs non-PD) in NDMM on bortezomib-based induction")
        with st.expander("Data sources", expanded=False):
            cohort_default = st.session_state.get("cohort") or str(config.cohort_path())
            zoo_default = st.session_state.get("zoo") or str(config.zoo_path())
            cohort_in = st.text_input("Cohort folder", cohort_default, key="_w_cohort_path",
                                      help="A cohort directory (clinical.csv, images.csv, images). "
                                           "Defaults to MYELOZOO_COHORT or the synthetic demo.")
            zoo_in = st.text_input("Zoo folder", zoo_default, key="_w_zoo_path",
                                   help="A zoo trained with python -m zoo train. Defaults to MYELOZOO_ZOO.")
        st.session_state["cohort"] = cohort_in if cohort_in != str(config.cohort_path()) else None
        st.session_state["zoo"] = zoo_in if zoo_in != str(config.zoo_path()) else None
        cohort_dir, zoo_dir = Path(cohort_in), Path(zoo_in)
        report, cohort = load_cohort(cohort_dir)
        zoo, zoo_err = load_zoo(zoo_dir)
        if cohort is None:
            st.error(f"Cohort not usable: {cohort_dir}")
        else:
            tag = "synthetic demo" if cohort.is_synthetic else "research cohort"
            st.markdown(f"**Cohort** · {len(cohort.patient_ids)} patients · {tag}")
        if zoo is None:
            st.warning("No trained zoo loaded.")
        else:
            prof = zoo.manifest["profile"]["name"]
            st.markdown(f"**Zoo** · {len(zoo.model_names)} models + {len(zoo.ensemble_names)} ensembles · "
                        f"profile `{prof}`")
            if cohort is not None and zoo.manifest["cohort"]["fingerprint"] != cohort.fingerprint:
                st.caption(":material/warning: This zoo was trained on a different cohort; predictions for this cohort's "
                           "patients are new-patient predictions.")
        if cohort is not None and cohort.is_synthetic:
            st.info("**Synthetic data.** The demo cohort is generated (python -m zoo synth); no real patients. "
                    "Research and demonstration only — not for clinical decisions.", icon=":material/science:")
        else:
            st.caption("Research use only — not a medical device.")
    return {"cohort_dir": cohort_dir, "zoo_dir": zoo_dir, "report": report, "cohort": cohort, "zoo": zoo,
            "zoo_error": zoo_err}


def need_cohort(ctx: dict):
    """Stop the page with an explanation when the cohort is unusable."""
    if ctx["cohort"] is None:
        st.error("The cohort cannot be loaded. Fix these problems (or choose another folder in the sidebar):")
        st.code("\n".join(str(p) for p in ctx["report"].errors[:50]) or "no clinical table", language=None)
        st.stop()
    return ctx["cohort"]


def need_zoo(ctx: dict, what: str = "This page"):
    if ctx["zoo"] is None:
        st.warning(f"{what} needs a trained zoo. {ctx['zoo_error'] or ''}")
        st.markdown("Build one (the demo does this on `make run`):")
        st.code(f"python -m zoo train --cohort {ctx['cohort_dir']} --profile quick --out {ctx['zoo_dir']}",
                language="bash")
        st.stop()
    return ctx["zoo"]
