"""The clinical schema: variables, units, derived stages and cohort extras."""
from zoo.schema.derived import derive_iss, derive_riss, derive_stages, stage_mismatches
from zoo.schema.extras import load_variables_yaml
from zoo.schema.variables import (
    BUILTIN_VARIABLES,
    DEFAULT_SCHEMA,
    HIGH_RISK_FISH,
    ID_COLUMN,
    LDH_ULN_U_PER_L,
    OUTCOME,
    OUTCOME_VARIABLES,
    REQUIRED_COLUMNS,
    SCHEMA_VERSION,
    Kind,
    Schema,
    Variable,
)

__all__ = [
    "BUILTIN_VARIABLES", "DEFAULT_SCHEMA", "HIGH_RISK_FISH", "ID_COLUMN", "LDH_ULN_U_PER_L", "OUTCOME",
    "OUTCOME_VARIABLES", "REQUIRED_COLUMNS", "SCHEMA_VERSION", "Kind", "Schema", "Variable",
    "derive_iss", "derive_riss", "derive_stages", "stage_mismatches", "load_variables_yaml",
]
