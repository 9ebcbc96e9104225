"""Every registered clinical model fits, saves and reloads on cohorts of the shapes real teams bring, and the
skops allowlist is exactly the set of reviewed types those models need."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from zoo.artifacts.model_io import load_fitted, save_fitted
from zoo.artifacts.serialize import SKOPS_TRUSTED
from zoo.data import PatientData
from zoo.models import create_model, list_models, model_config
from zoo.schema import DEFAULT_SCHEMA

FEW = ("age", "hgb", "ldh", "b2m", "alb")  # few features: scikit-learn's KNN switches to a KD-tree
SHAPES = [(40, None), (1500, None), (1500, FEW), (5000, None)]


def _clinical_only(n: int, features: tuple[str, ...] | None) -> tuple[PatientData, np.ndarray]:
    from zoo.synth.cohort import simulate_tables

    t = simulate_tables(n, seed=7)
    clin = t["observed"]
    y = t["survival"].loc[clin.index, "progressed"].to_numpy(int)
    feats = list(features or [v.name for v in DEFAULT_SCHEMA.features(clin.columns)])
    return PatientData(ids=list(clin.index), clinical=clin[feats], images={}, banks={}, schema=DEFAULT_SCHEMA,
                       features=feats), y


@pytest.fixture(scope="module")
def cohorts():
    return {shape: _clinical_only(*shape) for shape in SHAPES}


def _used_types(directory) -> set[str]:
    import skops.io as sio

    out = set()
    for f in directory.glob("*.skops"):
        out |= set(sio.get_untrusted_types(data=f.read_bytes()))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"n{s[0]}{'-few' if s[1] else ''}")
@pytest.mark.parametrize("name", list_models(modality="clinical"))
def test_clinical_model_fits_saves_and_reloads(name, shape, cohorts, tmp_path):
    data, y = cohorts[shape]
    est = create_model(name, "test").fit(data, y)
    save_fitted(est, model_config(name), tmp_path)
    assert _used_types(tmp_path) <= set(SKOPS_TRUSTED)
    back = load_fitted(model_config(name), tmp_path)
    head = data.subset(np.arange(min(200, len(data))))
    assert np.allclose(back.predict_proba(head), est.predict_proba(head), equal_nan=True)


@pytest.mark.slow
def test_allowlist_is_exactly_what_the_models_need(cohorts, tmp_path):
    """Union over every model on a many-feature and a few-feature cohort (which between them reach every code
    path: one-hot dtypes, trees, calibrators, KD-trees), plus the early-fusion parts."""
    from zoo.artifacts.model_io import save_fusion
    from zoo.models.fusion import EarlyFusion

    SEEN: set[str] = set()
    for shape in ((40, None), (1500, FEW)):
        data, y = cohorts[shape]
        for name in list_models(modality="clinical"):
            d = tmp_path / f"{name}-{shape[0]}"
            save_fitted(create_model(name, "test").fit(data, y), model_config(name), d)
            SEEN.update(_used_types(d))
    data, y = cohorts[(40, None)]
    emb = {"marrow": np.random.default_rng(0).normal(size=(len(data), 6))}
    for head in ("lr", "xgb"):
        fus = EarlyFusion(head=head, n_components=2).fit(data.clinical, emb, y, DEFAULT_SCHEMA, data.features)
        save_fusion(fus, tmp_path / f"fusion_{head}")
        SEEN.update(_used_types(tmp_path / f"fusion_{head}"))
    unused = set(SKOPS_TRUSTED) - SEEN
    missing = SEEN - set(SKOPS_TRUSTED)
    assert not missing, f"types the models need but the allowlist lacks: {missing}"
    assert not unused, f"allowlisted types no model uses (remove them): {unused}"


def test_a_model_that_fails_is_left_out_and_recorded(tiny_cohort_dir, tmp_path, monkeypatch, capsys):
    """One model's failure does not cost the zoo; --fail-fast stops instead."""
    from zoo.api import Zoo
    from zoo.cli import main
    from zoo.models import registry

    cfg, factory = registry._REGISTRY["clinical_knn"]

    def broken(cfg, profile, **kw):
        est = factory(cfg, profile, **kw)

        def fit(*a, **k):
            raise RuntimeError("simulated failure\nsecond line")
        est.fit = fit
        return est

    monkeypatch.setitem(registry._REGISTRY, "clinical_knn", (cfg, broken))
    out = tmp_path / "zoo"
    models = ["clinical_lr", "clinical_knn", "clinical_rf"]
    assert main(["train", "--cohort", str(tiny_cohort_dir), "--profile", "test", "--out", str(out), "--quiet",
                 "--models", *models]) == 0
    err = capsys.readouterr().err
    assert "clinical_knn failed and is not in this zoo: RuntimeError: simulated failure" in err
    zoo = Zoo.load(out)
    assert zoo.manifest["failed_models"] == {"clinical_knn": "RuntimeError: simulated failure"}
    assert "clinical_knn" not in zoo.model_names and "clinical_lr" in zoo.model_names
    lb = zoo.leaderboard("test")
    row = lb[lb["model"] == "clinical_knn"].iloc[0]
    assert row["status"] == "failed" and "simulated failure" in row["failure"]
    assert main(["train", "--cohort", str(tiny_cohort_dir), "--profile", "test", "--out", str(tmp_path / "z2"),
                 "--quiet", "--fail-fast", "--models", *models]) == 2
    assert "clinical_knn failed (RuntimeError: simulated failure); stopped because of --fail-fast" in \
        capsys.readouterr().err
    assert not (tmp_path / "z2" / "manifest.json").exists()


def test_every_model_failing_is_an_error_not_an_empty_zoo(tiny_cohort_dir, tmp_path, monkeypatch):
    from zoo.errors import ZooIntegrityError
    from zoo.models import registry
    from zoo.training.trainer import train_zoo

    def boom(*a, **k):
        raise RuntimeError("boom")

    for name in ("clinical_lr", "clinical_dt"):
        monkeypatch.setitem(registry._REGISTRY, name, (registry._REGISTRY[name][0], boom))
    with pytest.raises(ZooIntegrityError, match=r"Expected at least one model to train\. Got 2 failures"):
        train_zoo(tiny_cohort_dir, tmp_path / "z", profile="test", models=["clinical_lr", "clinical_dt"],
                  show_bars=False)


def test_the_same_model_saved_in_two_processes_is_byte_identical(tmp_path):
    """A resumed training is checked against a straight one by file hashes, so a skops file must not
    carry memory addresses or the time it was written."""
    import subprocess
    import sys

    code = ("import sys, numpy as np; from sklearn.ensemble import RandomForestClassifier; "
            "from sklearn.pipeline import make_pipeline; from sklearn.preprocessing import StandardScaler; "
            "from zoo.artifacts.serialize import save_skops; from pathlib import Path; "
            "X = np.random.default_rng(0).random((40, 3)); "
            "m = make_pipeline(StandardScaler(), RandomForestClassifier(4, random_state=0)).fit(X, [0, 1] * 20); "
            "save_skops(m, Path(sys.argv[1]))")
    root = Path(__file__).resolve().parents[2]
    for name in ("a.skops", "b.skops"):
        subprocess.run([sys.executable, "-c", code, str(tmp_path / name)], cwd=root, check=True)
    assert (tmp_path / "a.skops").read_bytes() == (tmp_path / "b.skops").read_bytes()
