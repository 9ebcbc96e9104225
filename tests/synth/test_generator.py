import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from zoo.synth.clinical import MISSING_SHARE
from zoo.synth.cohort import generate_cohort, simulate_tables
from zoo.synth.risk import oracle_aucs
from zoo.synth.sites import SITES


def _tree_digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_same_seed_gives_byte_identical_cohorts(tmp_path):
    a = generate_cohort(tmp_path / "a", n=12, seed=5, image_size=64, workers=1, show_bar=False)
    b = generate_cohort(tmp_path / "b", n=12, seed=5, image_size=64, workers=2, show_bar=False)
    generate_cohort(tmp_path / "c", n=12, seed=6, image_size=64, workers=1, show_bar=False)
    assert a == b
    assert _tree_digest(tmp_path / "a") == _tree_digest(tmp_path / "b"), "worker count must not change bytes"
    assert _tree_digest(tmp_path / "a") != _tree_digest(tmp_path / "c")


def test_oracle_auc_follows_the_papers_pattern_on_the_demo_cohort():
    t = simulate_tables(600, seed=0, site="A")
    aucs = oracle_aucs(t["oracle"], t["survival"]["progressed"].to_numpy())
    print("oracle AUC (n=600, seed 0):", {k: round(v, 3) for k, v in aucs.items()})
    assert aucs["clinical"] < aucs["marrow"] < aucs["electrophoresis"] < aucs["true"]


def test_oracle_ordering_holds_in_expectation():
    t = simulate_tables(6000, seed=11, site="A")
    aucs = oracle_aucs(t["oracle"], t["survival"]["progressed"].to_numpy())
    print("oracle AUC (n=6000):", {k: round(v, 3) for k, v in aucs.items()})
    assert aucs["clinical"] < aucs["marrow"] < aucs["electrophoresis"] < aucs["true"]
    assert 0.6 < aucs["clinical"] < 0.75 and 0.80 <= aucs["true"] <= 0.90


def test_clinical_table_is_plausible_ndmm():
    t = simulate_tables(3000, seed=3, site="A")
    truth, obs, surv = t["truth"], t["observed"], t["survival"]
    assert 55 <= truth["age"].median() <= 68
    assert 0.5 <= (truth["sex"] == "male").mean() <= 0.65
    assert 0.42 <= (truth["mprotein_heavy"] == "IgG").mean() <= 0.58
    assert 0.30 <= (truth["iss"] == "III").mean() <= 0.50
    assert 0.30 <= truth["fish_1q21_gain"].mean() <= 0.50
    assert 0.38 <= surv["progressed"].mean() <= 0.50
    # physiological correlations (marrow plasma-cell % only loosely: it must not become a strong risk factor)
    assert np.corrcoef(np.log(truth["b2m"]), np.log(truth["creatinine"]))[0, 1] > 0.3
    assert np.corrcoef(truth["hgb"], truth["bmpc"])[0, 1] < -0.15
    igg = truth["mprotein_heavy"].isin(["IgG", "IgA"])
    assert np.corrcoef(truth.loc[igg, "glb"], truth.loc[igg, "mprotein_level"])[0, 1] > 0.8
    # missingness in the 2-10 % band, FISH missing as whole panels, stages derived from what is observed
    for col, share in MISSING_SHARE.items():
        assert abs(obs[col].isna().mean() - share) < 0.03, col
    assert abs(obs["fish_del17p"].isna().mean() - SITES["A"].fish_missing) < 0.03
    assert obs.loc[obs["b2m"].isna(), "iss"].isna().all()
    assert not any(c.startswith("_") for c in obs.columns), "hidden biology never reaches the observed table"


def test_survival_agrees_with_the_binary_outcome():
    s = simulate_tables(2000, seed=4)["survival"]
    pd_ = s["progressed"] == 1
    assert (s.loc[pd_, "months_to_event"] <= 24).all() and (s.loc[pd_, "event"] == 1).all()
    assert (s.loc[~pd_, "months_to_event"] > 24).all()
    assert s["months_to_event"].max() <= 60


def test_plasma_cell_count_follows_marrow_plasma_cell_percent(tiny_cohort_dir):
    clin = pd.read_csv(tiny_cohort_dir / "clinical.csv", dtype={"patient_id": str}).set_index("patient_id")
    truth_bmpc = pd.read_csv(tiny_cohort_dir / "oracle.csv", dtype={"patient_id": str}).set_index("patient_id")
    rows = []
    for f in sorted((tiny_cohort_dir / "annotations" / "marrow").glob("*.json")):
        rec = json.loads(f.read_text())
        pid = f.stem.rsplit("_", 1)[0]
        n_pc = sum(c["type"] == "plasma" for c in rec["cells"])
        rows.append((pid, n_pc / max(len(rec["cells"]), 1), len(rec["plasma_cell_points"]), n_pc))
    df = pd.DataFrame(rows, columns=["pid", "frac", "points", "n_pc"]).groupby("pid").mean()
    bmpc = clin["bmpc"].reindex(df.index)
    ok = bmpc.notna()
    r = np.corrcoef(df.loc[ok, "frac"], bmpc[ok])[0, 1]
    print(f"corr(plasma-cell fraction in masks, clinical bmpc) = {r:.2f}")
    assert r > 0.7
    assert (df["points"] == df["n_pc"]).all(), "one annotation point per plasma cell"
    assert truth_bmpc.index.isin(clin.index).all()


def test_instance_masks_match_the_cell_list(tiny_cohort_dir):
    f = sorted((tiny_cohort_dir / "annotations" / "marrow").glob("*.json"))[0]
    rec = json.loads(f.read_text())
    mask = np.asarray(Image.open(f.with_suffix(".png")))
    ids = set(np.unique(mask)) - {0}
    assert ids == {c["id"] for c in rec["cells"]}
    for c in rec["cells"]:
        x, y = (int(round(v)) for v in c["center"])
        assert mask[min(y, mask.shape[0] - 1), min(x, mask.shape[1] - 1)] == c["id"]


def test_ife_band_boxes_sit_on_dark_bands(tiny_cohort_dir):
    darker = []
    for f in sorted((tiny_cohort_dir / "annotations" / "electrophoresis").glob("*.json"))[:30]:
        rec = json.loads(f.read_text())
        img = np.asarray(Image.open(tiny_cohort_dir / "images" / "electrophoresis" / f"{f.stem}.png").convert("L"),
                         dtype=float)
        for b in rec["bands"]:
            x0, y0, x1, y1 = b["box"]
            inside = img[y0:y1, x0 + 2:x1 - 2].mean()
            h = y1 - y0
            above = img[max(0, y0 - 2 * h):y0 - h // 2 if y0 - h // 2 > 0 else 1, x0 + 2:x1 - 2].mean()
            darker.append(inside < above)
    assert np.mean(darker) > 0.9


def test_every_patient_has_the_expected_images(tiny_cohort_dir):
    imgs = pd.read_csv(tiny_cohort_dir / "images.csv")
    meta = json.loads((tiny_cohort_dir / "cohort.json").read_text())
    assert meta["synthetic"] is True and "SYNTHETIC" in meta["notice"]
    per = imgs[imgs.modality == "marrow"].groupby("patient_id").size()
    assert per.between(1, 3).all()
    assert (imgs[imgs.modality == "electrophoresis"].groupby("patient_id").size() == 1).all()


def test_site_b_is_shifted(tmp_path):
    a = simulate_tables(3000, seed=0, site="A")["truth"]
    b = simulate_tables(3000, seed=0, site="B")["truth"]
    assert b["age"].mean() > a["age"].mean() + 3
    assert (b["iss"] == "III").mean() > (a["iss"] == "III").mean()


def test_generator_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="site 'A' or 'B'"):
        generate_cohort(tmp_path / "x", n=20, site="C", show_bar=False)
    with pytest.raises(ValueError, match="image_size >= 64"):
        generate_cohort(tmp_path / "x", n=20, image_size=32, show_bar=False)
