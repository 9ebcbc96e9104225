"""Segmentation (classical fallback and the SAM code path), crops, band detection, attention on target."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from zoo.cohort import load_cohort
from zoo.segment.base import create_segmenter, plasma_cell_scores
from zoo.segment.cells import crops_from


@pytest.fixture(scope="module")
def cohort224(tmp_path_factory):
    from zoo.synth.cohort import generate_cohort

    d = tmp_path_factory.mktemp("seg") / "c224"
    generate_cohort(d, n=12, seed=7, image_size=224, workers=1, show_bar=False)
    return load_cohort(d)


def _marrow(cohort, k=0):
    rows = cohort.images[cohort.images.modality == "marrow"]
    path = cohort.root / rows.iloc[k]["path"]
    ann = cohort.root / "annotations" / "marrow" / f"{path.stem}.json"
    rec = json.loads(ann.read_text())
    return np.asarray(Image.open(path).convert("RGB")), rec, np.asarray(Image.open(ann.with_suffix(".png")))


@pytest.mark.parametrize("prompted", [True, False])
def test_classical_segmenter_reaches_dice_0_8_against_ground_truth(cohort224, prompted):
    seg = create_segmenter("classical")
    scores = []
    for k in range(len(cohort224.images[cohort224.images.modality == "marrow"])):
        img, rec, gt = _marrow(cohort224, k)
        s = seg.segment(img, rec["plasma_cell_points"] if prompted else None)
        assert s.labels.shape == img.shape[:2] and s.segmenter == "classical"
        scores += plasma_cell_scores(s, gt, rec["cells"])
    dice = float(np.mean([d for d, _ in scores]))
    print(f"classical ({'prompted' if prompted else 'automatic'}) plasma-cell Dice {dice:.3f} on {len(scores)} cells")
    assert dice >= 0.80


def test_prompted_segmentation_gives_one_instance_per_point(cohort224):
    img, rec, _ = _marrow(cohort224)
    s = create_segmenter("classical").segment(img, rec["plasma_cell_points"])
    assert len(s.instances) == len(rec["plasma_cell_points"]) and s.prompted
    assert all(r["is_plasma"] for r in s.instances)


@pytest.mark.parametrize("prompted", [True, False])
def test_each_instance_record_equals_the_whole_image_scan(cohort224, prompted):
    """The segmenter computes its records from whole-image sums; each record (area, box, centroid, the plasma-cell
    call) must be that of a per-cell scan of the whole label image, on every smear, and every label present must
    have exactly one record (a prompt on background: a record with area 0)."""
    from zoo.segment.base import instance_record
    from zoo.segment.classical import ClassicalSegmenter

    seg = ClassicalSegmenter()
    n_marrow = len(cohort224.images[cohort224.images.modality == "marrow"])
    checked = 0
    for k in range(n_marrow):
        img, rec, _ = _marrow(cohort224, k)
        points = rec["plasma_cell_points"] if prompted else None
        s = seg.segment(img, points)
        scale = (img.shape[0] / seg.reference_size) ** 2
        present = sorted(int(v) for v in np.unique(s.labels) if v)
        ids = [r["id"] for r in s.instances]
        assert sorted(r["id"] for r in s.instances if r["area"] > 0) == present and len(set(ids)) == len(ids)
        if prompted:
            assert ids == list(range(1, len(points) + 1))  # one record per prompt, in order
        for r in s.instances:
            if r["area"] == 0:
                continue
            whole = s.labels == r["id"]
            is_pc = True if prompted else seg._looks_plasma(img, whole, scale)
            assert r == instance_record(s.labels, r["id"], is_pc, points[r["id"] - 1] if prompted else None)
            checked += 1
    assert checked > 50


def test_sam_code_path_with_a_tiny_random_sam(cohort224):
    from zoo.segment.sam import SamSegmenter, tiny_random_sam

    sam = tiny_random_sam(img_size=64)
    segm = SamSegmenter(sam=sam)
    assert segm.name == "sam-vit_b-untrained"
    img, rec, gt = _marrow(cohort224)
    pts = rec["plasma_cell_points"][:4]
    s = segm.segment(img, pts)
    assert s.labels.shape == img.shape[:2] and s.labels.dtype == np.uint16
    assert [r["id"] for r in s.instances] == list(range(1, len(pts) + 1))
    assert all(r["point"] == [float(p[0]), float(p[1])] for r, p in zip(s.instances, pts))
    crops = crops_from(img, s.labels, s.instances, 32)
    assert crops.shape[1:] == (3, 32, 32) and crops.dtype == np.uint8
    assert len(crops) == sum(1 for r in s.instances if r["centroid"])
    scores = plasma_cell_scores(s, gt, rec["cells"])  # an untrained SAM scores poorly; the plumbing still works
    assert len(scores) == sum(c["type"] == "plasma" for c in rec["cells"])
    auto = SamSegmenter(sam=sam, points_per_side=4).segment(img)
    assert auto.labels.shape == img.shape[:2] and not auto.prompted


def test_sam_without_checkpoint_says_how_to_fix(tmp_path):
    from zoo.segment.sam import load_sam

    with pytest.raises(FileNotFoundError, match="never downloads weights"):
        load_sam("vit_b", tmp_path / "sam_vit_b.pth")
    with pytest.raises(ValueError, match="--sam-model"):
        load_sam("vit_x", tmp_path / "x")


def test_crops_centre_on_cells_and_can_mask_background(cohort224):
    img, rec, _ = _marrow(cohort224)
    s = create_segmenter("classical").segment(img, rec["plasma_cell_points"])
    kept = crops_from(img, s.labels, s.instances, 32)
    masked = crops_from(img, s.labels, s.instances, 32, mask_background=True)
    assert kept.shape == masked.shape and len(kept) > 0
    assert not np.array_equal(kept, masked)
    # plasma cells are basophilic: the crop centre is bluer than red
    centre = kept[:, :, 12:20, 12:20].astype(float)
    assert (centre[:, 2].mean() - centre[:, 0].mean()) > 10


def test_segment_cli_writes_masks_and_a_summary(cohort224, tmp_path, capsys):
    from zoo.cli import main

    out = tmp_path / "seg"
    assert main(["segment", "--cohort", str(cohort224.root), "--out", str(out), "--quiet", "--limit", "5"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["segmenter"] == "classical" and summary["fallback_used"] and "No SAM checkpoint" in summary["note"]
    assert summary["images"] == 5 and summary["dice"]["classical"]["mean_dice"] >= 0.8
    assert "pearson_r" in summary["plasma_fraction_vs_bmpc"]
    masks = sorted(out.glob("*.png"))
    assert len(masks) == 5
    meta = json.loads(masks[0].with_suffix(".json").read_text())
    assert meta["segmenter"] == "classical" and meta["patient_id"] and "instances" in meta
    with Image.open(masks[0]) as m:
        assert m.mode in ("I;16", "I"), "instance labels are stored as 16-bit PNG"
        assert int(np.asarray(m).max()) == max((r["id"] for r in meta["instances"] if r["area"]), default=0)


def test_band_detector_finds_the_ground_truth_bands(cohort224):
    from zoo.segment.bands import detect_bands

    hit, total = 0, 0
    for path in sorted((cohort224.root / "images" / "electrophoresis").glob("*.png")):
        img = np.asarray(Image.open(path).convert("RGB"))
        rec = json.loads((cohort224.root / "annotations" / "electrophoresis" / f"{path.stem}.json").read_text())
        found = detect_bands(img)
        for b in rec["bands"]:
            if b["lane"] == "SP":
                continue
            total += 1
            cy = (b["box"][1] + b["box"][3]) / 2
            hit += any(f["lane"] == b["lane"] and f["box"][1] - 3 <= cy <= f["box"][3] + 3 for f in found)
    print(f"band detector recall {hit}/{total}")
    assert hit / total >= 0.8


def test_energy_inside():
    from zoo.explain.gradcam import energy_inside

    mask = np.zeros((10, 10), bool)
    mask[:5] = True
    assert energy_inside(np.where(mask, 1.0, 0.0), mask) == 1.0
    assert energy_inside(np.ones((10, 10)), mask) == pytest.approx(0.5)
    assert energy_inside(np.ones((20, 20)), mask) == pytest.approx(0.5), "mask resized to the CAM"


def test_zoo_stores_attention_on_target(test_zoo):
    att = test_zoo.attention()
    cams = [n for n in test_zoo.model_names if test_zoo.manifest["models"][n]["family"] in ("cnn", "cell")]
    assert set(att["model"]) == set(cams) and any(test_zoo.manifest["models"][n]["family"] == "cell" for n in cams)
    # an all-zero CAM (no positive evidence) has no defined share: NaN, never a made-up number
    assert att["on_target"].dropna().between(0, 1).all() and att["on_target"].notna().mean() > 0.5
    # marrow: plasma-cell masks; gels: the annotated polyclonal region outside the bands, with band attention beside
    mod = att["model"].map(lambda n: test_zoo.manifest["models"][n]["modality"])
    assert (att.loc[mod == "marrow", "target_source"] == "ground truth").all()
    gels = att[mod == "electrophoresis"]
    assert len(gels) and (gels["target_source"] == "ground truth: polyclonal region").all()
    assert gels["on_bands"].dropna().between(0, 1).all() and gels["on_bands"].notna().any()
    m = test_zoo.metrics()["models"]
    for n in cams:
        a = m[n]["test"]["attention_on_target"]
        assert a["n_patients"] > 0 and "correct" in a and "wrong" in a
        if test_zoo.manifest["models"][n]["modality"] == "electrophoresis":
            assert 0 < a["bands_chance"] < a["chance"]
            assert (0 <= a["on_bands"] <= 1) if a["n_defined"] else np.isnan(a["on_bands"])
        if a["n_defined"]:
            assert 0 <= a["mean"] <= 1
            if a["n_defined"] >= 2:  # every stored figure carries its interval over patients
                assert a["mean_ci"][0] <= a["mean"] <= a["mean_ci"][1]
                assert a["ratio_ci"][0] <= a["ratio"] <= a["ratio_ci"][1]
        else:  # every map of this model was all-zero on test: no share, and no made-up number
            assert np.isnan(a["mean"])
        # each model's randomised twin on the same images, beside it (zoo.explain.attention.randomised_twin)
        rows = att[att["model"] == n]
        assert rows["twin_on_target"].dropna().between(0, 1).all() and rows["twin_on_target"].notna().any(), n
        from zoo.explain.attention import TWIN_DRAWS

        assert all(f"twin{r}_on_target" in rows for r in range(TWIN_DRAWS))
        t = a["twin"]
        if t.get("n_patients", 0) >= 2:
            assert t["difference"] == pytest.approx(t["ratio"] - t["twin_ratio"]) and len(t["draws"]) == TWIN_DRAWS
            lb = test_zoo.leaderboard("test").set_index("model").loc[n]
            assert lb["attention_over_twin"] == pytest.approx(t["difference"])
            assert lb["attention_twin_images"] == t["n_images"] and len(lb["attention_twin_draws"]) == TWIN_DRAWS
            assert lb["attention_over_twin_lo"] <= lb["attention_over_twin_hi"]
        # each CV fold model's figure on the same test patients is stored beside the final model's (not for
        # cell-level models: zoo.training.trainer.FOLD_ATTENTION_FAMILIES)
        if test_zoo.manifest["models"][n]["family"] == "cell":
            assert "members" not in a
            continue
        assert len(a["members"]) == test_zoo.manifest["profile"]["cv_folds"]
        for r in a["members"]:  # a fold model whose maps were all zero has no figure, not a made-up one
            assert r["mean"] is None or (0 <= r["mean"] <= 1 and r["ratio"] == pytest.approx(r["mean"] / r["chance"]))
    assert sum(m[n]["test"]["attention_on_target"]["n_defined"] for n in cams) > 0
    from zoo.failures import failure_table

    ft = failure_table(test_zoo, "test")
    assert "attention_vs_chance" in ft and ft["attention_on_target"].notna().any()


def test_cell_level_model_with_attention_pooling(tiny_cohort):
    from zoo.data import PatientData
    from zoo.models import create_model

    data = PatientData.from_cohort(tiny_cohort)
    y = tiny_cohort.y
    est = create_model("marrow_cell_resnet18", "test", pooling="attention").fit(data.subset(np.arange(60)), y[:60])
    assert est.attention_ is not None
    p = est.predict_proba(data.subset(np.arange(60, len(y))))[:, 1]
    has = data.subset(np.arange(60, len(y))).has("marrow")
    assert np.isfinite(p[has]).any() and np.isnan(p[~has]).all()
    crops, _ = data.cells.crops(est.image_size)
    prob, emb = est.predict_crops(crops[:5])
    assert 0 <= prob <= 1 and emb.shape == (512,)
    assert isinstance(crops, torch.Tensor)
