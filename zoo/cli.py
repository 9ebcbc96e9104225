"""Command line: ``python -m zoo <command>``. Imports are lazy so each command starts fast."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def _cmd_synth(a: argparse.Namespace) -> int:
    from zoo.synth.cohort import generate_cohort

    t0 = time.perf_counter()
    summary = generate_cohort(a.out, n=a.n, seed=a.seed, site=a.site, image_size=a.image_size,
                              workers=a.workers, overwrite=a.overwrite, show_bar=not a.quiet,
                              prevalence=a.prevalence, censor_early=a.censor_early)
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    print(json.dumps({k: summary[k] for k in ("n", "site", "seed", "pd_rate", "oracle_auc", "n_images", "seconds")}))
    return 0


def _cmd_validate(a: argparse.Namespace) -> int:
    from zoo.cohort import validate_cohort

    report, cohort = validate_cohort(a.cohort, decode_images=not a.skip_image_decode, strict=a.strict)
    print(report.summary())
    if a.csv:
        from zoo.csvsafe import safe_csv_bytes

        Path(a.csv).write_bytes(safe_csv_bytes(report.table()))
        print(f"every finding written to {a.csv}")
    return 0 if cohort is not None else 1


def _cmd_train(a: argparse.Namespace) -> int:
    from zoo.training.trainer import train_zoo

    t0 = time.perf_counter()
    out = train_zoo(a.cohort, a.out, profile=a.profile, external=a.external, device=a.device, seed=a.seed,
                    models=a.models, pretrained=a.pretrained, overwrite=a.overwrite, show_bars=not a.quiet,
                    split_from=a.split_from, fail_fast=a.fail_fast, strict=a.strict, executor=a.executor,
                    ray_address=a.ray_address)
    from zoo.api import Zoo

    zoo = Zoo.load(out)
    print(f"zoo written to {out} in {time.perf_counter() - t0:.1f} s")
    _print_leaderboard(zoo, "test")
    _print_sample_size(zoo, None)
    for k, rec in (zoo.metrics().get("outcome_excluded") or {}).items():
        if rec["censored_early"] or rec["no_outcome"]:
            print(f"note: {k} cohort: {rec['censored_early']} patient(s) followed < 24 months without progression "
                  f"and {rec['no_outcome']} without an outcome were excluded from training and evaluation"
                  + ("; the others carry inverse-probability-of-censoring weights." if rec["ipcw_weighted"] else "."),
                  file=sys.stderr)
    failed = zoo.manifest.get("failed_models") or {}
    for name, reason in failed.items():
        print(f"warning: {name} failed and is not in this zoo: {reason}", file=sys.stderr)
    if failed:
        print(f"warning: {len(failed)} model(s) failed; the zoo is complete without them (--fail-fast stops "
              "at the first failure instead).", file=sys.stderr)
    return 0


def _print_leaderboard(zoo, split: str) -> None:
    lb = zoo.leaderboard(split)
    if lb.empty:
        print(f"no {split} results")
        return
    failed = lb[lb["status"] == "failed"]
    lb = lb[lb["status"] != "failed"]
    cols = [c for c in ["group", "model", "auc", "auc_lo", "auc_hi", "accuracy", "f1", "brier", "cal_slope",
                        "oracle_auc", "delta_auc_vs_staging"] if c in lb]
    print(lb[cols].to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    for name, reason in zip(failed["model"], failed["failure"]):
        print(f"FAILED {name}: {reason}")


def _print_sample_size(zoo, split: str | None) -> None:
    """Each sample-size shortfall as a visible warning (stderr, like the other warnings)."""
    from zoo.leaderboard import sample_size_warnings

    for msg in sample_size_warnings(zoo.metrics(), split):
        print(f"warning: SAMPLE SIZE: {msg}", file=sys.stderr)


def _cmd_leaderboard(a: argparse.Namespace) -> int:
    from zoo.api import Zoo

    zoo = Zoo.load(a.zoo)
    if a.json:
        lb = zoo.leaderboard(a.split)
        print(lb.to_json(orient="records", indent=2))
    else:
        _print_leaderboard(zoo, a.split)
        _print_sample_size(zoo, a.split)
    return 0


def _cmd_predict(a: argparse.Namespace) -> int:
    from zoo.api import Zoo

    batch = a.cohort is not None or (a.clinical is not None and a.clinical.suffix.lower() != ".json")
    if a.cohort is None and a.clinical is None:
        raise ValueError("Expected --clinical FILE.json (one patient), --clinical FILE.csv|xlsx or --cohort DIR "
                         "(many patients). Got neither.")
    if batch and a.report is not None:
        raise ValueError("Expected one patient (--clinical FILE.json) with --report. Got a batch; score the batch "
                         "without --report, or report one patient at a time.")
    if a.executor == "ray" and a.cohort is None:
        raise ValueError("Expected --cohort DIR with --executor ray (Ray scores cohort folders). Got none; a single "
                         "patient or a --clinical table is scored locally: drop --executor ray.")
    if batch and a.out is None:
        raise ValueError("Expected --out FILE.csv for batch scoring (--cohort or a table in --clinical). Got none.")
    zoo = Zoo.load(a.zoo, device=a.device)
    if batch:
        from zoo.csvsafe import safe_csv_bytes
        from zoo.scoring.batch import score_clinical_file, score_cohort_dir

        t0 = time.perf_counter()
        if a.cohort is not None and a.executor == "ray":
            from zoo.training.ray_executor import score_cohort_dir_on_ray

            table, report = score_cohort_dir_on_ray(a.zoo, a.cohort, strict=a.strict, address=a.ray_address)
        elif a.cohort is not None:
            table, report = score_cohort_dir(zoo, a.cohort, strict=a.strict, show_bar=not a.quiet)
        else:
            table, report = score_clinical_file(zoo, a.clinical, a.variables, strict=a.strict, show_bar=not a.quiet)
        Path(a.out).write_bytes(safe_csv_bytes(table))
        print(f"{len(table)} patients scored in {time.perf_counter() - t0:.1f} s -> {a.out} "
              f"({len(report.warnings)} warning(s); see the 'warnings' column)", file=sys.stderr)
        return 0
    from zoo.cohort.images import read_image
    from zoo.scoring.inputs import parse_clinical_json

    clinical, pid, notes = parse_clinical_json(a.clinical, zoo.schema)
    images = {"marrow": [read_image(p) for p in a.marrow or []],
              "electrophoresis": [read_image(p) for p in a.electrophoresis or []]}
    pred = zoo.predict_patient(clinical, images)
    pred.patient_id = pid
    pred.warnings = [*notes, *pred.warnings]
    print(json.dumps(pred.to_dict(), indent=2))
    if a.report is not None:
        from zoo.reports.model_card import load_cohorts
        from zoo.reports.patient_report import patient_report

        cohorts, problems = load_cohorts(zoo, a.cohort_for_report, external=None, need_external=False)
        for msg in problems:
            print(f"note: {msg}", file=sys.stderr)
        _, pdf = patient_report(zoo, clinical, {m: v for m, v in images.items() if v}, pred, cohorts.get("test"))
        Path(a.report).write_bytes(pdf)
        print(f"patient report written to {a.report}", file=sys.stderr)
    return 0


def _cmd_serve(a: argparse.Namespace) -> int:
    import uvicorn

    from zoo.service.app import create_app
    from zoo.service.security import ApiSecurity, serve_problem

    security = ApiSecurity.from_options(a.api_keys, a.oidc_issuer, a.access)
    problem = serve_problem(a.host, security)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    app = create_app(a.zoo, security, slots=a.slots)
    print(f"MyeloZoo API on http://{a.host}:{a.port} (zoo {app.state.zoo.hash}); OpenAPI at /docs", file=sys.stderr)
    uvicorn.run(app, host=a.host, port=a.port, log_level="warning", proxy_headers=False)
    return 0


def _cmd_api_key(a: argparse.Namespace) -> int:
    from zoo.service.security import new_api_key

    key, line = new_api_key(a.name)
    print(f"API key for {a.name} (shown once; give it to the caller, keep it secret):\n  {key}\n"
          f"Add this line to the --api-keys file (it holds only the key's SHA-256):\n  {line}")
    return 0


def _cmd_report(a: argparse.Namespace) -> int:
    from zoo.api import Zoo
    from zoo.reports.model_card import load_cohorts, write_model_card

    zoo = Zoo.load(a.zoo)
    cohorts, notes = load_cohorts(zoo, a.cohort, a.external)
    for msg in notes:
        print(f"note: {msg}", file=sys.stderr)
    t0 = time.perf_counter()
    paths = write_model_card(zoo, a.out, cohorts, notes, n_boot=a.n_bootstrap, pdf=not a.html_only)
    problem = paths.pop("pdf_error", None)
    print(f"model card written in {time.perf_counter() - t0:.1f} s: " + ", ".join(str(p) for p in paths.values()))
    if problem:
        print(f"warning: no PDF: {problem}", file=sys.stderr)
    return 0


def _cmd_demo(a: argparse.Namespace) -> int:
    from zoo.demo import build_locked

    return build_locked(a.root, profile=a.profile, quiet=a.quiet, n=a.n, external_n=a.external_n,
                        models=a.models or None)


def _cmd_segment(a: argparse.Namespace) -> int:
    from zoo.cohort import load_cohort
    from zoo.segment.run import segment_cohort

    cohort = load_cohort(a.cohort, decode_images=False)
    summary = segment_cohort(cohort, a.out, a.sam_checkpoint, a.sam_model, use_prompts=not a.no_prompts,
                             limit=a.limit, show_bar=not a.quiet)
    print(json.dumps(summary, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m zoo", description="MyeloZoo: multimodal myeloma progression zoo.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", help="generate a synthetic cohort (clinical + marrow + IFE + ground truth)")
    s.add_argument("--n", type=int, default=600)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--site", choices=["A", "B"], default="A")
    s.add_argument("--image-size", type=int, default=224)
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--workers", type=int, default=None)
    s.add_argument("--overwrite", action="store_true")
    s.add_argument("--quiet", action="store_true")
    s.add_argument("--prevalence", type=float, default=None,
                   help="target PD rate, e.g. 0.10 for an imbalanced cohort (moves the risk model's intercept)")
    s.add_argument("--censor-early", type=float, default=0.0,
                   help="expected share of patients lost to follow-up before 24 months without an event "
                        "(their 24-month outcome is unknown; oracle.csv keeps progressed_true)")
    s.set_defaults(func=_cmd_synth)

    v = sub.add_parser("validate", help="check a cohort directory; exit 0 when usable")
    v.add_argument("cohort", type=Path)
    v.add_argument("--skip-image-decode", action="store_true", help="check image files exist without decoding them")
    v.add_argument("--strict", action="store_true", help="implausible values are errors instead of set to missing")
    v.add_argument("--csv", type=Path, default=None, help="write every finding (row, patient, column, value) as CSV")
    v.set_defaults(func=_cmd_validate)

    t = sub.add_parser("train", help="train every registered model and the ensembles; resumable")
    t.add_argument("--cohort", type=Path, required=True)
    t.add_argument("--profile", choices=["test", "quick", "paper"], default="quick")
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--external", type=Path, default=None, help="a second cohort scored without refitting")
    t.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--models", nargs="*", default=None, help="registry names (default: the default set)")
    t.add_argument("--pretrained", action="store_true", help="start CNNs from ImageNet weights in the local cache")
    t.add_argument("--overwrite", action="store_true")
    t.add_argument("--quiet", action="store_true")
    t.add_argument("--split-from", type=Path, default=None,
                   help="split.json of another zoo on the same patients (same test set, same folds)")
    t.add_argument("--fail-fast", action="store_true", help="stop at the first model that fails (default: the zoo "
                   "completes without it and records why)")
    t.add_argument("--strict", action="store_true", help="implausible cohort values are errors")
    t.add_argument("--executor", choices=["local", "ray"], default="local", help="ray: each model a Ray task "
                   "(cohort and --out on storage every node sees; docs/SCALE.md)")
    t.add_argument("--ray-address", default=None, help="a running Ray cluster (default: a local Ray on this machine)")
    t.set_defaults(func=_cmd_train)

    lb = sub.add_parser("leaderboard", help="every model and ensemble with its metrics")
    lb.add_argument("--zoo", type=Path, required=True)
    lb.add_argument("--split", choices=["test", "external"], default="test")
    lb.add_argument("--json", action="store_true")
    lb.set_defaults(func=_cmd_leaderboard)

    pr = sub.add_parser("predict", help="predict one patient (JSON out) or many (--cohort / a table; CSV out)")
    pr.add_argument("--zoo", type=Path, required=True)
    pr.add_argument("--clinical", type=Path, default=None,
                    help="one patient: a JSON object of variable -> value; many: a .csv/.xlsx table")
    pr.add_argument("--cohort", type=Path, default=None, help="score every patient of a cohort folder (with images)")
    pr.add_argument("--out", type=Path, default=None, help="CSV written by batch scoring, one row per patient")
    pr.add_argument("--variables", type=Path, default=None, help="variables.yaml for a --clinical table (units, "
                    "headers, codes)")
    pr.add_argument("--strict", action="store_true", help="implausible values are errors")
    pr.add_argument("--quiet", action="store_true")
    pr.add_argument("--marrow", type=Path, nargs="*")
    pr.add_argument("--electrophoresis", type=Path, nargs="*")
    pr.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    pr.add_argument("--executor", choices=["local", "ray"], default="local", help="ray: score --cohort with Ray "
                    "Data over an actor pool that holds the zoo")
    pr.add_argument("--ray-address", default=None, help="a running Ray cluster (default: a local Ray)")
    pr.add_argument("--report", type=Path, default=None, help="also write a one-page patient report (PDF); one "
                    "patient only")
    pr.add_argument("--report-cohort", dest="cohort_for_report", type=Path, default=None,
                    help="the training cohort for the report's SHAP background and ranges (default: the zoo's own)")
    pr.set_defaults(func=_cmd_predict)

    rp = sub.add_parser("report", help="write the TRIPOD+AI model card (model_card.html and .pdf) with subgroups")
    rp.add_argument("--zoo", type=Path, required=True)
    rp.add_argument("--out", type=Path, required=True, help="folder for model_card.html, model_card.pdf, subgroups.csv")
    rp.add_argument("--cohort", type=Path, default=None, help="the training cohort (default: the path the zoo recorded)")
    rp.add_argument("--external", type=Path, default=None, help="the external cohort (default: the zoo's)")
    rp.add_argument("--n-bootstrap", type=int, default=1000, help="bootstrap resamples for subgroup CIs")
    rp.add_argument("--html-only", action="store_true", help="skip the PDF")
    rp.set_defaults(func=_cmd_report)

    sg = sub.add_parser("segment", help="segment plasma cells on marrow images (SAM or classical fallback)")
    sg.add_argument("--cohort", type=Path, required=True)
    sg.add_argument("--out", type=Path, required=True)
    sg.add_argument("--sam-checkpoint", type=Path, default=None, help="local SAM checkpoint (never downloaded)")
    sg.add_argument("--sam-model", choices=["vit_b", "vit_l", "vit_h"], default="vit_b")
    sg.add_argument("--no-prompts", action="store_true", help="ignore annotation points (automatic masks)")
    sg.add_argument("--limit", type=int, default=None, help="only the first N marrow images")
    sg.add_argument("--quiet", action="store_true")
    sg.set_defaults(func=_cmd_segment)

    sv = sub.add_parser("serve", help="the prediction API (FastAPI): JSON, FHIR R4, CSV batches and images")
    sv.add_argument("--zoo", type=Path, required=True)
    sv.add_argument("--host", default="127.0.0.1", help="listen address (default loopback; beyond it, credentials "
                    "are required)")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--api-keys", type=Path, default=None, help="file of NAME:SHA256 lines (python -m zoo api-key)")
    sv.add_argument("--oidc-issuer", default=None, help="OpenID provider whose access tokens are accepted")
    sv.add_argument("--access", type=Path, default=None, help="TOML with an [access] allowlist (viewers, reviewers), "
                    "e.g. the dashboard's .streamlit/secrets.toml")
    sv.add_argument("--slots", type=int, default=1, help="predictions computed at once (default 1)")
    sv.set_defaults(func=_cmd_serve)

    ak = sub.add_parser("api-key", help="make an API key: prints the key once and the line for the --api-keys file")
    ak.add_argument("name", help="who the key is for, e.g. lab-system")
    ak.set_defaults(func=_cmd_api_key)

    d = sub.add_parser("demo", help="build the demo cohort, external site and zoo when absent (resumable; one "
                                    "builder at a time: exits 3 when another process is building)")
    d.add_argument("--root", type=Path, default=Path("data/demo"))
    d.add_argument("--profile", choices=["test", "quick", "paper"], default="quick")
    d.add_argument("--quiet", action="store_true")
    d.add_argument("--n", type=int, default=600, help="site-A patients (a smaller trial build; the demo uses 600)")
    d.add_argument("--external-n", type=int, default=300, help="site-B patients (the demo uses 300)")
    d.add_argument("--models", nargs="+", help="train only these models (a trial build; default: the profile's)")
    d.set_defaults(func=_cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from zoo.errors import MyeloZooError

    try:
        return args.func(args)
    except (MyeloZooError, FileExistsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a path the user gave: say which, in our words
        print(f"error: expected a readable/writable path. Got {e.strerror or 'an error'} for "
              f"{Path(e.filename).name if e.filename else 'a file'}. Check the path and permissions.", file=sys.stderr)
        return 2
