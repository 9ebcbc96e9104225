"""benchmarks/attention_ceiling.py: the best single CAM cell bounds the attention on target of every map of that
size on a crop (a non-negative mix's share inside a mask is at most its best component's), and the bound is
reached by that cell."""
import numpy as np


from benchmarks.attention_ceiling import bumps, crop_shares
from zoo.explain.gradcam import energy_inside
from zoo.explain.stitch import stitch


def _scene():
    rng = np.random.default_rng(0)
    mask = np.zeros((60, 70), bool)
    yy, xx = np.mgrid[:60, :70]
    mask |= (yy - 22) ** 2 + (xx - 30) ** 2 < 49       # a cell inside the first box
    mask |= (yy - 50) ** 2 + (xx - 64) ** 2 < 30       # one cut by the image's edge
    boxes = np.array([[14, 6, 46, 38], [48, 34, 80, 66]])  # the second reaches past the edge
    return rng, mask, boxes


def test_no_map_of_that_size_beats_the_ceiling_and_the_best_cell_reaches_it():
    rng, mask, boxes = _scene()
    maps = bumps(4, 32)
    best, chance = crop_shares(mask, boxes, maps)
    for i, box in enumerate(boxes):
        one = box[None]
        np.testing.assert_allclose(chance[i], energy_inside(stitch(np.ones((1, 32, 32), np.float32), one, mask.shape),
                                                            mask), atol=1e-6)
        shares = []
        for _ in range(200):  # random non-negative 4x4 maps, upsampled as pytorch-grad-cam does
            w = rng.random(16) ** 8  # mostly peaked
            cam = np.tensordot(w, maps, axes=1).astype(np.float32)
            shares.append(energy_inside(stitch(cam[None], one, mask.shape), mask))
        assert max(shares) <= best[i] + 1e-6
        reached = max(energy_inside(stitch(maps[j][None], one, mask.shape), mask) for j in range(16))
        np.testing.assert_allclose(reached, best[i], atol=1e-6)
        assert best[i] > chance[i]


def test_a_bump_is_pytorch_grad_cams_upsampling_of_one_cell():
    import cv2

    maps = bumps(4, 32)
    assert maps.shape == (16, 32, 32)
    one = np.zeros((4, 4), np.float32)
    one[1, 2] = 1
    np.testing.assert_array_equal(maps[6], cv2.resize(one, (32, 32)))
