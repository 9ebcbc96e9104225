"""Streamlit UI: entry point, shared sidebar and state, cached loaders, charts. Pages live in ../pages."""
