"""Scoring patients with a trained zoo: one patient's inputs (``inputs``) and whole cohorts or tables (``batch``)."""
