"""A cohort's own ``variables.yaml``: extra variables and the units its table uses.

Example::

    units:            # columns of clinical.csv recorded in a non-canonical unit
      hgb: g/dL
      creatinine: mg/dL
    ldh_uln: 245      # this lab's LDH upper limit of normal (U/L)
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
    ldh_uln: float | None = None
    variables: list[Variable] = Field(default_factory=list)


def load_variables_yaml(path: Path) -> VariablesFile:
    """Parse and validate ``variables.yaml``; every error names the file and the entry."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise SchemaError(f"{path.name}: expected valid YAML. Got a parse error: {e}. Fix the syntax.") from e
    if not isinstance(raw, dict):
        raise SchemaError(
            f"{path.name}: expected a mapping with keys 'units', 'ldh_uln', 'variables'. Got {type(raw).__name__}."
        )
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
        msgs = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        raise SchemaError(f"{path.name}: invalid variable declaration ({msgs}). Fix these entries.") from e
