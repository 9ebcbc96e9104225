"""IFE lanes: found from the image on both platforms, straightened, and mapped back for Grad-CAM."""
import numpy as np
import pytest

from zoo.lanes import N_LANES, Lanes, find_lanes, lane_view, straighten, unstraighten
from zoo.synth.ife import lane_geometry, render_ife


@pytest.mark.parametrize("site", ["A", "B"])
@pytest.mark.parametrize("size", [64, 224])
def test_lanes_are_found_from_the_image_on_each_platform(site, size):
    rng = np.random.default_rng(3)
    worst = 0
    for i in range(12):
        img, _ = render_ife(rng, size, heavy=["IgG", "IgA", "IgM"][i % 3], light=["kappa", "lambda"][i % 2],
                            mlevel=float(rng.uniform(2, 50)), pattern="monoclonal", paresis=float(rng.uniform(0, 1)),
                            site=site)
        lanes = find_lanes(img)
        assert lanes.method == "profile"
        worst = max(worst, max(max(abs(a - c), abs(b - d)) for (a, b), (c, d) in zip(lanes.spans, lane_geometry(size, site))))
    assert worst <= max(3, size // 50), f"lane edges off by {worst} px"


def test_a_blank_gel_falls_back_to_an_equal_split_and_says_so():
    lanes = find_lanes(np.full((100, 120, 3), 240, np.uint8))
    assert lanes.method == "equal split" and len(lanes.spans) == N_LANES
    assert lanes.spans[0][0] == 0 and lanes.spans[-1][1] == 120


def test_straightened_lanes_keep_their_order_and_the_vertical_resolution():
    img = np.full((90, 60, 3), 250, np.uint8)
    spans = tuple((2 + 10 * i, 9 + 10 * i) for i in range(6))
    for i, (a, b) in enumerate(spans):
        img[10 * (i + 1):10 * (i + 1) + 3, a:b] = 20  # lane i has its band at height 10(i+1)
    out = straighten(img, Lanes(spans, "profile"), height=90, lane_width=4)
    assert out.shape == (90, 24, 3) and out.dtype == np.uint8
    for i in range(6):
        col = out[:, 4 * i + 2, 0]
        assert abs(int(np.argmin(col)) - (10 * (i + 1) + 1)) <= 1, "each lane's band stays at its height"


def test_a_cam_in_one_lane_lands_on_that_lane_of_the_gel():
    spans = tuple((5 + 30 * i, 27 + 30 * i) for i in range(6))
    lanes = Lanes(spans, "profile")
    cam = np.zeros((56, 6 * 8), np.float32)
    cam[20:30, 3 * 8:4 * 8] = 1.0  # all heat in lane 3 (M), rows 20-30 of 56
    back = unstraighten(cam, lanes, (224, 190))
    a, b = spans[3]
    inside = back[:, a:b].sum()
    assert inside / back.sum() > 0.99, "the heat falls on lane M and nowhere else"
    rows = np.flatnonzero(back[:, a:b].sum(axis=1) > 0)
    assert 20 * 4 - 4 <= rows.min() and rows.max() <= 30 * 4 + 4, "at the band's height on the gel"
    assert back[:, :spans[0][0]].sum() == 0 and back[:, spans[0][1]:spans[1][0]].sum() == 0


def test_lane_view_shape():
    img, _ = render_ife(np.random.default_rng(0), 224, "IgG", "kappa", 20.0, "monoclonal", 0.2, site="A")
    view, lanes = lane_view(img, 112, 12)
    assert view.shape == (112, 72, 3) and lanes.method == "profile"


def test_chance_for_a_lane_map_is_the_target_share_within_the_lanes():
    from zoo.explain.attention import chance_share
    from zoo.lanes import lanes_mask

    lanes = Lanes(((10, 20), (30, 40), (50, 60), (70, 80), (90, 100), (110, 120)), "profile")
    target = np.zeros((50, 130), bool)
    target[20:25, 10:20] = True  # a band in the first lane
    support = lanes_mask(lanes, target.shape)
    assert support.sum() == 6 * 10 * 50
    assert target[support].mean() == pytest.approx(50 / 3000)  # not 50 / 6500 over the whole image
    assert chance_share(target, lanes) == pytest.approx(50 / 3000)
    assert chance_share(target) == pytest.approx(50 / 6500)  # a whole-field map can lie anywhere
