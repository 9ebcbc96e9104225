"""Rebuilding a network from saved weights (the zoo's load path)."""
import pytest
import torch

from zoo.models.networks import ClassifierNet, network_from_state


@pytest.mark.parametrize("arch", ["vgg16_bn", "densenet121"])
def test_network_from_state_reproduces_the_saved_network(arch):
    torch.manual_seed(0)
    net = ClassifierNet(arch).eval()
    state = {k: v.clone() for k, v in net.state_dict().items()}
    back = network_from_state(arch, 0.3, state).eval()
    x = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        assert torch.equal(net(x), back(x))
    assert not any(t.is_meta for t in [*back.parameters(), *back.buffers()])


def test_network_from_state_refuses_missing_or_misshapen_tensors():
    state = ClassifierNet("resnet18").state_dict()
    missing = {k: v for k, v in state.items() if k != "head.1.weight"}
    with pytest.raises(RuntimeError, match="head.1.weight"):
        network_from_state("resnet18", 0.3, missing)
    bad = dict(state, **{"head.1.weight": torch.zeros(3, 512)})
    with pytest.raises(RuntimeError, match="size mismatch"):
        network_from_state("resnet18", 0.3, bad)


def test_half_width_vgg_has_half_the_channels_and_reloads_at_its_width():
    torch.manual_seed(0)
    net = ClassifierNet("vgg16_bn", width=0.5).eval()
    full = ClassifierNet("vgg16_bn").eval()
    assert net.head[1].in_features == 256 and full.head[1].in_features == 512
    n_half, n_full = (sum(p.numel() for p in m.body.parameters()) for m in (net, full))
    assert 0.2 < n_half / n_full < 0.3  # convolution weights scale with width squared
    state = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(net(x), network_from_state("vgg16_bn", 0.3, state, width=0.5).eval()(x))
    with pytest.raises(RuntimeError, match="size mismatch"):
        network_from_state("vgg16_bn", 0.3, state)  # a half-width checkpoint never loads into a full network


def test_width_is_refused_for_a_backbone_that_cannot_scale():
    with pytest.raises(ValueError, match="width"):
        ClassifierNet("resnet18", width=0.5)
