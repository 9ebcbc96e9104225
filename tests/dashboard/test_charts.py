"""Chart specs say what a reader needs to read them (no browser: the Vega-Lite spec is checked)."""
import json

import pandas as pd

from dashboard import charts


def _frame(base: float, contributions: list[float]) -> pd.DataFrame:
    df = pd.DataFrame({"label": [f"v{i}" for i in range(len(contributions))], "value": [1.0] * len(contributions),
                       "contribution": contributions})
    df["start"] = base + df["contribution"].cumsum() - df["contribution"]
    df["end"] = df["start"] + df["contribution"]
    return df


def test_waterfall_names_its_base_and_the_patients_probability_on_the_chart():
    spec = json.dumps(charts.waterfall_chart(_frame(0.148, [0.025, -0.023, -0.05]), 0.148, "probability").to_dict())
    assert "base 0.148" in spec
    assert "P(PD) 0.100" in spec, "the chain's end (base + bars) is labelled as the patient's output"
    assert "Read from the top" in spec


def test_waterfall_end_follows_the_bars_not_the_base():
    spec = json.dumps(charts.waterfall_chart(_frame(0.5, [0.2, 0.1]), 0.5, "probability").to_dict())
    assert "P(PD) 0.800" in spec and "P(PD) 0.500" not in spec


def test_a_blank_values_bar_says_unknown_and_the_rest_bar_does_not():
    df = _frame(0.3, [0.05, -0.02, 0.01])
    df["variable"] = ["plt", "hgb", "other"]
    df["label"] = ["Platelets (10^9/L)", "Haemoglobin (g/L)", "15 other variables"]
    df["value"] = [None, 101.0, None]
    spec = json.dumps(charts.waterfall_chart(df, 0.3, "probability").to_dict())
    assert "Platelets (10^9/L) = unknown" in spec and "Haemoglobin (g/L) = 101" in spec
    assert "15 other variables = unknown" not in spec
