"""The IFE attention target is where the gel's risk signal shows: the polyclonal γ region of every lane."""
import json

import numpy as np
import pandas as pd
import pytest

from zoo.explain.attention import band_mask, summarise, target_mask, target_name
from zoo.segment.bands import boxes_mask
from zoo.synth.ife import annotation_record, render_ife


@pytest.mark.parametrize("site", ["A", "B"])
def test_polyclonal_region_holds_the_immunoparesis_signal(site):
    """Two gels differing only in immunoparesis depth differ (almost) only inside the annotated region."""
    gels = []
    for paresis in (0.0, 1.0):
        img, bands = render_ife(np.random.default_rng(3), 224, "IgG", "kappa", 20.0, "single", paresis, site)
        gels.append(img.astype(float).mean(axis=2))
    rec = annotation_record(bands, 224, site)
    region = boxes_mask(rec["regions"], (224, 224))
    diff = np.abs(gels[0] - gels[1])
    assert diff.sum() > 0
    assert diff[region].sum() / diff.sum() > 0.9
    assert 0.1 < region.mean() < 0.4  # a band of each lane, not the whole gel
    assert {r["lane"] for r in rec["regions"]} == {"SP", "G", "A", "M", "κ", "λ"}


def test_target_mask_uses_the_region_and_keeps_the_bands_beside_it(tmp_path):
    img, bands = render_ife(np.random.default_rng(1), 224, "IgA", "lambda", 15.0, "single", 0.5, "A")
    ann = tmp_path / "annotations" / "electrophoresis"
    ann.mkdir(parents=True)
    rec = annotation_record(bands, 224, "A")
    (ann / "P1.json").write_text(json.dumps(rec))
    mask, source = target_mask(img, tmp_path / "images" / "P1.png", "electrophoresis", tmp_path)
    assert "polyclonal" in source and target_name("electrophoresis", source).startswith("the polyclonal")
    # the background outside the bands: a map on the band itself earns nothing on this target
    np.testing.assert_array_equal(mask, boxes_mask(rec["regions"], mask.shape) & ~boxes_mask(bands, mask.shape))
    assert mask.any() and not (mask & boxes_mask(bands, mask.shape)).any()
    np.testing.assert_array_equal(band_mask(mask.shape, tmp_path / "images" / "P1.png", tmp_path),
                                  boxes_mask(bands, mask.shape))
    # a gel annotated with bands only keeps the bands as its target
    (ann / "P2.json").write_text(json.dumps({k: v for k, v in rec.items() if k != "regions"}))
    mask2, source2 = target_mask(img, tmp_path / "images" / "P2.png", "electrophoresis", tmp_path)
    np.testing.assert_array_equal(mask2, boxes_mask(bands, mask.shape))
    assert target_name("electrophoresis", source2) == "the M-protein bands"
    assert band_mask(mask.shape, tmp_path / "images" / "P2.png", tmp_path) is None


def test_summary_reports_band_attention_beside_the_target():
    att = pd.DataFrame({"patient_id": ["a", "b"], "split": "test", "model": "m", "image": ["a.png", "b.png"],
                        "on_target": [0.6, 0.4], "target_share_of_image": [0.3, 0.3],
                        "target_share_whole_image": [0.2, 0.2],
                        "target_source": ["ground truth: polyclonal region", "band detector"],
                        "on_bands": [0.1, 0.3], "bands_share_of_image": [0.05, 0.07]})
    preds = pd.DataFrame({"model": "m", "split": "test", "patient_id": ["a", "b"], "prob": [0.9, 0.1], "y": [1, 1]})
    s = summarise(att, preds, {"m": 0.5})["m"]["test"]
    assert s["mean"] == pytest.approx(0.5) and s["on_bands"] == pytest.approx(0.2)
    assert s["bands_chance"] == pytest.approx(0.06)
    assert s["target"] == "band detector; ground truth: polyclonal region"  # mixed sources are both named
    assert s["correct"] == pytest.approx(0.6) and s["wrong"] == pytest.approx(0.4)


@pytest.mark.parametrize("arch", ["alexnet", "vgg16_bn", "resnet18", "mobilenet_v2", "densenet121"])
def test_lane_models_take_their_cam_from_a_map_at_least_4_rows_tall(arch):
    """At 64 rows the registered layers end in 2 rows, which cannot say where along a lane the network looked."""
    import torch

    from zoo.models.cnn import CNNClassifier
    from zoo.models.networks import ClassifierNet, model_cam_layer, resolve_layer

    est = CNNClassifier(arch=arch, modality="electrophoresis", image_size=64, view="lanes", lane_width=12)
    net = ClassifierNet(arch, width=0.5 if arch == "vgg16_bn" else 1.0).eval()
    layer = model_cam_layer(net, est, est.input_hw())
    seen = {}

    def record(m, i, o) -> None:  # returns None: a forward hook must not replace the output
        seen["shape"] = o.shape

    h = resolve_layer(net, layer).register_forward_hook(record)
    with torch.no_grad():
        net(torch.zeros(1, 3, *est.input_hw()))
    h.remove()
    assert min(seen["shape"][-2:]) >= 4


def test_band_attention_of_a_model_whose_maps_are_all_zero_is_nan_not_absent():
    att = pd.DataFrame({"patient_id": ["a", "b"], "split": "test", "model": "m", "image": ["a.png", "b.png"],
                        "on_target": [np.nan, np.nan], "target_share_of_image": [0.3, 0.3],
                        "target_share_whole_image": [0.2, 0.2], "target_source": "ground truth: polyclonal region",
                        "on_bands": [np.nan, np.nan], "bands_share_of_image": [0.05, 0.07]})
    preds = pd.DataFrame({"model": "m", "split": "test", "patient_id": ["a", "b"], "prob": [0.9, 0.1], "y": [1, 0]})
    s = summarise(att, preds, {"m": 0.5})["m"]["test"]
    assert np.isnan(s["on_bands"]) and s["bands_chance"] == pytest.approx(0.06) and s["n_defined"] == 0


def test_attention_summary_carries_bootstrap_intervals_for_the_mean_and_the_ratio_to_chance():
    rng = np.random.default_rng(0)
    n = 120
    chance = rng.uniform(0.2, 0.4, n)
    on = np.clip(2.0 * chance + rng.normal(0, 0.15, n), 0, 1)  # about twice chance, noisily
    on[:5] = np.nan  # all-zero maps: no share, left out of the intervals
    ids = [f"p{i}" for i in range(n)]
    att = pd.DataFrame({"patient_id": ids + ids[:20], "split": "test", "model": "m",
                        "image": [f"{i}.png" for i in range(n + 20)],
                        "on_target": np.r_[on, on[:20]], "target_share_of_image": np.r_[chance, chance[:20]],
                        "target_share_whole_image": 0.2, "target_source": "ground truth"})
    preds = pd.DataFrame({"model": "m", "split": "test", "patient_id": ids, "prob": 0.5, "y": rng.integers(0, 2, n)})
    s = summarise(att, preds, {"m": 0.5})["m"]["test"]
    ok = ~np.isnan(on)
    assert s["ratio"] == pytest.approx(on[ok].mean() / chance[ok].mean())
    lo, hi = s["ratio_ci"]
    assert lo < s["ratio"] < hi and 1.6 < lo and hi < 2.4, "a ratio of about 2 on 115 patients: a CI around 2"
    assert s["mean_ci"][0] < s["mean"] < s["mean_ci"][1]
    # ten patients: a much wider interval (the figure alone would not say so)
    small = summarise(att[att.patient_id.isin(ids[5:15])], preds, {"m": 0.5})["m"]["test"]
    assert small["ratio_ci"][1] - small["ratio_ci"][0] > 2 * (hi - lo)


def test_ratio_to_chance_uses_the_same_images_as_the_attention_and_resamples_both_together():
    # patient a has a second image whose map is all zero (no share): its chance must not enter the ratio
    att = pd.DataFrame({"patient_id": ["a", "a", "b"], "split": "test", "model": "m",
                        "image": ["a1.png", "a2.png", "b.png"], "on_target": [0.4, np.nan, 0.4],
                        "target_share_of_image": [0.2, 0.8, 0.2], "target_share_whole_image": 0.1,
                        "target_source": "ground truth"})
    preds = pd.DataFrame({"model": "m", "split": "test", "patient_id": ["a", "b"], "prob": 0.5, "y": [1, 0]})
    s = summarise(att, preds, {"m": 0.5})["m"]["test"]
    assert s["chance"] == pytest.approx(0.2) and s["ratio"] == pytest.approx(2.0)
    assert s["ratio_ci"] == pytest.approx([2.0, 2.0]), "every defined image is at 2× chance"
    # attention tracking each patient's own chance: resampled together, the ratio barely moves
    rng = np.random.default_rng(1)
    chance = rng.uniform(0.2, 0.4, 100)
    ids = [f"p{i}" for i in range(100)]
    att = pd.DataFrame({"patient_id": ids, "split": "test", "model": "m", "image": ids,
                        "on_target": 2 * chance + rng.normal(0, 0.01, 100), "target_share_of_image": chance,
                        "target_share_whole_image": 0.1, "target_source": "ground truth"})
    preds = pd.DataFrame({"model": "m", "split": "test", "patient_id": ids, "prob": 0.5, "y": rng.integers(0, 2, 100)})
    s = summarise(att, preds, {"m": 0.5})["m"]["test"]
    mean_width = (s["mean_ci"][1] - s["mean_ci"][0]) / s["chance"]
    assert s["ratio"] == pytest.approx(s["mean"] / s["chance"])
    assert s["ratio_ci"][1] - s["ratio_ci"][0] < 0.3 * mean_width, "chance resampled with the attention"


def test_the_summary_reads_each_model_against_its_randomised_twins_on_the_same_images():
    from zoo.explain.attention import with_twin

    rng = np.random.default_rng(2)
    n = 80
    ids = [f"p{i}" for i in range(n)]
    # two smears per patient; the model's chance and the twins' differ (attention pooling weighs crops differently)
    pid = np.repeat(ids, 2)
    chance = rng.uniform(0.2, 0.4, 2 * n)
    twin_chance = chance * rng.uniform(0.8, 1.2, 2 * n)
    on = np.clip(2.0 * chance + rng.normal(0, 0.05, 2 * n), 0, 1)                # the trained model: ~2x chance
    att = pd.DataFrame({"patient_id": pid, "split": "test", "model": "m", "image": [f"{i}.png" for i in range(2 * n)],
                        "on_target": on, "target_share_of_image": chance, "target_share_whole_image": 0.1,
                        "target_source": "ground truth"})
    draws = []
    for r, lift in enumerate((1.4, 1.5, 1.6)):  # three random networks, each already above the uniform map
        t_on = np.clip(lift * twin_chance + rng.normal(0, 0.05, 2 * n), 0, 1)
        if r == 0:
            t_on[:6] = np.nan  # its map all zero on six images: the other draws still cover them
        draws.append(att.assign(on_target=t_on, target_share_of_image=twin_chance).sample(frac=1, random_state=r))
    joined = with_twin(att, draws)
    assert np.isnan(joined.loc[:5, "twin0_on_target"]).all() and joined.loc[:5, "twin_on_target"].notna().all()
    both = joined.loc[6:, ["twin0_on_target", "twin1_on_target", "twin2_on_target"]].mean(axis=1)
    assert joined.loc[6:, "twin_on_target"].to_numpy() == pytest.approx(both.to_numpy())
    preds = pd.DataFrame({"model": "m", "split": "test", "patient_id": ids, "prob": 0.5, "y": rng.integers(0, 2, n)})
    t = summarise(joined, preds, {"m": 0.5})["m"]["test"]["twin"]
    per = joined.groupby("patient_id")[["on_target", "target_share_of_image", "twin_on_target",
                                        "twin_share_of_image"]].mean()  # per patient first, then over patients
    assert t["n_images"] == 2 * n and t["n_patients"] == n
    assert t["ratio"] == pytest.approx(per["on_target"].mean() / per["target_share_of_image"].mean())
    assert t["twin_ratio"] == pytest.approx(per["twin_on_target"].mean() / per["twin_share_of_image"].mean())
    assert t["twin_ratio"] != pytest.approx(per["twin_on_target"].mean() / per["target_share_of_image"].mean(),
                                            abs=1e-3), "the twins' ratio is over their own chance"
    assert t["difference"] == pytest.approx(t["ratio"] - t["twin_ratio"]) and 0.3 < t["difference"] < 0.7
    lo, hi = t["difference_ci"]
    assert 0 < lo < t["difference"] < hi, "paired over patients: ~0.5 above the twins is told apart from no lift"
    assert t["twin_ratio_ci"][0] < t["twin_ratio"] < t["twin_ratio_ci"][1]
    assert [d["n_images"] for d in t["draws"]] == [2 * n - 6, 2 * n, 2 * n]
    r0, r1, r2 = (d["ratio"] for d in t["draws"])
    assert 1.3 < r0 < r1 < r2 < 1.7, "each random network's own ratio, the spread the intervals leave out"
    # a model no better than its twins: the difference's interval covers 0
    same = summarise(joined.assign(on_target=joined["twin_on_target"],
                                   target_share_of_image=joined["twin_share_of_image"]), preds, {"m": 0.5})
    assert same["m"]["test"]["twin"]["difference"] == pytest.approx(0.0)
    # a zoo without twins: no twin record rather than a made-up one
    assert "twin" not in summarise(att, preds, {"m": 0.5})["m"]["test"]


def test_the_differences_interval_widens_with_the_spread_between_random_networks():
    from zoo.explain.attention import with_twin

    n = 60
    ids = [f"p{i}" for i in range(n)]
    chance = np.full(n, 0.3)
    att = pd.DataFrame({"patient_id": ids, "split": "test", "model": "m", "image": ids, "on_target": 0.6,
                        "target_share_of_image": chance, "target_share_whole_image": 0.1,
                        "target_source": "ground truth"})
    preds = pd.DataFrame({"model": "m", "split": "test", "patient_id": ids, "prob": 0.5, "y": [0, 1] * (n // 2)})

    def twin(lifts):
        return summarise(with_twin(att, [att.assign(on_target=k * chance) for k in lifts]), preds,
                         {"m": 0.5})["m"]["test"]["twin"]

    # every patient alike: the patients alone give no width; the random networks' spread must
    agree, differ = twin([1.3, 1.3, 1.3]), twin([1.0, 1.3, 1.6])
    assert agree["difference"] == differ["difference"] == pytest.approx(0.7)
    assert agree["difference_ci"] == pytest.approx([0.7, 0.7])
    lo, hi = differ["difference_ci"]
    assert lo < 0.55 and hi > 0.85, "networks at 1.0 / 1.3 / 1.6x chance: a floor known only to about +-0.3"
    assert 0.35 <= lo and hi <= 1.05, "no wider than the networks' own range allows"
    assert differ["twin_ratio_ci"][0] < 1.2 < 1.4 < differ["twin_ratio_ci"][1]


def test_a_random_network_mapped_on_few_images_is_left_out_and_never_breaks_the_pairing():
    from zoo.explain.attention import with_twin

    n = 40
    ids = [f"p{i}" for i in range(n)]
    chance = np.full(n, 0.3)
    on = np.r_[np.full(n // 2, 0.9), np.full(n // 2, 0.3)]  # the model: 3x chance on half the patients, 1x on half
    att = pd.DataFrame({"patient_id": ids, "split": "test", "model": "m", "image": ids, "on_target": on,
                        "target_share_of_image": chance, "target_share_whole_image": 0.1,
                        "target_source": "ground truth"})
    preds = pd.DataFrame({"model": "m", "split": "test", "patient_id": ids, "prob": 0.5, "y": [0, 1] * (n // 2)})
    full = 1.2 * chance
    sparse = np.full(n, np.nan)
    sparse[-1] = 0.02  # all zero but on one image (one of the 1x patients), where it says 0.07x
    t = summarise(with_twin(att, [att.assign(on_target=full), att.assign(on_target=sparse)]), preds,
                  {"m": 0.5})["m"]["test"]["twin"]
    assert [d["kept"] for d in t["draws"]] == [True, False] and t["draws"][1]["n_images"] == 1
    assert t["twin_ratio"] == pytest.approx(1.2), "the left-out network does not enter the floor"
    assert t["twin_ratio_ci"] == pytest.approx([1.2, 1.2])
    assert t["difference"] == pytest.approx(2.0 - 1.2) and t["n_images"] == n
    # kept, such a network would have made resamples with one patient on the random side against all on the
    # trained side; the pairing now holds whatever is picked: both sides always count the same patients
    lo, hi = t["difference_ci"]
    assert lo <= 0.8 <= hi and hi - lo < 1.0


def test_twin_rows_are_matched_by_model_patient_and_image_and_never_guessed():
    from zoo.explain.attention import with_twin

    att = pd.DataFrame({"model": ["m", "m", "k"], "patient_id": ["a", "b", "a"], "image": ["1.png", "2.png", "1.png"],
                        "on_target": [0.5, 0.6, 0.7], "target_share_of_image": [0.2, 0.3, 0.2]})
    twin = pd.DataFrame({"model": ["m", "m", "k"], "patient_id": ["b", "a", "a"], "image": ["2.png", "1.png", "1.png"],
                         "on_target": [0.1, 0.2, 0.3], "target_share_of_image": [0.3, 0.2, 0.25]})
    got = with_twin(att, [twin]).set_index(["model", "patient_id"])
    assert got.loc[("m", "a"), "twin_on_target"] == 0.2 and got.loc[("m", "b"), "twin_on_target"] == 0.1
    assert got.loc[("k", "a"), "twin_share_of_image"] == 0.25 and got.loc[("k", "a"), "on_target"] == 0.7
    dup = pd.concat([twin, twin.iloc[[0]]])  # model m: one patient with two files of one name: not matched
    with pytest.warns(UserWarning, match="m: a test patient has two images of one file name"):
        got = with_twin(att, [dup]).set_index(["model", "patient_id"])
    assert got.loc["m", "twin_on_target"].isna().all(), "m's rows are left without a twin, not guessed"
    assert got.loc[("k", "a"), "twin_on_target"] == 0.3, "the other model keeps its twin"


def test_a_lane_bags_member_cams_are_each_member_alone_and_average_to_the_bags():
    import torch

    from zoo.explain.attention import member_cams
    from zoo.models.cnn import CNNClassifier, FoldBag
    from zoo.models.networks import ClassifierNet

    members = []
    for seed in (0, 1, 2):
        torch.manual_seed(seed)
        m = CNNClassifier(arch="resnet18", modality="electrophoresis", image_size=64, view="lanes", lane_width=12)
        m.net_ = ClassifierNet("resnet18").eval()
        members.append(m)
    bag = FoldBag(members)
    x = torch.from_numpy(np.random.default_rng(0).integers(0, 255, (3, 3, *members[0].input_hw()), dtype=np.uint8))
    mean, own = member_cams(bag, x)
    assert len(own) == 3
    np.testing.assert_allclose(mean, member_cams(bag, x)[0], atol=1e-6)  # a second pass: hooks left no state
    for m, o in zip(members, own):
        alone = member_cams(m, x)[0]  # one member: its CAMs, scaled to a maximum of 1 per input
        mx = o.reshape(len(o), -1).max(axis=1)[:, None, None]
        np.testing.assert_allclose(o / np.where(mx > 0, mx, 1), alone, atol=1e-5)
    assert np.abs(own[0] - own[1]).max() > 1e-3, "differently seeded members give different maps"
    avg = np.mean(own, axis=0)
    mx = avg.reshape(len(avg), -1).max(axis=1)[:, None, None]
    np.testing.assert_allclose(mean, avg / np.where(mx > 0, mx, 1), atol=1e-6)


def test_members_summary_gives_each_fold_models_ratio_paired_with_the_final_models_images():
    from zoo.explain.attention import _members_summary

    # image a2: the final model's map is all zero (no share), so no fold model's figure uses a2 either
    att = pd.DataFrame({"patient_id": ["a", "a", "b"], "on_target": [0.4, np.nan, 0.6],
                        "member0_on_target": [0.2, 0.5, 0.4], "member0_chance": [0.2, 0.2, 0.2],
                        "member1_on_target": [0.8, 0.9, np.nan], "member1_chance": [0.2, 0.4, 0.3]})
    m0, m1 = _members_summary(att)["members"]
    assert m0["mean"] == pytest.approx((0.2 + 0.4) / 2) and m0["ratio"] == pytest.approx(0.3 / 0.2)
    assert m0["n_images"] == 2
    # member 1's all-zero map of b leaves b out of its figure, as for the final model
    assert m1["mean"] == pytest.approx(0.8) and m1["chance"] == pytest.approx(0.2) and m1["n_images"] == 1
    assert _members_summary(att.drop(columns=[c for c in att if c.startswith("member")])) == {}
    # a fold model with no defined map keeps its place (None), and the others are still reported
    blank = att.assign(member0_on_target=np.nan)
    none, m1b = _members_summary(blank)["members"]
    assert none == {"mean": None, "chance": None, "ratio": None, "n_images": 0} and m1b == m1
    # another model's member columns, empty for this model (its fold models were not mapped): no members at all
    unmapped = att.assign(**{c: np.nan for c in att if c.startswith("member")})
    assert _members_summary(unmapped) == {}
    # a model with two fold models in a table whose columns go to member2 (another model's): two members
    wider = att.assign(member2_on_target=np.nan, member2_chance=np.nan)
    assert len(_members_summary(wider)["members"]) == 2


def _whole_field_case(tmp_path, n=3):
    """Three whole-field gel models (random, differently seeded) and three annotated gels of two patients."""
    from types import SimpleNamespace

    import torch

    from zoo.models.cnn import CNNClassifier
    from zoo.models.networks import ClassifierNet

    members = []
    for seed in range(n):
        torch.manual_seed(seed)
        m = CNNClassifier(arch="resnet18", modality="electrophoresis", image_size=64)
        m.net_ = ClassifierNet("resnet18").eval()
        members.append(m)
    rng = np.random.default_rng(0)
    keys = [str(tmp_path / "images" / f"G{i}.png") for i in range(3)]
    raw = {k: rng.integers(0, 255, (96, 96, 3), dtype=np.uint8) for k in keys}
    ann = tmp_path / "annotations" / "electrophoresis"
    ann.mkdir(parents=True)
    for i in range(3):
        (ann / f"G{i}.json").write_text(json.dumps({"bands": [{"box": [10 + 20 * i, 20, 40 + 20 * i, 60]}]}))
    x = torch.from_numpy(rng.integers(0, 255, (3, 3, 64, 64), dtype=np.uint8))
    bank = SimpleNamespace(tensor=lambda *a, **k: x, index_of=lambda ks: np.array([keys.index(k) for k in ks]),
                           raw=lambda k: raw[k])
    data = SimpleNamespace(banks={"electrophoresis": bank}, images={"electrophoresis": [keys[:2], keys[2:]]},
                           ids=["p0", "p1"])
    return members, data


def test_attention_table_gives_each_fold_models_own_attention_beside_the_bags(tmp_path):
    from zoo.explain.attention import attention_table
    from zoo.models.cnn import FoldBag

    members, data = _whole_field_case(tmp_path)
    mod = {"m": "electrophoresis"}
    rows = attention_table({"m": FoldBag(members)}, data, np.arange(2), "test", tmp_path, mod)
    assert len(rows) == 3 and rows["on_target"].notna().all()
    for j, m in enumerate(members):
        alone = attention_table({"m": m}, data, np.arange(2), "test", tmp_path, mod)
        np.testing.assert_allclose(rows[f"member{j}_on_target"], alone["on_target"], atol=1e-5)
        np.testing.assert_allclose(rows[f"member{j}_chance"], alone["target_share_of_image"])
        assert not any(c.startswith("member") for c in alone), "a single model has no members"
    # the members' figures are not the bag's, nor one another's: the spread shown is real
    defined = [v for v in (rows[f"member{j}_on_target"].to_numpy() for j in range(3)) if np.isfinite(v).all()]
    assert len(defined) >= 2 and np.ptp(defined, axis=0).max() > 1e-3


def test_fold_model_attention_is_merged_by_image_and_left_out_when_images_cannot_be_told_apart(tmp_path):
    from zoo.training.assemble import _with_fold_models

    att = pd.DataFrame({"patient_id": ["a", "a", "b", "c"], "split": "test", "image": ["1.png", "2.png", "3.png", "4.png"],
                        "model": ["m", "m", "m", "n"], "on_target": [0.1, 0.2, 0.3, 0.4]})
    d = tmp_path / "models" / "m"
    d.mkdir(parents=True)
    fold = pd.DataFrame({"patient_id": ["b", "a", "a"], "image": ["3.png", "2.png", "1.png"],
                         "member0_on_target": [0.33, 0.22, 0.11], "member0_chance": 0.5})
    fold.to_parquet(d / "fold_attention.parquet")
    got = _with_fold_models(tmp_path, att).set_index("image")
    assert got.loc[["1.png", "2.png", "3.png"], "member0_on_target"].tolist() == [0.11, 0.22, 0.33]
    assert np.isnan(got.loc["4.png", "member0_on_target"]), "model n has no fold file: no figures"
    assert len(got) == 4 and got.loc["4.png", "on_target"] == 0.4
    # one patient with two files of one name: the rows cannot be matched, so nothing is merged, with a warning
    dup = att.assign(image=["1.png", "1.png", "3.png", "4.png"])
    pd.DataFrame({"patient_id": ["a", "a", "b"], "image": ["1.png", "1.png", "3.png"], "member0_on_target": 0.1,
                  "member0_chance": 0.5}).to_parquet(d / "fold_attention.parquet")
    with pytest.warns(UserWarning, match="two images of one file name"):
        out = _with_fold_models(tmp_path, dup)
    assert "member0_on_target" not in out and len(out) == 4
    # no test image of any image model: the empty table passes through
    assert _with_fold_models(tmp_path, pd.DataFrame()).empty


def test_an_images_heat_map_is_captioned_with_its_models_figures_against_random_networks():
    from zoo.explain.attention import versus_random_networks

    def caption(ci, draws=None, n_patients=40, own_ci=(1.2, 1.5)):
        twin = {"ratio": 1.36, "twin_ratio": 1.04, "difference": sum(ci) / 2, "difference_ci": list(ci),
                "n_images": 300, "n_patients": n_patients, **({"draws": draws} if draws is not None else {})}
        return versus_random_networks({"models": {"m": {"test": {"attention_on_target": {
            "ratio": 1.3, "ratio_ci": list(own_ci), "twin": twin}}}}}, "m")

    line = caption([0.21, 0.44])
    assert "1.36× chance" in line and "1.04×" in line and "+0.33" in line and "+0.21 to +0.44" in line
    assert "(300)" in line and line.endswith("more on the target than the average of networks that learned nothing")
    five = [{"ratio": 1.0, "kept": True}] * 5 + [{"ratio": 0.3, "kept": False}]
    assert caption([0.21, 0.44], five).endswith("than the average of the 5 networks that learned nothing")
    apart = caption([-0.48, 0.10])
    assert "not told apart" in apart and "no evidence that it looks at the target more" in apart
    assert "not told apart" in caption([0.0, 0.3]) and "not told apart" in caption([0.004, 0.3])  # as printed: +0.00
    below = caption([-0.60, -0.29])
    assert "less on the target" in below and "elsewhere" not in below  # above chance itself: not "elsewhere"
    assert "below chance: its maps look elsewhere" in caption([-0.60, -0.29], own_ci=(0.49, 0.54))
    assert caption([0.3, 0.1]) is None and caption([0.2, 0.4], n_patients=9) is None  # reversed; too few patients
    # no twin record (an older zoo, fewer than two patients): nothing said rather than a made-up figure
    assert versus_random_networks({"models": {"m": {"test": {"attention_on_target": {"ratio": 1.3}}}}}, "m") is None
    small = {"models": {"m": {"test": {"attention_on_target": {"twin": {"n_images": 1, "n_patients": 1}}}}}}
    assert versus_random_networks(small, "m") is None and versus_random_networks({}, "m") is None


def test_the_leaderboards_reading_counts_the_networks_kept_and_reads_the_printed_interval():
    from zoo.explain.attention import twin_reading

    assert twin_reading(0.15, 0.28, 6, 116) == "above the average of its 6 random networks"
    assert twin_reading(-0.6, -0.29, 4, 114) == "below the average of its 4 random networks"
    assert twin_reading(-0.02, 0.01, 6, 117) == "not told apart from the average of its 6 random networks"
    assert twin_reading(0.004, 0.3, 6, 50).startswith("not told apart")  # printed "+0.00 to +0.30"
    assert twin_reading(0.15, 0.28, None, None) == "above its random networks' average"
    for bad in ((None, 0.2, 6, 50), (float("nan"), 0.2, 6, 50), (0.3, 0.1, 6, 50), (0.1, 0.3, 6, 9), ("x", 1, 6, 50)):
        assert twin_reading(*bad) == "—", bad