"""Altair chart builders. Inputs are already aggregated by ``zoo``; nothing here computes a metric."""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

PALETTE = ["#3b4cc0", "#d1495b", "#2a9d8f", "#e9a03b", "#8d5fd3", "#577590", "#f3722c", "#43aa8b"]
GROUP_COLORS = alt.Scale(domain=["non-PD", "PD"], range=["#5b8cc9", "#d1495b"])
H = 320


def _model_scale(names: list[str]) -> alt.Scale:
    return alt.Scale(domain=names, range=PALETTE[: max(1, len(names))] if len(names) <= len(PALETTE) else None)


def roc_chart(curves: dict[str, dict], points: dict[str, tuple[float, float]] | None = None,
              labels: dict[str, str] | None = None) -> alt.Chart:
    labels = labels or {}
    rows = [pd.DataFrame({"fpr": c["roc_fpr"], "tpr": c["roc_tpr"], "model": labels.get(n, n)})
            for n, c in curves.items() if c.get("roc_fpr")]
    df = pd.concat(rows) if rows else pd.DataFrame(columns=["fpr", "tpr", "model"])
    names = list(dict.fromkeys(df["model"]))
    base = alt.Chart(df).mark_line(interpolate="step-after", strokeWidth=2).encode(
        x=alt.X("fpr:Q", title="1 − specificity", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("tpr:Q", title="Sensitivity", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("model:N", scale=_model_scale(names), legend=alt.Legend(orient="bottom", columns=2)))
    diag = alt.Chart(pd.DataFrame({"x": [0, 1], "y": [0, 1]})).mark_line(strokeDash=[4, 4], color="#999").encode(
        x="x", y="y")
    layers = [diag, base]
    if points:
        pts = pd.DataFrame([{"fpr": f, "tpr": t, "model": labels.get(n, n)} for n, (f, t) in points.items()])
        layers.append(alt.Chart(pts).mark_point(size=90, filled=True, stroke="black").encode(
            x="fpr:Q", y="tpr:Q", color=alt.Color("model:N", scale=_model_scale(names), legend=None),
            tooltip=["model", alt.Tooltip("fpr:Q", format=".2f"), alt.Tooltip("tpr:Q", format=".2f")]))
    return alt.layer(*layers).properties(title="ROC", height=H)


def calibration_chart(curves: dict[str, dict], threshold: float | None = None,
                      labels: dict[str, str] | None = None) -> alt.Chart:
    labels = labels or {}
    rows = [pd.DataFrame({"predicted": c["cal_pred"], "observed": c["cal_obs"], "model": labels.get(n, n)})
            for n, c in curves.items() if c.get("cal_pred")]
    df = pd.concat(rows) if rows else pd.DataFrame(columns=["predicted", "observed", "model"])
    names = list(dict.fromkeys(df["model"]))
    diag = alt.Chart(pd.DataFrame({"x": [0, 1], "y": [0, 1]})).mark_line(strokeDash=[4, 4], color="#999").encode(
        x="x", y="y")
    line = alt.Chart(df).mark_line(point=True).encode(
        x=alt.X("predicted:Q", title="Predicted P(PD)", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("observed:Q", title="Observed PD rate", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("model:N", scale=_model_scale(names), legend=alt.Legend(orient="bottom", columns=2)),
        tooltip=["model", alt.Tooltip("predicted:Q", format=".2f"), alt.Tooltip("observed:Q", format=".2f")])
    layers = [diag, line]
    if threshold is not None:
        layers.append(_rule(threshold))
    return alt.layer(*layers).properties(title="Calibration (reliability, quantile bins)", height=H)


def _rule(threshold: float) -> alt.Chart:
    return alt.Chart(pd.DataFrame({"t": [threshold]})).mark_rule(color="black", strokeDash=[2, 2]).encode(
        x="t:Q", tooltip=[alt.Tooltip("t:Q", title="threshold", format=".2f")])


def dca_chart(curves: dict[str, dict], threshold: float | None = None, points: dict[str, float] | None = None,
              labels: dict[str, str] | None = None) -> alt.Chart:
    labels = labels or {}
    rows = []
    first = None
    for n, c in curves.items():
        if not c.get("dca_threshold"):
            continue
        first = first or c
        rows.append(pd.DataFrame({"threshold": c["dca_threshold"], "net_benefit": c["dca_model"],
                                  "model": labels.get(n, n)}))
    if first:
        rows.append(pd.DataFrame({"threshold": first["dca_threshold"], "net_benefit": first["dca_all"],
                                  "model": "Treat all"}))
        rows.append(pd.DataFrame({"threshold": first["dca_threshold"], "net_benefit": first["dca_none"],
                                  "model": "Treat none"}))
    df = pd.concat(rows) if rows else pd.DataFrame(columns=["threshold", "net_benefit", "model"])
    names = [n for n in dict.fromkeys(df["model"]) if n not in ("Treat all", "Treat none")]
    scale = alt.Scale(domain=names + ["Treat all", "Treat none"],
                      range=PALETTE[: len(names)] + ["#888888", "#222222"])
    ymax = float(df["net_benefit"].max()) if len(df) else 0.5
    line = alt.Chart(df).mark_line(strokeWidth=2).encode(
        x=alt.X("threshold:Q", title="Threshold probability", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("net_benefit:Q", title="Net benefit", scale=alt.Scale(domain=[-0.05, max(0.05, ymax * 1.1)],
                                                                       clamp=True)),
        color=alt.Color("model:N", scale=scale, legend=alt.Legend(orient="bottom", columns=2)),
        strokeDash=alt.condition(alt.FieldOneOfPredicate("model", ["Treat all", "Treat none"]),
                                 alt.value([5, 3]), alt.value([1, 0])))
    layers = [line]
    if threshold is not None:
        layers.append(_rule(threshold))
    if points:
        pts = pd.DataFrame([{"threshold": threshold, "net_benefit": v, "model": labels.get(n, n)}
                            for n, v in points.items()])
        layers.append(alt.Chart(pts).mark_point(size=90, filled=True, stroke="black").encode(
            x="threshold:Q", y="net_benefit:Q", color=alt.Color("model:N", scale=scale, legend=None)))
    return alt.layer(*layers).properties(title="Decision curve", height=H)


def confusion_chart(m: dict) -> alt.Chart:
    df = pd.DataFrame([
        {"actual": "PD", "predicted": "PD", "n": m["tp"]}, {"actual": "PD", "predicted": "non-PD", "n": m["fn"]},
        {"actual": "non-PD", "predicted": "PD", "n": m["fp"]}, {"actual": "non-PD", "predicted": "non-PD", "n": m["tn"]},
    ])
    base = alt.Chart(df).encode(x=alt.X("predicted:N", sort=["PD", "non-PD"], title="Predicted"),
                                y=alt.Y("actual:N", sort=["PD", "non-PD"], title="Actual"))
    return (base.mark_rect().encode(color=alt.Color("n:Q", scale=alt.Scale(scheme="blues"), legend=None))
            + base.mark_text(fontSize=18).encode(text="n:Q")).properties(height=200, width=220,
                                                                         title="Confusion matrix")


def km_chart(curves: pd.DataFrame, title: str) -> alt.Chart:
    groups = set(curves["group"]) if len(curves) else set()
    risk = ["low", "intermediate", "high"]
    # distinct hues (the theme's sequential blues wash out the bands); risk groups always in the same colours
    scale = (alt.Scale(domain=risk, range=["#2a9d8f", "#e9a03b", "#d1495b"]) if groups and groups <= set(risk)
             else alt.Scale(scheme="tableau10"))
    color = alt.Color("group:N", scale=scale, legend=alt.Legend(orient="bottom", title=None, symbolOpacity=1))
    band = alt.Chart(curves).mark_area(opacity=0.15, interpolate="step-after").encode(
        x="time:Q", y="lower:Q", y2="upper:Q", color=color)
    line = alt.Chart(curves).mark_line(interpolate="step-after", strokeWidth=2).encode(
        x=alt.X("time:Q", title="Months from diagnosis"),
        y=alt.Y("survival:Q", title="Progression-free", scale=alt.Scale(domain=[0, 1])), color=color,
        tooltip=["group", alt.Tooltip("time:Q", format=".1f"), alt.Tooltip("survival:Q", format=".2f"), "at_risk"])
    return (line + band).properties(title=title, height=H)  # line first: the legend draws line symbols


def distribution_chart(df: pd.DataFrame, label: str, numeric: bool) -> alt.Chart:
    if numeric:
        return alt.Chart(df).mark_bar(opacity=0.6, binSpacing=0).encode(
            x=alt.X("bin_start:Q", title=label, bin="binned"), x2="bin_end:Q",
            y=alt.Y("share:Q", title="Share of group", stack=None),
            color=alt.Color("group:N", scale=GROUP_COLORS, legend=alt.Legend(orient="bottom", title=None)),
            tooltip=["group", alt.Tooltip("bin_start:Q", format=".3g"), alt.Tooltip("bin_end:Q", format=".3g"),
                     "count"]).properties(height=260, title=label)
    return alt.Chart(df).mark_bar().encode(
        x=alt.X("level:N", title=label), xOffset="group:N", y=alt.Y("share:Q", title="Share of group"),
        color=alt.Color("group:N", scale=GROUP_COLORS, legend=alt.Legend(orient="bottom", title=None)),
        tooltip=["group", "level", "count", alt.Tooltip("share:Q", format=".1%")]).properties(height=260, title=label)


def missingness_chart(df: pd.DataFrame) -> alt.Chart:
    return alt.Chart(df).mark_bar(color="#8d99ae").encode(
        x=alt.X("missing:Q", title="Missing", axis=alt.Axis(format="%")),
        y=alt.Y("label:N", sort="-x", title=None), tooltip=["label", alt.Tooltip("missing:Q", format=".1%")],
    ).properties(height=alt.Step(18), title="Missing values per variable")


def waterfall_chart(df: pd.DataFrame, base: float, output: str, title: str = "SHAP waterfall (this patient)"
                    ) -> alt.Chart:
    d = df.copy()
    d["sign"] = np.where(d["contribution"] >= 0, "raises risk", "lowers risk")
    # a blank value's bar is what "unknown" contributes (as in the patient report), so it says so
    d["shown"] = d.apply(lambda r: r["label"] if r.get("variable") == "other"
                         else f"{r['label']} = unknown" if r["value"] is None or pd.isna(r["value"])
                         else f"{r['label']} = {_fmt(r['value'])}", axis=1)
    d["value"] = d["value"].map(lambda v: "" if v is None or (not isinstance(v, str) and pd.isna(v)) else _fmt(v))
    bars = alt.Chart(d).mark_bar().encode(
        y=alt.Y("shown:N", sort=None, title=None, axis=alt.Axis(labelLimit=320)),
        # zoom to the contributions: from zero, a ±0.04 story is a sliver at the right edge
        x=alt.X("start:Q", title=f"Model output ({output})", scale=alt.Scale(zero=False)), x2="end:Q",
        color=alt.Color("sign:N", scale=alt.Scale(domain=["raises risk", "lowers risk"],
                                                  range=["#d1495b", "#3b7dd8"]), legend=alt.Legend(orient="bottom")),
        tooltip=["label", "value", alt.Tooltip("contribution:Q", format="+.3f")])
    # both ends of the chain named on the chart: without them a reader cannot tell which end is the patient's
    # probability (a failure-case reviewer misread the dashed base as the output)
    final = float(d["end"].iloc[-1]) if len(d) else float(base)
    shown = "P(PD)" if output == "probability" else output
    ends = pd.DataFrame({"x": [float(base), final], "dash": ["base", "output"],
                         "text": [f"base {base:.3f}", f"{shown} {final:.3f}"]})
    rules = alt.Chart(ends).mark_rule(color="#555").encode(
        x=alt.X("x:Q", scale=alt.Scale(zero=False)),
        strokeDash=alt.StrokeDash("dash:N", scale=alt.Scale(domain=["base", "output"], range=[[3, 3], [1, 0]]),
                                  legend=None))
    labels = alt.Chart(ends).mark_text(align="left", dx=3, dy=-6, color="#333", fontSize=11).encode(
        x="x:Q", y=alt.value(0), text="text:N")
    subtitle = ["Read from the top: the dashed line is the base (the mean prediction over the training patients);",
                f"each bar moves it, and the last ends at this patient's {shown} (solid line)."]
    return (rules + bars + labels).properties(height=alt.Step(26),
                                              title=alt.TitleParams(title, subtitle=subtitle, anchor="start"))


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{v:.3g}"
    return str(v)


def importance_chart(df: pd.DataFrame, x: str, title: str, x_title: str) -> alt.Chart:
    return alt.Chart(df).mark_bar(color="#3b4cc0").encode(
        x=alt.X(f"{x}:Q", title=x_title), y=alt.Y("label:N", sort="-x", title=None, axis=alt.Axis(labelLimit=260)),
        tooltip=["label", alt.Tooltip(f"{x}:Q", format=".4f")]).properties(height=alt.Step(22), title=title)


def beeswarm_chart(df: pd.DataFrame) -> alt.Chart:
    return alt.Chart(df).mark_circle(size=22, opacity=0.7).encode(
        x=alt.X("contribution:Q", title="SHAP value"), y=alt.Y("label:N", title=None, sort=None,
                                                             axis=alt.Axis(labelLimit=260)),
        yOffset="jitter:Q", color=alt.Color("feature_value:Q", scale=alt.Scale(scheme="redblue", reverse=True),
                                            title="Feature value (low→high)"),
    ).transform_calculate(jitter="random()").properties(height=alt.Step(28), title="SHAP summary (cohort)")


def modality_chart(phi: dict[str, float]) -> alt.Chart:
    df = pd.DataFrame([{"modality": k, "contribution": v} for k, v in phi.items() if not k.startswith("_")])
    return alt.Chart(df).mark_bar().encode(
        x=alt.X("contribution:Q", title="Shapley contribution to P(PD)"), y=alt.Y("modality:N", title=None),
        color=alt.condition("datum.contribution > 0", alt.value("#d1495b"), alt.value("#3b7dd8")),
        tooltip=["modality", alt.Tooltip("contribution:Q", format="+.3f")]).properties(
        height=140, title=f"Modality contributions (base {phi['_base']:.2f} → {phi['_full']:.2f})")


def risk_curve_chart(df: pd.DataFrame, label: str, current: float, observed: tuple[float, float] | None) -> alt.Chart:
    layers = []
    if observed is not None:
        layers.append(alt.Chart(pd.DataFrame({"lo": [observed[0]], "hi": [observed[1]]})).mark_rect(
            opacity=0.08, color="#2a9d8f").encode(x="lo:Q", x2="hi:Q"))
    layers.append(alt.Chart(df).mark_line(strokeWidth=2, color="#3b4cc0").encode(
        x=alt.X("value:Q", title=label), y=alt.Y("probability:Q", title="Ensemble P(PD)", scale=alt.Scale(domain=[0, 1])),
        tooltip=[alt.Tooltip("value:Q", format=".3g"), alt.Tooltip("probability:Q", format=".3f")]))
    cur = df.iloc[(df["value"] - current).abs().argsort()[:1]]
    layers.append(alt.Chart(cur).mark_point(size=120, filled=True, color="#d1495b").encode(x="value:Q", y="probability:Q"))
    return alt.layer(*layers).properties(height=260, title=f"Predicted risk across {label} (shaded: observed in cohort)")


def forest_chart(rows: pd.DataFrame, title: str) -> alt.Chart:
    """AUC with 95 % CI per subgroup; groups with too few events are left to the table (not estimates)."""
    df = rows[~rows["too_few_events"].astype(bool) & rows["auc"].notna()].copy()
    df["label"] = df["grouping_display"] + ": " + df["group"].astype(str)
    order = list(df["label"])
    y = alt.Y("label:N", sort=order, title=None)
    bars = alt.Chart(df).mark_rule(color="#555").encode(x=alt.X("auc_lo:Q", scale=alt.Scale(domain=[0, 1]),
                                                                 title="AUC (95% CI)"), x2="auc_hi:Q", y=y)
    pts = alt.Chart(df).mark_point(filled=True, size=60, color=PALETTE[0]).encode(
        x="auc:Q", y=y, tooltip=["label", "n", "events", alt.Tooltip("auc:Q", format=".3f"),
                                 alt.Tooltip("auc_lo:Q", format=".3f"), alt.Tooltip("auc_hi:Q", format=".3f")])
    half = alt.Chart(pd.DataFrame({"x": [0.5]})).mark_rule(strokeDash=[4, 4], color="#999").encode(x="x:Q")
    return alt.layer(half, bars, pts).properties(title=title, height=max(120, 22 * len(df)))


def for_export(chart: alt.Chart, title: str, subtitle: str) -> alt.Chart:
    """A figure for a talk: fixed full width (a 'container' width renders narrow off screen and cut the
    legend), the legend below with labels never truncated, and a title that carries what was shown
    (split, threshold, zoo) so a slide cannot lose its context."""
    return (chart.properties(width=640, height=420, title=alt.TitleParams(title, subtitle=subtitle, anchor="start"))
            .configure_legend(orient="bottom", columns=1, labelLimit=0, titleLimit=0, symbolLimit=0)
            .configure_view(continuousWidth=640))


def to_svg(chart: alt.Chart) -> bytes:
    return _render(chart.to_json(), "svg")


def to_png(chart: alt.Chart) -> bytes:
    return _render(chart.to_json(), "png")


@st.cache_data(max_entries=64, show_spinner=False)
def _render(spec: str, fmt: str) -> bytes:
    """A figure's bytes, rendered once per spec: download buttons carry their bytes, so every rerun of a page
    would otherwise re-render every figure it offers."""
    import vl_convert as vlc

    return vlc.vegalite_to_svg(spec).encode() if fmt == "svg" else vlc.vegalite_to_png(spec, scale=2)


def cam_colour_scale(width: int = 360, height: int = 14) -> np.ndarray:
    """The Grad-CAM overlays' colour map (pytorch-grad-cam's default, OpenCV's JET) as a strip, low → high."""
    from matplotlib import colormaps

    row = (colormaps["jet"](np.linspace(0, 1, width))[:, :3] * 255).astype(np.uint8)
    return np.repeat(row[None], height, axis=0)


def tile_weights(container, tiles: list[dict], top: int = 5, found: int | None = None) -> None:
    """A cell-level model's heaviest plasma-cell crops: where each sits, its share of the pooled prediction
    (MIL attention, or equal shares under mean pooling) and its own P(PD). ``found``: the plasma cells the
    segmenter found, when the model pools only some of them (at most its limit per smear)."""
    if not tiles:
        container.caption("No plasma cell was found in this image, so this model has nothing to pool here.")
        return
    df = pd.DataFrame(tiles)
    equal = float(df["weight"].max() - df["weight"].min()) < 1e-9
    # mean pooling weighs every crop equally: then the crops that push the prediction up are the informative rows
    df = df.sort_values("probability" if equal else "weight", ascending=False).head(top)
    df = pd.DataFrame({"cell at (x, y)": [f"({(b[0] + b[2]) // 2}, {(b[1] + b[3]) // 2})" for b in df["box"]],
                       "weight": [f"{w:.0%}" for w in df["weight"]],
                       "P(PD) of this cell": [f"{p:.2f}" for p in df["probability"]]})
    pooled = (f"{len(tiles)} of the {found} plasma cells found are pooled (at most {len(tiles)} per smear, taken "
              "from the top of the smear to the bottom)" if found is not None and found > len(tiles)
              else f"{len(tiles)} plasma-cell crops pooled")
    container.caption(f"{pooled}, with equal weights (mean); the {len(df)} with the highest P(PD):" if equal else
                      f"{pooled}, by attention; the {len(df)} heaviest:")
    container.dataframe(df, hide_index=True, width="stretch")
