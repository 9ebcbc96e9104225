"""MyeloZoo dashboard entry point: page config, shared state, sidebar, navigation."""
from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run dashboard/app.py` puts only dashboard/ on the path
    sys.path.insert(0, str(ROOT))

from dashboard import auth, sidebar, state, throttle  # noqa: E402

st.set_page_config(page_title="MyeloZoo", page_icon=":material/biotech:", layout="wide", initial_sidebar_state="expanded")
auth.gate()  # serving rule, sign-in and allowlist: nothing below runs for a session that may not see the app
state.init_from_query()
throttle.warm_up_in_background()  # once per process: shap's JIT compile, off any visitor's request
throttle.install_diagnostics()  # kill -USR1 <pid>: every thread's stack on stderr

PAGES = ROOT / "pages"
pg = st.navigation({
    "Explore": [st.Page(PAGES / "cohort_explorer.py", title="Cohort explorer", icon=":material/bar_chart:", default=True),
                st.Page(PAGES / "leaderboard.py", title="Leaderboard", icon=":material/leaderboard:")],
    "Patients": [st.Page(PAGES / "predictor.py", title="Patient predictor", icon=":material/stethoscope:"),
                 st.Page(PAGES / "explainability.py", title="Explainability", icon=":material/visibility:")],
    "Review": [st.Page(PAGES / "failure_cases.py", title="Failure cases", icon=":material/rate_review:")],
})
st.session_state["ctx"] = sidebar.render()
with st.sidebar:
    auth.sidebar_badge()
pg.run()
state.write_query()
