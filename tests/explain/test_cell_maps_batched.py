"""A cell-level model's smears mapped together (one network copy and CAM context per member, crops batched
across smears) give exactly the maps, tiles and probabilities of mapping each smear on its own."""
import copy
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from zoo.explain.gradcam import CELL_CAM_MIN_SIDE, CellMaps, cell_maps, cell_maps_many, energy_inside, smear_crops
from zoo.explain.stitch import Tile, stitch
from zoo.models.cells import AttentionPool, CellBagClassifier
from zoo.models.cnn import FoldBag
from zoo.models.networks import build_network, deepest_layer_with_map, resolve_layer
from zoo.preprocess import normalize
from zoo.segment.cells import crop_boxes, crops_from

SIDE = 96
CROPS_PER_SMEAR = (3, 0, 5, 1)  # different counts, one smear without a plasma cell


def _member(seed: int, attention: bool) -> CellBagClassifier:
    torch.manual_seed(seed)
    est = CellBagClassifier(arch="resnet18", image_size=32, device="cpu")
    net, _ = build_network("resnet18", 0.0)
    est.net_, est.device_, est.classes_ = net.eval(), torch.device("cpu"), np.array([0, 1])
    est.attention_ = AttentionPool(net.head[1].in_features).eval() if attention else None
    return est


def _smears() -> list[tuple[np.ndarray, np.ndarray, list[dict]]]:
    """Random smears with ``CROPS_PER_SMEAR`` plasma cells each, plus one non-plasma cell (never a crop)."""
    rng = np.random.default_rng(0)
    out = []
    for n in CROPS_PER_SMEAR:
        inst = [{"id": i + 1, "is_plasma": True, "centroid": rng.uniform(0, SIDE, 2).tolist()} for i in range(n)]
        inst.append({"id": n + 1, "is_plasma": False, "centroid": [48.0, 48.0]})
        out.append((rng.integers(0, 255, (SIDE, SIDE, 3), dtype=np.uint8), np.zeros((SIDE, SIDE), np.int32), inst))
    return out


def _reference(estimator, image, labels, instances) -> CellMaps:
    """The straightforward computation: one smear, every crop in one CAM call, a separate forward for the
    crops' P(PD), the model's pooling on this smear's crops alone."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    members = getattr(estimator, "members", [estimator])
    crops = crops_from(image, labels, instances, members[0].image_size, members[0].mask_background)
    boxes = crop_boxes(image.shape[:2], instances)
    if len(crops) == 0:
        return CellMaps(np.zeros(image.shape[:2], np.float32), [], float("nan"),
                        np.zeros(image.shape[:2], np.float32), None)
    x = normalize(torch.from_numpy(crops))
    cams, probs, weights, patient = [], [], [], []
    for m in members:
        net = copy.deepcopy(m.net_).float().eval()
        layer = deepest_layer_with_map(net, tuple(x.shape[-2:]), CELL_CAM_MIN_SIDE)
        with GradCAM(model=net, target_layers=[resolve_layer(net, layer)]) as cam:
            cams.append(cam(input_tensor=x.clone(), targets=[ClassifierOutputTarget(1)] * len(x)))
        with torch.no_grad():
            probs.append(torch.softmax(net(x), 1)[:, 1].numpy())
            if m.attention_ is not None:
                logit, a = m.attention_(net.embed(x))
                weights.append(a.numpy())
                patient.append(float(torch.sigmoid(logit)))
            else:
                weights.append(np.full(len(x), 1.0 / len(x)))
                patient.append(float(probs[-1].mean()))
    c, w, p = np.mean(cams, axis=0), np.mean(weights, axis=0), np.mean(probs, axis=0)
    tiles = [Tile(tuple(int(v) for v in b), float(wi), float(pi)) for b, wi, pi in zip(boxes, w, p)]
    return CellMaps(stitch(c, boxes, image.shape[:2], w), tiles, float(np.mean(patient)),
                    stitch(np.ones_like(c), boxes, image.shape[:2], w), layer)


def _assert_same(got: CellMaps, ref: CellMaps) -> None:
    np.testing.assert_allclose(got.stitched, ref.stitched, atol=1e-5)
    np.testing.assert_allclose(got.uniform, ref.uniform, atol=1e-5)
    assert got.layer == ref.layer and len(got.tiles) == len(ref.tiles)
    assert [t.box for t in got.tiles] == [t.box for t in ref.tiles]
    np.testing.assert_allclose([t.weight for t in got.tiles], [t.weight for t in ref.tiles], atol=1e-5)
    np.testing.assert_allclose([t.probability for t in got.tiles], [t.probability for t in ref.tiles], atol=1e-5)
    if np.isnan(ref.probability):
        assert np.isnan(got.probability)
    else:
        assert got.probability == pytest.approx(ref.probability, abs=1e-5)


@pytest.fixture(scope="module", params=["mean", "attention"])
def case(request):
    """A two-member fold bag (mean pooling, or attention MIL with a random attention pool), the smears, and
    each smear's reference maps."""
    attention = request.param == "attention"
    est = FoldBag([_member(0, attention), _member(1, attention)])
    smears = _smears()
    return est, smears, [_reference(est, *s) for s in smears]


def test_batched_maps_equal_the_per_smear_computation(case):
    estimator, smears, refs = case
    # batches of 2 crops straddle smears: the first batch holds smear 0's crops 0-1, the next crop 2 and smear 2's 0
    got = list(cell_maps_many(estimator, [smear_crops(estimator, *s) for s in smears], batch=2))
    assert [len(g.tiles) for g in got] == list(CROPS_PER_SMEAR)
    assert all(r.stitched.any() for r in refs if r.tiles), "the reference maps are not all zero: a real comparison"
    for g, r in zip(got, refs):
        _assert_same(g, r)
    for g in got:
        if g.tiles:  # every smear's weights are its own crops' shares
            assert sum(t.weight for t in g.tiles) == pytest.approx(1.0, abs=1e-5)
    if estimator.members[0].attention_ is not None:  # the pool really weighs crops unequally
        assert np.ptp([t.weight for t in got[2].tiles]) > 1e-4
    empty = got[1]
    assert empty.tiles == [] and np.isnan(empty.probability) and empty.layer is None
    assert not empty.stitched.any() and not empty.uniform.any() and empty.stitched.shape == (SIDE, SIDE)
    _assert_same(cell_maps(estimator, *smears[2]), refs[2])  # the single-smear API is the same computation
    assert not any(m._forward_hooks for member in estimator.members for m in member.net_.modules())


def _attention_inputs(smears, seed: int):
    """(keys, the data ``_cell_rows`` reads, random target masks) for the smears: each smear its own image,
    segmented as given."""
    keys = [f"s{i}.png" for i in range(len(smears))]
    by_key = dict(zip(keys, smears))
    data = SimpleNamespace(banks={"marrow": SimpleNamespace(raw=lambda k: by_key[k][0])}, cells=None,
                           eval_cells=SimpleNamespace(segmentation=lambda k: by_key[k][1:]))
    rng = np.random.default_rng(seed)
    return keys, data, {("marrow", k): (rng.random((SIDE, SIDE)) < 0.3, "ground truth") for k in keys}


def test_attention_rows_equal_the_per_smear_computation_and_a_smear_without_crops_is_nan(case, monkeypatch):
    from zoo.explain import attention
    from zoo.explain.attention import _cell_rows, chance_share

    estimator, smears, refs = case
    keys, data, masks = _attention_inputs(smears, seed=1)
    rows = _cell_rows("m", estimator, data, keys, ["p0", "p0", "p1", "p2"], "test", None, masks)
    assert [r["image"] for r in rows] == [Path(k).name for k in keys]
    assert [r["patient_id"] for r in rows] == ["p0", "p0", "p1", "p2"]
    # mapped in passes of a few crops (bounded memory on a large split): the same rows
    monkeypatch.setattr(attention, "CELL_CHUNK_CROPS", 2)
    chunked = _cell_rows("m", estimator, data, keys, ["p0", "p0", "p1", "p2"], "test", None, masks)
    pd.testing.assert_frame_equal(pd.DataFrame(chunked), pd.DataFrame(rows), atol=1e-6)
    for r, k, ref in zip(rows, keys, refs):
        mask = masks[("marrow", k)][0]
        if not ref.tiles:
            assert np.isnan(r["on_target"]) and np.isnan(r["target_share_of_image"])
            continue
        assert r["on_target"] == pytest.approx(energy_inside(ref.stitched, mask), abs=1e-5)
        assert r["target_share_of_image"] == pytest.approx(chance_share(mask, uniform=ref.uniform), abs=1e-5)
        assert r["target_share_whole_image"] == pytest.approx(float(mask.mean()))


def test_each_fold_members_maps_are_that_member_mapped_alone(case):
    estimator, smears, _ = case
    crops = [smear_crops(estimator, *s) for s in smears]
    bag = list(cell_maps_many(estimator, crops, batch=2, per_member=True))
    plain = list(cell_maps_many(estimator, crops, batch=2))
    assert all(p.members == () for p in plain), "members are stitched only when asked for"
    for j, member in enumerate(estimator.members):
        alone = list(cell_maps_many(member, crops, batch=2))
        for b, p, a in zip(bag, plain, alone):
            np.testing.assert_allclose(b.stitched, p.stitched, atol=1e-6)  # the bag's own maps are unchanged
            if not a.tiles:
                assert b.members == ()  # a smear without crops has no member maps either
                continue
            stitched, uniform = b.members[j]
            np.testing.assert_allclose(stitched, a.stitched, atol=1e-5)
            np.testing.assert_allclose(uniform, a.uniform, atol=1e-5)
    # two differently seeded members: their maps differ, so the spread shown is real
    some = next(b for b in bag if b.tiles)
    assert np.abs(some.members[0][0] - some.members[1][0]).max() > 1e-3


def test_attention_rows_carry_each_members_attention_and_chance(case):
    from zoo.explain.attention import _cell_rows, _members_summary

    estimator, smears, _ = case
    keys, data, masks = _attention_inputs(smears, seed=2)
    owners = ["p0", "p0", "p1", "p2"]
    rows = pd.DataFrame(_cell_rows("m", estimator, data, keys, owners, "test", None, masks))
    for j, member in enumerate(estimator.members):
        alone = pd.DataFrame(_cell_rows("m", member, data, keys, owners, "test", None, masks))
        np.testing.assert_allclose(rows[f"member{j}_on_target"], alone["on_target"], atol=1e-5)
        np.testing.assert_allclose(rows[f"member{j}_chance"], alone["target_share_of_image"], atol=1e-5)
        assert f"member{j}_on_target" not in alone, "a single model has no members"
    members = _members_summary(rows)["members"]
    assert len(members) == len(estimator.members)
    ok = rows["member0_on_target"].notna() & rows["on_target"].notna()
    per = rows[ok].groupby("patient_id")[["member0_on_target", "member0_chance"]].mean()
    assert members[0]["mean"] == pytest.approx(per["member0_on_target"].mean())
    assert members[0]["ratio"] == pytest.approx(per["member0_on_target"].mean() / per["member0_chance"].mean())
