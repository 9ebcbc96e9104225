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
