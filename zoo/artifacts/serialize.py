"""Persistence that never executes code: safetensors, skops with an explicit allowlist, XGBoost JSON.

No pickle, joblib or unrestricted torch.load anywhere in product code.
"""
from __future__ import annotations

import json
from pathlib import Path

from zoo.artifacts.files import atomic_write_bytes
from zoo.errors import ZooIntegrityError

# Types outside skops' default trust that our fitted objects legitimately contain, each reviewed: their
# state is arrays and numbers that skops rebuilds without running code from the file. A file that asks
# for anything else is refused. tests/artifacts/test_skops_allowlist.py fits every registered model on
# cohorts of several shapes and checks that this list is exactly what they need (nothing unused).
SKOPS_TRUSTED_BY_REASON: dict[str, tuple[str, ...]] = {
    "dtypes of one-hot encoders and imputers": ("numpy.dtype",),
    "fitted trees (RF, GB, AdaBoost, DT)": ("sklearn.tree._tree.Tree",),
    "schema encoding and one-hot names (our code, no state beyond names and levels)": (
        "zoo.models.clinical.SchemaEncoder", "zoo.models.clinical._one_hot_name"),
    "Platt / isotonic recalibration": ("sklearn.calibration._CalibratedClassifier",
                                       "sklearn.calibration._SigmoidCalibration"),
    "KNN neighbour index: scikit-learn picks a KD-tree when there are few features": (
        "sklearn.neighbors._kd_tree.KDTree", "sklearn.metrics._dist_metrics.EuclideanDistance64"),
}
SKOPS_TRUSTED = tuple(t for group in SKOPS_TRUSTED_BY_REASON.values() for t in group)


def save_skops(obj, path: Path) -> None:
    import skops.io as sio

    data = sio.dumps(obj)
    untrusted = set(sio.get_untrusted_types(data=data)) - set(SKOPS_TRUSTED)
    if untrusted:
        raise ZooIntegrityError(
            f"Refusing to save {path.name}: it contains types outside the allowlist {sorted(untrusted)}. "
            "Add them to SKOPS_TRUSTED after review.")
    atomic_write_bytes(path, _canonical_skops(data))


def _canonical_skops(data: bytes) -> bytes:
    """skops names objects and array files after ``id()`` (a memory address) and stamps each zip entry
    with the wall-clock time, so the same fitted model hashed differently on every run and a resumed
    training could not be checked against a straight one. Renumbering ids and files in order of first
    appearance (ids only identify shared objects within the file) and fixing the dates makes the file
    a function of the model alone; loading is unchanged."""
    import io
    import json
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(data))
    schema = json.loads(src.read("schema.json"))
    ids: dict[int, int] = {}
    files: dict[str, str] = {}

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "__id__" and isinstance(v, int):
                    node[k] = ids.setdefault(v, len(ids) + 1)
                elif k == "file" and isinstance(v, str):
                    node[k] = files.setdefault(v, f"{len(files) + 1}{Path(v).suffix}")
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(schema)
    info_of = {i.filename: i for i in src.infolist()}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as dst:
        entries = [("schema.json", "schema.json", json.dumps(schema, indent=2).encode())]
        entries += [(old, new, src.read(old)) for old, new in files.items()]
        for old, name, payload in entries:
            old_info = info_of[old]
            fixed = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type, fixed.external_attr = old_info.compress_type, old_info.external_attr
            dst.writestr(fixed, payload)
    if len(files) != len(info_of) - 1:
        raise ZooIntegrityError("skops wrote array files its schema does not name; refusing to rewrite it.")
    return buf.getvalue()


def load_skops(path: Path):
    import skops.io as sio

    data = Path(path).read_bytes()
    untrusted = set(sio.get_untrusted_types(data=data))
    unknown = untrusted - set(SKOPS_TRUSTED)
    if unknown:
        raise ZooIntegrityError(
            f"{path.name}: expected only allowlisted types. Got {sorted(unknown)}. The file may be crafted to run "
            "code on load; it is refused.")
    return sio.loads(data, trusted=sorted(untrusted))


def save_state_dict(module, path: Path, metadata: dict[str, str] | None = None) -> None:
    from safetensors.torch import save

    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    # safetensors writes a metadata map in hash order, which differs between processes; one key holding
    # sorted JSON keeps the file (and its hash in the manifest) a function of the weights alone
    meta = {"myelozoo": json.dumps(metadata, sort_keys=True)} if metadata else None
    atomic_write_bytes(path, save(state, metadata=meta))


def load_state_dict(path: Path) -> dict:
    from safetensors.torch import load

    try:
        return load(Path(path).read_bytes())
    except Exception as e:  # safetensors raises its own error types for malformed headers
        raise ZooIntegrityError(f"{path.name}: expected a safetensors file. Got unreadable data ({e}).") from e


def save_arrays(arrays: dict, path: Path) -> None:
    """Plain numeric arrays (e.g. out-of-fold embeddings) as safetensors."""
    import numpy as np
    from safetensors.numpy import save

    atomic_write_bytes(path, save({k: np.ascontiguousarray(v) for k, v in arrays.items()}))


def load_arrays(path: Path) -> dict:
    from safetensors.numpy import load

    try:
        return load(Path(path).read_bytes())
    except Exception as e:  # safetensors raises its own error types for malformed headers
        raise ZooIntegrityError(f"{Path(path).name}: expected a safetensors file. Got unreadable data.") from e


def save_xgboost(model, path: Path) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d) / "model.json"
        model.get_booster().save_model(str(tmp))
        atomic_write_bytes(path, tmp.read_bytes())


def load_xgboost(path: Path, params: dict):
    from xgboost import XGBClassifier

    model = XGBClassifier(**params)
    model.load_model(str(path))
    return model
