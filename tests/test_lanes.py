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


def _lane_view_of(od: np.ndarray) -> np.ndarray:
    """A straightened-lanes image (uint8 RGB) whose grey optical density is ``od`` on a 0.93 background."""
    grey = 0.93 * np.exp(-od)
    return np.repeat((grey * 255 + 0.5).astype(np.uint8)[..., None], 3, axis=2)


def _gel_od(paresis: float, rows: int = 64, lane_width: int = 12) -> np.ndarray:
    """Albumin in SP (row 11), a γ smear whose depth falls with immunoparesis in every lane (rows 36-52)."""
    y = np.arange(rows, dtype=np.float64)[:, None]
    od = np.zeros((rows, 6 * lane_width))
    od[:, :lane_width] += 1.1 * np.exp(-0.5 * ((y - 11) / 1.5) ** 2)
    od += 0.55 * (1 - 0.85 * paresis) * np.exp(-0.5 * ((y - 44) / 5.0) ** 2)
    return od


def test_albumin_scaling_removes_the_gels_stain_intensity_but_keeps_immunoparesis():
    from zoo.lanes import albumin_scaled

    gamma = slice(40, 48)
    pale, dark = (albumin_scaled(_lane_view_of(_gel_od(0.3) * c), 12) for c in (0.5, 1.0))
    raw_pale, raw_dark = _lane_view_of(_gel_od(0.3) * 0.5), _lane_view_of(_gel_od(0.3))
    assert np.abs(raw_pale[gamma].astype(int) - raw_dark[gamma]).mean() > 10, "the raw gels differ in the γ region"
    assert np.abs(pale[gamma].astype(int) - dark[gamma]).mean() < 2, "scaled to their albumin they do not"
    deep = albumin_scaled(_lane_view_of(_gel_od(0.9) * 0.5), 12)
    assert deep[gamma].mean() - pale[gamma].mean() > 20, "deeper immunoparesis still shows as a paler γ smear"


def test_albumin_scaling_subtracts_each_columns_background_and_leaves_a_gel_without_albumin_unscaled():
    from zoo.lanes import albumin_scaled

    od = _gel_od(0.3)
    edge = od.copy()
    edge[:, -6:] += 0.8  # a dark gel edge over the λ lane
    a, b = albumin_scaled(_lane_view_of(od), 12), albumin_scaled(_lane_view_of(edge), 12)
    assert np.abs(a[8:].astype(int) - b[8:]).max() <= 3, "a column's constant background is removed"
    faint = _lane_view_of(np.abs(np.random.default_rng(0).normal(0, 0.02, (64, 72))))
    out = albumin_scaled(faint, 12)
    assert out.min() >= 225, "no albumin peak (< 0.05): the gel keeps its scale, its noise is not blown up"


def test_lane_view_refuses_an_unknown_density_and_the_bank_keeps_both_views_apart():
    from zoo.data import ImageBank

    img, _ = render_ife(np.random.default_rng(1), 224, "IgG", "kappa", 20.0, "monoclonal", 0.5, site="A")
    with pytest.raises(ValueError, match="lane density"):
        lane_view(img, 64, 12, density="percent")
    bank = ImageBank.from_arrays({"g": img})
    raw, scaled = bank.tensor(64, "lanes", 12), bank.tensor(64, "lanes", 12, "albumin")
    assert raw.shape == scaled.shape == (1, 3, 64, 72)
    assert not np.array_equal(raw.numpy(), scaled.numpy())
    assert np.array_equal(scaled[0].permute(1, 2, 0).numpy(), lane_view(img, 64, 12, "albumin")[0])


def test_grad_cam_and_a_fold_bag_read_the_lanes_at_the_models_density(monkeypatch):
    import zoo.lanes
    from zoo.explain.gradcam import grad_cam
    from zoo.models.cnn import CNNClassifier, FoldBag
    from zoo.models.networks import ClassifierNet

    est = CNNClassifier(arch="resnet18", modality="electrophoresis", image_size=64, view="lanes", lane_width=12,
                        lane_density="albumin")
    est.net_ = ClassifierNet("resnet18").eval()
    assert FoldBag([est]).lane_density == "albumin"
    seen = []
    real = zoo.lanes.lane_view

    def spy(img, height, lane_width, density="raw"):
        seen.append(density)
        return real(img, height, lane_width, density)

    monkeypatch.setattr(zoo.lanes, "lane_view", spy)
    img, _ = render_ife(np.random.default_rng(2), 224, "IgG", "kappa", 20.0, "monoclonal", 0.5, site="A")
    res = grad_cam(est, img)
    assert seen == ["albumin"] and res.lanes is not None and res.cam.shape == (224, 224)
