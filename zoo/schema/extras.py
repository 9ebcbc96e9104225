"""A cohort's own ``variables.yaml``: extra variables and the units its table uses.

Example::

    units:            # columns of clinical.csv recorded in a non-canonical unit
      hgb: g/dL
      creatinine: mg/dL
    ldh_uln: 245      # this lab's LDH upper limit of normal (U/L)
    sheet: Baseline   # which sheet of clinical.xlsx holds the table (default: the first)
    columns:          # your header -> schema name, where the built-in synonyms do not recognise it
      Hämoglobin Labor: hgb
    codes:            # your codes -> schema levels, per categorical/binary variable
      sex: {1: male, 2: female}
    variables:        # variables the built-in schema does not know
      - name: ecog
        kind: ordinal
        display: ECOG performance status
        levels: ["0", "1", "2", "3", "4"]
      - name: ferritin
        kind: numeric
        unit: ng/mL
        valid_range: [1, 20000]
"""
from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zoo.errors import SchemaError
from zoo.schema.variables import Variable


class VariablesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    units: dict[str, str] = Field(default_factory=dict)
    ldh_uln: float | None = Field(default=None, gt=0, lt=100000)
    sheet: str | int | None = None
    columns: dict[str, str] = Field(default_factory=dict)
    codes: dict[str, dict[str, str]] = Field(default_factory=dict)
    variables: list[Variable] = Field(default_factory=list)


def load_variables_yaml(path: Path) -> VariablesFile:
    """Parse and validate ``variables.yaml``; every error names the file and the entry."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        text = path.read_bytes().decode("windows-1252", errors="replace")
    except OSError as e:
        raise SchemaError(f"{path.name}: expected a readable file. Got an operating-system error ({e.strerror}).") from e
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" on line {mark.line + 1}" if mark is not None else ""
        raise SchemaError(f"{path.name}: expected valid YAML. Got a syntax error{where} "
                          f"({getattr(e, 'problem', None) or 'unreadable'}). Fix the indentation or quoting there.") from e
    if not isinstance(raw, dict):
        raise SchemaError(
            f"{path.name}: expected a mapping with keys such as 'units', 'ldh_uln', 'columns', 'variables'. "
            f"Got a {type(raw).__name__}. Start each key at the beginning of a line, e.g. 'units:'."
        )
    for key in ("units", "columns", "codes"):  # YAML reads 1: male as an int key; we compare text
        if isinstance(raw.get(key), dict):
            raw[key] = {str(k): (({str(a): str(b) for a, b in v.items()} if isinstance(v, dict) else v)
                                 if key == "codes" else (str(v) if v is not None else v))
                        for k, v in raw[key].items()}
    if raw.get("variables") is not None and not isinstance(raw.get("variables"), list):
        raise SchemaError(f"{path.name}: expected 'variables' to be a list of entries ('- name: ...'). "
                          f"Got a {type(raw['variables']).__name__}.")
    for v in raw.get("variables") or []:
        if isinstance(v, dict) and "type" in v and "kind" not in v:
            v["kind"] = v.pop("type")  # accept 'type' as the wording
        if isinstance(v, dict) and "range" in v and "valid_range" not in v:
            v["valid_range"] = v.pop("range")
        if isinstance(v, dict):
            v.setdefault("display", str(v.get("name", "")).replace("_", " ").capitalize())
            v.setdefault("group", "Other")
    try:
        return VariablesFile.model_validate(raw)
    except ValidationError as e:
        msgs = "; ".join(_describe(raw, err) for err in e.errors()[:10])
        raise SchemaError(f"{path.name}: expected valid declarations. Got: {msgs}. Fix these entries.") from e


def _describe(raw: dict, err: dict) -> str:
    """A pydantic error in our words: where it is (entry name, key) and what was expected."""
    loc = list(err.get("loc", ()))
    where = []
    if loc and loc[0] == "variables" and len(loc) > 1 and isinstance(loc[1], int):
        entries = raw.get("variables") or []
        name = entries[loc[1]].get("name") if loc[1] < len(entries) and isinstance(entries[loc[1]], dict) else None
        where.append(f"variable {name!r}" if name else f"variables entry {loc[1] + 1}")
        loc = loc[2:]
    if loc:
        where.append("'" + ".".join(str(p) for p in loc) + "'")
    msg = str(err.get("msg", "invalid value"))
    msg = msg.removeprefix("Value error, ")
    if err.get("type") == "extra_forbidden":
        msg = "is not a known key (known: units, ldh_uln, sheet, columns, codes, variables)" if len(where) <= 1 \
            else "is not a known key of a variable"
    return f"{' '.join(where) or 'the file'} {msg}"
