"""Maps computed on native-resolution tiles, placed back onto the whole image (issue 11, item 2)."""
import numpy as np
import pytest
import torch

from zoo.explain.stitch import boxes_mask, stitch


def test_a_tile_map_lands_on_its_box_and_nowhere_else():
    cams = np.zeros((2, 8, 8), np.float32)
    cams[0, 2:6, 2:6] = 1.0  # signal in the middle of tile 0 only
    boxes = np.array([[10, 20, 26, 36], [40, 0, 56, 16]])
    out = stitch(cams, boxes, (64, 64))
    assert out.shape == (64, 64)
    inside = np.zeros((64, 64), bool)
    inside[20:36, 10:26] = True
    assert out[inside].sum() / out.sum() == pytest.approx(1.0)
    ys, xs = np.nonzero(out > 0.5)
    assert 24 <= ys.mean() <= 32 and 14 <= xs.mean() <= 22  # the middle of the box, not of the image


def test_weights_scale_tiles_against_the_heaviest_and_edges_are_clipped():
    cams = np.ones((2, 4, 4), np.float32)
    out = stitch(cams, np.array([[-4, -4, 4, 4], [10, 10, 18, 18]]), (20, 20), weights=np.array([0.25, 0.75]))
    assert out[0, 0] == pytest.approx(1 / 3) and out[12, 12] == pytest.approx(1.0)
    assert out[8, 8] == 0
    m = boxes_mask(np.array([[-4, -4, 4, 4]]), (20, 20))
    assert m.sum() == 16 and m[:4, :4].all()


def test_the_map_needs_one_box_per_tile():
    with pytest.raises(ValueError, match="one box per tile map"):
        stitch(np.zeros((2, 4, 4)), np.zeros((1, 4)), (8, 8))


def test_a_cell_model_grad_cam_is_stitched_onto_its_crops_with_mean_pooling_weights():
    """A cell-level model's map comes from its crops' maps placed on their boxes (nothing outside them), each
    crop weighted by its share of the pooled prediction; the boxes are the crops ``crops_from`` cuts."""
    from zoo.explain.gradcam import cell_maps
    from zoo.models.cells import CellBagClassifier
    from zoo.models.networks import build_network

    torch.manual_seed(0)
    est = CellBagClassifier(arch="resnet18", image_size=32, device="cpu")
    net, _ = build_network("resnet18", 0.0)
    est.net_, est.device_, est.classes_, est.attention_ = net.eval(), torch.device("cpu"), np.array([0, 1]), None
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)
    inst = [{"id": 1, "is_plasma": True, "centroid": [20.0, 20.0]}, {"id": 2, "is_plasma": False, "centroid": [50, 50]},
            {"id": 3, "is_plasma": True, "centroid": [70.0, 70.0]}]
    maps = cell_maps(est, img, np.zeros((96, 96), np.int32), inst)
    stitched, tiles, prob, uniform = maps.stitched, maps.tiles, maps.probability, maps.uniform
    assert len(tiles) == 2 and [t.weight for t in tiles] == [0.5, 0.5]  # the non-plasma cell is not a crop
    assert tiles[0].box == (13, 13, 27, 27) and tiles[1].box == (63, 63, 77, 77)  # half = round(32*96/224/2)
    assert 0 <= prob <= 1 and prob == pytest.approx(np.mean([t.probability for t in tiles]))
    mask = boxes_mask(np.array([t.box for t in tiles]), (96, 96))
    assert stitched.shape == (96, 96) and stitched[~mask].sum() == 0 and stitched.max() <= 1 + 1e-6
    assert np.allclose(uniform[mask], 1, atol=1e-5) and uniform[~mask].sum() == 0  # equal weights: flat chance map


@pytest.mark.parametrize("arch", ["alexnet", "vgg16_bn", "resnet18", "mobilenet_v2", "densenet121"])
def test_a_crop_cam_is_computed_on_a_map_that_can_say_where_in_the_crop(arch):
    """At a crop's 32 px (AlexNet 64) the registered CAM layer's map is 1×1 or 2×2: upsampled, its share on
    any centred target equals the target's area share whatever the network saw. The crop CAM layer has a map
    of at least 4×4, and a map computed there is not that symmetric bump."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from zoo.models.networks import build_network, deepest_layer_with_map, resolve_layer

    size = 64 if arch == "alexnet" else 32
    torch.manual_seed(0)
    net, _ = build_network(arch, 0.0)
    net.eval()
    layer = deepest_layer_with_map(net, (size, size), 4)
    seen = {}
    h = resolve_layer(net, layer).register_forward_hook(lambda m, i, o: seen.update(shape=o.shape))
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        net(x)
    h.remove()
    assert min(seen["shape"][-2:]) >= 4, (layer, seen)
    with GradCAM(model=net, target_layers=[resolve_layer(net, layer)]) as cam:
        maps = cam(input_tensor=x, targets=[ClassifierOutputTarget(1)] * 2)
    assert maps.shape == (2, size, size) and np.isfinite(maps).all()
    centre = np.zeros((size, size), bool)
    centre[size // 4: 3 * size // 4, size // 4: 3 * size // 4] = True
    shares = [m[centre].sum() / m.sum() for m in maps if m.sum() > 0]
    assert shares and not np.allclose(shares, centre.mean(), atol=1e-3), (layer, shares)


def test_the_crop_table_says_how_crops_were_pooled_and_lists_the_informative_ones():
    from dashboard.charts import tile_weights

    class Box:
        def __init__(self):
            self.captions, self.frames = [], []

        def caption(self, text):
            self.captions.append(text)

        def dataframe(self, df, **kw):
            self.frames.append(df)

    tiles = [{"box": [0, 0, 10, 10], "weight": 0.25, "probability": p} for p in (0.2, 0.9, 0.5, 0.7)]
    mean = Box()
    tile_weights(mean, tiles, top=2)
    assert "equal weights" in mean.captions[0] and list(mean.frames[0]["P(PD) of this cell"]) == ["0.90", "0.70"]
    att = Box()
    tile_weights(att, [{**t, "weight": w} for t, w in zip(tiles, (0.7, 0.1, 0.1, 0.1))], top=1)
    assert "attention" in att.captions[0] and list(att.frames[0]["weight"]) == ["70%"]
    capped = Box()  # a smear with more plasma cells than the model pools says how many it left out
    tile_weights(capped, tiles, top=2, found=31)
    assert capped.captions[0].startswith("4 of the 31 plasma cells found are pooled (at most 4 per smear")
    assert "of the" not in mean.captions[0]
    tile_weights(capped, tiles, top=2, found=4)
    assert capped.captions[1].startswith("4 plasma-cell crops pooled")
    empty = Box()
    tile_weights(empty, [])
    assert "No plasma cell" in empty.captions[0] and not empty.frames
