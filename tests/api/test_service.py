"""The prediction API (python -m zoo serve): same payload as the CLI, same messages as validate, limits, sign-in."""
from __future__ import annotations

import io
import json
import secrets as pysecrets
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.api.test_fhir import bundle, obs

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from zoo.service.app import MAX_BODY_BYTES, create_app  # noqa: E402
from zoo.service.security import ApiSecurity, new_api_key, read_api_keys, serve_problem  # noqa: E402

LOCAL = ("127.0.0.1", 50000)
PATIENT = {"patient_id": "X1", "age": 67, "sex": "female", "hgb": 95, "alb": 31, "b2m": 6.2, "ldh": 310,
           "creatinine": 124, "plt": 150, "fish_del17p": 1, "mprotein_heavy": "IgA"}


@pytest.fixture(scope="module")
def app(test_zoo):
    return create_app(test_zoo.path, zoo=test_zoo)


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app, client=LOCAL, base_url="http://localhost") as c:
        yield c


def test_health_and_models_name_the_zoo_its_registry_and_the_schema_inputs(client, test_zoo):
    assert client.get("/health").json() == {"status": "ok", "zoo": test_zoo.hash}
    m = client.get("/v1/models").json()
    assert m["zoo"]["hash"] == test_zoo.hash and m["main_ensemble"] == "ens_soft_vote"
    assert {r["name"] for r in m["models"]} == set(test_zoo.model_names)
    assert {r["name"] for r in m["ensembles"]} == set(test_zoo.ensemble_names)
    hgb = next(v for v in m["inputs"] if v["name"] == "hgb")
    assert hgb["unit"] == "g/L" and "g/dL" in hgb["other_units"] and hgb["loinc"] == ["718-7"]
    # the OpenAPI request body is generated from the schema: every input is a property
    props = client.get("/openapi.json").json()["components"]["schemas"]["PatientIn"]["properties"]
    assert {v["name"] for v in m["inputs"]} <= set(props)


def test_predict_returns_exactly_what_the_cli_prints(client, test_zoo, tmp_path, capsys):
    from zoo.cli import main

    f = tmp_path / "patient.json"
    f.write_text(json.dumps(PATIENT))
    assert main(["predict", "--zoo", str(test_zoo.path), "--clinical", str(f)]) == 0
    cli = json.loads(capsys.readouterr().out)
    r = client.post("/v1/predict", json=PATIENT)
    assert r.status_code == 200, r.text
    assert r.json() == json.loads(json.dumps(cli))  # same keys, same numbers (NaN-free)
    assert 0 < r.json()["probability"] < 1 and r.json()["patient_id"] == "X1"


def test_a_fhir_bundle_in_us_units_predicts_as_the_same_patient_in_si_json(client):
    si = {"age": 67, "sex": "female", "hgb": 95, "alb": 31, "creatinine": 1.4 * 88.42, "b2m": 6.2, "ldh": 310,
          "plt": 150, "calcium_total": 10.4 * 0.2495}
    b = bundle(obs("hb", "718-7", 9.5, "g/dL"), obs("alb", "1751-7", 3.1, "g/dL"), obs("cr", "2160-0", 1.4, "mg/dL"),
               obs("b2m", "1952-1", 6.2, "mg/L"), obs("ldh", "2532-0", 310, "U/L"),
               obs("plt", "777-3", 150, "10*3/uL"), obs("ca", "17861-6", 10.4, "mg/dL"))
    r = client.post("/v1/predict/fhir?reference_date=2026-06-01", content=json.dumps(b),
                    headers={"content-type": "application/fhir+json"})
    assert r.status_code == 200, r.text
    j = client.post("/v1/predict", json=si).json()
    assert r.json()["probability"] == pytest.approx(j["probability"], abs=1e-12)
    assert r.json()["ensembles"] == pytest.approx(j["ensembles"], abs=1e-12)
    used = {u["variable"]: u for u in r.json()["used"]}
    assert used["hgb"]["value"] == pytest.approx(95) and used["hgb"]["unit"] == "g/L"
    assert r.json()["patient_id"] == "p1"
    ra = client.post("/v1/predict/fhir?reference_date=2026-06-01&format=RiskAssessment", content=json.dumps(b))
    assert ra.status_code == 200 and ra.headers["content-type"].startswith("application/fhir+json")
    res = ra.json()
    assert res["resourceType"] == "RiskAssessment" and res["subject"]["reference"] == "Patient/p1"
    assert res["prediction"][0]["probabilityDecimal"] == pytest.approx(j["probability"], abs=1e-6)


def test_bad_input_is_a_422_with_the_messages_validate_gives(client):
    from zoo.schema import DEFAULT_SCHEMA
    from zoo.scoring.inputs import validate_values

    bad = {"hgb": 5000, "sex": "robot", "ecog": 2, "alb": {"value": 3.1, "unit": "furlongs"}}
    r = client.post("/v1/predict", json=bad)
    assert r.status_code == 422
    _, expected = validate_values(bad, DEFAULT_SCHEMA)
    assert sorted(r.json()["detail"]) == sorted(expected)
    r = client.post("/v1/predict", json={"hgb": [1, 2]})  # wrong JSON type: our words, not pydantic's
    assert r.status_code == 422 and r.json()["detail"][0].startswith("Haemoglobin: expected a number in g/L")
    r = client.post("/v1/predict/fhir", content=b"{not json")
    assert r.status_code == 422 and "not JSON" in r.json()["detail"][0]


def test_batch_csv_in_csv_out_with_semicolons_and_decimal_commas(client):
    body = "patient_id;age;hgb (g/dL);alb\nA;67;9,5;31\nB;55;;40\n".encode("cp1252")
    r = client.post("/v1/predict/batch", content=body, headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    import pandas as pd

    out = pd.read_csv(io.BytesIO(r.content))
    assert list(out["patient_id"].astype(str)) == ["A", "B"] and out["probability"].between(0, 1).all()
    r = client.post("/v1/predict/batch", content=b"patient_id,hgb\nA,abc\n", headers={"content-type": "text/csv"})
    assert r.status_code in (200, 422)  # a non-number is a per-row warning or an error, never a 500


def _png(seed: int = 0, size: int = 64) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_images_by_multipart_limits_and_refused_formats(client, tiny_cohort_dir):
    marrow = next((Path(tiny_cohort_dir) / "images" / "marrow").glob("*.png")).read_bytes()
    r = client.post("/v1/predict/images", data={"clinical": json.dumps(PATIENT)},
                    files=[("marrow", ("m.png", marrow, "image/png"))])
    assert r.status_code == 200, r.text
    assert any("marrow" in m for m in r.json()["modalities_used"].get("ens_soft_vote", []))
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    r = client.post("/v1/predict/images", data={"clinical": "{}"}, files=[("marrow", ("evil.png", eps, "image/png"))])
    assert r.status_code == 422 and "evil.png" in r.json()["detail"][0]
    r = client.post("/v1/predict/images", data={"clinical": "{}"},
                    files=[("marrow", (f"m{i}.png", _png(i, 8), "image/png")) for i in range(21)])
    assert r.status_code == 422 and "at most 20 files" in r.json()["detail"][0]


def test_a_body_over_the_limit_is_refused_before_it_is_read(client):
    r = client.post("/v1/predict/batch", content=b"a" * (MAX_BODY_BYTES + 1), headers={"content-type": "text/csv"})
    assert r.status_code == 413 and "at most 10 MiB" in r.json()["detail"][0]


def test_without_credentials_only_loopback_callers_get_in(app):
    with TestClient(app, client=("10.1.2.3", 40000)) as far:
        r = far.post("/v1/predict", json=PATIENT)
        assert r.status_code == 401 and "API keys or OIDC" in r.json()["detail"][0]
        assert far.get("/health").status_code == 200  # liveness stays open
    with TestClient(app, client=LOCAL, base_url="http://localhost") as near:  # a proxy on this host: the forwarding header gives it away
        assert near.post("/v1/predict", json=PATIENT, headers={"x-forwarded-for": "10.9.9.9"}).status_code == 401
    assert serve_problem("0.0.0.0", ApiSecurity()) is not None
    assert serve_problem("127.0.0.1", ApiSecurity()) is None


def test_api_keys_are_stored_as_digests_and_checked(test_zoo, tmp_path):
    key, line = new_api_key("lab-system")
    assert key not in line
    (tmp_path / "keys.txt").write_text(f"# our keys\n{line}\n")
    sec = ApiSecurity.from_options(api_keys=tmp_path / "keys.txt")
    assert serve_problem("0.0.0.0", sec) is None
    with TestClient(create_app(test_zoo.path, sec, zoo=test_zoo), client=("10.1.2.3", 40000)) as c:
        assert c.post("/v1/predict", json=PATIENT).status_code == 401
        assert c.post("/v1/predict", json=PATIENT, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.post("/v1/predict", json=PATIENT, headers={"Authorization": f"Bearer {key}"}).status_code == 200
    (tmp_path / "bad.txt").write_text(f"lab:{key}\n")  # a plain key in the file is refused
    with pytest.raises(ValueError, match="line 1"):
        read_api_keys(tmp_path / "bad.txt")


def _access_token(provider: str, email: str) -> str:
    import httpx

    redirect = "http://localhost/cb"
    params = {"client_id": "lab", "redirect_uri": redirect, "response_type": "code", "scope": "openid email"}
    with httpx.Client(base_url=provider) as h:
        r = h.post("/oauth2/authorize", params=params, data={"sub": email})
        assert r.status_code == 302, r.text
        code = httpx.URL(r.headers["location"]).params["code"]
        t = h.post("/oauth2/token", data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect,
                                          "client_id": "lab", "client_secret": "s"})
        assert t.status_code == 200, t.text
        return t.json()["access_token"]


def test_oidc_bearer_tokens_from_a_mock_provider_follow_the_dashboards_allowlist(test_zoo, tmp_path):
    pytest.importorskip("oidc_provider_mock")
    from oidc_provider_mock import run_server_in_thread

    (tmp_path / "secrets.toml").write_text('[access]\nviewers = ["@hospital.example"]\nreviewers = []\n')
    with run_server_in_thread(port=0) as srv:
        provider = f"http://localhost:{srv.server_port}"
        sec = ApiSecurity.from_options(oidc_issuer=provider, access=tmp_path / "secrets.toml")
        with TestClient(create_app(test_zoo.path, sec, zoo=test_zoo), client=("10.1.2.3", 40000)) as c:
            ok = _access_token(provider, "bob@hospital.example")
            r = c.post("/v1/predict", json=PATIENT, headers={"Authorization": f"Bearer {ok}"})
            assert r.status_code == 200, r.text
            outsider = _access_token(provider, "eve@elsewhere.example")
            r = c.post("/v1/predict", json=PATIENT, headers={"Authorization": f"Bearer {outsider}"})
            assert r.status_code == 403 and "allowlist" in r.json()["detail"][0]
            r = c.post("/v1/predict", json=PATIENT, headers={"Authorization": f"Bearer {pysecrets.token_hex(8)}"})
            assert r.status_code == 401


def test_zoo_serve_answers_over_http_and_refuses_a_network_address_without_credentials(test_zoo_dir):
    import os
    import subprocess
    import sys
    import time

    import httpx

    from tests.dashboard.conftest import free_port

    refused = subprocess.run([sys.executable, "-m", "zoo", "serve", "--zoo", str(test_zoo_dir), "--host", "0.0.0.0"],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "refuses to listen on 0.0.0.0" in refused.stderr
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "zoo", "serve", "--zoo", str(test_zoo_dir), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(os.environ))
    try:
        base = f"http://127.0.0.1:{port}"
        end = time.monotonic() + 120
        while time.monotonic() < end:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        r = httpx.post(f"{base}/v1/predict", json=PATIENT, timeout=60)
        assert r.status_code == 200 and 0 < r.json()["probability"] < 1
        b = bundle(obs("hb", "718-7", 9.5, "g/dL"), obs("alb", "1751-7", 3.1, "g/dL"))
        r = httpx.post(f"{base}/v1/predict/fhir?reference_date=2026-06-01", content=json.dumps(b), timeout=60,
                       headers={"content-type": "application/fhir+json"})
        assert r.status_code == 200 and {u["variable"] for u in r.json()["used"]} >= {"hgb", "alb", "age", "sex"}
        assert httpx.post(f"{base}/v1/predict", json={"hgb": -4}, timeout=60).status_code == 422
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_credentials_are_checked_before_the_body_is_read_and_limits_hold_however_the_body_comes(test_zoo, tmp_path):
    key, line = new_api_key("lab")
    (tmp_path / "keys.txt").write_text(line + "\n")
    app = create_app(test_zoo.path, ApiSecurity.from_options(api_keys=tmp_path / "keys.txt"), zoo=test_zoo)
    with TestClient(app, client=("10.1.2.3", 40000)) as c:
        r = c.post("/v1/predict", content=b"{bad json", headers={"content-type": "application/json"})
        assert r.status_code == 401  # not 422: nobody unknown gets the body parsed
        auth = {"Authorization": f"Bearer {key}"}
        big = b"{" + b" " * (MAX_BODY_BYTES + 10) + b"}"
        r = c.post("/v1/predict/fhir", content=big, headers={**auth, "content-type": "multipart/form-data; b=x"})
        assert r.status_code == 413  # calling it multipart does not raise the JSON limit

        def chunks():  # no Content-Length: counted as it arrives
            for _ in range(11):
                yield b" " * 2**20

        r = c.post("/v1/predict/batch", content=chunks(), headers={**auth, "content-type": "text/csv"})
        assert r.status_code == 413
        rows = b"patient_id,age\r" + b"A,60\r" * 20_001  # bare CR line ends still count as rows
        r = c.post("/v1/predict/batch", content=rows, headers={**auth, "content-type": "text/csv"})
        assert r.status_code == 422 and "at most 20,000 rows" in r.json()["detail"][0]
        r = c.post("/v1/predict/images", headers=auth, files=[("clinical", ("p.json", b'{"age": 60}', "application/json"))])
        assert r.status_code == 422 and "Got a file" in r.json()["detail"][0]


def test_total_calcium_counts_in_json_as_it_does_in_a_batch(client):
    import pandas as pd

    one = client.post("/v1/predict", json={"age": 70, "alb": 28, "calcium_total": 2.9}).json()
    assert any("Payne" in w for w in one["warnings"])
    table = client.post("/v1/predict/batch", content=b"patient_id,age,alb,calcium_total\nA,70,28,2.9\n",
                        headers={"content-type": "text/csv"})
    row = pd.read_csv(io.BytesIO(table.content)).iloc[0]
    assert row["probability"] == pytest.approx(one["probability"], abs=1e-12)
    missing = client.post("/v1/predict", json={"age": 70, "alb": 28}).json()
    assert missing["models"]["clinical_lr"] != pytest.approx(one["models"]["clinical_lr"], abs=1e-9)


def test_fhir_bodies_nested_too_deeply_or_with_too_many_entries_are_refused_in_our_words(client):
    from zoo.service.app import MAX_FHIR_ENTRIES

    deep = client.post("/v1/predict/fhir", content="[" * 100_000, headers={"content-type": "application/fhir+json"})
    assert 400 <= deep.status_code < 500 and "nested too deeply" in deep.text
    many = bundle(*[obs(f"o{i}", "718-7", 9.5, "g/dL") for i in range(MAX_FHIR_ENTRIES)])
    r = client.post("/v1/predict/fhir", content=json.dumps(many), headers={"content-type": "application/fhir+json"})
    assert 400 <= r.status_code < 500 and f"at most {MAX_FHIR_ENTRIES:,} entries" in r.text
