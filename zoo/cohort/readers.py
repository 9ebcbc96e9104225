"""Reading tables the way hospitals export them: encodings, delimiters, decimal commas, headers with units.

Everything here turns bytes into a table of trimmed strings plus notes about
what was guessed; ``validate.py`` stays the one place that turns problems into
messages. Numbers are parsed later, per column, by ``parse_numbers`` so a
decimal comma or an assay limit (``<0.5``) is understood wherever it appears.
"""
from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from zoo.schema import ID_COLUMN, Schema
from zoo.schema.variables import ID_SYNONYMS

# Tokens that mean "no value" in exports from R, SAS, SPSS, Excel and LIMS systems.
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "-", "--", ".", "?", "missing", "unknown",
                            "not done", "nd", "n.d.", "not available", "#n/a", "#na", "nr", "not tested", "#value!",
                            "#div/0!", "n.a.", "k.a.", "n.v.", "nk", "n.k.", "not known", "unk",
                            *(f".{c}" for c in "abcdefghijklmnopqrstuvwxyz")})  # Stata's extended missing .a–.z
# 'None' is Python's missing value in a number column but a level elsewhere (no bone lesions; no heavy chain): it is
# kept as read, and validation reads it as missing only where no level or code of the variable is spelled 'none'
NONE_WORD = "none"
# 'ND' is 'not done' in most exports but 'not detected' in some: read as missing, and said so (``_nd_note``)
NOT_DONE_OR_DETECTED = frozenset({"nd", "n.d."})
DASHES = frozenset({"-", "--"})
# zero-width spaces and joiners, word joiner, byte-order mark, and the bidirectional marks an RTL-locale system
# puts around numbers: invisible in every viewer, so a cell that holds one would differ from the same cell without
_INVISIBLE = "[\u200b\u200c\u200d\u2060\ufeff\u200e\u200f\u202a-\u202e\u2066-\u2069]"
UNICODE_DASHES = frozenset({"\u2212", "\u2013", "\u2014"})  # minus sign, en dash, em dash: read as '-'
ENCODINGS = ("utf-8", "utf-8-sig", "windows-1252")
DELIMITERS = (",", ";", "\t", "|")
MAX_TABLE_BYTES = 200 * 1024 * 1024
# Columns a table may have: a registry export can carry hundreds, the schema reads about thirty. Tidying costs
# per column, and a 5-MB one-row file of 500,000 columns once held the API's batch slot for half an hour.
MAX_COLUMNS = 2000


class TableReadError(Exception):
    """The bytes cannot be read as a table; the message says why in our words and how to fix it."""


@dataclass
class TableRead:
    """A table of strings (NaN = empty) and what the reader had to decide to get it."""

    frame: pd.DataFrame
    encoding: str = "utf-8"
    delimiter: str = ","
    decimal_comma: bool = False
    sheet: str | None = None
    notes: list[str] = field(default_factory=list)  # warnings in our words (fallback encoding, sheet chosen)


# ----- decoding -----------------------------------------------------------------------------------
def decode_text(data: bytes, name: str) -> tuple[str, str, list[str]]:
    """Text, the encoding used, and notes. UTF-8, then UTF-8 with BOM, then Windows-1252 (with a warning)."""
    notes: list[str] = []
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict") if _is_utf8(data[3:]) else _cp1252(data[3:], name), \
            "utf-8-sig", notes
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16", notes
        except UnicodeDecodeError as e:
            raise TableReadError(f"{name}: expected UTF-8 or Windows-1252 text. Got a broken UTF-16 file (byte "
                                 f"{e.start}). Re-export it as CSV UTF-8.") from e
    if _is_utf8(data):
        return data.decode("utf-8"), "utf-8", notes
    text = _cp1252(data, name)
    notes.append(f"{name} is not UTF-8; it was read as Windows-1252 (Excel's default on Windows). Check that "
                 "accented characters and symbols such as µ or β look right, or re-export it as CSV UTF-8.")
    return text, "windows-1252", notes


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _cp1252(data: bytes, name: str) -> str:
    try:
        return data.decode("windows-1252")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise TableReadError(
            f"{name}: expected text in UTF-8 or Windows-1252. Got byte 0x{data[e.start]:02X} on line {line}, which "
            "is neither (the file may be binary or in another encoding). Re-export it as CSV UTF-8.") from e


# ----- delimiters and decimals ----------------------------------------------------------------------
def sniff_delimiter(text: str) -> str:
    """The delimiter that splits the first lines into the same number of fields (most fields wins)."""
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    if not lines:
        return ","
    best, best_score = ",", (-1, -1)
    for d in DELIMITERS:
        try:
            rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=d))
        except csv.Error:
            continue
        counts = [len(r) for r in rows]
        if not counts or counts[0] < 2:
            continue
        consistent = sum(c == counts[0] for c in counts)
        score = (consistent, counts[0])
        if score > best_score:
            best, best_score = d, score
    return best


_DEC_COMMA = re.compile(r"^[<>≤≥]?=?\s*[-+]?\d{1,3}(\.\d{3})*,\d+$|^[<>≤≥]?=?\s*[-+]?\d+,\d+$")
_DEC_POINT = re.compile(r"^[<>≤≥]?=?\s*[-+]?\d*\.\d+$")


def detect_decimal_comma(frame: pd.DataFrame, delimiter: str, sample_rows: int = 2000) -> bool:
    """Decimal commas or not; see ``decimal_separator``."""
    return decimal_separator(frame, delimiter, sample_rows)[0]


_SHAPED_THOUSANDS = re.compile(r"^[-+]?\d{1,3}([.,])\d{3}$")  # '16,670' / '16.670': thousands or 3 decimals?


def decimal_separator(frame: pd.DataFrame, delimiter: str, sample_rows: int = 2000) -> tuple[bool, str | None]:
    """(decimal commas?, an ambiguous cell when only the file's convention decided). The first ``sample_rows`` rows
    decide. Cells that can only be decimals count: '12,5' or '12.5'. A cell such as '16,670' or '16.670' can be
    a thousands separator or three decimals; it counts only where no cell decides. A ',' file quotes its comma
    cells, and there '1,234' is thousands unless some cell such as '12,5' can only be a decimal comma."""
    vals = pd.Series(frame.head(sample_rows).to_numpy().ravel()).dropna().astype(str).str.strip()
    if vals.empty:
        return False, None
    is_comma = vals.str.match(_DEC_COMMA)
    is_point = vals.str.match(_DEC_POINT)
    shaped = vals.str.match(_SHAPED_THOUSANDS)
    only_comma = int((is_comma & ~shaped & ~vals.str.match(_THOUSANDS_COMMA)).sum())
    only_point = int((is_point & ~shaped).sum())
    if delimiter == ",":
        return only_comma > 0 and int(is_point.sum()) == 0, None
    if only_comma or only_point:
        return only_comma > only_point, None
    if shaped.any():  # nothing but '16,670'-shaped cells: the delimiter's convention decides, and we say so
        example = vals[shaped].iloc[0]
        return delimiter == ";", example
    return False, None


# ----- whole files ---------------------------------------------------------------------------------
def read_table(path: Path, sheet: str | int | None = None) -> TableRead:
    """Read a CSV/TSV/TXT or XLSX file into trimmed strings; raises ``TableReadError`` in our words."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise TableReadError(f"{path.name}: expected a readable file. Got an operating-system error "
                             f"({e.strerror}). Check the file's permissions.") from e
    if size > MAX_TABLE_BYTES:
        raise TableReadError(f"{path.name}: expected at most {MAX_TABLE_BYTES // 2**20} MiB. Got "
                             f"{size / 2**20:.0f} MiB. Split the table or drop unused columns.")
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return _read_excel(path, sheet)
    if path.suffix.lower() == ".xls":
        raise TableReadError(f"{path.name}: expected .xlsx or .csv. Got the old Excel 97 format (.xls). "
                             "Save it as .xlsx or CSV UTF-8.")
    return read_csv_bytes(path.read_bytes(), path.name)


def _utf16_without_bom(data: bytes) -> str | None:
    """'utf-16-le'/'utf-16-be' when the head looks like UTF-16 text without a byte-order mark (every other byte
    zero, as Excel's 'Unicode text' and some LIMS exports write ASCII), else None."""
    head = data[:4096]
    if len(head) < 8:
        return None
    even, odd = head[0::2], head[1::2]
    if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return None


def read_csv_bytes(data: bytes, name: str) -> TableRead:
    if (enc := _utf16_without_bom(data)) and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text16 = data.decode(enc)
        except UnicodeDecodeError:
            text16 = None
        if text16 is not None:
            read = read_csv_bytes(text16.encode("utf-8"), name)
            read.encoding = enc
            read.notes.insert(0, f"{name} is UTF-16 without a byte-order mark; it was read as {enc.upper()}.")
            return read
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise TableReadError(f"{name}: expected a text table. Got binary data (is it an Excel or zip file renamed "
                             "to .csv?). Export it as CSV UTF-8 or .xlsx.")
    text, encoding, notes = decode_text(data, name)
    if not text.strip():
        raise TableReadError(f"{name}: expected a header row and patients. Got an empty file. Re-export the table.")
    # one line ending: pandas' C parser takes a bare '\r' before a space for a field that never ends and allocates
    # until memory runs out (pandas-dev/pandas#51141: 23 bytes took 4.9 GB); classic Mac files end lines in '\r'
    text = re.sub(r"\r\n?", "\n", text)
    skip, head_lines = _title_block(text)
    if skip:
        notes.append(_title_note(name, skip, [[ln.strip(" ,;\t|")] for ln in head_lines]))
        cut = 0
        for _ in range(skip):  # only '\n' ends a line here: str.splitlines would also split cells at '\x0b', '\u2028'
            cut = text.index("\n", cut) + 1
        text = text[cut:]
    delim = sniff_delimiter(text)
    first = text.split("\n", 1)[0]
    if first.count(delim) + 1 > MAX_COLUMNS:  # counted before pandas parses a field
        raise TableReadError(f"{name}: expected at most {MAX_COLUMNS:,} columns. Got {first.count(delim) + 1:,} in the "
                             "header. Export only the columns the model uses (docs/COHORT_FORMAT.md).")
    try:
        frame = pd.read_csv(io.StringIO(text), sep=delim, dtype=str, keep_default_na=False, na_filter=False,
                            engine="c", skipinitialspace=True, on_bad_lines="error", quotechar='"',
                            low_memory=False, index_col=False)
    except (pd.errors.ParserError, csv.Error, ValueError) as e:
        if "end of data" in str(e) or "EOF" in str(e) or "eof" in str(e).lower():
            raise TableReadError(f"{name}: expected every quote (\") to be closed. Got a quote that is still open at "
                                 "the end of the file. Find the cell with a stray quote and remove it.") from e
        m = re.search(r"line (\d+)", str(e))
        where = f" near line {m.group(1)}" if m else ""
        raise TableReadError(
            f"{name}: expected every line to have as many fields as the header (delimiter {_delim_name(delim)}). "
            f"Got a line with a different number{where}. Check for unquoted delimiters or stray quotes there.") from e
    except pd.errors.EmptyDataError as e:
        raise TableReadError(f"{name}: expected a header row. Got none. Re-export the table with headers.") from e
    try:
        header = next(csv.reader(io.StringIO(text, newline=""), delimiter=delim, skipinitialspace=True), [])
    except csv.Error:  # pandas read the table, so its header is what there is to check
        header = [str(c) for c in frame.columns]
    _refuse_duplicate_headers(header, name)
    if len(header) == frame.shape[1]:  # an empty header cell stays empty (pandas names it 'Unnamed: 7')
        frame.columns = [h.strip() if str(h).strip() else "" for h in header]
    last = text.rstrip("\n").rsplit("\n", 1)[-1]
    if '"' not in last and len(frame) and 0 < last.count(delim) + 1 < len(header):
        notes.append(f"{name}: the last row has {last.count(delim) + 1} of the header's {len(header)} fields; was the "
                     "file cut short? Its missing cells are read as empty. Export the table again if it was.")
    frame = _tidy(frame, name, notes)
    dec, ambiguous = decimal_separator(frame, delim)
    if ambiguous is not None:
        as_thousands = ("." in ambiguous) == dec
        notes.append(f"{name}: numbers such as {ambiguous!r} could hold a thousands separator or three decimals, and "
                     "no cell decides which; they were read as " + ("thousands" if as_thousands else "decimals")
                     + f" ({'the ' + _delim_name(delim) + '-separated convention'}). Check a few values; if that is "
                     "wrong, re-export with the numbers written without thousands separators.")
    elif dec:
        notes.append(f"{name} uses decimal commas (e.g. 12,5); numbers were read that way.")
    return TableRead(frame=frame, encoding=encoding, delimiter=delim, decimal_comma=dec, notes=notes)


TITLE_ROWS_MAX = 20  # rows above the header a title block may take (report name, parameters, date, blank lines)
TITLE_LINE_MAX = 65536  # characters: a longer line is no title and no header worth looking for one in
_ID_HEADERS = frozenset({ID_COLUMN.replace("_", " "), *ID_SYNONYMS})


def _is_id_header(cell) -> bool:
    h = str(cell or "").strip().strip("\ufeff").strip('"').strip()
    return len(h) <= 64 and re.sub(r"\s+", " ", h.lower().replace("_", " ")) in _ID_HEADERS


def _title_block(text: str) -> tuple[int, list[str]]:
    """(lines above the header, the first lines) for a CSV text whose lines end in '\n'."""
    head = text.split("\n", TITLE_ROWS_MAX + 1)[:TITLE_ROWS_MAX + 1]
    if any(len(ln) > TITLE_LINE_MAX for ln in head):
        return 0, head
    best = 0
    for d in DELIMITERS:
        try:
            rows = list(csv.reader(io.StringIO("\n".join(head)), delimiter=d))
        except csv.Error:
            continue
        best = max(best, title_rows(rows[:len(head)]))
    return best, head


def title_rows(rows: list[list]) -> int:
    """Rows above the header that a registry or LIMS export puts there (a report title, a date, blank lines, a row
    of group labels over merged cells such as 'Labs' over three columns): the header is the last row naming the
    patient ID column among at least two headers, holding no number, whose every row above holds at most two filled
    cells or is a group-label row (text only, fewer filled cells than the header). 0 when the first row is the
    header or no such row is found. A data row is never the header: it holds numbers."""
    shape = []  # per row: (filled cells, names the ID column, holds a number), each cell looked at once
    for r in rows[:TITLE_ROWS_MAX + 1]:
        cells = [str(c if c is not None else "")[:TITLE_CELL_MAX].strip() for c in r]
        cells = [c for c in cells if c]
        shape.append((len(cells), any(_is_id_header(c) for c in cells), any(_NUMBERISH.match(c) for c in cells)))
    best = 0
    for k, (filled, has_id, numbers) in enumerate(shape):
        if filled < 2 or not has_id or (k and numbers):
            continue
        if all(f <= 2 or (f < filled and not num) for f, _, num in shape[:k]):
            best = k
    return best


TITLE_CELL_MAX = 256  # characters of a cell looked at: no title, label or header cell is longer
_NUMBERISH = re.compile(r"^[\d\s.,%+\-/:]+$")


def _title_note(name: str, k: int, rows: list[list]) -> str:
    words = " ".join(str(c).strip() for r in rows[:k] for c in r if c is not None and str(c).strip())
    shown = f" ({words[:80]!r})" if words else ""
    return (f"{name}: the header is on line {k + 1}; the {k} line(s) above it{shown} were read as a title or "
            "group labels and skipped. Row numbers in messages count from the line under the header.")


def _refuse_duplicate_headers(header: list, name: str) -> None:
    """Two columns with one header: which one holds the variable cannot be guessed, and one would be lost."""
    seen: dict[str, int] = {}
    for j, h in enumerate(header, start=1):
        h = "" if h is None else str(h).strip()
        if not h:
            continue
        if h in seen:
            raise TableReadError(f"{name}: expected each header once. Got {h!r} in columns {seen[h]} and {j}. "
                                 "Rename or delete one of them, so no column is read in place of the other.")
        seen[h] = j


_LITERAL = re.compile(r'"[^"]*"|\\.')  # quoted text and escaped characters of an Excel number format: 0"%" shows 69%


def _header_and_percent_cells(ws, skip: int = 0) -> tuple[list, dict[str, list[int]]]:
    """The sheet's header row (after ``skip`` title rows), and per header the data rows (0-based) whose numeric
    cells Excel shows as percentages ('18%' is stored as 0.18), in one pass over the worksheet pandas already
    opened."""
    header: list = []
    out: dict[str, list[int]] = {}
    for r, row in enumerate(ws.iter_rows(min_row=skip + 1)):
        if r == 0:
            header = [c.value for c in row]
            names = [None if v is None else str(v).strip() for v in header]
            continue
        for c, cell in enumerate(row):
            v = getattr(cell, "value", None)
            if (c < len(names) and names[c] and isinstance(v, (int, float)) and not isinstance(v, bool)
                    and "%" in _LITERAL.sub("", getattr(cell, "number_format", "") or "")):
                out.setdefault(names[c], []).append(r - 1)
    return header, out


def _read_excel(path: Path, sheet: str | int | None) -> TableRead:
    import zipfile

    notes: list[str] = []
    try:
        xl = pd.ExcelFile(path, engine="openpyxl")
    except (zipfile.BadZipFile, ValueError, KeyError, OSError) as e:
        raise TableReadError(f"{path.name}: expected an Excel workbook (.xlsx). Got a file Excel cannot open as "
                             "one. Re-save it from Excel, or export CSV UTF-8.") from e
    names = list(xl.sheet_names)
    if not names:
        raise TableReadError(f"{path.name}: expected at least one sheet. Got none.")
    if sheet is None:
        chosen = names[0]
        if len(names) > 1:
            notes.append(f"{path.name} has {len(names)} sheets ({', '.join(map(repr, names))}); using the first, "
                         f"{chosen!r}. Name another with 'sheet:' in variables.yaml.")
    elif isinstance(sheet, int) or (isinstance(sheet, str) and sheet.isdigit() and sheet not in names):
        i = int(sheet)
        if not 0 <= i < len(names):
            raise TableReadError(f"{path.name}: expected sheet index 0–{len(names) - 1}. Got {i}. Sheets: "
                                 f"{', '.join(map(repr, names))}.")
        chosen = names[i]
    elif sheet in names:
        chosen = sheet
    else:
        raise TableReadError(f"{path.name}: expected a sheet named {sheet!r} (from variables.yaml). Got sheets "
                             f"{', '.join(map(repr, names))}. Fix 'sheet:' in variables.yaml.")
    try:
        width = xl.book[chosen].max_column or 0
    except (KeyError, AttributeError):
        width = 0
    if width > MAX_COLUMNS:
        raise TableReadError(f"{path.name}: expected at most {MAX_COLUMNS:,} columns. Got {width:,} on sheet "
                             f"{chosen!r}. Export only the columns the model uses (docs/COHORT_FORMAT.md).")
    top = [[c.value for c in row] for row in xl.book[chosen].iter_rows(max_row=TITLE_ROWS_MAX + 1)]
    skip = title_rows(top)
    if skip:
        notes.append(_title_note(path.name, skip, top))
    try:
        frame = xl.parse(chosen, dtype=object, header=skip)
    except (ValueError, KeyError, IndexError) as e:
        raise TableReadError(f"{path.name}: expected a table on sheet {chosen!r}. Got a sheet that cannot be read "
                             "as one (merged header cells?). Put one header row on top.") from e
    header, percent = _header_and_percent_cells(xl.book[chosen], skip)
    _refuse_duplicate_headers(header, path.name)
    columns = [str(c).strip() for c in frame.columns]
    for col, rows in percent.items():  # as shown in Excel: a cell showing 18% is 18, not 0.18
        if col not in columns:
            continue
        j = columns.index(col)
        rows = [r for r in rows if r < len(frame)]
        frame.iloc[rows, j] = [v * 100 if isinstance(v, (int, float)) else v for v in frame.iloc[rows, j]]
        notes.append(f"{path.name}: {len(rows)} cell(s) of column {col!r} are formatted as percentages in Excel "
                     f"(18% is stored as 0.18); they were read as the percentages shown.")
    frame = frame.map(_excel_cell)
    frame.columns = [_excel_cell(c) or "" for c in frame.columns]
    notes.extend(_sheet_xml_notes(path, chosen, skip))
    frame = _tidy(frame, path.name, notes)
    return TableRead(frame=frame, encoding="xlsx", delimiter="", decimal_comma=False, sheet=chosen, notes=notes)


SHEET_XML_MAX = 256 * 2**20  # bytes of one sheet's XML scanned for what pandas cannot see
_FORMULA_NO_VALUE = re.compile(rb'<c r="([A-Z]{1,3})(\d+)"[^>]*>(?:<f[^>]*/>|<f[^>]*>[^<]*</f>)(?:<v\s*/>|<v></v>)?</c>')
_HIDDEN_ROW = re.compile(rb'<row [^>]*?\br="(\d+)"[^>]*?\bhidden="(?:1|true)"|<row [^>]*?\bhidden="(?:1|true)"[^>]*?\br="(\d+)"')
_MERGED = re.compile(rb'<mergeCell ref="([A-Z]{1,3})(\d+):([A-Z]{1,3})(\d+)"')


def _sheet_xml_notes(path: Path, sheet: str, skip: int) -> list[str]:
    """What the values pandas reads cannot show, from the sheet's XML: formulas saved without a result (a script
    wrote the workbook: read as empty), rows hidden by a filter (read as patients), and merged cells over data
    rows (only the first row holds the value). Each is a note naming the cells; the values stay as read."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            wb = z.read("xl/workbook.xml").decode("utf-8", "replace")
            rels = z.read("xl/_rels/workbook.xml.rels").decode("utf-8", "replace")
            rid = next((_attr(e, "r:id") for e in re.findall(r"<sheet\b[^>]*>", wb)
                        if _xml_text(_attr(e, "name") or "") == sheet), None)
            target = next((_attr(e, "Target") for e in re.findall(r"<Relationship\b[^>]*>", rels)
                           if rid is not None and _attr(e, "Id") == rid), None)
            if target is None:
                return []
            member = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
            if member not in names or z.getinfo(member).file_size > SHEET_XML_MAX:
                return []
            xml = z.read(member)
    except (OSError, KeyError, zipfile.BadZipFile, RuntimeError):
        return []
    first_data = skip + 2  # the Excel row of data row 1

    def data_row(excel_row: int) -> int:
        return excel_row - first_data + 1

    notes = []
    cells = [(m.group(1).decode(), int(m.group(2))) for m in _FORMULA_NO_VALUE.finditer(xml)]
    cells = [(c, r) for c, r in cells if r >= first_data]
    if cells:
        notes.append(f"{path.name}: {len(cells)} formula cell(s) have no stored result "
                     f"({_some(f'{c}{r}' for c, r in cells)}): the workbook was "
                     "saved by a program that does not calculate (a script), so they are read as empty. Open and save "
                     "it in Excel or LibreOffice, or export CSV.")
    hidden = sorted({int(a or b) for a, b in _HIDDEN_ROW.findall(xml)} - set(range(first_data)))
    if hidden:
        notes.append(f"{path.name}: {len(hidden)} row(s) are hidden in Excel (a filter?) and were read as patients "
                     f"(data row {_some(data_row(r) for r in hidden)}). Delete them from the export if they should "
                     "not be.")
    merged = [(f"{a.decode()}{r1.decode()}:{b.decode()}{r2.decode()}") for a, r1, b, r2 in _MERGED.findall(xml)
              if int(r2) > int(r1) and int(r2) >= first_data]
    if merged:
        notes.append(f"{path.name}: merged cells over several rows ({_some(merged)}): only the first row of each "
                     "holds the value, the others are read as empty. Unmerge them and fill every row.")
    return notes


def _attr(element: str, name: str) -> str | None:
    m = re.search(r'(?:^|\s)' + re.escape(name) + r'="([^"]*)"', element)
    return m.group(1) if m else None


def _xml_text(s: str) -> str:
    import html

    return html.unescape(s)


def _excel_cell(v) -> str | None:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    return str(v)


def _tidy(frame: pd.DataFrame, name: str, notes: list[str]) -> pd.DataFrame:
    """Trim strings, blank the missing tokens, drop fully empty rows/columns at the edges, name empty headers.

    Column-wise (vectorised) so a 100,000-row export is tidied in a second or two.
    """
    frame = frame.astype(object)
    frame.columns = [str(c).strip() for c in frame.columns]
    tokens = list(MISSING_TOKENS)
    signed = [t for t in tokens if t not in DASHES]
    # a file coding some columns +/- (FISH results) writes '-' in a column where no patient is positive (a rare
    # translocation) too: there it is negative as well, not missing; validation reads a '-' that no level spells
    # as missing, as before
    plus_file = any(frame.iloc[:, i].isin(["+", " +", "+ ", " + "]).any() for i in range(frame.shape[1]))
    for i in range(frame.shape[1]):
        s = frame.iloc[:, i]
        is_str = s.map(type) == str if s.dtype == object else pd.Series(False, index=s.index)
        if is_str.any():
            st = s[is_str].str.replace(_INVISIBLE, "", regex=True).str.strip()
            st = st.mask(st.isin(UNICODE_DASHES), "-")
            low = st.str.lower()
            nd = low.isin(NOT_DONE_OR_DETECTED)
            if nd.any():
                notes.append(_nd_note(name, str(frame.columns[i]), [int(r) + 1 for r in np.flatnonzero(
                    is_str.to_numpy())[nd.to_numpy()]]))
            # a column coded +/- (FISH results, often) keeps its '-': there it means negative, not missing
            only_dashes = plus_file and low[low != ""].isin(DASHES).all()
            st = st.mask(low.isin(signed if (st == "+").any() or only_dashes else tokens))
            s = s.copy()
            s[is_str] = st
        s = s.where(s.notna(), np.nan)
        frame.isetitem(i, s)
    # by position: several columns may have an empty header
    empty = [j for j, c in enumerate(frame.columns) if c == "" and frame.iloc[:, j].isna().all()]
    if empty:
        frame = frame.iloc[:, [j for j in range(frame.shape[1]) if j not in set(empty)]]
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")  # 1-based data row, kept through row drops
    frame = frame.dropna(how="all")
    named = [j for j, c in enumerate(frame.columns) if c]
    if len(named) >= 2 and len(frame):  # two exports joined (cat a.csv b.csv): the second header is no patient
        same = sum((frame.iloc[:, j] == frame.columns[j]).to_numpy(dtype=int) for j in named)
        repeated = frame.index[same >= max(2, (len(named) + 1) // 2)]
        if len(repeated):
            notes.append(f"{name}: data row {_some([int(r) for r in repeated], 5)} repeat(s) the header (were two "
                         "exports joined?); left out. Check that the rows under it are the same columns in the same "
                         "order.")
            frame = frame.drop(index=repeated)
    footer = _footer_rows(frame)
    if footer:
        shown = "; ".join(repr(" ".join(str(v) for v in frame.loc[r].dropna())[:60]) for r in footer[:3])
        notes.append(f"{name}: the last {len(footer)} row(s) (data row {footer[0]}–{footer[-1]}: {shown}) look like "
                     "notes or summary rows (Median, Mean, Total …) under the table, not patients; they were left out. "
                     "If they are patients, give them a patient ID that is not such a word and has no ':' or '='.")
        frame = frame.drop(index=footer)
    return frame


_FOOTER_WORDS = re.compile(r"^(source|sources|note|notes|n\s*=|total|totals|generated|printed|exported|created|page|"
                           r"quelle|anmerkung|fuente|nota)\b", re.IGNORECASE)


_SUMMARY_WORDS = re.compile(r"^(median|mean|average|avg|sd|s\.d\.|std|std\.? ?dev\.?|standard deviation|se|sem|iqr|"
                            r"range|min|max|minimum|maximum|sum|count|n|total|totals|q1|q3|p25|p75|mittelwert|"
                            r"durchschnitt|summe|media|mediana|moyenne|médiane|somme|gemiddelde|mediaan)\.?:?$",
                            re.IGNORECASE)


def _footer_rows(frame: pd.DataFrame) -> list[int]:
    """Trailing rows that are notes under the table ('Source: registry', 'n = 207': at most two filled cells, the
    first of which reads as a note, a note word or ':' / '=') or its summary rows (a first cell 'Median', 'Mean',
    'SD', 'Total' …, any number of cells: their values are valid-looking and would train as a patient). Never a row
    in the middle of the table."""
    out: list[int] = []
    for r in reversed(frame.index[-TITLE_ROWS_MAX:]):
        cells = frame.loc[r].dropna()
        first = str(cells.iloc[0]).strip() if len(cells) else ""
        note = len(cells) <= 2 and (_FOOTER_WORDS.match(first) or ":" in first or "=" in first)
        summary = bool(_SUMMARY_WORDS.match(first)) and pd.notna(frame.loc[r].iloc[0])
        if not (note or summary):
            break
        out.append(int(r))
    return sorted(out)


def _some(items, n: int = 6) -> str:
    """The first ``n`` items and how many more: how a note names the cells or rows it is about."""
    items = [str(x) for x in items]
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


def _nd_note(name: str, column: str, rows: list[int]) -> str:
    shown = _some(rows, 5)
    return (f"{name}: {len(rows)} cell(s) of column {column!r} read 'ND' (data row {shown}) and were read as missing "
            "(not done). If ND means 'not detected' there (no measurable M-protein, a FISH probe negative), write 0 "
            "or the negative code in those cells instead.")


def _delim_name(d: str) -> str:
    return {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}.get(d, repr(d))


# ----- numbers -----------------------------------------------------------------------------------
_LIMIT = re.compile(r"^(<=|>=|<|>|≤|≥)\s*(.+)$")
_LIMIT_GROUPS = r"^(<=|>=|<|>|≤|≥)\s*(.+)$"
# a footnote mark straight after the number (superscript digits, *, †, ‡, §) or a lab's flag after a space or in
# brackets (H, L, HH, LL): NFKC would turn '185²' into 1852, so marks are read off before the number is normalised
_MARK = (r"^(.*?\d)\s*([\u00b9\u00b2\u00b3\u2070\u2074-\u2079]+|[*\u2020\u2021\u00a7]+|"
         r"(?<=\s)(?:HH|LL|H|L|h|l)|\((?:HH|LL|H|L|h|l|\+|-)\))$")
_THOUSANDS_POINT = re.compile(r"^[-+]?\d{1,3}(\.\d{3})+(,\d+)?$")
_THOUSANDS_COMMA = re.compile(r"^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$")
_THOUSANDS_APOSTROPHE = re.compile(r"^[-+]?\d{1,3}(['\u2019]\d{3})+([.,]\d+)?$")
_THOUSANDS_SPACE = re.compile(r"^[-+]?\d{1,3}([ \u00a0\u202f]\d{3})+([.,]\d+)?$")


@dataclass
class ParsedNumbers:
    values: pd.Series      # float64, NaN where empty or unparseable
    bad: pd.Series         # bool: a non-empty cell that is not a number
    limit: pd.Series       # "" | "<" | ">" : the cell was an assay limit such as "<0.5"
    # the mark read off after the number ("" if none): a footnote ('185²', '3.5*') or a lab's high/low flag
    # ('12.5 H', '3.1 (L)'); the number is kept and the caller says so
    mark: pd.Series = None


def parse_numbers(raw: pd.Series, decimal_comma: bool = False) -> ParsedNumbers:
    """Numbers from exported cells: ints, floats, decimal commas, thousands separators, ``<0.5``/``>70``.

    The common case (plain numbers) is one vectorised ``to_numeric``; only cells it cannot read go
    through the spelling rules, so 100,000 rows parse in well under a second per column.
    """
    s = raw.astype(object).where(raw.notna(), None)
    first = pd.to_numeric(s, errors="coerce") if not decimal_comma else pd.Series(np.nan, index=s.index)
    values = pd.Series(np.asarray(first, dtype="float64"), index=s.index)
    values = values.where(np.isfinite(values))
    limit = pd.Series("", index=raw.index, dtype=object)
    mark = pd.Series("", index=raw.index, dtype=object)
    todo = s.notna() & values.isna()
    if todo.any():
        text = s[todo].map(lambda v: str(v).strip())
        m = text.str.extract(_LIMIT_GROUPS)
        has_lim = m[0].notna()
        limit[has_lim[has_lim].index] = m.loc[has_lim, 0].map(lambda x: "<" if x in ("<", "<=", "≤") else ">")
        text = text.where(~has_lim, m[1].str.strip())
        mk = text.str.extract(_MARK)
        has_mark = mk[0].notna()
        mark[has_mark[has_mark].index] = mk.loc[has_mark, 1].str.strip()
        text = text.where(~has_mark, mk[0])
        norm = text.map(lambda v: _normalise_number(v, decimal_comma))
        second = pd.to_numeric(norm, errors="coerce").astype("float64")
        values[todo] = second.where(np.isfinite(second))
    unread = (s.notna() & values.isna()).to_numpy()
    if unread.any():  # 'None' and dashes are missing in a number column, not errors (only unread cells are looked at)
        unread[unread] = [str(v).strip().lower() not in (NONE_WORD, *DASHES) for v in s[unread]]
    bad = pd.Series(unread, index=s.index)
    limit = limit.where(~bad, "")
    return ParsedNumbers(values=values, bad=bad, limit=limit, mark=mark.where(~bad, ""))


def _normalise_number(v: str, decimal_comma: bool) -> str:
    v = unicodedata.normalize("NFKC", v).replace("−", "-")
    if v.startswith("'") and len(v) > 1:  # Excel's text marker: '112
        v = v[1:]
    if _THOUSANDS_APOSTROPHE.match(v):  # Swiss: 16'670 or 16’670
        v = re.sub(r"['\u2019]", "", v)
    if _THOUSANDS_SPACE.match(v):
        v = re.sub(r"[ \u00a0\u202f]", "", v)
    if decimal_comma:
        if _THOUSANDS_POINT.match(v):
            v = v.replace(".", "")
        return v.replace(",", ".")
    if _THOUSANDS_COMMA.match(v):
        return v.replace(",", "")
    if re.fullmatch(r"[-+]?\d+,\d+", v):  # a quoted decimal comma in a ',' file
        return v.replace(",", ".")
    return v


# ----- headers ------------------------------------------------------------------------------------
_UNIT_IN_HEADER = re.compile(r"^(?P<name>.*?)\s*[\(\[]\s*(?P<unit>[^\)\]]+?)\s*[\)\]]\s*$")


def header_key(s: str) -> str:
    """Case-, space- and punctuation-insensitive key: 'β2-MG' -> 'b2mg', 'PATIENT_ID' -> 'patientid'."""
    s = unicodedata.normalize("NFKC", str(s)).lower()
    s = s.replace("β", "b").replace("µ", "u").replace("μ", "u").replace("κ", "kappa").replace("λ", "lambda")
    return re.sub(r"[^a-z0-9%+]", "", s)


@dataclass(frozen=True)
class ColumnMatch:
    header: str              # as in the file
    name: str                # schema variable (or patient_id)
    unit: str | None = None  # unit written in the header, e.g. "g/dL"
    how: str = "exact"       # exact | synonym | mapping


def match_headers(headers: list[str], schema: Schema, mapping: dict[str, str] | None = None
                  ) -> tuple[list[ColumnMatch], list[str]]:
    """Schema names for a file's headers; returns the matches and the headers nothing matched."""
    mapping = {header_key(k): v for k, v in (mapping or {}).items()}
    lookup: dict[str, str] = {header_key(ID_COLUMN): ID_COLUMN}
    for syn in ID_SYNONYMS:
        lookup.setdefault(header_key(syn), ID_COLUMN)
    exact = {header_key(v.name): v.name for v in schema}
    for v in schema:
        for syn in (v.name, v.display, *v.synonyms):
            lookup.setdefault(header_key(syn), v.name)
    matches, unmatched = [], []
    for h in headers:
        hk = header_key(h)
        if hk in mapping:
            matches.append(ColumnMatch(h, mapping[hk], None, "mapping"))
            continue
        name, unit = (h.strip(), None) if hk in lookup or hk in exact else _split_unit(h)
        key = header_key(name)
        if key in exact or key == header_key(ID_COLUMN):
            matches.append(ColumnMatch(h, exact.get(key, ID_COLUMN), unit, "exact"))
        elif key in lookup:
            matches.append(ColumnMatch(h, lookup[key], unit, "synonym"))
        elif unit is None and (m := _unit_suffix(hk, schema, lookup)) is not None:
            matches.append(ColumnMatch(h, m.name, m.unit, "synonym"))
        else:
            unmatched.append(h)
    return matches, unmatched


def _split_unit(header: str) -> tuple[str, str | None]:
    m = _UNIT_IN_HEADER.match(header.strip())
    if m and m.group("name").strip():
        return m.group("name").strip(), m.group("unit").strip()
    return header.strip(), None


def _unit_suffix(hk: str, schema: Schema, lookup: dict[str, str]) -> ColumnMatch | None:
    """'hb_g_dl' / 'creat_mg_dl': a known name followed by one of that variable's units."""
    for key, name in lookup.items():
        if name == ID_COLUMN or not hk.startswith(key) or len(hk) == len(key):
            continue
        rest = hk[len(key):]
        var = schema[name]
        for u in var.units():
            if header_key(u) == rest:
                return ColumnMatch("", name, u, "synonym")
    return None
