"""Artifacts round-trip, cannot run code when loaded, and refuse tampering."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from zoo.api import Zoo
from zoo.artifacts.serialize import load_skops, save_skops
from zoo.data import PatientData
from zoo.errors import ZooIntegrityError


def test_loaded_models_reproduce_stored_test_predictions(test_zoo, tiny_cohort):
    preds = test_zoo.predictions()
    test_ids = test_zoo.split()["test"]
    data = PatientData.from_cohort(tiny_cohort)
    idx = [data.ids.index(p) for p in test_ids]
    sub = data.subset(idx)
    for name in test_zoo.model_names:
        stored = preds[(preds.split == "test") & (preds.model == name)].set_index("patient_id")["prob"]
        got = test_zoo.model(name).predict_proba(sub)[:, 1]
        assert np.allclose(stored.reindex(test_ids).to_numpy(), got, equal_nan=True, atol=1e-5), name


def test_zoo_files_are_safe_formats(test_zoo_dir):
    suffixes = {p.suffix for p in test_zoo_dir.rglob("*") if p.is_file()}
    assert suffixes <= {".json", ".safetensors", ".skops", ".parquet"}
    assert not any(p.suffix in (".pkl", ".pt", ".pth", ".joblib") for p in test_zoo_dir.rglob("*"))
    assert any(p.name == "booster.json" for p in test_zoo_dir.rglob("*")), "XGBoost saved in its own format"


@pytest.fixture
def zoo_copy(test_zoo_dir, tmp_path):
    dst = tmp_path / "zoo"
    shutil.copytree(test_zoo_dir, dst)
    return dst


def test_tampered_weights_are_refused(zoo_copy):
    f = next(zoo_copy.glob("models/ife_resnet18/weights_*.safetensors"))
    data = bytearray(f.read_bytes())
    data[-10] ^= 0xFF
    f.write_bytes(bytes(data))
    zoo = Zoo.load(zoo_copy)  # opening checks manifest and presence; each file is hashed before it is read
    with pytest.raises(ZooIntegrityError, match=r"expected SHA-256 .* for models/ife_resnet18/weights_0\.safetensors"):
        zoo.model("ife_resnet18")
    with pytest.raises(ZooIntegrityError, match=r"models/ife_resnet18/weights_0\.safetensors"):
        Zoo.load(zoo_copy, verify="all")
    assert zoo.model("clinical_lr") is not None, "untouched files still load"


def test_tampered_metrics_are_refused_before_reading(zoo_copy):
    (zoo_copy / "metrics.json").write_text((zoo_copy / "metrics.json").read_text().replace('"auc": 0.', '"auc": 0.9'))
    with pytest.raises(ZooIntegrityError, match=r"metrics\.json"):
        Zoo.load(zoo_copy).metrics()


def test_tamper_after_load_is_caught_before_deserialising(zoo_copy):
    zoo = Zoo.load(zoo_copy)
    f = zoo_copy / "models" / "clinical_lr" / "pipeline.skops"
    f.write_bytes(f.read_bytes() + b"\x00")
    with pytest.raises(ZooIntegrityError, match="modified after training"):
        zoo.model("clinical_lr")


def test_wrong_schema_version_is_refused(zoo_copy):
    m = json.loads((zoo_copy / "manifest.json").read_text())
    m["schema_version"] = "0.1"
    (zoo_copy / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ZooIntegrityError, match=r"expected schema version 1\.0\. Got '0\.1'"):
        Zoo.load(zoo_copy)


def test_missing_file_and_missing_manifest(zoo_copy, tmp_path):
    (zoo_copy / "metrics.json").unlink()
    with pytest.raises(ZooIntegrityError, match="Got no such file"):
        Zoo.load(zoo_copy)
    with pytest.raises(ZooIntegrityError, match="python -m zoo train"):
        Zoo.load(tmp_path / "nothing_here")


def test_skops_refuses_types_outside_the_allowlist(tmp_path):
    import skops.io as sio

    p = tmp_path / "evil.skops"
    p.write_bytes(sio.dumps({"x": pd.Timestamp("2020-01-01")}))
    with pytest.raises(ZooIntegrityError, match="may be crafted to run code"):
        load_skops(p)
    with pytest.raises(ZooIntegrityError, match="outside the allowlist"):
        save_skops({"x": pd.Timestamp("2020-01-01")}, tmp_path / "out.skops")


def test_predict_cohort_matches_stored_predictions(test_zoo, tiny_cohort):
    data = PatientData.from_cohort(tiny_cohort)
    test_ids = test_zoo.split()["test"]
    sub = data.subset([data.ids.index(p) for p in test_ids])
    got = test_zoo.predict_cohort(sub, batch=7)  # several batches
    stored = test_zoo.predictions()
    stored = stored[stored.split == "test"].pivot(index="patient_id", columns="model", values="prob").loc[test_ids]
    for name in test_zoo.model_names + test_zoo.ensemble_names:
        assert np.allclose(got[name].to_numpy(), stored[name].to_numpy(), atol=1e-5, equal_nan=True), name
