"""Exception types raised by the zoo.

Every message follows "Expected X. Got Y." plus how to fix it, and names the
file, row, column or patient involved, so the dashboard can show it verbatim.
"""
from __future__ import annotations


class MyeloZooError(Exception):
    """Base class: anything the user can fix by changing their input."""


class SchemaError(MyeloZooError):
    """A variable definition (built-in or from variables.yaml) is inconsistent."""


class UnitError(SchemaError):
    """A unit that the schema cannot convert."""


class CohortError(MyeloZooError):
    """A cohort directory cannot be used; carries every problem found."""

    def __init__(self, message: str, problems: list | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class ImageReadError(MyeloZooError):
    """An image file cannot be turned into a normalised RGB array."""


class ZooIntegrityError(MyeloZooError):
    """A trained zoo on disk is tampered with, incomplete or incompatible."""


class UnknownModelError(MyeloZooError, KeyError):
    """A model name that is not in the registry."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class InputValueError(MyeloZooError, ValueError):
    """A single patient's value is out of range or of the wrong type."""


class TrainingError(MyeloZooError):
    """A model failed to train and the run was asked to stop (``--fail-fast``)."""


class ReportError(MyeloZooError):
    """A report (model card, patient report) cannot be rendered on this machine."""
