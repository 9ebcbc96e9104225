"""HTML from Jinja2 templates, PDF from that same HTML with WeasyPrint.

Every value is autoescaped (cohort names, notes and variable labels come from users' files), and the PDF
renderer may fetch nothing but the ``data:`` URIs the templates embed: a crafted value cannot make the
server read a local file or call the network while it renders.
"""
from __future__ import annotations

import math
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"


def _fmt(v, spec: str = ".2f", missing: str = "—") -> str:
    """A number for a table cell; None/NaN as a dash (never 'nan')."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return missing
    try:
        return format(v, spec)
    except (TypeError, ValueError):
        return str(v)


def _ci(pair, spec: str = ".2f") -> str:
    if not pair or any(v is None or (isinstance(v, float) and math.isnan(v)) for v in pair):
        return "—"
    return f"{format(pair[0], spec)}–{format(pair[1], spec)}"


def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = _fmt
    env.filters["ci"] = _ci
    env.filters["pct"] = lambda v, d=0: _fmt(None if v is None else 100 * v, f".{d}f") + ("" if v is None else " %")
    return env


def render_html(template: str, context: dict) -> str:
    return environment().get_template(template).render(**context)


def html_to_pdf(html: str) -> bytes:
    """The PDF of the HTML (WeasyPrint), with every resource fetch other than ``data:`` refused."""
    try:
        from weasyprint import HTML
        from weasyprint.urls import URLFetcher
    except OSError as e:  # WeasyPrint loads Pango when imported
        from zoo.errors import ReportError

        raise ReportError("Expected the Pango library for PDF reports. Got none on this machine "
                          f"({str(e).splitlines()[0][:120]}). Install it (Debian: apt-get install libpango-1.0-0 "
                          "libpangoft2-1.0-0, which `make run` does when it can) or use the HTML report.") from None
    return HTML(string=html, base_url=None, url_fetcher=URLFetcher(allowed_protocols={"data"})).write_pdf()
