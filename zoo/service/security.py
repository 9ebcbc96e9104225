"""Who may call the prediction API: loopback callers by default, API keys or OIDC bearer tokens beyond it.

API keys are stored as SHA-256 digests only (``python -m zoo api-key NAME`` makes one), so the key file leaks
nothing that can be replayed. An OIDC bearer token is checked at the provider's userinfo endpoint, which works
for opaque and JWT access tokens alike; the e-mail it returns must be on the same ``[access]`` allowlist the
dashboard's sign-in reads (zoo/access.py), so a person has one role everywhere.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
import tomllib
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from zoo.access import Access, is_loopback, reached_through_network
from zoo.errors import MyeloZooError

USERINFO_CACHE_S = 60.0
USERINFO_CACHE_ENTRIES = 10_000
# Identity-provider calls for tokens not in the cache: at most this many a minute, this many at once (each may wait
# 10 s on the provider), a caller waiting at most PROVIDER_WAIT_S for its turn. Cached tokens and API keys never wait.
PROVIDER_LOOKUPS_PER_MINUTE = 120
PROVIDER_CONCURRENCY = 4
PROVIDER_WAIT_S = 5.0
KEY_PREFIX = "mz_"
_DIGEST_LEN = 64


class ApiAuthError(MyeloZooError):
    """A refused request: ``status`` is 401 (no or bad credentials) or 403 (known, but not allowed)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def new_api_key(name: str) -> tuple[str, str]:
    """(the key to hand to the caller once, the line to add to the key file)."""
    if not name or any(c in name for c in ":\n#") or name != name.strip():
        raise ValueError(f"Expected a key name without ':', '#', line breaks or outer spaces. Got {name!r}.")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, f"{name}:{hashlib.sha256(key.encode()).hexdigest()}"


def read_api_keys(path: str | Path) -> dict[str, str]:
    """``name:sha256hex`` per line (``#`` comments) -> {digest: name}. Bad lines are errors naming the line."""
    p = Path(path)
    out: dict[str, str] = {}
    for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, _, digest = line.rpartition(":")
        digest = digest.strip().lower()
        if not name or len(digest) != _DIGEST_LEN or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"{p.name}, line {i}: expected NAME:SHA256 (64 hex digits, from python -m zoo api-key "
                             "NAME). Got a line in another form; plain keys never go in this file.")
        out[digest] = name.strip()
    return out


def read_access(path: str | Path) -> Access:
    """The ``[access]`` section of a TOML file (the dashboard's .streamlit/secrets.toml has the same one)."""
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    sec = data.get("access") or {}
    return Access(tuple(sec.get("viewers", ())), tuple(sec.get("reviewers", ())))


@dataclass
class ApiSecurity:
    """The API's rule. With neither keys nor an identity provider, only loopback callers get in."""

    api_keys: dict[str, str] = field(default_factory=dict)  # sha256 digest -> key name
    userinfo_url: str | None = None
    access: Access = field(default_factory=Access)
    _cache: "OrderedDict[str, tuple[float, object]]" = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _lookups: deque = field(default_factory=deque, repr=False)  # times of recent provider calls
    _asking: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(PROVIDER_CONCURRENCY), repr=False)

    @property
    def configured(self) -> bool:
        return bool(self.api_keys) or self.userinfo_url is not None

    @classmethod
    def from_options(cls, api_keys: str | Path | None = None, oidc_issuer: str | None = None,
                     access: str | Path | None = None) -> "ApiSecurity":
        keys = read_api_keys(api_keys) if api_keys else {}
        userinfo = discover_userinfo(oidc_issuer) if oidc_issuer else None
        acc = read_access(access) if access else Access()
        if userinfo and not (acc.viewers or acc.reviewers):
            raise ValueError("--oidc-issuer needs an allowlist: expected an [access] section with viewers or "
                             "reviewers in --access FILE (the dashboard's .streamlit/secrets.toml has one).")
        return cls(keys, userinfo, acc)

    def check(self, client_host: str | None, headers: Mapping[str, str]) -> str:
        """Who is calling (for the log), or ApiAuthError."""
        lower = {k.lower(): v for k, v in headers.items()}
        token = _bearer(lower.get("authorization"))
        if not self.configured:
            via = reached_through_network(lower)
            if is_loopback(client_host) and via is None:
                return "local"
            raise ApiAuthError(401, "This API serves callers beyond this machine only with API keys or OIDC sign-in, "
                               "and none is configured. Start it with --api-keys FILE or --oidc-issuer URL "
                               "(docs/API.md).")
        if token is None:
            raise ApiAuthError(401, "Expected 'Authorization: Bearer <API key or access token>'. Got none.")
        digest = hashlib.sha256(token.encode()).hexdigest()
        for known, name in self.api_keys.items():
            if hmac.compare_digest(known, digest):
                return f"api-key:{name}"
        if self.userinfo_url is None or token.startswith(KEY_PREFIX):  # our keys never go to the identity provider
            raise ApiAuthError(401, "The bearer token is not a known API key.")
        email = self._email(token, digest)
        if self.access.role(email) is None:
            raise ApiAuthError(403, f"{email} is signed in but not on this server's allowlist ([access]).")
        return email

    def _email(self, token: str, digest: str) -> str:
        """The token's e-mail from userinfo. Answers, refusals included, are cached for a minute, so a flood of
        made-up tokens costs one provider call each at most once a minute."""
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest)
            if hit:
                self._cache.move_to_end(digest)  # a token in use stays; the flood's oldest go first
            if hit and now - hit[0] < USERINFO_CACHE_S:
                if isinstance(hit[1], ApiAuthError):
                    raise hit[1]
                return hit[1]
        self._take_lookup(now)
        if not self._asking.acquire(timeout=PROVIDER_WAIT_S):  # a few threads at most wait on the provider
            raise ApiAuthError(503, "Sign-in checks are busy; retry in a few seconds.")
        try:
            email = self._ask_provider(token)
        except ApiAuthError as e:
            self._remember(digest, now, e)
            raise
        finally:
            self._asking.release()
        self._remember(digest, now, email)
        return email

    def _take_lookup(self, now: float) -> None:
        """Provider calls for tokens not seen in the last minute are rationed: distinct made-up tokens would each
        cost a call (and tie up a worker thread for up to 10 s) however well the cache works."""
        with self._lock:
            while self._lookups and now - self._lookups[0] >= 60:
                self._lookups.popleft()
            if len(self._lookups) >= PROVIDER_LOOKUPS_PER_MINUTE:
                raise ApiAuthError(429, "Too many new sign-in tokens in the last minute; retry shortly. API keys are "
                                   "not affected.")
            self._lookups.append(now)

    def _remember(self, digest: str, now: float, answer) -> None:
        with self._lock:
            self._cache[digest] = (now, answer)
            self._cache.move_to_end(digest)
            while len(self._cache) > USERINFO_CACHE_ENTRIES:  # the oldest go, not every answer at once
                self._cache.popitem(last=False)

    def _ask_provider(self, token: str) -> str:
        import httpx

        try:
            r = httpx.get(self.userinfo_url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        except httpx.HTTPError as e:
            raise ApiAuthError(401, f"The identity provider could not be asked about this token ({type(e).__name__})."
                               ) from None
        if r.status_code != 200:
            raise ApiAuthError(401, "The identity provider does not accept this bearer token (expired or unknown).")
        try:
            claims = r.json()
        except ValueError:
            raise ApiAuthError(401, "The identity provider's userinfo answer is not JSON; this server cannot read "
                               "it (signed userinfo responses are not supported).") from None
        email = claims.get("email") if isinstance(claims, dict) else None
        verified = claims.get("email_verified") if isinstance(claims, dict) else None
        if not isinstance(email, str) or "@" not in email or verified is False or str(verified).lower() == "false":
            raise ApiAuthError(403, "The identity provider gave no verified e-mail for this token.")
        return email


def _bearer(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def discover_userinfo(issuer: str) -> str:
    """The provider's userinfo endpoint, from its discovery document."""
    import httpx

    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        doc = httpx.get(url, timeout=10).raise_for_status().json()
    except (httpx.HTTPError, ValueError) as e:
        raise ValueError(f"Expected an OpenID discovery document at {url}. Got {type(e).__name__}: {e}.") from None
    endpoint = doc.get("userinfo_endpoint")
    if not isinstance(endpoint, str):
        raise ValueError(f"{url} names no userinfo_endpoint; bearer tokens cannot be checked.")
    return endpoint


def serve_problem(host: str, security: ApiSecurity) -> str | None:
    """Why ``zoo serve`` must not start (None: fine): a network address with nobody checking callers."""
    if is_loopback(host) or security.configured:
        return None
    return (f"python -m zoo serve refuses to listen on {host} without API keys or OIDC sign-in: anyone who can reach "
            "it could send patient data and read predictions. Expected --host 127.0.0.1, or --api-keys FILE "
            "(python -m zoo api-key NAME makes a key), or --oidc-issuer URL with --access FILE (docs/API.md).")
