"""Grad-CAM on every registered architecture: right layer, a real map, no hooks left on the shared model."""
import numpy as np
import pytest
import torch

from zoo.explain.gradcam import CAM_METHODS, grad_cam
from zoo.models import list_models, model_config
from zoo.models.cnn import CNNClassifier
from zoo.models.networks import ARCHITECTURES, ClassifierNet, cam_layer, resolve_layer

ARCHS = sorted({model_config(n).arch for n in list_models(family="cnn")})


def _fitted(arch: str, size: int) -> CNNClassifier:
    torch.manual_seed(0)
    est = CNNClassifier(arch=arch, image_size=size)
    est.net_, est.device_, est.classes_ = ClassifierNet(arch).eval(), torch.device("cpu"), np.array([0, 1])
    return est


@pytest.mark.parametrize("arch", ARCHS)
def test_registered_target_layers_are_the_documented_ones(arch):
    expected = {"alexnet": "body.features.11", "vgg16_bn": "body.features.42", "resnet18": "body.layer4.-1",
                "resnet50": "body.layer4.-1", "mobilenet_v2": "body.features.-1",
                "mobilenet_v3_large": "body.features.-1", "densenet121": "body.features.norm5"}
    net = ClassifierNet(arch)
    layer = resolve_layer(net, ARCHITECTURES[arch].target_layer)
    assert ARCHITECTURES[arch].target_layer == expected[arch]
    if arch in ("alexnet", "vgg16_bn"):
        assert isinstance(layer, torch.nn.ReLU), "last ReLU of features, not the final max-pool"


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("size", [64, 224])
def test_cam_is_a_real_map_for_every_architecture(arch, size):
    est = _fitted(arch, size)
    real = []
    for seed in range(4):  # an untrained net may see no positive evidence in one image: its CAM is then all zero
        img = np.random.default_rng(seed).integers(0, 256, (224, 224, 3), dtype=np.uint8)
        r = grad_cam(est, img, "gradcam")
        assert r.cam.shape == (224, 224) and r.overlay.shape == (224, 224, 3)
        assert np.isfinite(r.cam).all() and r.cam.min() >= 0 and r.cam.max() <= 1 + 1e-6
        assert 0 <= r.probability <= 1
        real.append(r.cam.std() > 0)
    assert any(real), f"degenerate CAM at {size} px via {r.layer} for every image"
    assert not any(m._forward_hooks or m._backward_hooks for m in est.net_.modules()), "shared model hooked"


def test_small_inputs_fall_back_to_an_earlier_layer():
    net = ClassifierNet("densenet121").eval()
    assert cam_layer(net, "densenet121", 48) == "body.features.denseblock3"
    assert cam_layer(net, "densenet121", 224) == "body.features.norm5"


def test_gradcam_plus_plus_is_selectable():
    est = _fitted("resnet18", 64)
    img = np.random.default_rng(1).integers(0, 256, (100, 120, 3), dtype=np.uint8)
    for m in CAM_METHODS:
        assert grad_cam(est, img, m).method == m
    with pytest.raises(ValueError, match="CAM method"):
        grad_cam(est, img, "scorecam")
