"""Sign-in and the serving rule, end to end: Debian's chromium against `streamlit run dashboard/app.py`.

Sign-in goes through Streamlit's own OIDC flow (``st.login``) to a real, local OpenID provider
(``oidc-provider-mock``): authorize endpoint, code exchange, ID-token signature, cookie. Nothing is stubbed.
The roles come from the served app's ``[access]`` allowlist.
"""
from __future__ import annotations

import secrets as pysecrets
import time

import pytest

from benchmarks.browser import CHROMIUM, CHROMIUM_ARGS, ROOT, wait_ready
from dashboard.auth import serving_problem
from tests.dashboard.conftest import (LiveDashboard, dashboard_env, free_port, page_errors, require_browser_tools,
                                      write_secrets)

SHOTS = ROOT / "screenshots"
REVIEWER, VIEWER, OUTSIDER = "rita@hospital.example", "vera@hospital.example", "mallory@elsewhere.example"
CATEGORY = "debris or artefact"
UNVERIFIED = "unverified-rita"  # an account whose provider says the e-mail (Rita's) is not verified
browser_slow = [pytest.mark.browser, pytest.mark.slow]


# ----- the rule itself, without a server ---------------------------------------------------------------------
@pytest.mark.parametrize("address, headers, refused", [
    ("localhost", None, False),
    ("127.0.0.1", {"Host": "127.0.0.1:8501"}, False),
    ("::1", {"Host": "[::1]:8501"}, False),
    ("0.0.0.0", None, True),
    ("", None, True),   # Streamlit's default: every interface
    (None, None, True),
    ("10.1.2.3", {"Host": "localhost"}, True),
    ("localhost", {"Host": "myelozoo.hospital.example"}, True),            # published by a proxy
    ("localhost", {"Host": "localhost:8501", "X-Forwarded-For": "10.0.0.7"}, True),
])
def test_serving_rule(address, headers, refused):
    problem = serving_problem(address, has_auth=False, environ={}, headers=headers)
    assert (problem is not None) == refused, problem
    if refused:
        assert "without sign-in" in problem and "MYELOZOO_ALLOW_ANONYMOUS=1" in problem and "DEPLOY.md" in problem
    assert serving_problem(address, has_auth=True, environ={}, headers=headers) is None
    assert serving_problem(address, has_auth=False, environ={"MYELOZOO_ALLOW_ANONYMOUS": "1"}, headers=headers) is None


def test_allowlist_roles():
    from dashboard.auth import REVIEWER as R, VIEWER as V, Access

    a = Access(viewers=("@Hospital.example", "guest@partner.example"), reviewers=("rita@hospital.example",))
    assert a.role("Rita@Hospital.Example") == R
    assert a.role("vera@hospital.example") == V and a.role("guest@partner.example") == V
    assert a.role("someone@partner.example") is None and a.role("x@sub.hospital.example") is None
    assert a.role("hospital.example") is None and a.role("") is None and a.role(None) is None


# ----- a real browser ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    require_browser_tools("oidc_provider_mock", "authlib")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _new_page(browser, **kw):
    ctx = browser.new_context(viewport={"width": 1500, "height": 2000}, **kw)  # own cookies: one person each
    return ctx.new_page()


def _shot(pg, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    assert (SHOTS / f"{name}.png").stat().st_size > 5_000


@pytest.fixture(scope="module")
def provider(browser):
    from oidc_provider_mock import User, run_server_in_thread

    users = [User(sub=UNVERIFIED, claims={"email": REVIEWER, "email_verified": False})]
    with run_server_in_thread(port=0, user_claims=users) as srv:
        yield f"http://localhost:{srv.server_port}"


@pytest.fixture(scope="module")
def signed_in_app(provider, tiny_cohort_dir, test_zoo_dir, tmp_path_factory):
    """The dashboard with [auth] pointing at the mock provider and an allowlist; yields (url, state dir)."""
    d = tmp_path_factory.mktemp("signin")
    port = free_port()
    url = f"http://localhost:{port}"  # the redirect URI's origin and the browser's must match (cookie)
    secrets_file = write_secrets(
        d / "secrets.toml",
        auth={"redirect_uri": f"{url}/oauth2callback", "cookie_secret": pysecrets.token_urlsafe(32),
              "client_id": "myelozoo", "client_secret": pysecrets.token_urlsafe(16),
              "server_metadata_url": f"{provider}/.well-known/openid-configuration"},
        access={"viewers": ["@hospital.example"], "reviewers": [REVIEWER]})
    app = LiveDashboard(dashboard_env(tiny_cohort_dir, test_zoo_dir, d / "state"), d / "streamlit.log",
                        "--secrets.files", str(secrets_file), host="localhost", port=port).wait()
    yield url, d / "state"
    app.stop()


def _sign_in(browser, app_url: str, provider: str, who: str):
    """Press Sign in, pick or type the subject at the provider, come back signed in; returns the page."""
    pg = _new_page(browser)
    pg.goto(app_url)
    wait_ready(pg, "MyeloZoo", timeout_ms=90_000)
    assert pg.get_by_role("link", name="Failure cases").count() == 0, "nothing but the sign-in before signing in"
    pg.get_by_role("button", name="Sign in").click()
    pg.wait_for_url(f"{provider}/oauth2/authorize**", timeout=60_000)
    predefined = pg.get_by_role("button", name=who, exact=True)
    if predefined.count():
        predefined.click()
    else:
        pg.fill('input[name="sub"]', who)  # the mock provider makes the subject the e-mail claim
        pg.get_by_role("button", name="Authorize").click()
    pg.wait_for_url(f"{app_url}/**", timeout=60_000)
    return pg


def _choose_category(pg, category: str) -> None:
    box = pg.locator('[data-testid="stSelectbox"]').filter(has_text="Category")
    box.wait_for(timeout=120_000)  # the form is drawn after the case's Grad-CAM and SHAP, which may queue
    box.click()
    pg.get_by_role("option", name=category).click()


def _failure_cases(pg, app_url: str) -> None:
    pg.goto(f"{app_url}/failure_cases")
    wait_ready(pg, "Failure cases", timeout_ms=180_000)
    assert page_errors(pg) == []


def _store(state_dir, zoo_dir):
    from dashboard.datasets import load_catalog
    from zoo.reviews import ReviewStore

    name = load_catalog({"MYELOZOO_ZOO": str(zoo_dir), "MYELOZOO_COHORT": "x"}).default_zoo
    return ReviewStore.in_state(name, state=state_dir)


@pytest.mark.browser
@pytest.mark.slow
def test_reviewer_signs_in_and_saves_a_note_signed_with_their_email(browser, provider, signed_in_app, test_zoo_dir):
    url, state_dir = signed_in_app
    pg = _sign_in(browser, url, provider, REVIEWER)
    _failure_cases(pg, url)
    assert pg.get_by_text(f"{REVIEWER} · reviewer").count() == 1, "the sidebar names the user and the role"
    note = f"Band at the gel edge; reviewed in the sign-in test {time.time():.0f}"
    _choose_category(pg, CATEGORY)
    pg.get_by_label("Note").fill(note)
    pg.get_by_role("button", name="Save review").click()
    pg.get_by_text("saved.").first.wait_for(timeout=60_000)
    wait_ready(pg, "Failure cases")
    _shot(pg, "signin_reviewer_saved")
    assert page_errors(pg) == []
    df = _store(state_dir, test_zoo_dir).all()
    assert len(df) == 1, df
    assert df.iloc[0]["note"] == note and df.iloc[0]["reviewer"] == REVIEWER and df.iloc[0]["category"] == CATEGORY
    assert pg.get_by_text(f"{CATEGORY} · {REVIEWER} ·").count() == 1, "the page shows who wrote the note"
    assert abs(df.iloc[0]["created"].timestamp() - time.time()) < 300
    assert pg.get_by_label("Note").input_value() == "", "the form clears only after the save committed"


@pytest.mark.browser
@pytest.mark.slow
def test_viewer_signs_in_sees_the_app_but_cannot_save_a_note(browser, provider, signed_in_app, test_zoo_dir):
    url, state_dir = signed_in_app
    before = len(_store(state_dir, test_zoo_dir).all())
    pg = _sign_in(browser, url, provider, VIEWER)
    _failure_cases(pg, url)
    _shot(pg, "signin_viewer_failure_cases")
    assert pg.get_by_text(f"{VIEWER} · viewer").count() == 1
    assert pg.get_by_role("button", name="Save review").count() == 0
    assert pg.get_by_label("Note").count() == 0
    assert pg.get_by_text("Reviewer notes are saved by reviewers; you are signed in as a viewer.").count() == 1
    assert len(_store(state_dir, test_zoo_dir).all()) == before


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("who, reason", [(OUTSIDER, f"Got {OUTSIDER}."),
                                         (UNVERIFIED, "the identity provider did not verify it")])
def test_account_off_the_allowlist_or_unverified_is_refused(browser, provider, signed_in_app, who, reason):
    url, _ = signed_in_app
    pg = _sign_in(browser, url, provider, who)
    pg.get_by_text("Expected an account on this server's allowlist.").wait_for(timeout=60_000)
    wait_ready(pg, "MyeloZoo") if pg.get_by_role("heading", name="MyeloZoo").count() else time.sleep(2)
    assert pg.get_by_text(reason).count() == 1
    pg.goto(f"{url}/failure_cases")  # a direct link draws nothing either
    pg.get_by_text("Expected an account on this server's allowlist.").wait_for(timeout=60_000)
    time.sleep(2)
    assert pg.get_by_role("heading", name="Failure cases").count() == 0
    assert pg.get_by_role("link", name="Leaderboard").count() == 0
    _shot(pg, f"signin_refused_{'unverified' if who == UNVERIFIED else 'outsider'}")


# ----- the serving rule, with the real server --------------------------------------------------------------------
REFUSAL = "MyeloZoo refuses to serve on 0.0.0.0 without sign-in"


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("anonymous", [False, True], ids=["refused", "allow_anonymous"])
def test_network_address_without_auth_is_refused_unless_allowed(browser, tiny_cohort_dir, test_zoo_dir, tmp_path,
                                                                 anonymous):
    extra = {"MYELOZOO_ALLOW_ANONYMOUS": "1"} if anonymous else {}
    empty = write_secrets(tmp_path / "secrets.toml")  # no [auth]; the developer's own secrets never leak in
    app = LiveDashboard(dashboard_env(tiny_cohort_dir, test_zoo_dir, tmp_path / "state", **extra),
                        tmp_path / "streamlit.log", "--server.address", "0.0.0.0", "--secrets.files", str(empty)).wait()
    try:
        pg = _new_page(browser)
        pg.goto(app.url)
        if anonymous:
            wait_ready(pg, "Cohort explorer", timeout_ms=180_000)
            assert page_errors(pg) == [] and REFUSAL not in app.output()
            _shot(pg, "serving_rule_allow_anonymous")
        else:
            pg.get_by_text(REFUSAL).wait_for(timeout=90_000)
            time.sleep(2)
            _shot(pg, "serving_rule_refused")
            text = pg.locator("body").inner_text()
            assert "MYELOZOO_ALLOW_ANONYMOUS=1" in text and "[auth]" in text
            assert pg.get_by_role("heading", name="Cohort explorer").count() == 0
            assert pg.get_by_role("link", name="Leaderboard").count() == 0, "no page of the app is drawn"
            deadline = time.time() + 10
            while REFUSAL not in app.output() and time.time() < deadline:
                time.sleep(0.2)
            assert REFUSAL in app.output(), "the reason is in the server's own output too"
    finally:
        app.stop()


@pytest.mark.browser
@pytest.mark.slow
def test_loopback_app_published_by_a_proxy_without_auth_is_refused(browser, tiny_cohort_dir, test_zoo_dir, tmp_path):
    """A proxy on this host reaches a loopback-bound app; its forwarding header gives it away."""
    empty = write_secrets(tmp_path / "secrets.toml")
    app = LiveDashboard(dashboard_env(tiny_cohort_dir, test_zoo_dir, tmp_path / "state"), tmp_path / "streamlit.log",
                        "--server.address", "127.0.0.1", "--secrets.files", str(empty)).wait()
    try:
        pg = _new_page(browser, extra_http_headers={"X-Forwarded-For": "10.0.0.7"})
        pg.goto(app.url)
        pg.get_by_text("MyeloZoo refuses to serve this session without sign-in").wait_for(timeout=90_000)
        assert pg.get_by_text("x-forwarded-for header").count() == 1
        assert pg.get_by_role("link", name="Leaderboard").count() == 0
    finally:
        app.stop()
