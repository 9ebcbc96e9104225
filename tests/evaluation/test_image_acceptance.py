"""The acceptance script of issue 11 reads a zoo's stored figures: lift with its CI, and the build machine."""
import json
import subprocess
import sys
from pathlib import Path

from benchmarks.image_acceptance import table


def test_acceptance_table_carries_each_lift_interval_and_the_build_machine(test_zoo_dir):
    res = table(test_zoo_dir)
    rows = {r["model"]: r for r in res["rows"]}
    assert any(r["family"] == "joint" for r in rows.values()) and res["checks"]["joint_in_leaderboard"]
    metrics = json.loads((test_zoo_dir / "metrics.json").read_text())
    for name, r in rows.items():  # read back, not recomputed: the figures are the evaluation's own
        t = metrics["models"][name]["test"]
        assert r["lift_vs_oracle"] == t.get("oracle_lift") and r["lift_ci"] == t.get("oracle_lift_ci"), name
    for mod in ("marrow", "electrophoresis"):
        c = res["checks"][mod]
        assert c["lift_ci"] == rows[c["best_by_oof"]]["lift_ci"]
    assert res["build_machine"]["cpu"]
    out = subprocess.run([sys.executable, str(Path(__file__).resolve().parents[2] / "benchmarks" / "image_acceptance.py"),
                          "--zoo", str(test_zoo_dir)],
                         capture_output=True, text=True, check=True, cwd="/").stdout
    assert out.startswith(f"Built on: {res['build_machine']['cpu']}") and "lift vs oracle (95 % CI)" in out
