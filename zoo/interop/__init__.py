"""Ways in from other systems: FHIR R4 Bundles (LOINC, UCUM)."""
