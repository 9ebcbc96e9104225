"""Prediction API latency and Ray scoring overhead (docs/BENCHMARKS.md "Prediction API", docs/SCALE.md).

    python benchmarks/api.py --zoo ZOO [--n 50]                       # zoo serve over HTTP: JSON and FHIR
    python benchmarks/api.py --zoo ZOO --ray-cohort COHORT            # + predict --cohort, local vs Ray

Starts ``python -m zoo serve`` on a free loopback port, sends one warm-up request, then ``--n`` requests of each
kind one after another and prints the median, p95 and max in ms, as one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PATIENT = {"age": 67, "sex": "female", "hgb": 95, "alb": 31, "b2m": 6.2, "ldh": 310, "creatinine": 124, "plt": 150}


def _bundle() -> dict:
    def obs(i, code, v, u):
        return {"resource": {"resourceType": "Observation", "id": f"o{i}", "status": "final",
                             "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                             "effectiveDateTime": "2026-05-20",
                             "valueQuantity": {"value": v, "system": "http://unitsofmeasure.org", "code": u}}}
    labs = [("718-7", 9.5, "g/dL"), ("1751-7", 3.1, "g/dL"), ("1952-1", 6.2, "mg/L"), ("2532-0", 310, "U/L"),
            ("2160-0", 1.4, "mg/dL"), ("777-3", 150, "10*3/uL")]
    return {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1", "birthDate": "1959-03-15", "gender": "female"}},
        *[obs(i, *lab) for i, lab in enumerate(labs)]]}


def _q(xs: list[float]) -> dict:
    xs = sorted(xs)
    return {"median_ms": round(xs[len(xs) // 2] * 1000, 1), "p95_ms": round(xs[int(0.95 * (len(xs) - 1))] * 1000, 1),
            "max_ms": round(xs[-1] * 1000, 1)}


def api_latency(zoo: Path, n: int) -> dict:
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "zoo", "serve", "--zoo", str(zoo), "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        startup = time.perf_counter() - t0
        out = {"startup_s": round(startup, 1)}
        fhir = json.dumps(_bundle())
        kinds = {"json": lambda c: c.post("/v1/predict", json=PATIENT),
                 "fhir": lambda c: c.post("/v1/predict/fhir?reference_date=2026-06-01", content=fhir,
                                          headers={"content-type": "application/fhir+json"})}
        with httpx.Client(base_url=base, timeout=120) as c:
            for kind, call in kinds.items():
                assert call(c).status_code == 200  # warm-up
                times = []
                for _ in range(n):
                    t = time.perf_counter()
                    r = call(c)
                    times.append(time.perf_counter() - t)
                    assert r.status_code == 200, r.text
                out[kind] = _q(times)
        return out
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def ray_scoring(zoo: Path, cohort: Path) -> dict:
    out = {}
    for executor in ("local", "ray"):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "zoo", "predict", "--zoo", str(zoo), "--cohort", str(cohort), "--out",
                        f"/tmp/myelozoo_bench_{executor}.csv", "--quiet", "--executor", executor], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out[f"{executor}_s"] = round(time.perf_counter() - t, 1)
    import pandas as pd

    a, b = (pd.read_csv(f"/tmp/myelozoo_bench_{e}.csv") for e in ("local", "ray"))
    out["same_table"] = bool(a.equals(b))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zoo", type=Path, required=True)
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--ray-cohort", type=Path, default=None)
    a = ap.parse_args(argv)
    res = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "machine": f"{os.cpu_count()} CPU cores, {platform.machine()}, Python {platform.python_version()}",
           "api": api_latency(a.zoo, a.n)}
    if a.ray_cohort:
        res["scoring"] = ray_scoring(a.zoo, a.ray_cohort)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
