"""The demo: cohort (site A), external cohort (site B) and the quick zoo, built when absent."""
from __future__ import annotations

from pathlib import Path

DEMO_N, DEMO_EXTERNAL_N, DEMO_SEED = 600, 300, 0


def demo_paths(root: Path) -> dict[str, Path]:
    return {"cohort": root / "cohort", "external": root / "cohort_site_b", "zoo": root / "zoo"}


def ensure_demo(root: Path = Path("data/demo"), profile: str = "quick", quiet: bool = False) -> dict[str, Path]:
    from zoo.synth.cohort import generate_cohort
    from zoo.training.trainer import train_zoo

    p = demo_paths(Path(root))
    if not (p["cohort"] / "clinical.csv").is_file():
        print(f"Building the synthetic demo cohort ({DEMO_N} patients) in {p['cohort']} ...")
        generate_cohort(p["cohort"], n=DEMO_N, seed=DEMO_SEED, site="A", overwrite=True, show_bar=not quiet)
    if not (p["external"] / "clinical.csv").is_file():
        print(f"Building the external-site cohort ({DEMO_EXTERNAL_N} patients, site B) in {p['external']} ...")
        generate_cohort(p["external"], n=DEMO_EXTERNAL_N, seed=DEMO_SEED + 1, site="B", overwrite=True,
                        show_bar=not quiet)
    if not (p["zoo"] / "manifest.json").is_file():
        print(f"Training the {profile} zoo in {p['zoo']} (resumes if interrupted) ...")
        train_zoo(p["cohort"], p["zoo"], profile=profile, external=p["external"], show_bars=not quiet)
    print(f"Demo ready: cohort {p['cohort']}, zoo {p['zoo']}")
    return p
