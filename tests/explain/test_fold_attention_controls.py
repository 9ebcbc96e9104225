"""The two controls of benchmarks/fold_attention.py that decided a method choice: the CAM layer it maps with
(``--cam-min-side``) and the randomised twin (``--randomised``, model randomisation). A control that silently
does nothing would make every comparison it feeds look like "no difference"."""
import numpy as np
import torch

from benchmarks.fold_attention import _cam_side, randomised_twin


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
