"""One patient's baseline values from a FHIR R4 Bundle (a Patient and its Observations).

EHRs send labs as Observations coded with LOINC and measured in UCUM units. The schema is the only list of
variables: each lab variable names its LOINC codes (``Variable.loinc``), and a UCUM unit is converted through
the variable's own units, so a Bundle in US units gives the same canonical values as the JSON the CLI takes.
Values that are not labs (FISH, isotype, bone lesions) may come as Observations coded with
``MYELOZOO_SYSTEM`` and the variable's name.

Bundles are parsed with ``fhir.resources``' R4B models: R4B is R4's technical correction and leaves
Bundle, Patient, Observation and RiskAssessment as they were in R4.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from zoo.errors import InputValueError
from zoo.schema import Kind, Schema, Variable

LOINC_SYSTEM = "http://loinc.org"
UCUM_SYSTEM = "http://unitsofmeasure.org"
MYELOZOO_SYSTEM = "https://myelozoo.org/fhir/CodeSystem/variable"
# UCUM codes whose spelling differs from the schema's unit beyond case, µ/u, spaces and ^ (checked by
# tests/api/test_fhir.py against every unit the schema declares)
UCUM_TO_SCHEMA = {"10*9/L": "10^9/L", "10*3/uL": "×10³/µL", "/uL": "/µL", "{cells}/uL": "/µL", "[iU]/L": "IU/L",
                  "mg/(24.h)": "mg/24h", "g/(24.h)": "g/24h", "a": "years", "mo": "months", "wk": "weeks",
                  "d": "days"}
USABLE_STATUS = {"final", "amended", "corrected"}  # a result a clinician may act on; preliminary is not
DEFAULT_LOOKBACK_DAYS = 180  # older Observations are not baseline values at the reference date


@dataclass
class FhirPatient:
    """What the Bundle gave: raw values keyed by variable (``{"value", "unit"}`` in the schema's spelling),
    one echo row per value used, and warnings for everything left out."""

    raw: dict = field(default_factory=dict)
    used: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    patient_id: str | None = None
    reference_date: dt.date | None = None


def loinc_index(schema: Schema) -> dict[str, Variable]:
    """LOINC code -> the schema variable it measures."""
    out: dict[str, Variable] = {}
    for v in schema:
        for code in v.loinc:
            out[code] = v
    return out


def schema_unit(ucum: str | None, var: Variable) -> str | None:
    """The variable's own spelling of a UCUM unit, or None when the variable has no such unit."""
    if ucum is None or ucum == "":
        return var.unit
    candidate = UCUM_TO_SCHEMA.get(ucum, ucum)
    try:
        var.to_canonical(1.0, candidate)
    except Exception:  # noqa: BLE001 - UnitError: not one of this variable's units
        return None
    return candidate


def _moment(raw) -> tuple[dt.datetime, dt.date] | None:
    """(the instant for ordering, the calendar day as the lab recorded it). FHIR allows partial dates ("2025",
    "2025-03"): they stand for their first day, and the day is that first day."""
    if raw is None:
        return None
    if isinstance(raw, str):
        parts = [int(p) for p in raw[:10].split("-") if p.isdigit()]
        if not parts:
            return None
        day = dt.date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
        return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc), day
    if isinstance(raw, dt.datetime):
        local_day = raw.date()  # the day in the timestamp's own zone, not in UTC
        return (raw if raw.tzinfo else raw.replace(tzinfo=dt.timezone.utc)), local_day
    return dt.datetime(raw.year, raw.month, raw.day, tzinfo=dt.timezone.utc), raw


def _when(obs) -> tuple[dt.datetime, dt.date] | None:
    raw = obs.effectiveDateTime or (obs.effectivePeriod.start if obs.effectivePeriod else None) or obs.issued
    return _moment(raw)


def _codes(obs) -> list[tuple[str | None, str | None, str | None]]:
    return [(c.system, c.code, c.display) for c in (obs.code.coding or [])] if obs.code else []


def _age(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def parse_bundle(bundle: dict, schema: Schema, reference_date: dt.date | None = None,
                 lookback_days: int = DEFAULT_LOOKBACK_DAYS) -> FhirPatient:
    """Raw values from a Bundle: per variable, the most recent usable Observation of this Patient taken on the
    reference date (default: today, UTC) or in the ``lookback_days`` before it. Raises InputValueError (in our
    words) when the Bundle is not a Bundle with one Patient."""
    from fhir.resources.R4B.bundle import Bundle
    from pydantic import ValidationError

    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        got = bundle.get("resourceType") if isinstance(bundle, dict) else type(bundle).__name__
        raise InputValueError(f"Expected a FHIR Bundle (resourceType 'Bundle'). Got {got!r}. Send the Patient and its "
                              "Observations as entries of one Bundle.")
    try:
        parsed = Bundle.model_validate(bundle)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise InputValueError(f"The Bundle is not valid FHIR R4: {where}: {first.get('msg')}. "
                              f"({len(e.errors())} problem(s) in all.) Check the resource against the R4 "
                              "specification.") from None
    ref = reference_date or dt.datetime.now(dt.timezone.utc).date()
    earliest = ref - dt.timedelta(days=lookback_days)
    out = FhirPatient(reference_date=ref)
    entries = [e for e in (parsed.entry or []) if e.resource is not None]
    resources = [e.resource for e in entries]
    patients = [r for r in resources if r.get_resource_type() == "Patient"]
    if len(patients) != 1:
        raise InputValueError(f"Expected exactly one Patient in the Bundle. Got {len(patients)}. Send one patient "
                              "per request (the batch endpoint takes a CSV of many).")
    _read_patient(patients[0], schema, ref, out)
    patient_refs = {f"Patient/{patients[0].id}"} if patients[0].id else set()
    patient_refs |= {e.fullUrl for e in entries if e.resource is patients[0] and e.fullUrl}
    by_loinc = loinc_index(schema)
    best: dict[str, tuple[dt.datetime | None, object, Variable, str, str]] = {}
    for obs in (r for r in resources if r.get_resource_type() == "Observation"):
        label = f"Observation {obs.id or '(no id)'}"
        if obs.status not in USABLE_STATUS:
            out.warnings.append(f"{label}: status {obs.status!r} is not a final result; left out.")
            continue
        subject = obs.subject.reference if obs.subject is not None else None
        if subject is not None and subject not in patient_refs:
            out.warnings.append(f"{label}: its subject {subject} is not the Bundle's Patient; left out.")
            continue
        var, code = None, None
        for system, c, _ in _codes(obs):
            if system == LOINC_SYSTEM and c in by_loinc:
                var, code = by_loinc[c], f"LOINC {c}"
                break
            if system == MYELOZOO_SYSTEM and c in schema and schema[c].role != "outcome":
                var, code = schema[c], f"{MYELOZOO_SYSTEM}|{c}"
                break
        if var is None:
            shown = ", ".join(f"{s or '?'}|{c or '?'}" + (f" ({d})" if d else "") for s, c, d in _codes(obs))
            out.warnings.append(f"{label}: code {shown or '(none)'} is not an input of this model; left out.")
            continue
        moment = _when(obs)
        when = moment[0] if moment else None
        if moment is not None and moment[1] > ref:
            out.warnings.append(f"{label} ({var.name}): taken {moment[1]}, after the reference date {ref}; left out.")
            continue
        if moment is not None and moment[1] < earliest:
            out.warnings.append(f"{label} ({var.name}): taken {moment[1]}, more than {lookback_days} days before the "
                                f"reference date {ref}, so not a baseline value; left out.")
            continue
        prev = best.get(var.name)
        if when is None:
            out.warnings.append(f"{label} ({var.name}): no effective date; used only when nothing dated is given.")
        if prev is None or (when is not None and (prev[0] is None or when > prev[0])):
            if prev is not None:
                out.warnings.append(f"{var.name}: {prev[3]} was replaced by the more recent {label}.")
            best[var.name] = (when, obs, var, label, code)
        else:
            out.warnings.append(f"{var.name}: {label} is older than {prev[3]}; left out.")
    for when, obs, var, label, code in best.values():
        _read_value(obs, var, when, f"{label} ({code})", out)
    return out


def _read_patient(patient, schema: Schema, ref: dt.date, out: FhirPatient) -> None:
    out.patient_id = patient.id
    if "age" in schema:
        if patient.birthDate is None:
            out.warnings.append("Patient: no birthDate; age is missing.")
        else:
            moment = _moment(patient.birthDate)
            birth = moment[1] if moment else None
            if isinstance(patient.birthDate, str):
                out.warnings.append(f"Patient: birthDate {patient.birthDate} is partial; its first day is used, so age "
                                    "may be one year too high.")
            if birth is None or birth > ref:
                out.warnings.append(f"Patient: birthDate {patient.birthDate} is after the reference date {ref}; "
                                    "age is missing.")
            else:
                age = _age(birth, ref)
                out.raw["age"] = age
                out.used.append({"variable": "age", "source": "Patient.birthDate", "value_sent": str(birth),
                                 "unit_sent": None, "value": age, "unit": schema["age"].unit,
                                 "effective": str(ref)})
    if "sex" in schema:
        if patient.gender in ("male", "female"):
            out.raw["sex"] = patient.gender
            out.used.append({"variable": "sex", "source": "Patient.gender", "value_sent": patient.gender,
                             "unit_sent": None, "value": patient.gender, "unit": None, "effective": None})
        else:
            out.warnings.append(f"Patient: gender {patient.gender!r} is not one the model was trained on "
                                "(male, female); sex is missing.")


def _read_value(obs, var: Variable, when: dt.datetime | None, label: str, out: FhirPatient) -> None:
    q = obs.valueQuantity
    row = {"variable": var.name, "source": label, "effective": when.isoformat() if when else None}
    if q is not None:
        if q.value is None:
            out.warnings.append(f"{label} ({var.name}): valueQuantity without a value; left out.")
            return
        if var.kind is not Kind.numeric:
            out.warnings.append(f"{label} ({var.name}): expected a coded value, got a quantity; left out.")
            return
        sent_unit = q.code if q.system in (UCUM_SYSTEM, None) and q.code else q.unit
        unit = schema_unit(sent_unit, var)
        if unit is None:
            out.warnings.append(f"{label} ({var.name}): unit {sent_unit!r} cannot be converted to {var.unit} "
                                f"(known: {', '.join(var.units())}); left out.")
            return
        value = float(q.value)
        if q.comparator in ("<", "<=", ">", ">="):
            out.warnings.append(f"{label} ({var.name}): {q.comparator}{value:g} {sent_unit or ''} is beyond the "
                                f"assay's limit; the limit {value:g} is used.")
        out.raw[var.name] = {"value": value, "unit": unit}
        canonical = var.to_canonical(value, unit)
        out.used.append({**row, "value_sent": value, "unit_sent": sent_unit,
                         "value": canonical if math.isfinite(canonical) else None, "unit": var.unit})
        return
    if obs.valueCodeableConcept is not None:
        cc = obs.valueCodeableConcept
        sent = next((c.code for c in (cc.coding or []) if c.code), None) or cc.text
    elif obs.valueBoolean is not None:
        sent = "1" if obs.valueBoolean else "0"
    elif obs.valueString is not None:
        sent = obs.valueString
    elif obs.valueInteger is not None:
        sent = obs.valueInteger
    else:
        out.warnings.append(f"{label} ({var.name}): no value (valueQuantity, valueCodeableConcept, valueBoolean, "
                            "valueString or valueInteger); left out.")
        return
    out.raw[var.name] = sent
    level = var.normalise_level(sent) if var.kind is not Kind.numeric else sent
    out.used.append({**row, "value_sent": sent, "unit_sent": None, "value": level, "unit": var.unit})


def risk_assessment(prediction: dict, patient_id: str | None, zoo_hash: str, reference_date: dt.date,
                    used: list[dict], warnings: list[str] | None = None) -> dict:
    """The prediction as a FHIR R4 RiskAssessment (validated with fhir.resources before it is returned)."""
    from fhir.resources.R4B.riskassessment import RiskAssessment

    p = float(prediction["probability"])
    body = {
        "resourceType": "RiskAssessment", "status": "final",
        "subject": {"reference": f"Patient/{patient_id}"} if patient_id else {"display": "patient in the request"},
        "occurrenceDateTime": reference_date.isoformat(),
        "method": {"text": f"MyeloZoo {prediction.get('main_ensemble')} (zoo {zoo_hash[:12]})"},
        "prediction": [{
            "outcome": {"text": "Progressive disease (PD) within 24 months of bortezomib-based induction"},
            "probabilityDecimal": round(p, 6),
            "whenRange": {"high": {"value": 24, "unit": "months", "system": UCUM_SYSTEM, "code": "mo"}},
            "rationale": (f"Risk band: {prediction.get('risk_band')}."
                          + (" Calibration band (95 %) {:.2f}-{:.2f}.".format(*prediction["calibration_band_95"])
                             if prediction.get("calibration_band_95") else "")
                          + (" Venn-Abers pair {:.2f}-{:.2f}.".format(*prediction["venn_abers_interval"])
                             if prediction.get("venn_abers_interval") else "")
                          + " Research use only; not for clinical decisions."),
        }],
        "note": [{"text": f"{len(used)} input value(s) used: " + "; ".join(
                      f"{u['variable']} = {u['value']}" + (f" {u['unit']}" if u.get("unit") else "") for u in used)},
                 *({"text": f"Warning: {w}"} for w in (warnings or []))],
    }
    return RiskAssessment.model_validate(body).model_dump(mode="json", exclude_none=True)
