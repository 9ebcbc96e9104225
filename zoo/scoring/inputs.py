"""One patient's clinical values from JSON or a form: units converted, ranges checked.

Accepts ``{"hgb": 95}`` (canonical unit) or ``{"hgb": {"value": 9.5, "unit": "g/dL"}}``.
Every problem is collected and reported at once.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from zoo.errors import InputValueError
from zoo.schema import ID_COLUMN, Kind, Schema


def validate_values(raw: dict, schema: Schema) -> tuple[dict, list[str]]:
    """Canonical values and the list of problems (each naming the variable and how to fix it)."""
    out, problems = {}, []
    for name, val in raw.items():
        if name == ID_COLUMN or (name in schema and schema[name].role == "outcome"):
            continue  # identifiers are echoed and outcomes ignored by the callers, with a note
        if name not in schema:
            problems.append(f"{name}: unknown variable. Known: {', '.join(v.name for v in schema.features())}.")
            continue
        var = schema[name]
        unit = None
        if isinstance(val, dict):
            unit, val = val.get("unit"), val.get("value")
        if val is None or (isinstance(val, float) and math.isnan(val)) or val == "":
            continue
        if var.kind is Kind.numeric:
            try:
                x = float(val)
            except (TypeError, ValueError):
                problems.append(f"{var.display}: expected a number in {var.unit}. Got {val!r}.")
                continue
            try:
                x = var.to_canonical(x, unit)
            except Exception as e:  # UnitError
                problems.append(str(e))
                continue
            plo, phi = var.possible_range
            lo, hi = var.valid_range
            if not plo <= x <= phi:
                problems.append(f"{var.display}: expected a value between {plo:g} and {phi:g} {var.unit or ''}"
                                f"".rstrip() + f" (anything else is impossible). Got {x:g}.")
                continue
            if not lo <= x <= hi:
                hint = var.unit_hint(x)
                msg = f"{var.display}: expected {lo:g}–{hi:g} {var.unit}. Got {x:g}."
                if hint:
                    msg += f" Did you enter {hint}? {x:g} {hint} = {var.to_canonical(x, hint):g} {var.unit}."
                problems.append(msg)
                continue
            out[name] = x
        else:
            lvl = var.normalise_level(val)
            if lvl is None:
                problems.append(f"{var.display}: expected one of {list(var.levels)}. Got {val!r}.")
                continue
            out[name] = float(lvl) if var.kind is Kind.binary else lvl
    return out, problems


def parse_clinical_json(path: Path, schema: Schema) -> tuple[dict, str | None, list[str]]:
    """(canonical values, the patient_id if given, notes). An outcome in the file is ignored with a note."""
    name = Path(path).name
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except OSError as e:
        raise InputValueError(f"{name}: expected a readable JSON file. Got an operating-system error "
                              f"({e.strerror}).") from e
    except (ValueError, UnicodeDecodeError) as e:
        where = f" at line {e.lineno}, column {e.colno}" if isinstance(e, json.JSONDecodeError) else ""
        raise InputValueError(f"{name}: expected a JSON object of variable -> value. Got invalid JSON{where}. "
                              'Check commas and quotes, e.g. {"hgb": 95, "age": 67}.') from e
    if not isinstance(raw, dict):
        raise InputValueError(f"{name}: expected a JSON object of variable -> value. Got a {type(raw).__name__}. "
                              "Score many patients with --clinical FILE.csv --out PREDICTIONS.csv.")
    vals, problems = validate_values(raw, schema)
    if problems:
        raise InputValueError(f"{name}: {len(problems)} problem(s):\n  " + "\n  ".join(problems))
    pid = raw.get(ID_COLUMN)
    notes = [f"{k!r} is an outcome and was ignored: predictions use baseline values only."
             for k in raw if k in schema and schema[k].role == "outcome"]
    return vals, (None if pid is None else str(pid)), notes
