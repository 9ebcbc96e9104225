"""Property tests: whatever bytes, tables or variables.yaml a user hands us, validation answers with a usable
cohort or a list of problems in our words — never an unexpected exception."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zoo.cohort import load_clinical_table, validate_cohort
from zoo.schema import DEFAULT_SCHEMA

SETTINGS = settings(max_examples=int(__import__("os").environ.get("FUZZ_EXAMPLES", "40")), deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAMES = ["patient_id", "progressed", "PATIENT_ID", "Hb (g/dL)", "age", "sex", "creatinine", "iss",
         "months_to_event", "event", "del(17p)", "b2m", "ldh", "", "progressed", "β2-MG", "x"]
CELLS = st.one_of(
    st.none(), st.integers(-10**9, 10**9), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "NA", "<0.5", ">70", "12,5", "1.234,5", "yes", "no", "TRUE", "IgG", "male", "III",
                     "=HYPERLINK(\"x\")", "-", "∞", "1e400", "0x1F", " 61 ", "nan"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30),
    st.integers(1, 3).map(lambda k: "ü" * 4000 * k),  # a huge cell
)


def _check(report, cohort) -> None:
    """The contract: a usable cohort, or errors — each a sentence in our words with a file named."""
    if cohort is None:
        assert report.errors, "an unusable cohort must say why"
    for p in report.problems:
        assert p.file and p.message and p.severity in ("error", "warning")
        for leak in ("Traceback", "dtype(", "SchemaError", "pandera", "ParserError", "Exception"):
            assert leak not in p.message, p.message
    assert isinstance(report.summary(), str)


@SETTINGS
@given(st.binary(max_size=2000))
def test_random_bytes_as_clinical_csv(data):
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "clinical.csv").write_bytes(data)
        _check(*validate_cohort(d))


@SETTINGS
@given(st.binary(max_size=2000))
def test_random_bytes_as_xlsx_and_images_csv(data):
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "clinical.xlsx").write_bytes(data)
        _check(*validate_cohort(d))
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "clinical.csv").write_text("patient_id,progressed\na,0\nb,1\n")
        (Path(d) / "images.csv").write_bytes(data)
        _check(*validate_cohort(d))


@SETTINGS
@given(
    headers=st.lists(st.sampled_from(NAMES), min_size=1, max_size=8),
    rows=st.lists(st.lists(CELLS, min_size=8, max_size=8), min_size=0, max_size=12),
    sep=st.sampled_from([",", ";", "\t"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "windows-1252", "utf-16"]),
)
def test_random_tables(headers, rows, sep, encoding):
    df = pd.DataFrame([r[: len(headers)] for r in rows], columns=range(len(headers)))
    df.columns = headers  # duplicate headers on purpose
    text = df.to_csv(sep=sep, index=False)
    data = text.encode(encoding, errors="replace")
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "clinical.csv").write_bytes(data)
        report, cohort = validate_cohort(d)
        _check(report, cohort)
        if cohort is not None:
            assert cohort.clinical.index.is_unique
            for v in DEFAULT_SCHEMA.features(cohort.clinical.columns):
                if v.kind.value == "numeric":
                    col = cohort.clinical[v.name].dropna()
                    assert col.dtype == np.float64 and col.between(*v.valid_range).all()
        rep2, table, _ = load_clinical_table(Path(d) / "clinical.csv")
        _check(rep2, table)


YAML_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=12,
)


@SETTINGS
@given(
    doc=st.dictionaries(st.sampled_from(["units", "ldh_uln", "sheet", "columns", "codes", "variables", "other"]),
                        YAML_VALUES, max_size=5),
    raw=st.text(max_size=200),
    use_raw=st.booleans(),
)
def test_random_variables_yaml(doc, raw, use_raw):
    import yaml

    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "clinical.csv").write_text("patient_id,hgb,progressed\na,100,0\nb,120,1\n")
        (Path(d) / "variables.yaml").write_text(raw if use_raw else yaml.safe_dump(doc, allow_unicode=True),
                                               encoding="utf-8")
        _check(*validate_cohort(d))
