"""A zoo folder is input: its manifest cannot point outside the zoo, names cannot become paths, nothing unlisted is
read, and with MYELOZOO_MANIFEST_KEY set an unsigned or re-signed manifest is refused (issue 12, item 6)."""
import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from zoo.api import Zoo
from zoo.artifacts import files as files_mod
from zoo.artifacts import manifest as manifest_mod
from zoo.artifacts.files import atomic_write_bytes, atomic_write_parquet, sha256_file
from zoo.errors import ZooIntegrityError

KEY = "k" * 40


@pytest.fixture
def zoo_copy(test_zoo_dir, tmp_path, monkeypatch):
    monkeypatch.delenv(manifest_mod.KEY_ENV, raising=False)
    dst = tmp_path / "zoo"
    shutil.copytree(test_zoo_dir, dst)
    return dst


def _edit(zoo: Path, change) -> dict:
    m = json.loads((zoo / "manifest.json").read_text())
    change(m)
    (zoo / "manifest.json").write_text(json.dumps(m))
    return m


def _outside_file(tmp_path: Path) -> Path:
    f = tmp_path / "outside" / "hostname"
    f.parent.mkdir(exist_ok=True)
    f.write_text("secret-host\n")
    return f


# ----- paths --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["dotdot", "absolute", "inner_dotdot", "backslash"])
def test_manifest_path_outside_the_zoo_is_refused_before_it_is_read(zoo_copy, tmp_path, kind, monkeypatch):
    outside = _outside_file(tmp_path)
    rel = {"dotdot": f"../outside/{outside.name}", "absolute": str(outside),
           "inner_dotdot": f"models/../../outside/{outside.name}", "backslash": f"..\\outside\\{outside.name}"}[kind]
    _edit(zoo_copy, lambda m: m["files"].__setitem__(rel, sha256_file(outside)))  # a correct hash of it
    hashed = []
    real = files_mod.sha256_file
    monkeypatch.setattr(manifest_mod, "sha256_file", lambda p, *a: hashed.append(Path(p)) or real(p, *a))
    with pytest.raises(ZooIntegrityError, match=r"zoo zoo: expected a relative path inside the zoo folder\. Got "):
        Zoo.load(zoo_copy, verify="all")
    assert outside not in hashed


def test_symlink_leading_out_of_the_zoo_is_refused(zoo_copy, tmp_path):
    outside = tmp_path / "outside_metrics.json"
    shutil.copy(zoo_copy / "metrics.json", outside)  # same bytes: the hash alone would accept it
    (zoo_copy / "metrics.json").unlink()
    (zoo_copy / "metrics.json").symlink_to(outside)
    with pytest.raises(ZooIntegrityError, match=r"expected metrics\.json to stay inside the zoo folder\. Got a path "
                                                r"that leads outside it \(a symbolic link\)"):
        Zoo.load(zoo_copy)


def test_symlink_swapped_in_after_loading_is_refused_at_read(zoo_copy, tmp_path):
    zoo = Zoo.load(zoo_copy)
    outside = tmp_path / "outside_curves.json"
    shutil.copy(zoo_copy / "curves.json", outside)
    (zoo_copy / "curves.json").unlink()
    (zoo_copy / "curves.json").symlink_to(outside)
    with pytest.raises(ZooIntegrityError, match="leads outside"):
        zoo.curves()


@pytest.mark.parametrize("keep_mtime", [False, True])
def test_a_file_edited_after_its_first_read_is_refused_at_the_next(zoo_copy, keep_mtime):
    """The hash was once checked only on a file's first read in the process; later reads trusted it."""
    zoo = Zoo.load(zoo_copy)
    assert zoo.metrics()["models"]
    f = zoo_copy / "metrics.json"
    before = f.stat()
    edited = json.loads(f.read_text())
    edited["best_single"] = "tampered"
    f.write_text(json.dumps(edited))
    if keep_mtime:  # an editor that restores the timestamp: the bytes read are still hashed
        os.utime(f, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(ZooIntegrityError, match="modified after training"):
        zoo.metrics()


# ----- names --------------------------------------------------------------------------------------------------
def test_ensemble_name_that_is_a_path_is_refused(zoo_copy):
    def evil(m):
        name = next(iter(m["ensembles"]))
        m["ensembles"]["../../../outside"] = m["ensembles"][name]
        m["ensemble_order"].append("../../../outside")

    _edit(zoo_copy, evil)
    with pytest.raises(ZooIntegrityError, match=r"expected a model or ensemble name of letters, digits, '_' and '-' "
                                                r"\(at most 64\)\. Got '\.\./\.\./\.\./outside'"):
        Zoo.load(zoo_copy)


def test_order_naming_an_undefined_model_is_refused(zoo_copy):
    _edit(zoo_copy, lambda m: m["model_order"].append("clinical_ghost"))
    with pytest.raises(ZooIntegrityError, match=r"expected 'model_order' to name only models of the manifest\. "
                                                r"Got \['clinical_ghost'\]"):
        Zoo.load(zoo_copy)


def test_ensemble_not_in_the_manifest_is_refused_by_name(zoo_copy):
    zoo = Zoo.load(zoo_copy)
    with pytest.raises(ZooIntegrityError, match=r"Expected an ensemble of this zoo\. Got '\.\./x'"):
        zoo.ensemble("../x")


def test_malformed_digest_is_refused(zoo_copy):
    _edit(zoo_copy, lambda m: m["files"].__setitem__("metrics.json", "abc"))
    with pytest.raises(ZooIntegrityError, match=r"expected a SHA-256 \(64 hex digits\) for metrics\.json\. Got 'abc'"):
        Zoo.load(zoo_copy)


# ----- nothing unlisted is read ------------------------------------------------------------------------------
def test_unlisted_attention_parquet_is_not_read(zoo_copy):
    fake = pd.DataFrame({"patient_id": ["planted"], "split": ["test"], "model": ["x"], "image": ["x.png"],
                         "on_target": [1.0], "target_share_of_image": [0.5], "target_source": ["planted"]})

    def unlist(m):
        m["files"].pop("attention.parquet", None)

    _edit(zoo_copy, unlist)
    fake.to_parquet(zoo_copy / "attention.parquet", index=False)
    att = Zoo.load(zoo_copy).attention()
    assert att.empty and "planted" not in att.get("patient_id", pd.Series(dtype=str)).tolist()


def test_unlisted_calibration_file_is_not_read(zoo_copy):
    """A calibration.json that the manifest does not list would silently change a model's risks."""
    m = json.loads((zoo_copy / "manifest.json").read_text())
    listed = [k for k in m["files"] if k.endswith("/calibration.json")]
    assert listed, "the test zoo has recalibrated models"
    name = listed[0].split("/")[1]
    _edit(zoo_copy, lambda m: m["files"].pop(listed[0]))  # the file stays in the folder, unlisted
    assert (zoo_copy / listed[0]).is_file()
    model = Zoo.load(zoo_copy, verify="all").model(name)
    assert type(model).__name__ != "CalibratedModel", "an unlisted file was read"


def test_listed_file_that_is_not_in_the_manifest_cannot_be_requested(zoo_copy):
    zoo = Zoo.load(zoo_copy)
    with pytest.raises(ZooIntegrityError, match=r"expected notes\.json to be listed in the manifest before it is "
                                                r"read\. Got no entry"):
        zoo.files.read_json("notes.json")


def test_every_read_in_the_api_goes_through_the_checked_accessor():
    """zoo/api.py opens zoo files only through ZooFiles (the manifest itself is read before it exists)."""
    src = (Path(__file__).resolve().parents[2] / "zoo" / "api.py").read_text()
    for direct in ("self.path /", "pd.read_parquet(", "verify_hashes(", ".is_file() else pd.DataFrame"):
        assert direct not in src, direct
    assert src.count("read_json(") == src.count("files.read_json(") + src.count("read_json(d.path(") + 1


# ----- signing ------------------------------------------------------------------------------------------------
def _sign(zoo: Path, key: str) -> None:
    m = json.loads((zoo / "manifest.json").read_text())
    (zoo / "manifest.json").write_text(json.dumps(manifest_mod.sign_manifest(m, key.encode())))


def test_with_a_key_an_unsigned_manifest_is_refused(zoo_copy, monkeypatch):
    monkeypatch.setenv(manifest_mod.KEY_ENV, KEY)
    with pytest.raises(ZooIntegrityError, match=r"zoo zoo: expected a manifest signed with MYELOZOO_MANIFEST_KEY "
                                                r"\(it is set here\)\. Got an unsigned manifest\. Retrain"):
        Zoo.load(zoo_copy)


def test_with_a_key_a_signed_manifest_loads_and_a_tampered_one_is_refused(zoo_copy, monkeypatch):
    _sign(zoo_copy, KEY)
    monkeypatch.setenv(manifest_mod.KEY_ENV, KEY)
    zoo = Zoo.load(zoo_copy, verify="all")
    assert zoo.signature_checked and zoo.metrics()
    # the attack that hashes alone cannot see: change a file and rewrite its hash in the manifest
    metrics = zoo_copy / "metrics.json"
    metrics.write_text(metrics.read_text().replace('"auc": 0.', '"auc": 0.9'))
    _edit(zoo_copy, lambda m: m["files"].__setitem__("metrics.json", sha256_file(metrics)))
    with pytest.raises(ZooIntegrityError, match=r"expected a manifest signature made with this "
                                                r"MYELOZOO_MANIFEST_KEY\. Got a signature that does not match"):
        Zoo.load(zoo_copy)
    monkeypatch.delenv(manifest_mod.KEY_ENV)
    assert not Zoo.load(zoo_copy).signature_checked, "without a key the hashes alone pass: corruption only"


def test_a_manifest_signed_with_another_key_is_refused(zoo_copy, monkeypatch):
    _sign(zoo_copy, "x" * 40)
    monkeypatch.setenv(manifest_mod.KEY_ENV, KEY)
    with pytest.raises(ZooIntegrityError, match="does not match"):
        Zoo.load(zoo_copy)
    _edit(zoo_copy, lambda m: m.__setitem__("signature", {"alg": "HMAC-SHA256", "value": ["not", "a", "str"]}))
    with pytest.raises(ZooIntegrityError, match="does not match"):
        Zoo.load(zoo_copy)


def test_a_short_key_is_refused(zoo_copy, monkeypatch):
    monkeypatch.setenv(manifest_mod.KEY_ENV, "short")
    with pytest.raises(ZooIntegrityError, match=r"MYELOZOO_MANIFEST_KEY: expected a key of at least 32 characters\. "
                                                r"Got 5\. Generate one with"):
        Zoo.load(zoo_copy)


def test_signature_survives_the_json_round_trip():
    """Training signs the in-memory manifest (numpy numbers, NaN, tuples); loading checks what it reads back."""
    m = {"files": {"a.json": "0" * 64}, "x": np.float64(0.25), "n": np.int64(3), "t": (1, 2), "nan": np.float64("nan"),
         "p": Path("a/b"), "u": "é"}
    signed = manifest_mod.sign_manifest(m, KEY.encode())
    from zoo.artifacts.files import _json_default

    back = json.loads(json.dumps(signed, indent=2, sort_keys=True, default=_json_default))
    assert manifest_mod.check_signature(back, "zoo t", KEY.encode()) is True


def test_sign_command_signs_a_verified_zoo_and_refuses_a_damaged_one(zoo_copy, monkeypatch):
    monkeypatch.setenv(manifest_mod.KEY_ENV, KEY)
    manifest_mod.sign_zoo(zoo_copy)
    assert Zoo.load(zoo_copy).signature_checked
    (zoo_copy / "split.json").write_text("{}")
    with pytest.raises(ZooIntegrityError, match=r"split\.json"):
        manifest_mod.sign_zoo(zoo_copy)


def test_training_with_a_key_writes_a_signed_manifest(tiny_cohort_dir, tmp_path, monkeypatch):
    from zoo.training.trainer import train_zoo

    monkeypatch.setenv(manifest_mod.KEY_ENV, KEY)
    out = train_zoo(tiny_cohort_dir, tmp_path / "signed", profile="test", models=["clinical_lr", "clinical_dt"],
                    show_bars=False)
    m = json.loads((Path(out) / "manifest.json").read_text())
    assert m["signature"]["alg"] == "HMAC-SHA256"
    assert Zoo.load(out).signature_checked
    monkeypatch.setenv(manifest_mod.KEY_ENV, "y" * 40)
    with pytest.raises(ZooIntegrityError, match="does not match"):
        Zoo.load(out)


# ----- how files are written ---------------------------------------------------------------------------------
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_artifacts_are_written_0644_less_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "a.bin", b"x")
        atomic_write_parquet(tmp_path / "p.parquet", pd.DataFrame({"a": [1]}))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.bin").stat().st_mode) == mode
    assert stat.S_IMODE((tmp_path / "p.parquet").stat().st_mode) == mode


def test_trained_zoo_is_readable_by_another_account(test_zoo_dir):
    """Under the usual umask 022 a dashboard running as another user can read every file (was 0600)."""
    if files_mod.current_umask() & 0o044:
        pytest.skip("this process's umask withholds read access from group or others")
    for p in test_zoo_dir.rglob("*"):
        if p.is_file():
            assert stat.S_IMODE(p.stat().st_mode) & 0o044 == 0o044, p


def test_rename_is_followed_by_a_directory_fsync(tmp_path, monkeypatch):
    events = []
    real_replace, real_fsync_dir = os.replace, files_mod.fsync_dir
    monkeypatch.setattr(files_mod.os, "replace", lambda a, b: events.append(("replace", Path(b).name))
                        or real_replace(a, b))
    monkeypatch.setattr(files_mod, "fsync_dir", lambda d: events.append(("fsync_dir", Path(d))) or real_fsync_dir(d))
    atomic_write_parquet(tmp_path / "p.parquet", pd.DataFrame({"a": [1]}))
    assert events == [("replace", "p.parquet"), ("fsync_dir", tmp_path)]


def test_failed_parquet_write_leaves_the_old_file_and_no_temp(tmp_path):
    p = tmp_path / "predictions.parquet"
    atomic_write_parquet(p, pd.DataFrame({"a": [1, 2]}))
    before = p.read_bytes()

    class Boom(pd.DataFrame):
        def to_parquet(self, path, **kw):
            Path(path).write_bytes(b"PAR1 half")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write_parquet(p, Boom({"a": [3]}))
    assert p.read_bytes() == before
    assert [q.name for q in tmp_path.iterdir()] == ["predictions.parquet"]
