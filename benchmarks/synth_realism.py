"""The synthetic cohort against the NDMM literature: figures for docs/SYNTHETIC_COHORT.md.

    python benchmarks/synth_realism.py [--n 3000] [--seed 0] [--png docs/synthetic_cohort_vs_literature.png]

Prints a Markdown table (variable, generator value, literature range, source), the univariable
odds ratios with 95 % CIs and the oracle AUCs, and draws the comparison figure. Tables only
(no pixels), so it runs in seconds.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# variable -> (literature low, high, source). Shares in %, medians in the variable's unit.
LITERATURE = {
    "Age, median (years)": (60, 70, "Kyle 2003 (Mayo, n = 1,027): 66; Asian series about 58–62"),
    "Male (%)": (55, 61, "Kyle 2003: 61 %"),
    "IgG (%)": (50, 55, "Kyle 2003: 52 %"),
    "IgA (%)": (20, 23, "Kyle 2003: 21 %"),
    "Light chain only (%)": (16, 22, "Kyle 2003: 16 %; Asian series about 20 %"),
    "IgD (%)": (1, 6, "Kyle 2003: 2 %; Chinese series up to about 6 %"),
    "κ light chain (%)": (60, 70, "κ:λ about 2:1 (Kyle 2003)"),
    "HGB < 100 g/L (%)": (35, 60, "NDMM series about 40–60 % (issue 15 review; Kyle 2003)"),
    "Creatinine ≥ 177 µmol/L (%)": (15, 20, "Kyle 2003: 19 % ≥ 2 mg/dL"),
    "Calcium > 2.75 mmol/L (%)": (10, 15, "Kyle 2003: 13 % ≥ 11 mg/dL"),
    "Any lytic lesion (%)": (60, 80, "Kyle 2003: 67 % lytic lesions, 79 % any bone abnormality"),
    "LDH > ULN (%)": (10, 25, "Palumbo 2015 (R-ISS): 11 %; Asian series about 20–25 %"),
    "ISS III (%)": (30, 45, "Greipp 2005 (ISS): 33 %; Asian series about 40 %"),
    "Marrow plasma cells, median (%)": (35, 55, "NDMM series; Kyle 2003"),
    "β2-microglobulin, median (mg/L)": (3.5, 5.0, "Greipp 2005"),
    "1q21 gain (%)": (35, 45, "Sonneveld 2016 (IMWG): about 40 %"),
    "del(17p) (%)": (8, 12, "Palumbo 2015; Sonneveld 2016: about 10 %"),
    "t(4;14) (%)": (11, 15, "Sonneveld 2016"),
    "t(14;16) (%)": (2, 5, "Sonneveld 2016"),
    "t(11;14) (%)": (15, 20, "Sonneveld 2016"),
    "FISH not done (%)": (10, 30, "real-world records; an assumption, no single source"),
    "Durie–Salmon III (%)": (55, 75, "Durie–Salmon 1975 criteria applied to NDMM series"),
    "Biclonal (%)": (1, 3, "Kyle 2003: 2 %"),
    "Plasmablastic (> 20 % plasmablasts) (%)": (8, 10, "Greipp 1998: 8 %"),
    "Immunoparesis (%)": (70, 85, "NDMM series; approximate, no single source"),
    "PD within 24 months (%)": (40, 50, "the study's test set implies about 46 %"),
}


def generator_values(t: dict) -> dict[str, float]:
    from zoo.synth.risk import PLASMABLASTIC_SHARE

    tr, lat, obs = t["truth"], t["latents"], t["observed"]
    pct = lambda m: 100 * float(np.mean(m))  # noqa: E731
    return {
        "Age, median (years)": float(tr["age"].median()),
        "Male (%)": pct(tr["sex"] == "male"),
        "IgG (%)": pct(tr["mprotein_heavy"] == "IgG"),
        "IgA (%)": pct(tr["mprotein_heavy"] == "IgA"),
        "Light chain only (%)": pct(tr["mprotein_heavy"] == "light_chain_only"),
        "IgD (%)": pct(tr["mprotein_heavy"] == "IgD"),
        "κ light chain (%)": pct(tr["mprotein_light"] == "kappa"),
        "HGB < 100 g/L (%)": pct(tr["hgb"] < 100),
        "Creatinine ≥ 177 µmol/L (%)": pct(tr["creatinine"] >= 177),
        "Calcium > 2.75 mmol/L (%)": pct(tr["calcium"] > 2.75),
        "Any lytic lesion (%)": pct(tr["bone_lesions"] != "0"),
        "LDH > ULN (%)": pct(tr["_ldh_ratio"] > 1),
        "ISS III (%)": pct(tr["iss"] == "III"),
        "Marrow plasma cells, median (%)": float(tr["bmpc"].median()),
        "β2-microglobulin, median (mg/L)": float(tr["b2m"].median()),
        "1q21 gain (%)": pct(tr["fish_1q21_gain"] == 1),
        "del(17p) (%)": pct(tr["fish_del17p"] == 1),
        "t(4;14) (%)": pct(tr["fish_t4_14"] == 1),
        "t(14;16) (%)": pct(tr["fish_t14_16"] == 1),
        "t(11;14) (%)": pct(tr["fish_t11_14"] == 1),
        "FISH not done (%)": pct(obs["fish_del17p"].isna()),
        "Durie–Salmon III (%)": pct(tr["ds_stage"].str.startswith("III")),
        "Biclonal (%)": pct(lat["ife_pattern"] == "biclonal"),
        "Plasmablastic (> 20 % plasmablasts) (%)": pct(lat["marrow_blast"] > PLASMABLASTIC_SHARE),
        # immunoparesis: polyclonal background below 60 % of normal (about the lower limit of normal)
        "Immunoparesis (%)": pct(lat["ife_paresis"] > 0.47),
        "PD within 24 months (%)": pct(t["survival"]["progressed_true"]),
    }


def odds_ratios(t: dict, ldh_uln: float = 250.0) -> pd.DataFrame:
    import statsmodels.api as sm

    tr, y = t["truth"], t["survival"]["progressed_true"].to_numpy()
    factors = {
        "1q21 gain": (tr["fish_1q21_gain"], 1.5), "del(17p)": (tr["fish_del17p"], 1.8),
        "t(4;14)": (tr["fish_t4_14"], None), "ISS III": (tr["iss"] == "III", 1.8),
        "LDH > ULN": (tr["ldh"] > ldh_uln, 1.5), "HGB < 100 g/L": (tr["hgb"] < 100, 1.5),
        "Creatinine ≥ 177 µmol/L": (tr["creatinine"] >= 177, None),
        "Calcium > 2.75 mmol/L": (tr["calcium"] > 2.75, None),
        "Age > 65": (tr["age"] > 65, 1.3), "Marrow plasma cells, per 10 %": (tr["bmpc"] / 10, None),
    }
    rows = []
    for name, (x, floor) in factors.items():
        fit = sm.Logit(y, sm.add_constant(np.asarray(x, dtype=float))).fit(disp=0)
        lo, hi = np.exp(fit.conf_int()[1])
        rows.append({"factor": name, "or": float(np.exp(fit.params[1])), "lo": float(lo), "hi": float(hi),
                     "floor": floor, "ceiling": 1.12 if "plasma" in name else None})
    return pd.DataFrame(rows)


def draw(values: dict, ors: pd.DataFrame, aucs: dict, png: Path, n: int, seed: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shares = [k for k in LITERATURE if k.endswith("(%)") and "median" not in k]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 9), gridspec_kw={"width_ratios": [1.35, 1]})
    for i, k in enumerate(shares[::-1]):
        lo, hi, _ = LITERATURE[k]
        ax1.plot([lo, hi], [i, i], color="#9aa5b1", lw=7, solid_capstyle="butt", label="literature" if i == 0 else None)
        v = values[k]
        inside = lo - 0.5 <= v <= hi + 0.5
        ax1.plot(v, i, "o", color="#1f6f8b" if inside else "#c0392b", ms=7,
                 label="generator" if i == 0 else None)
    ax1.set_yticks(range(len(shares)))
    ax1.set_yticklabels([k.replace(" (%)", "") for k in shares[::-1]], fontsize=9)
    ax1.set_xlabel("% of patients")
    ax1.set_xlim(0, 100)
    ax1.grid(axis="x", alpha=0.3)
    ax1.legend(loc="lower right", fontsize=9)
    ax1.set_title("Baseline distributions (red: outside the literature range)", fontsize=11)

    o = ors.iloc[::-1].reset_index(drop=True)
    for i, r in o.iterrows():
        ax2.plot([r["lo"], r["hi"]], [i, i], color="#1f6f8b", lw=2)
        ax2.plot(r["or"], i, "o", color="#1f6f8b", ms=7)
        if r["floor"]:
            ax2.plot(r["floor"], i, "|", color="#c0392b", ms=14, mew=2)
        if r["ceiling"]:
            ax2.plot(r["ceiling"], i, "|", color="#c0392b", ms=14, mew=2)
    ax2.axvline(1, color="grey", lw=1)
    ax2.set_xscale("log")
    ax2.set_xticks([0.8, 1, 1.5, 2, 3, 4])
    ax2.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax2.set_yticks(range(len(o)))
    ax2.set_yticklabels(o["factor"], fontsize=9)
    ax2.set_xlabel("univariable OR for PD ≤ 24 months (95 % CI)")
    ax2.set_title("Risk factors (red tick: acceptance bound)", fontsize=11)
    ax2.grid(axis="x", alpha=0.3)
    auc = ", ".join(f"{k} {v:.3f}" for k, v in aucs.items())
    fig.suptitle(f"Synthetic NDMM cohort (site A, n = {n:,}, seed {seed}) against published NDMM series\n"
                 f"oracle AUC: {auc}", fontsize=12)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)


def main() -> None:
    from zoo.synth.cohort import simulate_tables
    from zoo.synth.risk import oracle_aucs

    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=3000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--png", type=Path, default=ROOT / "docs" / "synthetic_cohort_vs_literature.png")
    a = p.parse_args()
    t = simulate_tables(a.n, seed=a.seed, site="A")
    values = generator_values(t)
    ors = odds_ratios(t)
    aucs = oracle_aucs(t["oracle"], t["survival"]["progressed_true"].to_numpy())
    print("| variable | generator | literature range | source |\n| --- | --- | --- | --- |")
    for k, (lo, hi, src) in LITERATURE.items():
        print(f"| {k} | {values[k]:.1f} | {lo:g}–{hi:g} | {src} |")
    print("\n| factor | OR (95 % CI) |\n| --- | --- |")
    for _, r in ors.iterrows():
        print(f"| {r['factor']} | {r['or']:.2f} ({r['lo']:.2f}–{r['hi']:.2f}) |")
    print("\noracle AUC:", {k: round(v, 3) for k, v in aucs.items()})
    draw(values, ors, aucs, a.png, a.n, a.seed)
    print(f"figure: {a.png}")


if __name__ == "__main__":
    main()
