"""A cell-level model pools at most ``max_cells_per_image`` crops of each smear, and every place that predicts with
it — evaluation (``predict_proba`` on a cohort), the predictor and API (``Zoo._cell_probs``) and the smear's
Grad-CAM — pools the same crops; training still draws from all of them."""
import numpy as np
import pytest
import torch

from zoo.segment.cells import pooled_index, pooled_rows


def test_pooled_index_spreads_the_limit_over_the_smear_and_keeps_small_smears_whole():
    assert pooled_index(5, 16).tolist() == [0, 1, 2, 3, 4]
    assert pooled_index(5, None).tolist() == [0, 1, 2, 3, 4]
    assert pooled_index(0, 16).tolist() == []
    for n, k in [(17, 16), (51, 16), (1000, 16), (3, 1), (40, 7)]:
        idx = pooled_index(n, k)
        assert len(idx) == k and len(set(idx.tolist())) == k and (np.diff(idx) > 0).all()
        assert idx[0] < n / k and idx[-1] >= n - n / k  # from the first share of the smear to the last
    assert pooled_index(51, 16)[0] > 0 and pooled_index(51, 16)[-1] < 50  # not always the (edge) end cells
    assert pooled_index(51, 16).tolist() == pooled_index(51, 16).tolist()  # no randomness: same smear, same cells
    with pytest.raises(ValueError, match="at least 1 cell"):
        pooled_index(5, 0)


def test_pooled_rows_applies_the_limit_to_each_smear():
    groups = np.array([7] * 5 + [2] * 2 + [9] * 6)
    rows = pooled_rows(groups, 3)
    assert rows.tolist() == [0, 2, 4, 5, 6, 8, 10, 12]
    assert pooled_rows(groups, None).tolist() == list(range(13))


def _untrained(cap):
    from zoo.models.cells import CellBagClassifier
    from zoo.models.networks import build_network

    torch.manual_seed(0)
    est = CellBagClassifier(arch="resnet18", image_size=32, device="cpu", max_cells_per_image=cap)
    net, _ = build_network("resnet18", 0.0)
    est.net_, est.device_, est.classes_, est.attention_ = net.eval(), torch.device("cpu"), np.array([0, 1]), None
    return est


@pytest.fixture(scope="module")
def crowded(tiny_cohort):
    """Patients of the tiny cohort whose smears have more plasma-cell crops than the limit used here."""
    from zoo.data import PatientData

    data = PatientData.from_cohort(tiny_cohort)
    bank = data.eval_cells or data.cells
    _, crop_img = bank.crops(32)
    per_image = np.bincount(crop_img, minlength=len(bank.keys))
    rows = [i for i, ks in enumerate(data.images["marrow"])
            if ks and (per_image[bank.index_of(ks)] > 3).all()][:4]
    assert len(rows) >= 2, "the tiny cohort needs smears with more than 3 plasma cells"
    return data.subset(rows), bank


def test_evaluation_pools_the_limited_crops_of_each_smear_and_training_all(crowded):
    data, bank = crowded
    est, full = _untrained(3), _untrained(None)
    crops, crop_img = bank.crops(32)
    got = est.predict_proba(data)[:, 1]
    for j, ks in enumerate(data.images["marrow"]):
        parts = []
        for r in bank.index_of(ks):
            rows = np.flatnonzero(crop_img == r)
            parts.append(rows[pooled_index(len(rows), 3)])
        expect = est._run(crops[torch.from_numpy(np.concatenate(parts))], "proba").mean().item()
        assert got[j] == pytest.approx(expect, abs=1e-6)
    assert not np.allclose(got, full.predict_proba(data)[:, 1], atol=1e-6)  # the limit changed something
    fit_x, _ = est._samples(data, for_fit=True)
    pred_x, _ = est._samples(data)
    assert len(pred_x) == 3 * sum(len(ks) for ks in data.images["marrow"]) < len(fit_x)


def test_the_predictor_and_the_smear_map_pool_what_evaluation_pooled(crowded, tiny_cohort):
    """The dashboard's answer for a patient equals the evaluated one, and its Grad-CAM shows those cells only."""
    from zoo.api import _LRU, Zoo
    from zoo.explain.gradcam import cell_maps

    data, bank = crowded
    est = _untrained(3)
    zoo = Zoo.__new__(Zoo)
    zoo._image_cache = _LRU()
    evaluated = est.predict_proba(data)[:, 1]
    for j, ks in enumerate(data.images["marrow"]):
        imgs = [bank._loader(k) for k in ks]
        p, _ = zoo._cell_probs("m", est, imgs, [f"k{j}_{i}" for i in range(len(ks))])
        assert p == pytest.approx(evaluated[j], abs=1e-6)
    k = data.images["marrow"][0][0]
    labels, inst = bank.segmentation(k)
    maps = cell_maps(est, bank._loader(k), labels, inst)
    assert len(maps.tiles) == 3  # the smear has more plasma cells; only the pooled ones are mapped
    from zoo.explain.gradcam import cell_cam

    shown = cell_cam(est, bank._loader(k), segmentation=(labels, inst))
    assert len(shown.tiles) == 3 and shown.cells_found == sum(1 for r in inst if r.get("is_plasma") and r.get("centroid")) > 3
    assert maps.probability == pytest.approx(zoo._cell_probs("m", est, [bank._loader(k)], ["solo"])[0], abs=1e-5)


def test_the_cpu_profiles_cap_the_cells_and_paper_pools_them_all(tiny_cohort):
    from zoo.data import PatientData
    from zoo.models import create_model
    from zoo.models.catalog import CELL_POOL_PER_IMAGE

    assert create_model("marrow_cell_vgg16_bn", "quick").max_cells_per_image == CELL_POOL_PER_IMAGE == 16
    assert create_model("marrow_cell_resnet18", "test").max_cells_per_image == CELL_POOL_PER_IMAGE
    assert create_model("marrow_cell_resnet18", "paper").max_cells_per_image is None
    data = PatientData.from_cohort(tiny_cohort)
    with pytest.raises(ValueError, match="max_cells_per_image"):  # refused before training, not at the first prediction
        create_model("marrow_cell_resnet18", "test", max_cells_per_image=0).fit(data, tiny_cohort.y)


def test_each_profile_draws_its_own_number_of_crops_per_patient_per_epoch():
    """quick trains its cell models on 16 crops per patient per epoch (4 left them undertrained), test keeps 4 for
    the suite's time, paper every crop; an epoch draws that many of each patient's crops, all of a smaller bag."""
    from zoo.models import create_model

    assert create_model("marrow_cell_vgg16_bn", "quick").images_per_patient == 16
    assert create_model("marrow_cell_resnet18", "test").images_per_patient == 4
    assert create_model("marrow_cell_resnet18", "paper").images_per_patient is None
    est = create_model("marrow_cell_vgg16_bn", "quick")
    owner = np.repeat([0, 1, 2], [40, 16, 5])
    order = est._epoch_order(owner, np.random.default_rng(0))
    assert np.bincount(owner[order]).tolist() == [16, 16, 5] and len(set(order.tolist())) == len(order)


def test_a_built_zoo_keeps_its_cell_models_cap(test_zoo):
    """Saved with the model's parameters and restored on load (a zoo saved before the cap loads uncapped)."""
    from zoo.models.cells import CellBagClassifier

    cells = [n for n in test_zoo.model_names if test_zoo.manifest["models"][n]["family"] == "cell"]
    assert cells
    for n in cells:
        base = getattr(test_zoo.model(n), "base", test_zoo.model(n))
        for member in getattr(base, "members", [base]):
            assert isinstance(member, CellBagClassifier) and member.max_cells_per_image == 16, n


def _saved_before_the_limit(test_zoo, test_zoo_dir, tmp_path, family: str):
    """A copy of the test zoo's first model of ``family`` whose model.json lacks ``max_cells_per_image`` (as one
    written before the limit existed), loaded; the saved limit must have been 16."""
    import json
    import shutil

    from zoo.artifacts.model_io import load_fitted
    from zoo.models.registry import model_config

    name = next(n for n in test_zoo.model_names if test_zoo.manifest["models"][n]["family"] == family)
    old = tmp_path / name
    shutil.copytree(test_zoo_dir / "models" / name, old)
    rec = json.loads((old / "model.json").read_text())
    assert rec["params"].pop("max_cells_per_image") == 16
    (old / "model.json").write_text(json.dumps(rec))
    base = load_fitted(model_config(name), old, device="cpu")
    return name, getattr(base, "base", base)


def test_a_cell_model_saved_before_the_limit_loads_pooling_every_cell(test_zoo, test_zoo_dir, tmp_path):
    """model.json written before the limit existed has no ``max_cells_per_image``: such a model pools every crop,
    as its stored scores did."""
    _, base = _saved_before_the_limit(test_zoo, test_zoo_dir, tmp_path, "cell")
    members = getattr(base, "members", [base])
    assert members and all(m.max_cells_per_image is None for m in members)
    assert len(members[0].pooled([{"is_plasma": True, "centroid": [i, i]} for i in range(40)])) == 40


@pytest.fixture(scope="module")
def joint_pair(tiny_cohort):
    """One joint model fitted on the tiny cohort (1 epoch), and the same weights with the limit lifted."""
    import copy

    from zoo.data import PatientData
    from zoo.models.joint import JointFusionClassifier

    data = PatientData.from_cohort(tiny_cohort)
    capped = JointFusionClassifier(epochs=1, device="cpu", max_cells_per_image=3).fit(data, tiny_cohort.y)
    full = copy.deepcopy(capped)
    full.max_cells_per_image = None
    return capped, full


def test_the_joint_model_pools_the_cell_models_crops_at_prediction_and_trains_on_all(joint_pair, crowded):
    """Its marrow branch reads, per smear, exactly the crops a cell-level model with the same limit pools."""
    capped, full = joint_pair
    data, bank = crowded
    c_x, c_owner, *_ = capped._inputs(data, for_fit=False)
    crops, crop_img = bank.crops(capped.crop_size)
    expect = []
    for ks in data.images["marrow"]:
        for r in bank.index_of(ks):
            rows = np.flatnonzero(crop_img == r)
            expect.append(rows[pooled_index(len(rows), 3)])
    expect = np.concatenate(expect)
    assert len(c_x) == len(expect) == 3 * sum(len(ks) for ks in data.images["marrow"])
    assert torch.equal(c_x, crops[torch.from_numpy(expect)])
    assert len(capped._inputs(data, for_fit=True)[0]) > len(c_x)  # training still draws from every crop
    assert len(full._inputs(data, for_fit=False)[0]) > len(c_x)
    assert not np.allclose(capped.predict_proba(data)[:, 1], full.predict_proba(data)[:, 1], atol=1e-7)


def test_the_joint_models_limit_follows_the_profile_and_is_checked_before_training(tiny_cohort):
    from zoo.data import PatientData
    from zoo.models import create_model
    from zoo.models.catalog import CELL_POOL_PER_IMAGE

    assert create_model("joint_fusion", "quick").max_cells_per_image == CELL_POOL_PER_IMAGE
    assert create_model("joint_fusion", "test").max_cells_per_image == CELL_POOL_PER_IMAGE
    assert create_model("joint_fusion", "paper").max_cells_per_image is None
    data = PatientData.from_cohort(tiny_cohort)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="max_cells_per_image"):
            create_model("joint_fusion", "test", max_cells_per_image=bad).fit(data, tiny_cohort.y)


def test_a_built_zoos_joint_model_keeps_its_limit_and_one_saved_before_it_pools_every_cell(
        test_zoo, test_zoo_dir, tmp_path, tiny_cohort):
    """The limit is one of the saved parameters; model.json written before it existed restores a joint model that
    pools every crop, as its stored scores did."""
    import copy

    from zoo.data import PatientData

    name, before = _saved_before_the_limit(test_zoo, test_zoo_dir, tmp_path, "joint")
    base = getattr(test_zoo.model(name), "base", test_zoo.model(name))
    assert base.max_cells_per_image == 16
    assert before.max_cells_per_image is None
    data = PatientData.from_cohort(tiny_cohort)
    every = len(before._inputs(data, for_fit=True)[0])  # training reads every crop
    assert len(before._inputs(data, for_fit=False)[0]) == every
    limited = copy.copy(before)
    limited.max_cells_per_image = 3  # the tiny cohort's smears have fewer than 16 cells: show the limit would bite
    assert len(limited._inputs(data, for_fit=False)[0]) < every
