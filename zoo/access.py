"""Who may use MyeloZoo from beyond this machine: loopback detection and the e-mail allowlist.

One definition for both ways in: the dashboard's sign-in (dashboard/auth.py) and the prediction API's bearer
tokens (zoo/service/security.py) read the same ``[access]`` lists, so a person has one role everywhere.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

VIEWER, REVIEWER = "viewer", "reviewer"
LOOPBACK_NAMES = {"localhost", "ip6-localhost", "ip6-loopback"}
# Headers a reverse proxy adds: their presence means the visitor is not at this machine's keyboard, whatever
# address Streamlit itself listens on (a proxy on this host reaches a loopback-bound app).
PROXY_HEADERS = ("x-forwarded-for", "x-forwarded-host", "x-real-ip", "forwarded")


@dataclass(frozen=True)
class Access:
    """The allowlist: entries are e-mail addresses or ``@domain``; matching ignores case."""

    viewers: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()

    @staticmethod
    def _match(email: str, entries: tuple[str, ...]) -> bool:
        email = email.strip().lower()
        domain = "@" + email.rsplit("@", 1)[-1] if "@" in email else None
        for e in entries:
            e = e.strip().lower()
            if e == email or (e.startswith("@") and e == domain):
                return True
        return False

    def role(self, email: str | None) -> str | None:
        """``reviewer``, ``viewer`` or None (not allowed in)."""
        if not email or "@" not in email:
            return None
        if self._match(email, self.reviewers):
            return REVIEWER
        if self._match(email, self.viewers):
            return VIEWER
        return None


def is_loopback(address: str | None) -> bool:
    """True for an address only this machine can reach. Empty means every interface (Streamlit's default)."""
    if not address:
        return False
    if address.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_name(host: str) -> str:
    """``Host`` header without the port: ``localhost:8501`` -> ``localhost``, ``[::1]:8501`` -> ``::1``."""
    host = host.strip()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host[1:]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def reached_through_network(headers: Mapping[str, str] | None) -> str | None:
    """How this session's request shows it came from beyond this machine (None: nothing says so).

    A reverse proxy on the same host reaches a loopback-bound app, so the listening address alone cannot
    tell; forwarding headers, or a ``Host`` that is not a loopback name, can. Defence in depth: a proxy that
    strips both is not detected, which is why docs/DEPLOY.md asks for ``[auth]`` on every networked setup.
    """
    if not headers:
        return None
    lower = {str(k).lower(): v for k, v in headers.items()}
    for h in PROXY_HEADERS:
        if lower.get(h):
            return f"a request forwarded by a proxy ({h} header)"
    host = lower.get("host")
    if host and not is_loopback(_host_name(host)):
        return f"a request for host {_host_name(host)}"
    return None
