"""The reviewer-notes panel of the Failure-cases page: a guarded save that never loses what was typed.

The form does not clear on submit; the save runs in the button's callback and clears the note only
after the database committed it. A busy database or an unwritable state folder leaves the note in the
form with a message saying what to do. Only reviewers see the form (``auth.can_review``), and the
callback checks again, so a crafted request from a viewer saves nothing.
"""
from __future__ import annotations

import streamlit as st

from dashboard import auth
from zoo.reviews import CATEGORIES, MAX_NOTE_CHARS, ReviewStore, ReviewStoreBusy, ReviewStoreUnavailable

RESULT_KEY = "fc_save_result"


def store_for(zoo_name: str) -> ReviewStore:
    """The notes of this zoo, in the state folder; opening costs nothing until a read or a save."""
    return ReviewStore.in_state(zoo_name)


def _save(store: ReviewStore, pid: str, split: str) -> None:
    if not auth.can_review():
        st.session_state[RESULT_KEY] = ("error", "Only reviewers save notes. Nothing was saved.")
        return
    note = st.session_state.get("fc_note") or ""
    category = st.session_state.get("fc_category")
    if not category:
        st.session_state[RESULT_KEY] = ("error", "Choose a category first; the note is kept in the form.")
        return
    try:
        store.add(pid, split, category, note, auth.current_user())
    except ReviewStoreBusy as e:
        st.session_state[RESULT_KEY] = ("retry", str(e))
        return
    except (ReviewStoreUnavailable, ValueError) as e:
        st.session_state[RESULT_KEY] = ("error", str(e))
        return
    st.session_state["fc_note"] = ""
    st.session_state[RESULT_KEY] = ("saved", f"Review of {pid} saved.")


def render(store: ReviewStore, pid: str, split: str) -> None:
    """The form (reviewers only), the outcome of the last save, and this patient's earlier notes."""
    st.markdown("**Review**")
    if auth.can_review():
        with st.form(f"fc_review_{pid}", clear_on_submit=False):
            st.selectbox("Category", CATEGORIES, index=None, placeholder="Choose what went wrong…",
                         key="fc_category")
            st.text_area("Note", placeholder="What do you see?", key="fc_note", max_chars=MAX_NOTE_CHARS)
            st.caption(f"Saved as **{auth.md_text(auth.current_user())}**, with the time.")
            st.form_submit_button("Save review", type="primary", key="fc_save", on_click=_save,
                                  args=(store, pid, split))
        kind, text = st.session_state.pop(RESULT_KEY, (None, None))
        if kind == "saved":
            st.success(text, icon=":material/check:")
        elif kind == "retry":
            st.warning(text + " Retry.", icon=":material/hourglass_top:")
        elif kind == "error":
            st.error(text)
    else:
        st.caption("Reviewer notes are saved by reviewers; you are signed in as a viewer.")
    try:
        past = store.for_patient(pid)
    except (ReviewStoreUnavailable, ReviewStoreBusy) as e:
        st.warning(str(e))
        return
    if len(past):
        st.markdown(f"**Earlier notes on this patient ({len(past)})**")
    for _, r in past.sort_values("created", ascending=False).iterrows():
        with st.container(border=True):
            st.markdown(f"**{auth.md_text(r['category'])}** · {auth.md_text(r['reviewer'])} · "
                        f"{r['created']:%Y-%m-%d %H:%M} UTC")
            st.text(r["note"] or "—")  # plain text: a note is never rendered as Markdown or HTML


def export_button(store: ReviewStore) -> None:
    """Every note of this zoo as CSV (spreadsheet formulas escaped), built only when downloaded."""
    try:
        n = len(store.all())
    except (ReviewStoreUnavailable, ReviewStoreBusy) as e:
        st.caption(str(e))
        return
    st.download_button(f"Export all reviews (CSV, {n})", store.to_csv, "reviews.csv", "text/csv", key="fc_export")
