"""CSV files that spreadsheets open as data, never as formulas (OWASP CSV injection guidance).

A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed with a
single quote, so Excel or LibreOffice shows it instead of evaluating it. Numbers stay numbers (a
negative number is not text and is written as is). Every CSV the product writes goes through here.
"""
from __future__ import annotations

import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(v):
    if isinstance(v, str) and v.startswith(FORMULA_PREFIXES):
        return "'" + v
    return v


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out.columns = [escape_cell(str(c)) for c in out.columns]
    for c in out.columns:
        if out[c].dtype == object or pd.api.types.is_string_dtype(out[c]):
            out[c] = out[c].map(escape_cell)
    return out


def safe_csv_bytes(df: pd.DataFrame, index: bool = False) -> bytes:
    """UTF-8 CSV bytes of ``df`` with every text cell escaped.

    Rows end in CRLF (RFC 4180) so that the csv writer quotes any cell holding a bare CR: with pandas'
    default "\n" a note containing "\r" was written unquoted and split the row in two on reading.
    """
    return safe_frame(df).to_csv(index=index, lineterminator="\r\n").encode("utf-8")
