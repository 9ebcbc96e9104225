"""The prediction API (FastAPI): python -m zoo serve --zoo Z."""
