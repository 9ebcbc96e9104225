"""The prediction API: ``python -m zoo serve --zoo Z``.

One loaded zoo per process, the same payload as ``python -m zoo predict``, and the same validation: request
models are generated from the zoo's own schema, and every value goes through ``validate_fields``, so a bad
request gets the messages ``python -m zoo validate`` would give, as a 422. Limits on body size and images are
those of the dashboard (zoo/cohort/images.py).
"""

import datetime as dt
import json
import math
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from fastapi import Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, create_model

from zoo.errors import CohortError, ImageReadError, InputValueError, MyeloZooError
from zoo.schema import ID_COLUMN, Kind, Schema
from zoo.interop.fhir import DEFAULT_LOOKBACK_DAYS
from zoo.service.security import ApiAuthError, ApiSecurity

MAX_BODY_BYTES = 10 * 2**20  # JSON, FHIR and CSV bodies
MAX_MULTIPART_BYTES = 64 * 2**20  # a patient's images in one request
MAX_BATCH_ROWS = 20_000
# A Bundle for one prediction: the Patient and its Observations. 40,000 entries took 7.7 s of CPU to validate.
MAX_FHIR_ENTRIES = 2_000
IMAGES_PATH = "/v1/predict/images"
API_VERSION = "1"


class Quantity(BaseModel):
    """A value in a unit other than the canonical one, e.g. ``{"value": 9.5, "unit": "g/dL"}``."""

    model_config = ConfigDict(extra="forbid")
    value: float | str | None
    unit: str | None = None


def patient_model(schema: Schema) -> type[BaseModel]:
    """The request body, one optional field per model input, generated from the schema (no second list).

    Types are documented loosely on purpose: the schema's own checks (``validate_fields``) decide, so that the
    API and ``python -m zoo validate`` reject the same values with the same words.
    """
    fields: dict[str, Any] = {ID_COLUMN: (str | None, Field(None, max_length=200, description="Echoed back."))}
    for v in [*schema.features(), *schema.inputs()]:
        if v.derived:
            continue
        if v.kind is Kind.numeric:
            lo, hi = v.valid_range
            desc = f"{v.display} in {v.unit or 'no unit'} (plausible {lo:g}–{hi:g}). {v.help}"
            if v.alt_units:
                desc += f" Other units: {', '.join(v.alt_units)} as {{\"value\": x, \"unit\": u}}."
            fields[v.name] = (float | Quantity | None, Field(None, title=v.display, description=desc))
        else:
            fields[v.name] = (str | int | None, Field(None, title=v.display,
                                                      description=f"{v.display}: one of {', '.join(v.levels)}. {v.help}",
                                                      json_schema_extra={"examples": [v.levels[0]]}))
    return create_model("PatientIn", __config__=ConfigDict(extra="allow"), **fields)


def _finite(obj):
    """JSON has no NaN: a missing probability is null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


class _Gate:
    """Pure ASGI, before FastAPI reads anything: who is calling (401/403 without reading the body), then the
    body, buffered up to its limit (413 beyond it, whether the size is declared, chunked or misdeclared)."""

    def __init__(self, app, security: ApiSecurity, limit: int, multipart_limit: int) -> None:
        self.app, self.security, self.limit, self.multipart_limit = app, security, limit, multipart_limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        if path.startswith("/v1/"):
            from starlette.concurrency import run_in_threadpool
            from starlette.datastructures import Headers

            client = scope.get("client")
            try:  # a userinfo lookup may block: not on the event loop
                scope["myelozoo.caller"] = await run_in_threadpool(
                    self.security.check, client[0] if client else None, Headers(scope=scope))
            except ApiAuthError as e:
                return await _reply(send, e.status, [str(e)],
                                    [(b"www-authenticate", b"Bearer")] if e.status == 401 else [])
        limit = self.multipart_limit if path == IMAGES_PATH else self.limit
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await _reply(send, 413, [_too_large(limit)])
        body, more = bytearray(), True
        while more:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return None
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
            if len(body) > limit:
                return await _reply(send, 413, [_too_large(limit)])
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


def _too_large(limit: int) -> str:
    return (f"Expected a request body of at most {limit // 2**20} MiB. Send fewer or smaller images, or split the "
            "batch.")


async def _reply(send, status: int, detail: list[str], headers: list | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


def create_app(zoo_path: str | Path, security: ApiSecurity | None = None, slots: int = 1,
               zoo=None) -> FastAPI:
    """The API over one zoo (loaded once, hashes verified). ``slots``: predictions computed at once."""
    from zoo.api import MAIN_ENSEMBLE, Zoo

    from zoo.heap import preload_and_settle, tune_collector

    if zoo is None:
        zoo = Zoo.load(zoo_path)
        tune_collector()
        preload_and_settle(zoo, background=False)  # a server loads once, then keeps the collector off it
    security = security or ApiSecurity()
    schema = zoo.schema
    PatientIn = patient_model(schema)
    gate = threading.BoundedSemaphore(max(1, slots))

    @contextmanager
    def compute():
        with gate:
            yield

    app = FastAPI(title="MyeloZoo prediction API", version=API_VERSION,
                  description="2-year progression (PD vs non-PD) of newly diagnosed multiple myeloma on "
                              "bortezomib-based induction. Research use only; not for clinical decisions.")
    app.add_middleware(_Gate, security=security, limit=MAX_BODY_BYTES, multipart_limit=MAX_MULTIPART_BYTES)

    def caller(request: Request) -> str:
        """Set by the gate before the body was read (every /v1/ path goes through it)."""
        return request.scope["myelozoo.caller"]

    @app.exception_handler(RequestValidationError)
    async def _invalid(_, e: RequestValidationError):
        return JSONResponse({"detail": [_pydantic_message(err, schema) for err in e.errors()]}, status_code=422)

    @app.exception_handler(InputValueError)
    @app.exception_handler(CohortError)
    async def _bad_input(_, e: MyeloZooError):  # one problem per line of our message, each an item of detail
        return JSONResponse({"detail": [ln.strip() for ln in str(e).splitlines() if ln.strip()][:60]},
                            status_code=422)

    def _predict(raw: dict, images: dict | None = None, extra_warnings: list[str] | None = None) -> dict:
        from zoo.scoring.inputs import clinical_from_dict

        values, pid, notes = clinical_from_dict(raw, schema)
        with compute():
            pred = zoo.predict_patient(values, images)
        pred.patient_id = pid
        pred.warnings = [*(extra_warnings or []), *notes, *pred.warnings]
        return _finite(pred.to_dict())

    @app.get("/health", summary="Liveness: answers without credentials")
    def health() -> dict:
        return {"status": "ok", "zoo": zoo.hash}

    @app.get("/v1/models", summary="The zoo's identity, its models and ensembles, and the inputs it takes")
    def models(_who: str = Depends(caller)) -> dict:
        m = zoo.manifest
        return _finite({
            "zoo": {"hash": zoo.hash, "created": m.get("created"), "profile": (m.get("profile") or {}).get("name"),
                    "n_patients": (m.get("cohort") or {}).get("n"),
                    "synthetic_cohort": (m.get("cohort") or {}).get("synthetic"), "seed": m.get("seed")},
            "main_ensemble": MAIN_ENSEMBLE,
            "models": [{"name": n, "display": zoo.displays.get(n, n), "modality": r.get("modality"),
                        "family": r.get("family")} for n, r in m["models"].items()],
            "ensembles": [{"name": n, "display": zoo.displays.get(n, n), "members": r.get("members")}
                          for n, r in m["ensembles"].items()],
            "inputs": [{"name": v.name, "display": v.display, "kind": v.kind.value, "unit": v.unit,
                        "other_units": list(v.alt_units), "levels": list(v.levels), "loinc": list(v.loinc),
                        "valid_range": list(v.valid_range) if v.valid_range else None}
                       for v in [*schema.features(), *schema.inputs()] if not v.derived],
        })

    @app.post("/v1/predict", summary="One patient's clinical values (JSON) -> the prediction, as the CLI prints it")
    def predict(patient: PatientIn, _who: str = Depends(caller)) -> dict:  # type: ignore[valid-type]
        raw = {k: (v.model_dump() if isinstance(v, BaseModel) else v)
               for k, v in patient.model_dump(exclude_none=True).items()}
        return _predict(raw)

    @app.post("/v1/predict/fhir", summary="A FHIR R4 Bundle (Patient + LOINC-coded Observations) -> the prediction",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/fhir+json": {"schema": {"type": "object"}},
                  "application/json": {"schema": {"type": "object"}}}}})
    async def predict_fhir(request: Request, reference_date: dt.date | None = Query(
            None, description="Age and the most recent Observation are taken as of this date, e.g. the diagnosis "
                              "(default: today, UTC)."),
            lookback_days: int = Query(DEFAULT_LOOKBACK_DAYS, ge=1, le=3650,
                                       description="Observations older than this many days before the reference "
                                                   "date are not baseline values and are left out."),
            format: Literal["json", "RiskAssessment"] = Query("json", description="RiskAssessment: a FHIR resource."),
            _who: str = Depends(caller)):
        from starlette.concurrency import run_in_threadpool

        from zoo.interop.fhir import parse_bundle, risk_assessment

        body = await request.body()

        def _parse():
            try:
                bundle = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                raise InputValueError("Expected a FHIR Bundle as JSON. Got a body that is not JSON.") from None
            except RecursionError:
                raise InputValueError("Expected a FHIR Bundle as JSON. Got JSON nested too deeply to be one.") from None
            entries = bundle.get("entry") if isinstance(bundle, dict) else None
            if isinstance(entries, list) and len(entries) > MAX_FHIR_ENTRIES:
                raise InputValueError(f"Expected at most {MAX_FHIR_ENTRIES:,} entries in the Bundle. Got "
                                      f"{len(entries):,}. Send the Patient and its recent Observations only.")
            with compute():  # validating a large Bundle is CPU work: bounded by the same slots as a prediction
                return parse_bundle(bundle, schema, reference_date, lookback_days)

        got = await run_in_threadpool(_parse)  # parsing and validating a large Bundle must not block the loop
        raw = {**got.raw, **({ID_COLUMN: got.patient_id} if got.patient_id else {})}
        out = await run_in_threadpool(_predict, raw, None, got.warnings)
        out["used"] = _finite(got.used)
        out["reference_date"] = str(got.reference_date)
        if format == "RiskAssessment":
            ra = risk_assessment(out, got.patient_id, zoo.hash, got.reference_date, got.used, out["warnings"])
            return JSONResponse(ra, media_type="application/fhir+json")
        return out

    @app.post("/v1/predict/images", summary="Clinical JSON plus marrow and IFE images (multipart) -> the prediction")
    def predict_images(clinical: str | UploadFile = Form("{}", description='JSON object as for /v1/predict, e.g. '
                                                                           '{"hgb": 95}'),
                       marrow: list[UploadFile] = File(default=[]),
                       electrophoresis: list[UploadFile] = File(default=[]),
                       _who: str = Depends(caller)) -> dict:
        from zoo.cohort.images import MAX_UPLOAD_FILES, read_uploads

        if not isinstance(clinical, str):
            raise InputValueError("clinical: expected a form field holding a JSON object (e.g. -F 'clinical={\"hgb\": "
                                  "95}'). Got a file.")
        if len(marrow) > MAX_UPLOAD_FILES or len(electrophoresis) > MAX_UPLOAD_FILES:
            raise InputValueError(f"This upload: expected at most {MAX_UPLOAD_FILES} files per modality. Got "
                                  f"{len(marrow)} marrow and {len(electrophoresis)} IFE files.")
        try:
            raw = json.loads(clinical)
        except ValueError:
            raise InputValueError("clinical: expected a JSON object of variable -> value. Got invalid JSON.") from None
        if not isinstance(raw, dict):
            raise InputValueError(f"clinical: expected a JSON object of variable -> value. Got a {type(raw).__name__}.")
        images, problems = {}, []
        with compute():  # decoding is model-sized work: bounded by the same slots, so memory is bounded too
            for modality, files in (("marrow", marrow), ("electrophoresis", electrophoresis)):
                arrays, errors = read_uploads([(f.filename or "upload", f.file.read()) for f in files])
                problems += [f"{modality}: {e}" for e in errors]
                images[modality] = arrays
        if problems:
            raise InputValueError("\n".join(problems))
        return _predict(raw, images)

    @app.post("/v1/predict/batch", summary="A clinical table (CSV, as python -m zoo validate reads it) -> CSV",
              response_class=Response, openapi_extra={"requestBody": {"required": True, "content": {
                  "text/csv": {"schema": {"type": "string"}}}}},
              responses={200: {"content": {"text/csv": {}}}})
    async def predict_batch(request: Request, _who: str = Depends(caller)) -> Response:
        from starlette.concurrency import run_in_threadpool

        body = await request.body()
        if not body.strip():
            raise InputValueError("Expected a CSV table with a header row. Got an empty body.")
        if len(body.splitlines()) > MAX_BATCH_ROWS + 1:  # \n, \r\n and a bare \r all end a row
            raise InputValueError(f"Expected at most {MAX_BATCH_ROWS:,} rows per request. Split the table.")
        return await run_in_threadpool(_batch, body)

    def _batch(body: bytes) -> Response:
        from zoo.csvsafe import safe_csv_bytes
        from zoo.scoring.batch import score_clinical_file

        with tempfile.TemporaryDirectory(prefix="myelozoo_batch_") as tmp:
            path = Path(tmp) / "request.csv"
            path.write_bytes(body)
            with compute():
                table, _ = score_clinical_file(zoo, path, show_bar=False)
        return Response(safe_csv_bytes(table), media_type="text/csv")

    @app.exception_handler(ImageReadError)
    async def _bad_image(_, e: ImageReadError):
        return JSONResponse({"detail": [str(e)]}, status_code=422)

    @app.exception_handler(MyeloZooError)
    async def _ours(_, e: MyeloZooError):
        return JSONResponse({"detail": [str(e)]}, status_code=422)

    app.state.zoo = zoo
    return app


def _pydantic_message(err: dict, schema: Schema) -> str:
    """A request-model error in the words of ``validate``: the variable, what was expected, what came."""
    loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "Quantity")]
    name = loc[0] if loc else "request"
    got = err.get("input")
    try:
        shown = json.dumps(got)[:80]
    except (TypeError, ValueError):
        shown = f"a {type(got).__name__}"
    if name in schema:
        v = schema[name]
        if v.kind is Kind.numeric:
            return (f"{v.display}: expected a number in {v.unit or 'no unit'} or {{\"value\": x, \"unit\": u}} "
                    f"(units: {', '.join(v.units()) or 'none'}). Got {shown}.")
        return f"{v.display}: expected one of {list(v.levels)}. Got {shown}."
    if name == ID_COLUMN:
        return f"{ID_COLUMN}: expected a text of at most 200 characters. Got {shown}."
    return f"{'.'.join(loc) or 'request'}: {err.get('msg', 'invalid')}. Got {shown}."
