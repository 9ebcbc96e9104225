import pandas as pd
import pytest

from zoo.errors import SchemaError, UnitError
from zoo.schema import DEFAULT_SCHEMA, Kind, Variable, derive_stages, load_variables_yaml
from zoo.schema.variables import BUILTIN_VARIABLES

PAPER_VARIABLES = {
    "age", "sex", "wbc", "hgb", "plt", "alb", "glb", "ldh", "creatinine", "calcium", "b2m", "mprotein_heavy",
    "mprotein_light", "mprotein_level", "urine_light_chain", "bmpc", "ds_stage", "iss", "riss", "fish_1q21_gain",
    "fish_del17p", "fish_t4_14", "fish_t14_16", "fish_t11_14",
}
# recorded beyond the paper's table: bone disease decides Durie–Salmon stage III (issue 15)
EXTRA_VARIABLES = {"bone_lesions"}


def test_schema_has_every_paper_variable_once():
    names = [v.name for v in BUILTIN_VARIABLES]
    assert set(names) == PAPER_VARIABLES | EXTRA_VARIABLES
    assert len(names) == len(set(names))


@pytest.mark.parametrize("var", BUILTIN_VARIABLES, ids=lambda v: v.name)
def test_every_variable_is_fully_described(var):
    assert var.display and var.help, "display name and help text drive forms and SHAP labels"
    if var.kind is Kind.numeric:
        assert var.unit and var.valid_range and var.valid_range[0] < var.valid_range[1]
        if var.typical_range:
            assert var.valid_range[0] <= var.typical_range[0] < var.typical_range[1] <= var.valid_range[1]
    else:
        assert len(var.levels) >= 2


@pytest.mark.parametrize("name,value,unit,expected", [
    ("hgb", 10.2, "g/dL", 102.0),
    ("creatinine", 1.0, "mg/dL", 88.42),
    ("calcium", 10.0, "mg/dL", 2.495),
    ("alb", 3.5, "g/dL", 35.0),
    ("mprotein_level", 2.5, "g/dL", 25.0),
    ("urine_light_chain", 1.2, "g/24h", 1200.0),
    ("ldh", 4.0, "µkat/L", 240.0),
    ("wbc", 5.0, "×10³/µL", 5.0),
])
def test_unit_conversion_to_canonical_and_back(name, value, unit, expected):
    var = DEFAULT_SCHEMA[name]
    assert var.to_canonical(value, unit) == pytest.approx(expected)
    assert var.from_canonical(expected, unit) == pytest.approx(value)


def test_unit_spelling_is_forgiving_but_unknown_units_raise():
    assert DEFAULT_SCHEMA["creatinine"].to_canonical(1.0, "MG/DL") == pytest.approx(88.42)
    with pytest.raises(UnitError, match=r"hgb.*expected one of the units .*Got 'mg/L'"):
        DEFAULT_SCHEMA["hgb"].to_canonical(1.0, "mg/L")


@pytest.mark.parametrize("name,value,hint", [("hgb", 10.2, "g/dL"), ("creatinine", 1.3, "mg/dL"),
                                             ("calcium", 9.8, "mg/dL"), ("alb", 3.6, "g/dL"), ("hgb", 120, None)])
def test_unit_hint_names_the_likely_unit(name, value, hint):
    assert DEFAULT_SCHEMA[name].unit_hint(value) == hint


def test_labels_use_display_names_and_units():
    assert DEFAULT_SCHEMA.label("hgb") == "Haemoglobin (g/L)"
    assert DEFAULT_SCHEMA.label("sex=female") == "Sex = female"
    assert DEFAULT_SCHEMA.label("not_a_variable") == "not_a_variable"


def test_levels_accept_aliases():
    assert DEFAULT_SCHEMA["mprotein_light"].normalise_level("κ") == "kappa"
    assert DEFAULT_SCHEMA["sex"].normalise_level("F") == "female"
    assert DEFAULT_SCHEMA["fish_del17p"].normalise_level("positive") == "1"
    assert DEFAULT_SCHEMA["iss"].normalise_level("IV") is None


def test_iss_and_riss_derivation_truth_table():
    df = pd.DataFrame({
        "b2m": [2.0, 2.0, 4.0, 6.0, 6.0, 6.0, 2.0, None],
        "alb": [40, 30, 40, 40, 40, 40, 40, 40],
        "ldh": [200, 200, 200, 300, 200, 200, 300, 200],
        "fish_del17p": [0, 0, 0, 0, 1, 0, 0, 0],
        "fish_t4_14": [0, 0, 0, 0, 0, 0, 0, 0],
        "fish_t14_16": [0, 0, 0, 0, 0, 0, 0, 0],
    })
    st = derive_stages(df)
    assert list(st["iss"].fillna("NA")) == ["I", "II", "II", "III", "III", "III", "I", "NA"]
    assert list(st["riss"].fillna("NA")) == ["I", "II", "II", "III", "III", "II", "II", "NA"]


def test_riss_is_missing_rather_than_guessed_when_fish_unknown():
    df = pd.DataFrame({"b2m": [2.0, 6.0], "alb": [40, 40], "ldh": [200, 200]})
    st = derive_stages(df)
    assert st["iss"].tolist() == ["I", "III"]
    assert st["riss"].isna().all()


def test_variables_yaml_extras_and_units(tmp_path):
    p = tmp_path / "variables.yaml"
    p.write_text("units:\n  hgb: g/dL\nldh_uln: 245\nvariables:\n"
                 "  - name: ecog\n    type: ordinal\n    levels: ['0', '1', '2', '3', '4']\n"
                 "  - name: ferritin\n    type: numeric\n    unit: ng/mL\n    range: [1, 20000]\n")
    vf = load_variables_yaml(p)
    assert vf.units == {"hgb": "g/dL"} and vf.ldh_uln == 245
    schema = DEFAULT_SCHEMA.with_extras(vf.variables, vf.ldh_uln)
    assert schema["ferritin"].valid_range == (1, 20000) and schema["ecog"].kind is Kind.ordinal
    assert schema.ldh_uln == 245


@pytest.mark.parametrize("yaml_text,match", [
    ("variables:\n  - name: Bad Name\n    type: binary\n", "lower-case identifier"),
    ("variables:\n  - name: x1\n    type: numeric\n", "needs a valid_range"),
    ("variables:\n  - name: x2\n    type: categorical\n    levels: [a]\n", "at least two levels"),
    ("variables: [\n", "expected valid YAML"),
])
def test_bad_variables_yaml_is_explained(tmp_path, yaml_text, match):
    p = tmp_path / "variables.yaml"
    p.write_text(yaml_text)
    with pytest.raises(SchemaError, match=match):
        load_variables_yaml(p)


def test_duplicate_variable_is_refused():
    with pytest.raises(SchemaError, match="unique variable names.*'hgb' twice"):
        DEFAULT_SCHEMA.with_extras([Variable(name="hgb", kind=Kind.binary, display="x", levels=("0", "1"))])


def test_grouped_follows_form_order():
    from zoo.schema.variables import GROUP_ORDER

    groups = list(DEFAULT_SCHEMA.grouped().keys())
    assert groups[0] == "Demographics" and "Cytogenetics (FISH)" in groups
    assert groups == [g for g in GROUP_ORDER if g in groups]
