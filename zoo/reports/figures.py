"""Report figures as PNG bytes: ROC, calibration, decision curve and the subgroup forest plot.

Drawn with matplotlib's object API (no pyplot state, so safe in a threaded server) from the curves the
trainer stored, never recomputed. PNG metadata is stripped so the same inputs give byte-identical files
(a reproducible report).
"""
from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def png_bytes(fig: Figure, dpi: int = 110) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def plain(text: str) -> str:
    """Users' labels as literal text: an even number of '$' would switch matplotlib to mathtext."""
    return str(text).replace("$", r"\$")


def _figure(w: float = 4.2, h: float = 3.4):
    fig = Figure(figsize=(w, h))
    return fig, fig.add_subplot(1, 1, 1)


def _model_lines(ax, curves: dict, split: str, names: dict[str, str], x: str, y: str, **style) -> list[dict]:
    """One line per model that has curve ``x``/``y`` on ``split`` (legend labels from ``names``, in order);
    returns the curves drawn."""
    drawn = []
    for i, (name, label) in enumerate(names.items()):
        c = (curves.get(name) or {}).get(split)
        if not c or not c.get(x):
            continue
        ax.plot(c[x], c[y], color=PALETTE[i % len(PALETTE)], label=plain(label), **style)
        drawn.append(c)
    return drawn


def roc_png(curves: dict, split: str, names: dict[str, str]) -> bytes | None:
    """``names``: model -> legend label, in drawing order; models without a curve on ``split`` are skipped."""
    fig, ax = _figure()
    if not _model_lines(ax, curves, split, names, "roc_fpr", "roc_tpr", lw=1.6):
        return None
    ax.plot([0, 1], [0, 1], ls=":", color="grey", lw=1)
    ax.set(xlabel="1 − specificity", ylabel="Sensitivity", xlim=(0, 1), ylim=(0, 1.01), title="ROC")
    ax.legend(fontsize=6.5, loc="lower right")
    return png_bytes(fig)


def calibration_png(curves: dict, split: str, names: dict[str, str]) -> bytes | None:
    fig, ax = _figure()
    if not _model_lines(ax, curves, split, names, "cal_pred", "cal_obs", marker="o", ms=3, lw=1.4):
        return None
    ax.plot([0, 1], [0, 1], ls=":", color="grey", lw=1)
    ax.set(xlabel="Predicted P(PD)", ylabel="Observed proportion", xlim=(0, 1), ylim=(0, 1), title="Calibration")
    ax.legend(fontsize=6.5, loc="upper left")
    return png_bytes(fig)


def decision_curve_png(curves: dict, split: str, names: dict[str, str]) -> bytes | None:
    fig, ax = _figure()
    drawn = _model_lines(ax, curves, split, names, "dca_threshold", "dca_model", lw=1.4)
    if not drawn:
        return None
    ref = drawn[0]  # treat-all/none depend only on the patients, the same for every model on a split
    ax.plot(ref["dca_threshold"], ref["dca_all"], color="black", ls="--", lw=1, label="Treat all")
    ax.plot(ref["dca_threshold"], ref["dca_none"], color="grey", lw=1, label="Treat none")
    top = max(np.nanmax(ref["dca_all"]), 0.05)
    ax.set(xlabel="Threshold probability", ylabel="Net benefit", ylim=(-0.05, top * 1.15), title="Decision curve")
    ax.legend(fontsize=6.5, loc="upper right")
    return png_bytes(fig)


def forest_png(rows: pd.DataFrame, title: str = "") -> bytes | None:
    """AUC with 95 % CI per subgroup (rows of ``zoo_subgroups`` for one model and split); groups with too
    few events are listed in the table only, not drawn as if they were estimates."""
    rows = rows[~rows["too_few_events"].astype(bool) & rows["auc"].notna()]
    if rows.empty:
        return None
    labels = [plain(f"{g}: {lvl}") for g, lvl in zip(rows["grouping_display"], rows["group"])]
    fig, ax = _figure(4.8, 0.28 * len(rows) + 0.9)
    ypos = np.arange(len(rows))[::-1]
    lo = np.maximum(0.0, (rows["auc"] - rows["auc_lo"]).to_numpy(float))  # a percentile CI may miss its point
    hi = np.maximum(0.0, (rows["auc_hi"] - rows["auc"]).to_numpy(float))
    ax.errorbar(rows["auc"], ypos, xerr=[lo, hi],
                fmt="s", ms=4, color=PALETTE[0], ecolor="#555", capsize=2, lw=1)
    ax.axvline(0.5, ls=":", color="grey", lw=1)
    ax.set_yticks(ypos, labels, fontsize=7)
    ax.set(xlim=(0, 1.02), xlabel="AUC (95 % CI)", title=plain(title))
    ax.title.set_fontsize(8)
    return png_bytes(fig)


def waterfall_png(frame: pd.DataFrame, base: float, final: float, title: str = "") -> bytes | None:
    """A SHAP waterfall from ``zoo.explain.shap_values.waterfall_frame`` (label, value, contribution)."""
    def text(r) -> str:
        v = r.get("value")
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return plain(str(r["label"]) + ("" if r.get("variable") == "other" else " = unknown"))
        return plain(f"{r['label']} = {v:.3g}" if isinstance(v, (int, float, np.number)) else f"{r['label']} = {v}")

    if frame is None or frame.empty:
        return None
    fig, ax = _figure(4.4, 0.2 * len(frame) + 0.9)
    start = base
    ypos = np.arange(len(frame))[::-1]
    for y, (_, r) in zip(ypos, frame.iterrows()):
        c = float(r["contribution"])
        ax.barh(y, c, left=start, color="#d62728" if c > 0 else "#1f77b4", height=0.6)
        start += c
    ax.axvline(base, ls=":", color="grey", lw=1)
    ends = base + np.r_[0, np.cumsum(frame["contribution"].to_numpy(dtype=float))]
    pad = max(0.01, 0.05 * float(np.ptp(ends)))
    ax.set_xlim(float(ends.min()) - pad, float(ends.max()) + pad)
    ax.set_yticks(ypos, [text(r) for _, r in frame.iterrows()], fontsize=7)
    ax.set(xlabel=f"P(PD): {base:.2f} (average) → {final:.2f} (this patient)", title=title)
    ax.title.set_fontsize(8)
    return png_bytes(fig)
