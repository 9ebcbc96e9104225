"""MyeloZoo benchmarks. Results go to docs/BENCHMARKS.md (machine, command, date); they are not tests.

    python benchmarks/run.py synth               # 600-patient cohort generation
    python benchmarks/run.py zoo [--no-external] # quick zoo on the demo cohort (10-13 minutes)
    python benchmarks/run.py predict             # warm single-patient prediction latency (CPU, or GPU if present)
    python benchmarks/run.py dashboard           # what-if, Grad-CAM, SHAP server-side latencies
    python benchmarks/run.py coldstart           # streamlit start -> first page rendered (chromium)
    python benchmarks/run.py sessions            # 10 concurrent browser sessions on the predictor
    python benchmarks/run.py kernels             # CPU training step per backbone (NCHW vs NHWC) and denoising kernels
    python benchmarks/run.py batch [--n 100000]  # clinical-only batch scoring: CSV in -> CSV out, end to end
    python benchmarks/run.py shap [--zoo DIR --cohort DIR]  # SHAP waterfall and test-set view (calibrated output)
    python benchmarks/run.py export [--n 100000] # validate a hospital-shaped export (title, ';', units in cells, ND)
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEMO = ROOT / "data" / "demo"


def machine() -> dict:
    import torch

    return {"python": platform.python_version(), "cpus": os.cpu_count(), "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "date": time.strftime("%Y-%m-%d")}


def _median_ms(fn, n: int = 20, warm: int = 3) -> dict:
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1000)
    return {"median_ms": round(statistics.median(ts), 2), "p90_ms": round(sorted(ts)[int(0.9 * (n - 1))], 2), "n": n}


def bench_synth(a) -> dict:
    from zoo.synth.cohort import generate_cohort

    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        s = generate_cohort(Path(d) / "c", n=a.n, seed=0, show_bar=False)
        return {"n": a.n, "seconds": round(time.perf_counter() - t, 2), "pd_rate": s["pd_rate"],
                "oracle_auc": s["oracle_auc"]}


def bench_zoo(a) -> dict:
    from zoo.training.trainer import train_zoo

    out = Path(a.out)
    t = time.perf_counter()
    train_zoo(DEMO / "cohort", out, profile=a.profile, external=None if a.no_external else DEMO / "cohort_site_b",
              overwrite=True, show_bars=True, device=a.device)
    man = json.loads((out / "manifest.json").read_text())
    return {"profile": a.profile, "external": not a.no_external, "wall_seconds": round(time.perf_counter() - t, 1),
            "timings_seconds": man["timings_seconds"]}


def _demo_patient(zoo, cohort, pid=None):
    from zoo.cohort.images import read_image

    pid = pid or zoo.split()["test"][0]
    values = {f: cohort.clinical.loc[pid].get(f) for f in zoo.features}
    imgs = {m: [read_image(p) for p in cohort.image_paths(pid, m)] for m in ("marrow", "electrophoresis")}
    return pid, values, {m: v for m, v in imgs.items() if v}


def bench_predict(a) -> dict:
    from zoo.api import Zoo
    from zoo.cohort import load_cohort

    zoo = Zoo.load(a.zoo, device=a.device)
    cohort = load_cohort(DEMO / "cohort", decode_images=False)
    pid, values, imgs = _demo_patient(zoo, cohort)
    res = {"patient": pid, "images": {m: len(v) for m, v in imgs.items()}}
    res["warm_cached_images"] = _median_ms(lambda: zoo.predict_patient(values, imgs))
    # the predictor's what-if case: a new value on every call, so no per-input memo can answer from a previous call
    ages = iter(np.linspace(40.0, 80.0, 1000))
    res["warm_clinical_only_new_values"] = _median_ms(lambda: zoo.predict_patient({**values, "age": next(ages)}))

    def cold_images():
        zoo._image_cache = type(zoo._image_cache)()
        zoo.predict_patient(values, imgs)

    res["warm_models_new_images"] = _median_ms(cold_images, n=10)
    return res


def bench_kernels(a) -> dict:
    """The CPU kernels behind the quick zoo: a training step per backbone in NCHW vs NHWC, and the
    paper's denoising (median k=3, Gaussian sigma=1) in the old float/NCHW form vs the product path."""
    import torch
    import torch.nn.functional as F

    from zoo.models.networks import ClassifierNet
    from zoo.preprocess import gaussian_blur, median_filter

    torch.manual_seed(0)
    out: dict = {}
    for arch in ("alexnet", "vgg16_bn", "resnet18", "mobilenet_v2", "densenet121"):
        size = 64 if arch == "alexnet" else 48
        for name, fmt in (("nchw", torch.contiguous_format), ("nhwc", torch.channels_last)):
            net = ClassifierNet(arch).to(memory_format=fmt)
            x = torch.randn(64, 3, size, size).contiguous(memory_format=fmt)
            y = torch.randint(0, 2, (64,))
            opt = torch.optim.Adam(net.parameters(), lr=1e-3)

            def step(net=net, x=x, y=y, opt=opt):
                opt.zero_grad()
                F.cross_entropy(net(x), y).backward()
                opt.step()

            out[f"train_step_b64_{arch}_{name}"] = _median_ms(step, n=5, warm=1)
    img = torch.randint(0, 256, (64, 3, 224, 224), dtype=torch.uint8)

    def blur_nchw(x: torch.Tensor) -> torch.Tensor:  # the previous implementation, for comparison
        t = torch.arange(-3, 4, dtype=x.dtype)
        k = torch.exp(-0.5 * t ** 2)
        k = (k / k.sum()).view(1, 1, 1, -1).repeat(3, 1, 1, 1)
        x = F.conv2d(F.pad(x, (3, 3, 0, 0), mode="reflect"), k, groups=3)
        return F.conv2d(F.pad(x, (0, 0, 3, 3), mode="reflect"), k.transpose(2, 3), groups=3)

    out["median_b64_224_float"] = _median_ms(lambda: median_filter(img.float()), n=5, warm=1)
    out["median_b64_224_uint8"] = _median_ms(lambda: median_filter(img), n=5, warm=1)
    out["gaussian_b64_224_nchw"] = _median_ms(lambda: blur_nchw(img.float()), n=5, warm=1)
    out["gaussian_b64_224_nhwc"] = _median_ms(lambda: gaussian_blur(img.float(), 1.0), n=5, warm=1)
    return out


def bench_dashboard(a) -> dict:

    from zoo.api import Zoo
    from zoo.cohort import load_cohort
    from zoo.explain.gradcam import grad_cam
    from zoo.explain.patient import explain_clinical_model, training_background
    from zoo.whatif import whatif

    zoo = Zoo.load(a.zoo)
    cohort = load_cohort(DEMO / "cohort", decode_images=False)
    pid, values, imgs = _demo_patient(zoo, cohort)
    pred = zoo.predict_patient(values, imgs)
    out = {"whatif_one_value": _median_ms(lambda: whatif(zoo, values, pred.model_probs, "ldh", 400.0), n=30)}
    for name in [n for n in zoo.model_names if zoo.manifest["models"][n]["family"] in ("cnn", "cell")]:
        # each image model on an image of its own modality (a cell-level model's map segments the smear too)
        img = imgs.get(zoo.manifest["models"][name]["modality"], [None])[0]
        if img is not None:
            out[f"gradcam_{name}"] = _median_ms(lambda name=name, img=img: grad_cam(zoo.model(name), img), n=5,
                                                warm=1)
    bg = training_background(zoo, cohort)
    X = cohort.clinical.loc[[pid], zoo.features]
    for name in ("clinical_lr", "clinical_rf", "clinical_xgb", "clinical_gb", "clinical_dt", "clinical_svm"):
        out[f"shap_{name}"] = _median_ms(lambda name=name: explain_clinical_model(zoo, name, X, bg, cohort.schema),
                                         n=5, warm=1)
    return out


def bench_shap(a) -> dict:
    """SHAP of the displayed (calibrated) probability: one patient's waterfall and the test-set view.

    ``--cohort`` may point at any cohort the ``--zoo`` was trained on (default: the demo cohort).
    The cohort-wide settings are also compared with a reference (100 background, 10 permutations).
    """
    import numpy as np
    from scipy.stats import spearmanr

    from zoo.api import MAIN_ENSEMBLE, Zoo
    from zoo.cohort import load_cohort
    from zoo.explain.patient import (explain_clinical_model, explain_ensemble_clinical, stored_image_probs,
                                     training_background)
    from zoo.explain.shap_values import GLOBAL, PATIENT, ShapSettings, global_importance

    zoo = Zoo.load(a.zoo)
    cohort = load_cohort(a.cohort or DEMO / "cohort", decode_images=False)
    bg = training_background(zoo, cohort)
    ids = [p for p in zoo.split()["test"] if p in cohort.clinical.index]
    X = cohort.clinical.loc[ids, zoo.features]
    img = stored_image_probs(zoo, ids, MAIN_ENSEMBLE, "test")
    out: dict = {"n_test": len(ids), "n_background_available": len(bg), "features": len(zoo.features),
                 "patient_settings": str(PATIENT), "global_settings": str(GLOBAL)}
    one = lambda: explain_ensemble_clinical(zoo, X.iloc[:1], img.iloc[:1], bg, cohort.schema)  # noqa: E731
    out["waterfall_main_ensemble"] = _median_ms(one, n=3, warm=1)
    for name in [n for n in zoo.model_names if zoo.manifest["models"][n]["modality"] == "clinical"]:
        out[f"waterfall_{name}"] = _median_ms(
            lambda name=name: explain_clinical_model(zoo, name, X.iloc[:1], bg, cohort.schema), n=3, warm=0)
    t = time.perf_counter()
    res = explain_ensemble_clinical(zoo, X, img, bg, cohort.schema, settings=GLOBAL)
    out["global_main_ensemble_s"] = round(time.perf_counter() - t, 2)
    out["global_s_per_patient"] = round(out["global_main_ensemble_s"] / max(len(ids), 1), 3)
    k = min(20, len(ids))
    ref = explain_ensemble_clinical(zoo, X.iloc[:k], img.iloc[:k], bg, cohort.schema, settings=ShapSettings(100, 10))
    sub = res.values.iloc[:k]
    gi = global_importance(ref).set_index("variable")["mean_abs_shap"]
    g = sub.abs().mean().reindex(gi.index)
    out["global_vs_reference"] = {
        "patients": k, "relative_mae": round(float((sub - ref.values).abs().to_numpy().mean()
                                                   / ref.values.abs().to_numpy().mean()), 3),
        "importance_spearman": round(float(spearmanr(gi, g)[0]), 3),
        "max_additivity_error": float(np.abs(res.base_values + res.values.sum(axis=1) - res.predictions).max())}
    return out


def _browser():
    from playwright.sync_api import sync_playwright

    from benchmarks.browser import CHROMIUM, CHROMIUM_ARGS

    pw = sync_playwright().start()
    return pw, pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def bench_coldstart(a) -> dict:
    from benchmarks.browser import start_streamlit, wait_healthy

    port = 8765
    t0 = time.perf_counter()
    proc = start_streamlit(port)
    pw, b = _browser()
    try:
        wait_healthy(f"http://127.0.0.1:{port}")
        t_server = time.perf_counter() - t0
        pg = b.new_page()
        pg.goto(f"http://127.0.0.1:{port}/")
        pg.get_by_role("heading", name="Cohort explorer").wait_for(timeout=60_000)
        pg.locator('[data-testid="stMetric"]').first.wait_for(timeout=60_000)
        t_page = time.perf_counter() - t0
        return {"server_ready_s": round(t_server, 2), "first_page_rendered_s": round(t_page, 2)}
    finally:
        b.close()
        pw.stop()
        proc.terminate()


def _rss_mb(pid: int) -> float:
    return int(open(f"/proc/{pid}/status").read().split("VmRSS:")[1].split()[0]) / 1024


def bench_sessions(a) -> dict:
    from benchmarks.browser import start_streamlit, wait_healthy

    port = 8766
    proc = start_streamlit(port)
    pw, b = _browser()
    res = {}
    try:
        wait_healthy(f"http://127.0.0.1:{port}")
        errors = []

        def open_sessions(k):
            pages = []
            for _ in range(k):
                ctx = b.new_context()
                pg = ctx.new_page()
                pg.goto(f"http://127.0.0.1:{port}/predictor")
                pages.append((ctx, pg))
            for ctx, pg in pages:
                pg.get_by_role("heading", name="Patient predictor").wait_for(timeout=120_000)
                pg.locator('[data-testid="stMetric"]').first.wait_for(timeout=120_000)
                if pg.locator('[data-testid="stException"]').count():
                    errors.append(pg.locator('[data-testid="stException"]').first.inner_text())
            return pages

        first = open_sessions(1)
        time.sleep(2)
        res["rss_after_1_session_mb"] = round(_rss_mb(proc.pid), 1)
        t = time.perf_counter()
        more = open_sessions(10)
        res["ten_sessions_seconds"] = round(time.perf_counter() - t, 1)
        time.sleep(2)
        res["rss_after_11_sessions_mb"] = round(_rss_mb(proc.pid), 1)
        res["errors"] = errors
        for ctx, _ in first + more:
            ctx.close()
    finally:
        b.close()
        pw.stop()
        proc.terminate()
    return res


def bench_batch(a) -> dict:
    """End-to-end `python -m zoo predict --clinical big.csv --out preds.csv` on a clinical-only zoo."""
    import subprocess

    from zoo.synth.cohort import simulate_tables
    from zoo.training.trainer import train_zoo

    work = ROOT / "data" / "bench_batch"
    cohort, zoo = work / "cohort", work / "zoo"
    if not (zoo / "manifest.json").is_file():
        t = simulate_tables(1500, seed=21)
        cohort.mkdir(parents=True, exist_ok=True)
        t["observed"].join(t["survival"]).to_csv(cohort / "clinical.csv")
        t0 = time.perf_counter()
        train_zoo(cohort, zoo, profile=a.profile, show_bars=False, overwrite=True)
        train_s = round(time.perf_counter() - t0, 1)
    else:
        train_s = None
    n = a.n if a.n != 600 else 100_000
    big = work / f"score_{n}.csv"
    if not big.is_file():
        t = simulate_tables(n, seed=22)
        t["observed"].to_csv(big)
    out = work / f"preds_{n}.csv"
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "zoo", "predict", "--zoo", str(zoo), "--clinical", str(big),
                        "--out", str(out), "--quiet"], cwd=ROOT, capture_output=True, text=True)
    wall = round(time.perf_counter() - t0, 2)
    if r.returncode != 0:
        raise SystemExit(r.stderr)
    import pandas as pd

    rows = len(pd.read_csv(out, usecols=["patient_id"]))
    return {"patients": n, "rows_out": rows, "wall_seconds": wall, "profile": a.profile,
            "zoo_models": len(json.loads((zoo / "manifest.json").read_text())["models"]),
            "zoo_train_seconds": train_s, "cli_stderr": r.stderr.strip().splitlines()[-1]}


def bench_export(a) -> dict:
    """Read and validate an n-row clinical table exported the way hospitals do: a title block, ';' with decimal
    commas, Windows-1252, units written in every haemoglobin cell, 'ND' in M-protein, assay limits in β2M."""
    from zoo.cohort.loader import load_clinical_table
    from zoo.synth.cohort import simulate_tables

    n = a.n if a.n != 600 else 100_000
    work = ROOT / "data" / "bench_export"
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"export_{n}.csv"
    t = simulate_tables(n, seed=23)["observed"].reset_index()
    text = t.astype(object).where(t.notna(), "").astype(str)
    text["hgb"] = [f"{float(v) / 10:.1f} g/dL" if v else "" for v in text["hgb"]]
    rng = np.random.default_rng(0)
    text.loc[rng.random(n) < 0.05, "mprotein_level"] = "ND"
    text.loc[rng.random(n) < 0.02, "b2m"] = "<0.5"
    for c in text.columns:
        if c != "patient_id":
            text[c] = text[c].str.replace(".", ",", regex=False)
    body = text.to_csv(sep=";", index=False, lineterminator="\r\n")
    path.write_bytes(("Registry export;\r\n\r\n" + body).encode("windows-1252"))
    t0 = time.perf_counter()
    report, table, _ = load_clinical_table(path)
    wall = round(time.perf_counter() - t0, 2)
    if table is None:
        raise SystemExit(report.summary())
    kinds: dict[str, int] = {}
    for prob in report.problems:
        kinds[prob.kind] = kinds.get(prob.kind, 0) + 1
    return {"rows": n, "rows_read": int(len(table)), "file_mb": round(path.stat().st_size / 2**20, 1),
            "read_and_validate_seconds": wall, "hgb_converted": bool(abs(table["hgb"].median() - 100) < 40),
            "messages_by_kind": kinds}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["synth", "zoo", "predict", "dashboard", "coldstart", "sessions", "kernels",
                                    "batch", "shap", "export"])
    p.add_argument("--cohort", default=None, help="shap: the cohort the zoo was trained on (default: the demo)")
    p.add_argument("--n", type=int, default=600)
    p.add_argument("--zoo", default=str(DEMO / "zoo"))
    p.add_argument("--out", default=str(ROOT / "data" / "bench_zoo"))
    p.add_argument("--profile", default="quick")
    p.add_argument("--device", default="auto")
    p.add_argument("--no-external", action="store_true", help="zoo: train on the demo cohort alone (no site-B scoring)")
    a = p.parse_args()
    fn = globals()[f"bench_{a.what}"]
    res = {"benchmark": a.what, "command": "python benchmarks/run.py " + " ".join(sys.argv[1:]),
           "machine": machine(), "result": fn(a)}
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
