"""Grad-CAM backpropagates only from the class score to its layer (``zoo.explain.gradcam.gradients_from``): the
maps and probabilities equal a full backward's, for every architecture and both layer rules, weights get no
gradient, and their flags come back."""
import copy

import numpy as np
import pytest
import torch

from zoo.explain.gradcam import cams_in_batches, gradients_from
from zoo.models.networks import ARCHITECTURES, build_network, cam_layer, deepest_layer_with_map, resolve_layer
from zoo.preprocess import normalize


def _full_backward(net, layer: str, x8: torch.Tensor, method: str) -> np.ndarray:
    """The CAM as pytorch-grad-cam computes it on its own: every weight in the graph."""
    from pytorch_grad_cam import GradCAM, GradCAMPlusPlus
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    cls = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus}[method]
    with cls(model=net, target_layers=[resolve_layer(net, layer)]) as cam:
        return cam(input_tensor=normalize(x8), targets=[ClassifierOutputTarget(1)] * len(x8))


def test_a_module_called_twice_is_never_the_cam_layer():
    """ResNet-50's bottleneck calls one ReLU three times; its map would pair one call's activations with another's
    gradients (a shape error in pytorch-grad-cam)."""
    net, _ = build_network("resnet50", 0.0)
    layer = deepest_layer_with_map(net, (32, 32), 4)
    assert not layer.endswith("relu")
    calls = []
    h = resolve_layer(net, layer).register_forward_hook(lambda *a: calls.append(1))
    with torch.no_grad():
        net.eval()(torch.zeros(1, 3, 32, 32))
    h.remove()
    assert len(calls) == 1


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@pytest.mark.parametrize("rule", ["deepest 4x4 at 32 px", "registered at 64 px"])
@pytest.mark.parametrize("memory", ["contiguous", "channels_last"])  # trained networks are channels_last
def test_same_maps_as_a_full_backward(arch, rule, memory):
    torch.manual_seed(0)
    net, _ = build_network(arch, 0.0)
    net.eval()
    if memory == "channels_last":
        net = net.to(memory_format=torch.channels_last)
    size = 64 if (rule.startswith("registered") or arch == "alexnet") else 32
    layer = deepest_layer_with_map(net, (size, size), 4) if rule.startswith("deepest") else cam_layer(net, arch, size)
    x8 = torch.from_numpy(np.random.default_rng(1).integers(0, 255, (6, 3, size, size), dtype=np.uint8))
    for method in ("gradcam", "gradcam++"):
        ref = _full_backward(copy.deepcopy(net), layer, x8, method)
        mine = copy.deepcopy(net)
        cams, probs = cams_in_batches(mine, layer, x8, method, 4)
        np.testing.assert_array_equal(cams, ref)
        with torch.no_grad():
            np.testing.assert_allclose(probs, torch.softmax(net(normalize(x8)), 1)[:, 1].numpy(), atol=1e-6)
        assert all(p.requires_grad for p in mine.parameters())  # the flags are back
        assert all(p.grad is None for p in mine.parameters())   # and no weight's gradient was computed
        assert not resolve_layer(mine, layer)._forward_hooks      # and no hook is left on the layer


def test_the_graph_starts_at_the_layer_and_flags_come_back_after_an_error():
    torch.manual_seed(0)
    net, _ = build_network("resnet18", 0.0)
    net.eval()
    layer = resolve_layer(net, "body.layer2")
    frozen = net.body.layer1[0].conv1.weight
    frozen.requires_grad_(False)  # a weight that was frozen before stays frozen
    seen = {}
    with pytest.raises(RuntimeError, match="boom"):
        with gradients_from(net, layer):
            mine = layer.register_forward_hook(lambda m, a, out: seen.update(layer_out=out))  # after it, as the CAM's
            out = net(torch.randn(2, 3, 32, 32))
            assert seen["layer_out"].requires_grad and out.requires_grad
            assert not any(p.requires_grad for p in net.parameters())
            out[:, 1].sum().backward()
            assert all(p.grad is None for p in net.parameters())
            raise RuntimeError("boom")
    assert not frozen.requires_grad
    assert all(p.requires_grad for n, p in net.named_parameters() if n != "body.layer1.0.conv1.weight")
    mine.remove()
    assert not layer._forward_hooks  # gradients_from's hook went with the error
    out = net(torch.randn(2, 3, 32, 32))  # the graph reaches the first layer again
    out.sum().backward()
    assert net.body.conv1.weight.grad is not None


def test_a_member_whose_map_fails_is_not_dropped_from_the_average(monkeypatch):
    """pytorch-grad-cam's context manager swallows an IndexError raised inside it (numpy's AxisError is one): a
    fold member whose map failed must fail the heat map, not leave the average unannounced."""
    from zoo.explain import gradcam
    from zoo.models.cnn import CNNClassifier, FoldBag

    def member(seed):
        torch.manual_seed(seed)
        est = CNNClassifier(arch="resnet18", image_size=32, device="cpu")
        est.net_, est.device_, est.classes_ = build_network("resnet18", 0.0)[0].eval(), torch.device("cpu"), np.array([0, 1])
        return est

    image = np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    bag = FoldBag([member(0), member(1)])
    assert gradcam.grad_cam(bag, image, display_size=32).cam.shape == (32, 32)
    calls = []
    real = gradcam.cam_targets

    def failing_second(n):
        calls.append(n)
        if len(calls) == 2:
            raise IndexError("a map that could not be computed")
        return real(n)

    monkeypatch.setattr(gradcam, "cam_targets", failing_second)
    with pytest.raises(RuntimeError, match="Grad-CAM returned maps for 0 of 1 inputs"):
        gradcam.grad_cam(bag, image, display_size=32)
