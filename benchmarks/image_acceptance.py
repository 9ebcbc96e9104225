"""Issue 11's acceptance figures for one zoo, read from its metrics.json and manifest (nothing recomputed).

    python benchmarks/image_acceptance.py --zoo data/demo/zoo [--json]

Per image model: OOF AUC, test AUC with its CI, lift over chance as a share of the oracle's
((AUC − 0.5)/(oracle − 0.5), test), attention on target against its chance level (where the map can lie) and
against the target's share of the whole image, external AUC. Then the checks: the best model per image
modality chosen by OOF AUC reaches ≥ 0.8 of the oracle's lift on test; no default image model is below chance
on test; the best model's attention is ≥ 2× chance; a joint fusion model is in the leaderboard; the build total
is in the manifest's timings.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from zoo.leaderboard import machine_label  # noqa: E402


def table(zoo_dir: Path) -> dict:
    metrics = json.loads((zoo_dir / "metrics.json").read_text())
    manifest = json.loads((zoo_dir / "manifest.json").read_text())
    oracle = metrics.get("oracle") or {}
    rows = []
    for name, rec in sorted(manifest["models"].items()):
        if rec["modality"] not in ("marrow", "electrophoresis", "multimodal"):
            continue
        m = metrics["models"][name]
        t, ext = m.get("test") or {}, m.get("external") or {}
        att = t.get("attention_on_target") or {}
        auc = t.get("auc")
        rows.append({
            "model": name, "modality": rec["modality"], "family": rec["family"], "oof_auc": m["oof"]["auc"],
            "test_auc": auc, "test_ci": t.get("auc_ci"),
            # the evaluation's own figure: the oracle on the same patients as this model's predictions
            "oracle_auc": t.get("oracle_auc"), "lift_vs_oracle": t.get("oracle_lift"), "lift_ci": t.get("oracle_lift_ci"),
            "attention": att.get("mean"), "chance": att.get("chance"), "chance_whole_image": att.get("chance_whole_image"),
            "external_auc": ext.get("auc")})
    checks = {}
    for mod in ("marrow", "electrophoresis"):
        cands = [r for r in rows if r["modality"] == mod and r["oof_auc"] is not None and not math.isnan(r["oof_auc"])]
        if not cands:
            continue
        best = max(cands, key=lambda r: (r["oof_auc"], r["model"]))
        ratio = best["attention"] / best["chance"] if best["attention"] is not None and best["chance"] else None
        whole = (best["attention"] / best["chance_whole_image"]
                 if best["attention"] is not None and best.get("chance_whole_image") else None)
        checks[mod] = {"best_by_oof": best["model"], "lift_vs_oracle": best["lift_vs_oracle"], "lift_ci": best["lift_ci"],
                       "lift_ok": best["lift_vs_oracle"] is not None and best["lift_vs_oracle"] >= 0.8,
                       "attention_over_chance": ratio, "attention_ok": ratio is not None and ratio >= 2.0,
                       "attention_over_whole_image_share": whole,
                       "below_chance_on_test": [r["model"] for r in cands if r["test_auc"] is not None
                                                and r["test_auc"] < 0.5]}
    timings = manifest.get("timings_seconds") or {}
    checks["joint_in_leaderboard"] = any(r["family"] == "joint" for r in rows)
    checks["build_total_s"] = timings.get("build_total")
    # the image models' figures depend on the machine (docs/MODELS.md): a table names the one it came from
    return {"rows": rows, "checks": checks, "oracle_test": oracle.get("test"),
            "build_machine": manifest.get("build_machine")}


def _f(v, fmt="{:.3f}") -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoo", type=Path, required=True)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    res = table(a.zoo)
    if a.json:
        print(json.dumps(res, indent=2))
        return
    print(f"Built on: {machine_label(res['build_machine']) or 'not recorded'}\n")
    print("| model | OOF AUC | test AUC (95 % CI) | oracle AUC | lift vs oracle (95 % CI) | attention (chance; whole-image share) "
          "| external AUC |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in res["rows"]:
        ci, lci = r["test_ci"] or [None, None], r["lift_ci"] or [None, None]
        print(f"| {r['model']} | {_f(r['oof_auc'])} | {_f(r['test_auc'])} ({_f(ci[0])}–{_f(ci[1])}) | "
              f"{_f(r['oracle_auc'])} | {_f(r['lift_vs_oracle'])} ({_f(lci[0], '{:.2f}')}–{_f(lci[1], '{:.2f}')}) | {_f(r['attention'])} ({_f(r['chance'])}; {_f(r['chance_whole_image'])}) | "
              f"{_f(r['external_auc'])} |")
    print(json.dumps(res["checks"], indent=2))


if __name__ == "__main__":
    main()
