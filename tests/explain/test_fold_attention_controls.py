"""The two controls of benchmarks/fold_attention.py that decided a method choice: the CAM layer it maps with
(``--cam-min-side``) and the randomised twin (``--randomised``, model randomisation). A control that silently
does nothing would make every comparison it feeds look like "no difference"."""
import numpy as np
import torch

from benchmarks.fold_attention import _cam_side
from zoo.explain.attention import randomised_twin


def test_cam_side_changes_the_layer_every_map_uses_and_restores_it():
    import zoo.explain.gradcam as gradcam
    import zoo.models.networks as networks
    from zoo.models.networks import build_network, deepest_layer_with_map

    net, _ = build_network("resnet18", 0.0)
    before = gradcam.CELL_CAM_MIN_SIDE, networks.MIN_CAM_SIDE
    with _cam_side(7):
        assert gradcam.CELL_CAM_MIN_SIDE == networks.MIN_CAM_SIDE == 7
        inside = deepest_layer_with_map(net, (32, 32), gradcam.CELL_CAM_MIN_SIDE)
    assert (gradcam.CELL_CAM_MIN_SIDE, networks.MIN_CAM_SIDE) == before == (4, 4)
    assert inside == "body.layer1" and deepest_layer_with_map(net, (32, 32), gradcam.CELL_CAM_MIN_SIDE) == "body.layer2"
    with _cam_side(None):  # no option: the product's rule
        assert (gradcam.CELL_CAM_MIN_SIDE, networks.MIN_CAM_SIDE) == before


def test_the_randomised_twin_forgets_the_weights_and_leaves_the_model_alone(tiny_cohort):
    from zoo.data import PatientData
    from zoo.models import create_model

    data = PatientData.from_cohort(tiny_cohort)
    est = create_model("marrow_cell_resnet18", "test").fit(data, tiny_cohort.y)
    kept = {k: v.clone() for k, v in est.net_.state_dict().items()}
    a, b = randomised_twin(est, data, seed=1), randomised_twin(est, data, seed=2)
    for k, v in est.net_.state_dict().items():
        assert torch.equal(v, kept[k]), f"the fitted model itself changed: {k}"
    convs = [k for k, v in kept.items() if k.endswith("weight") and v.dim() == 4]
    assert convs and all(not torch.equal(a.net_.state_dict()[k], kept[k]) for k in convs), "every conv re-initialised"
    assert not torch.equal(a.net_.state_dict()[convs[0]], b.net_.state_dict()[convs[0]]), "one random network per seed"
    assert not a.net_.training
    stats = [k for k in kept if k.endswith("running_mean")]
    twin = a.net_.state_dict()
    assert all(twin[k].abs().sum() > 0 and not torch.equal(twin[k], kept[k]) for k in stats), \
        "BatchNorm statistics re-estimated for the new weights, not reset to zero nor kept from training"
    p = a.predict_proba(data)[:, 1]
    assert np.isfinite(p[~np.isnan(p)]).all()


def test_the_twin_of_an_attention_pooled_model_forgets_its_pooling_too(tiny_cohort):
    from zoo.data import PatientData
    from zoo.models import create_model

    data = PatientData.from_cohort(tiny_cohort)
    est = create_model("marrow_cell_resnet18", "test", pooling="attention").fit(data, tiny_cohort.y)
    kept = {k: v.clone() for k, v in est.attention_.state_dict().items()}
    twin = randomised_twin(est, data, seed=3)
    assert all(not torch.equal(twin.attention_.state_dict()[k], v) for k, v in kept.items())
    assert all(torch.equal(est.attention_.state_dict()[k], v) for k, v in kept.items()), "the model itself kept"


def test_a_zoo_models_twin_keeps_its_fold_bag_shape_with_one_random_network_per_member(tiny_cohort):
    from zoo.data import PatientData
    from zoo.explain.attention import randomised_model
    from zoo.models import create_model
    from zoo.models.cnn import FoldBag

    data = PatientData.from_cohort(tiny_cohort)
    a = create_model("ife_resnet18", "test").fit(data, tiny_cohort.y)
    state = torch.random.get_rng_state()
    twin = randomised_model(FoldBag([a, a]), data)
    assert torch.equal(torch.random.get_rng_state(), state), "the global random state is left as it was"
    assert isinstance(twin, FoldBag) and len(twin.members) == 2
    w = [m.net_.state_dict() for m in twin.members]
    conv = next(k for k, v in w[0].items() if k.endswith("weight") and v.dim() == 4)
    assert not torch.equal(w[0][conv], w[1][conv]), "each member its own random network"
    assert not torch.equal(w[0][conv], a.net_.state_dict()[conv])


def test_a_recalibrated_models_twin_is_its_cnns_and_the_same_seed_gives_the_same_network(tiny_cohort):
    from zoo.data import PatientData
    from zoo.evaluation.calibration import CalibratedModel, ScoreCalibrator
    from zoo.explain.attention import randomised_model, twin_seed
    from zoo.models import create_model

    data = PatientData.from_cohort(tiny_cohort)
    cnn = create_model("ife_resnet18", "test").fit(data, tiny_cohort.y)
    wrapped = CalibratedModel(cnn, ScoreCalibrator())
    a, b = randomised_model(wrapped, data, seed=7), randomised_model(wrapped, data, seed=7)
    assert type(a) is type(cnn), "the recalibration (which does not change a map) is left out"
    assert all(torch.equal(v, b.net_.state_dict()[k]) for k, v in a.net_.state_dict().items()), "seeded: reproducible"
    c = randomised_model(wrapped, data, seed=8)
    assert any(not torch.equal(v, c.net_.state_dict()[k]) for k, v in a.net_.state_dict().items())
    assert twin_seed("ife_resnet18", 0) != twin_seed("marrow_cell_resnet18", 0) != twin_seed("marrow_cell_resnet18", 1)
    assert twin_seed("ife_resnet18", 0) == twin_seed("ife_resnet18", 0)


def test_a_model_whose_random_networks_fail_is_kept_without_them(monkeypatch):
    """The check runs after half an hour of training: one model's failure must not cost the zoo."""
    import pandas as pd
    import pytest

    import zoo.explain.attention as A
    from zoo.training import assemble

    def fake_random(model, train, seed):
        if model == "bad":
            raise RuntimeError("boom")
        return model

    monkeypatch.setattr(A, "randomised_model", fake_random)
    monkeypatch.setattr(A, "attention_table", lambda models, *a: pd.DataFrame(
        {"model": list(models), "patient_id": ["p"], "image": ["i"], "on_target": [0.5],
         "target_share_of_image": [0.3]}))

    class Data:
        def subset(self, idx):
            return self

    class Split:
        train, test = [], []

    class Cohort:
        root = None

    with pytest.warns(UserWarning, match="bad: its randomly initialised networks could not be mapped"):
        draws = assemble._twin_attention({"good": "good", "bad": "bad"}, Data(), Split(), Cohort(), {},
                                         {"good", "bad"})
    assert len(draws) == A.TWIN_DRAWS and all(list(d["model"]) == ["good"] for d in draws)


def test_a_twins_batchnorm_is_estimated_on_its_seeded_sample_of_training_inputs(tiny_cohort, monkeypatch):
    """The random networks' BatchNorm statistics come from at most ``TWIN_BN_INPUTS`` training inputs (a seeded
    sample, so every build draws the same), not from every crop and not from none."""
    import copy

    import zoo.explain.attention as attention
    from zoo.data import PatientData
    from zoo.models import create_model
    from zoo.models.cnn import _recalibrate_batchnorm

    data = PatientData.from_cohort(tiny_cohort)
    est = create_model("marrow_cell_resnet18", "test").fit(data, tiny_cohort.y)
    x, _ = est._samples(data, for_fit=True)
    k = 16
    assert x.shape[0] > k
    monkeypatch.setattr(attention, "TWIN_BN_INPUTS", k)
    twin = randomised_twin(est, data, seed=7)
    pick = np.sort(np.random.default_rng(0).choice(x.shape[0], k, replace=False))
    on_sample, on_all = copy.deepcopy(twin.net_), copy.deepcopy(twin.net_)
    _recalibrate_batchnorm(on_sample, x[torch.from_numpy(pick)], 64, max_inputs=10 ** 9)
    _recalibrate_batchnorm(on_all, x, 64, max_inputs=10 ** 9)
    keys = [n for n in twin.net_.state_dict() if n.endswith(("running_mean", "running_var"))]
    assert keys
    got, want, every = twin.net_.state_dict(), on_sample.state_dict(), on_all.state_dict()
    for key in keys:
        assert torch.allclose(got[key], want[key], atol=1e-6), key
    assert not all(torch.allclose(got[key], every[key], atol=1e-6) for key in keys)
