"""Made-up bearer tokens cannot make the API call the identity provider without limit, nor evict good answers."""
import pytest

from zoo.access import Access
from zoo.service import security as sec_mod
from zoo.service.security import ApiAuthError, ApiSecurity


def _security(monkeypatch, calls: list) -> ApiSecurity:
    s = ApiSecurity(userinfo_url="https://idp.example/userinfo", access=Access(viewers=["bob@h.example"]))

    def ask(token):
        calls.append(token)
        if token == "good":
            return "bob@h.example"
        raise ApiAuthError(401, "unknown token")
    monkeypatch.setattr(s, "_ask_provider", ask)
    return s


def test_distinct_made_up_tokens_are_rationed_per_minute(monkeypatch):
    calls: list = []
    s = _security(monkeypatch, calls)
    monkeypatch.setattr(sec_mod, "PROVIDER_LOOKUPS_PER_MINUTE", 5)
    codes = []
    for i in range(8):
        with pytest.raises(ApiAuthError) as e:
            s.check("10.0.0.1", {"Authorization": f"Bearer junk{i}"})
        codes.append(e.value.status)
    assert codes == [401] * 5 + [429] * 3 and len(calls) == 5, "the provider is asked 5 times, not 8"
    with pytest.raises(ApiAuthError) as e:
        s.check("10.0.0.1", {"Authorization": "Bearer junk0"})  # cached refusal: no provider call, no ration
    assert e.value.status == 401 and len(calls) == 5


def test_a_flood_evicts_the_oldest_answers_not_the_token_in_use(monkeypatch):
    calls: list = []
    s = _security(monkeypatch, calls)
    monkeypatch.setattr(sec_mod, "USERINFO_CACHE_ENTRIES", 3)
    assert s.check("10.0.0.1", {"Authorization": "Bearer good"}) == "bob@h.example"
    for i in range(10):
        with pytest.raises(ApiAuthError):
            s.check("10.0.0.1", {"Authorization": f"Bearer junk{i}"})
        assert s.check("10.0.0.1", {"Authorization": "Bearer good"}) == "bob@h.example"
    assert calls.count("good") == 1, "the good answer stayed cached through the flood"
    assert len(s._cache) == 3
