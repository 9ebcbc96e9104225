"""Sign-in and roles. Pages ask ``can_review()`` and ``current_user()``; they never read secrets themselves.

Two modes, chosen by ``.streamlit/secrets.toml``:

* **local** (no ``[auth]`` section): nobody signs in; everyone may review and notes are signed
  "anonymous (local)". Allowed only on a loopback address, or when the administrator sets
  ``MYELOZOO_ALLOW_ANONYMOUS=1`` on purpose (see ``serving_problem``).
* **signed in** (``[auth]`` present): Streamlit's OIDC sign-in (``st.login``). Who may enter and who may
  save notes comes from our own section, so the identity provider needs no MyeloZoo-specific setup::

      [access]
      viewers = ["@hospital.example", "guest@partner.example"]   # e-mails, or @domain for a whole domain
      reviewers = ["alice@hospital.example"]                     # may also save reviewer notes

  Anyone else is refused after signing in, by e-mail, with no page drawn. An identity provider that says
  the e-mail is unverified (``email_verified = false``) is refused too.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping

import streamlit as st

from zoo.access import (  # noqa: F401 - one definition, re-exported for the pages and tests
    LOOPBACK_NAMES, PROXY_HEADERS, REVIEWER, VIEWER, Access, _host_name, is_loopback, reached_through_network)
from zoo.reviews import ANONYMOUS


def serving_problem(address: str | None, has_auth: bool, environ: Mapping[str, str] | None = None,
                    headers: Mapping[str, str] | None = None) -> str | None:
    """Why this configuration must not serve (None: fine). One rule for the launcher and every session.

    ``headers`` (the session's request headers, optional) catch a loopback-bound app published by a proxy.
    """
    env = os.environ if environ is None else environ
    if has_auth or env.get("MYELOZOO_ALLOW_ANONYMOUS") == "1":
        return None
    if is_loopback(address):
        via = reached_through_network(headers)
        if via is None:
            return None
        what = f"this session without sign-in: it arrived as {via}, although the app listens on {address}"
    else:
        what = f"on {address or 'every network interface (server.address is not set)'} without sign-in"
    return (f"MyeloZoo refuses to serve {what}. Anyone who can reach it could read the cohort's predictions and "
            "write reviewer notes. Expected server.address = \"localhost\" in .streamlit/config.toml with no proxy "
            "in front, or an [auth] section in .streamlit/secrets.toml (see docs/DEPLOY.md). Set "
            "MYELOZOO_ALLOW_ANONYMOUS=1 only if another layer already restricts who can connect.")


_logged_refusal = False


def _log_refusal(problem: str) -> None:
    """Say it once in the server's own output too, where the administrator who started it looks."""
    global _logged_refusal
    if not _logged_refusal:
        _logged_refusal = True
        print(f"MyeloZoo: {problem}", file=sys.stderr, flush=True)


def _request_headers() -> Mapping[str, str] | None:
    try:
        return dict(st.context.headers)
    except Exception:  # no browser session (AppTest, bare mode): nothing to judge by
        return None


_MARKDOWN_ACTIVE = str.maketrans({c: "\\" + c for c in "\\`*_[]<>()#|~$!{}"})


def md_text(text: str) -> str:
    """A string from outside the code (an identity claim, a patient ID from a cohort file) shown inside Markdown:
    printed as typed, never as a link, image or markup."""
    return str(text).translate(_MARKDOWN_ACTIVE)


_md = md_text


def _secrets_section(name: str) -> dict:
    try:
        sec = st.secrets.get(name)
    except FileNotFoundError:  # no secrets.toml at all (StreamlitSecretNotFoundError): local mode
        return {}
    return dict(sec) if sec else {}


def auth_configured() -> bool:
    return bool(_secrets_section("auth"))


def access() -> Access:
    sec = _secrets_section("access")
    return Access(tuple(sec.get("viewers", ())), tuple(sec.get("reviewers", ())))


def _email() -> str | None:
    if not auth_configured() or not st.user.is_logged_in:
        return None
    if st.user.get("email_verified") is False:
        return None
    email = st.user.get("email")
    return str(email) if email else None


def current_user() -> str:
    """The signed-in e-mail, or 'anonymous (local)' when the app runs without sign-in."""
    return _email() or ANONYMOUS


def role() -> str | None:
    if not auth_configured():
        return REVIEWER  # local mode: the person at the keyboard owns the machine
    return access().role(_email())


def can_review() -> bool:
    return role() == REVIEWER


def gate() -> None:
    """Stop the run unless this session may see the app: the serving rule, then sign-in and the allowlist."""
    problem = serving_problem(st.get_option("server.address"), auth_configured(), headers=_request_headers())
    if problem:
        _log_refusal(problem)
        st.error(problem, icon=":material/lock:")
        st.stop()
    if not auth_configured():
        return
    if not st.user.is_logged_in:
        st.title("MyeloZoo")
        st.markdown("Sign in with your institution's account to continue.")
        st.button("Sign in", type="primary", on_click=st.login, key="auth_login")
        st.stop()
    if role() is None:
        who = _md(st.user.get("email") or "this account")
        reason = " (the identity provider did not verify it)" if st.user.get("email_verified") is False else ""
        st.error(f"Expected an account on this server's allowlist. Got {who}{reason}. Ask the administrator to add "
                 "you, or sign in with another account.", icon=":material/block:")
        st.button("Sign out", on_click=st.logout, key="auth_logout_refused")
        st.stop()


def sidebar_badge() -> None:
    """Who is signed in and their role, with a sign-out button (nothing in local mode)."""
    if not auth_configured() or not st.user.is_logged_in:
        return
    st.caption(f":material/person: {_md(current_user())} · {role()}")
    st.button("Sign out", on_click=st.logout, key="auth_logout")
