"""One patient's clinical values from JSON or a form: units converted, ranges checked.

Accepts ``{"hgb": 95}`` (canonical unit) or ``{"hgb": {"value": 9.5, "unit": "g/dL"}}``.
Every problem is collected and reported at once.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from zoo.errors import InputValueError
from zoo.schema import ID_COLUMN, Kind, Schema, Variable


def validate_values(raw: dict, schema: Schema) -> tuple[dict, list[str]]:
    """Canonical values and the list of problems (each naming the variable and how to fix it)."""
    out, by_field = validate_fields(raw, schema)
    return out, list(by_field.values())


def validate_fields(raw: dict, schema: Schema) -> tuple[dict, dict[str, str]]:
    """Canonical values and one problem per field name, so a form can show each under its own box."""
    out, problems = {}, {}
    for name, val in raw.items():
        if name == ID_COLUMN or (name in schema and schema[name].role == "outcome"):
            continue  # identifiers are echoed and outcomes ignored by the callers, with a note
        if name not in schema:
            problems[name] = f"{name}: unknown variable. Known: {', '.join(v.name for v in schema.features())}."
            continue
        unit = None
        if isinstance(val, dict):
            unit, val = val.get("unit"), val.get("value")
        if val is None or (isinstance(val, float) and math.isnan(val)) or val == "":
            continue
        x, problem = check_value(schema[name], val, unit)
        if problem:
            problems[name] = problem
        elif x is not None:
            out[name] = x
    return out, problems


def with_derived_inputs(values: dict) -> tuple[dict, list[str]]:
    """Inputs that are read only to derive a feature, turned into it as the cohort reader does: total calcium
    with albumin becomes corrected calcium (Payne). Without albumin nothing is guessed: calcium stays missing
    and a note says why. A given corrected calcium wins over a derived one."""
    out, notes = dict(values), []
    total = out.pop("calcium_total", None)
    if total is None:
        return out, notes
    if out.get("calcium") is not None:
        notes.append("total calcium was ignored: corrected calcium was given.")
    elif out.get("alb") is None:
        notes.append("corrected calcium needs albumin: total calcium was given without it, so calcium is missing.")
    else:
        from zoo.schema.derived import corrected_calcium
        import pandas as pd

        out["calcium"] = float(corrected_calcium(pd.Series([total]), pd.Series([out["alb"]])).iloc[0])
        notes.append(f"corrected calcium {out['calcium']:.2f} mmol/L derived from total calcium {total:.2f} mmol/L "
                     f"and albumin {out['alb']:g} g/L (Payne).")
    return out, notes


def check_value(var: Variable, val, unit: str | None = None) -> tuple[float | str | None, str | None]:
    """(canonical value, None) or (None, a sentence naming the value as entered, the expected range in the
    entered unit and, when the number fits another unit, that unit)."""
    if var.kind is not Kind.numeric:
        lvl = var.normalise_level(val)
        if lvl is None:
            return None, f"{var.display}: expected one of {list(var.levels)}. Got {val!r}."
        return (float(lvl) if var.kind is Kind.binary else lvl), None
    shown = unit or var.unit or ""
    try:
        x_in = float(val)
    except (TypeError, ValueError):
        return None, f"{var.display}: expected a number in {shown}. Got {val!r}."
    if not math.isfinite(x_in):
        return None, f"{var.display}: expected a finite number in {shown}. Got {val!r}."
    try:
        x = var.to_canonical(x_in, unit)
    except Exception as e:  # UnitError names the accepted units
        return None, str(e)
    plo, phi = var.possible_range
    lo, hi = var.valid_range
    if plo <= x <= phi and lo <= x <= hi:
        return x, None
    rng = _range_in(var, unit, lo, hi)
    if not plo <= x <= phi:
        msg = f"{var.display}: {x_in:g} {shown} is impossible. Expected {rng}."
    else:
        msg = f"{var.display}: {x_in:g} {shown} is outside the accepted {rng}."
    other = probable_unit(var, x_in, unit)
    if other:
        conv = "" if other == var.unit else f": {x_in:g} {other} = {var.to_canonical(x_in, other):.{var.decimals}f} {var.unit}"
        msg += f" It looks like {other}{conv}. Choose {other} as the unit, or correct the value."
    else:
        msg += " Correct the value or leave it empty."
    return None, msg


def _range_in(var: Variable, unit: str | None, lo: float, hi: float) -> str:
    if unit is None or unit == var.unit:
        return f"range {lo:g}–{hi:g} {var.unit}"
    a, b = sorted((var.from_canonical(lo, unit), var.from_canonical(hi, unit)))
    return f"range {a:.3g}–{b:.3g} {unit} ({lo:g}–{hi:g} {var.unit})"


def probable_unit(var: Variable, x: float, entered: str | None) -> str | None:
    """Another accepted unit in which ``x`` would be a typical value (e.g. Hb 9.8 entered as g/L is g/dL)."""
    ref = var.typical_range or var.valid_range
    if ref is None:
        return None
    entered_canon = var.unit if entered is None else entered
    for u in var.units():
        if u == entered_canon:
            continue
        try:
            c = var.to_canonical(x, u)
        except Exception:  # noqa: BLE001 - an unknown unit is simply not a candidate
            continue
        if ref[0] <= c <= ref[1] and not math.isclose(c, var.to_canonical(x, entered)):
            return u
    return None


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
    try:
        return clinical_from_dict(raw, schema)
    except InputValueError as e:
        problems = str(e).splitlines()
        raise InputValueError(f"{name}: {len(problems)} problem(s):\n  " + "\n  ".join(problems)) from None


def clinical_from_dict(raw: dict, schema: Schema) -> tuple[dict, str | None, list[str]]:
    """(canonical values with derived inputs, the patient_id if given, notes) from one patient's JSON object, as
    the CLI and the API read it. Raises InputValueError holding one problem per line."""
    vals, problems = validate_values(raw, schema)
    if problems:
        raise InputValueError("\n".join(problems))
    vals, derived = with_derived_inputs(vals)
    pid = raw.get(ID_COLUMN)
    notes = [f"{k!r} is an outcome and was ignored: predictions use baseline values only."
             for k in raw if k in schema and schema[k].role == "outcome"] + derived
    return vals, (None if pid is None else str(pid)), notes
