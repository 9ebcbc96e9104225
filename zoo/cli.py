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
                              workers=a.workers, overwrite=a.overwrite, show_bar=not a.quiet)
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    print(json.dumps({k: summary[k] for k in ("n", "site", "seed", "pd_rate", "oracle_auc", "n_images", "seconds")}))
    return 0


def _cmd_validate(a: argparse.Namespace) -> int:
    from zoo.cohort import validate_cohort

    report, cohort = validate_cohort(a.cohort, decode_images=not a.skip_image_decode)
    print(report.summary())
    return 0 if cohort is not None else 1


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
    s.set_defaults(func=_cmd_synth)

    v = sub.add_parser("validate", help="check a cohort directory; exit 0 when usable")
    v.add_argument("cohort", type=Path)
    v.add_argument("--skip-image-decode", action="store_true", help="check image files exist without decoding them")
    v.set_defaults(func=_cmd_validate)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from zoo.errors import MyeloZooError

    try:
        return args.func(args)
    except (MyeloZooError, FileExistsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
