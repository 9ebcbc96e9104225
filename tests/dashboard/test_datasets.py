"""Datasets by name: the catalog, link validation and redaction of server folders (no Streamlit run needed)."""
from pathlib import Path

import pytest

from dashboard import datasets, state
from dashboard.datasets import Catalog, DatasetConfigError, load_catalog, redact, valid_name


def test_names_are_never_paths():
    assert valid_name("site_a") and valid_name("demo-2.v1")
    for bad in ("/etc", "../x", "a/b", "..", "", "x" * 65, " a", "a b", None, 3, ["demo"]):
        assert not valid_name(bad), bad


def test_catalog_from_file_resolves_relative_folders_and_defaults(tmp_path):
    f = tmp_path / "datasets.toml"
    f.write_text('default_zoo = "b"\n[cohorts]\nsite_a = "cohorts/a"\nsite_b = "/srv/b"\n'
                 '[zoos]\na = "/srv/zoo_a"\nb = "zoos/b"\n')
    cat = load_catalog({"MYELOZOO_DATASETS": str(f)})
    assert cat.cohorts == {"site_a": (tmp_path / "cohorts/a").resolve(), "site_b": Path("/srv/b")}
    assert cat.default_cohort == "site_a" and cat.default_zoo == "b"
    assert cat.cohort_name("site_b") == "site_b"
    assert cat.cohort_name("/etc") == "site_a", "a path from a link is never used"
    assert cat.zoo_name("/tmp/x") == "b"
    assert cat.cohort_name("nope") == "site_a"


def test_environment_folders_are_offered_by_name_and_become_the_default(tmp_path):
    f = tmp_path / "d.toml"
    f.write_text('[cohorts]\nother = "/srv/other"\n')
    cat = load_catalog({"MYELOZOO_DATASETS": str(f), "MYELOZOO_COHORT": str(tmp_path / "tiny"),
                        "MYELOZOO_ZOO": str(tmp_path / "my zoo!"), "MYELOZOO_ZOO_NAME": "main"})
    assert list(cat.cohorts) == ["tiny", "other"] and cat.default_cohort == "tiny"
    assert cat.zoos == {"main": tmp_path / "my zoo!"}


def test_nothing_configured_offers_the_demo(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "DEFAULT_FILE", tmp_path / "absent.toml")
    cat = load_catalog({})
    assert cat.default_cohort == "demo" and cat.cohorts["demo"] == datasets.DEMO_ROOT / "cohort"
    assert cat.zoos == {"demo": datasets.DEMO_ROOT / "zoo"}


@pytest.mark.parametrize("text, match", [
    ('[cohorts]\n"../up" = "/x"\n', "expected a name of letters"),
    ('[cohorts]\na = 3\n', "expected a folder path as a string"),
    ('cohorts = "x"\n', r"expected a \[cohorts\] table"),
    ('default_cohort = "zz"\n[cohorts]\na = "/x"\n', "expected default_cohort to be one of"),
    ('[cohorts\n', "expected a readable TOML catalog"),
])
def test_a_broken_catalog_is_refused_with_the_fix(tmp_path, text, match):
    f = tmp_path / "datasets.toml"
    f.write_text(text)
    with pytest.raises(DatasetConfigError, match=match):
        load_catalog({"MYELOZOO_DATASETS": str(f)})


def test_missing_catalog_file_is_named(tmp_path):
    with pytest.raises(DatasetConfigError, match="expected a catalog file. Got no file named nope.toml"):
        load_catalog({"MYELOZOO_DATASETS": str(tmp_path / "nope.toml")})


def test_redact_replaces_configured_folders_by_name_and_other_paths_by_their_last_part(tmp_path):
    cat = Catalog({"site_a": tmp_path / "cohorts" / "a"}, {"main": Path("/srv/zoos/main")}, "site_a", "main")
    msg = (f"zoo /srv/zoos/main: expected file x. Cohort {tmp_path / 'cohorts' / 'a'} has errors; "
           "see /var/lib/secret/place/file.csv; units mg/dL and 10^9/L stay.")
    out = redact(msg, cat)
    assert "/srv" not in out and str(tmp_path) not in out and "/var/lib" not in out
    assert "<zoo main>" in out and "<cohort site_a>" in out and "file.csv" in out
    assert "mg/dL" in out and "10^9/L" in out


@pytest.mark.parametrize("raw, want", [("0.7", 0.7), ("5", 0.99), ("-3", 0.01), ("0.333333", 0.33),
                                       ("nan", None), ("inf", None), ("abc", None), ("", None)])
def test_threshold_from_a_link_is_clamped_to_the_slider(raw, want):
    assert state.clean_threshold(raw) == want


def test_link_parameters_are_validated():
    assert state.clean("split", "external") == "external" and state.clean("split", "../x") is None
    assert state.clean("patient", "A0001") == "A0001" and state.clean("patient", "<script>") is None
    assert state.clean("cohort", "/etc") is None and state.clean("zoo", "main") == "main"
    assert state.clean("models", ["ens_soft_vote", "/x", "clin_lr"]) == ["ens_soft_vote", "clin_lr"]
    assert len(state.clean("models", [f"m{i}" for i in range(100)])) == state.MAX_MODELS
