"""Which class's evidence a map shows (``zoo.explain.gradcam.CAM_CLASS``): class PD for every input by default,
each input's own call under "predicted" (the option ``benchmarks/fold_attention.py --cam-class`` measures)."""
import copy

import numpy as np
import pytest
import torch

import zoo.explain.gradcam as gradcam
from zoo.models.networks import build_network, deepest_layer_with_map, resolve_layer
from zoo.preprocess import normalize


def _net_and_inputs():
    torch.manual_seed(3)
    net, _ = build_network("resnet18", 0.0)
    net.eval()
    x8 = torch.from_numpy(np.random.default_rng(0).integers(0, 255, (12, 3, 32, 32), dtype=np.uint8))
    with torch.no_grad():  # centre the head's bias so that about half the inputs are called each class
        logits = net(normalize(x8))
        net.head[-1].bias[1] -= float((logits[:, 1] - logits[:, 0]).median()) + 1e-4
    return net, x8, deepest_layer_with_map(net, (32, 32), 4)


def _reference(net, layer, x8, classes) -> np.ndarray:
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    n = copy.deepcopy(net)
    with GradCAM(model=n, target_layers=[resolve_layer(n, layer)]) as cam:
        return cam(input_tensor=normalize(x8), targets=[ClassifierOutputTarget(int(c)) for c in classes])


@pytest.fixture
def cam_class():
    saved = gradcam.CAM_CLASS
    yield lambda v: setattr(gradcam, "CAM_CLASS", v)
    gradcam.CAM_CLASS = saved


def test_default_maps_the_evidence_for_pd():
    net, x8, layer = _net_and_inputs()
    assert gradcam.CAM_CLASS == "pd"
    cams, _ = gradcam.cams_in_batches(copy.deepcopy(net), layer, x8, "gradcam", 5)
    np.testing.assert_allclose(cams, _reference(net, layer, x8, [1] * len(x8)), atol=1e-6)


def test_predicted_maps_each_inputs_own_call(cam_class):
    net, x8, layer = _net_and_inputs()
    with torch.no_grad():
        calls = net(normalize(x8)).argmax(1).numpy()
    assert 0 < calls.sum() < len(calls)  # both calls among the inputs, so the two rules differ somewhere
    cam_class("predicted")
    cams, _ = gradcam.cams_in_batches(copy.deepcopy(net), layer, x8, "gradcam", 5)
    np.testing.assert_allclose(cams, _reference(net, layer, x8, calls), atol=1e-6)
    pd_maps = _reference(net, layer, x8, [1] * len(x8))
    assert not np.allclose(cams[calls == 0], pd_maps[calls == 0], atol=1e-3)
    np.testing.assert_allclose(cams[calls == 1], pd_maps[calls == 1], atol=1e-6)


def test_non_pd_maps_the_evidence_against_progression_for_every_input(cam_class):
    net, x8, layer = _net_and_inputs()
    cam_class("non-pd")
    cams, _ = gradcam.cams_in_batches(copy.deepcopy(net), layer, x8, "gradcam", 5)
    np.testing.assert_allclose(cams, _reference(net, layer, x8, [0] * len(x8)), atol=1e-6)
    assert not np.allclose(cams, _reference(net, layer, x8, [1] * len(x8)), atol=1e-3)


def test_unknown_class_is_refused(cam_class):
    cam_class("non_pd")
    with pytest.raises(ValueError, match="Expected a CAM class in"):
        gradcam.cam_targets(3)
