"""torchvision backbones with a dropout + 2-class head.

Each architecture's pooled-feature width and Grad-CAM target layer live in
``ARCHITECTURES``; adding a backbone is one entry there plus one registry
entry. ImageNet weights are used only when already in the local torch cache:
nothing is downloaded at run time.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torchvision

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Arch:
    builder: str          # torchvision.models function
    weights: str          # torchvision weights enum name
    head_attr: str        # attribute replaced by Identity so the body returns pooled features
    features: int         # pooled feature width
    target_layer: str     # Grad-CAM layer relative to ClassifierNet
    paper_name: str
    min_size: int = 32
    pool_attr: str | None = None  # VGG/AlexNet: pool to 1x1 instead of 7x7 (small head, any input size)
    cam_fallback: str | None = None  # Grad-CAM layer when target_layer's map is below 2x2 (small inputs)


ARCHITECTURES: dict[str, Arch] = {
    "alexnet": Arch("alexnet", "AlexNet_Weights", "classifier", 256, "body.features.11", "AlexNet", 63, "avgpool"),
    "vgg16": Arch("vgg16", "VGG16_Weights", "classifier", 512, "body.features.29", "VGG16", 32, "avgpool"),
    "vgg16_bn": Arch("vgg16_bn", "VGG16_BN_Weights", "classifier", 512, "body.features.42", "VGG16", 32, "avgpool"),
    "resnet18": Arch("resnet18", "ResNet18_Weights", "fc", 512, "body.layer4.-1", "ResNet",
                     cam_fallback="body.layer3.-1"),
    "resnet50": Arch("resnet50", "ResNet50_Weights", "fc", 2048, "body.layer4.-1", "ResNet",
                     cam_fallback="body.layer3.-1"),
    "mobilenet_v2": Arch("mobilenet_v2", "MobileNet_V2_Weights", "classifier", 1280, "body.features.-1", "MobileNet",
                         cam_fallback="body.features.13"),
    "mobilenet_v3_large": Arch("mobilenet_v3_large", "MobileNet_V3_Large_Weights", "classifier", 960,
                               "body.features.-1", "MobileNet", cam_fallback="body.features.12"),
    # torchvision's DenseNet.forward applies an in-place ReLU to features[-1]'s output, which zeroes Grad-CAM;
    # _DenseNetBody runs the same computation without the in-place op (same state-dict keys).
    "densenet121": Arch("densenet121", "DenseNet121_Weights", "classifier", 1024, "body.features.norm5", "DenseNet",
                        cam_fallback="body.features.denseblock3"),
}


class _DenseNetBody(nn.Module):
    def __init__(self, features: nn.Module) -> None:
        super().__init__()
        self.features = features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = torch.relu(self.features(x))
        return torch.flatten(nn.functional.adaptive_avg_pool2d(f, 1), 1)


class ClassifierNet(nn.Module):
    """``body`` (torchvision model minus its classifier) -> dropout -> Linear(features, 2)."""

    def __init__(self, arch: str, dropout: float = 0.3) -> None:
        super().__init__()
        a = ARCHITECTURES[arch]
        body = getattr(torchvision.models, a.builder)(weights=None)
        setattr(body, a.head_attr, nn.Identity())
        if a.pool_attr:
            setattr(body, a.pool_attr, nn.AdaptiveAvgPool2d(1))
        if arch.startswith("densenet"):
            body = _DenseNetBody(body.features)
        self.body = body
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(a.features, 2))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def cam_layer(net: nn.Module, arch: str, input_size: int) -> str:
    """The architecture's Grad-CAM layer, or its fallback when that layer's map is under 2x2 at this input size
    (e.g. DenseNet-121 at 48 px ends in a 1x1 map, on which a CAM is a single undefined pixel)."""
    a = ARCHITECTURES[arch]
    if a.cam_fallback is None:
        return a.target_layer
    seen = {}

    def record(module, inputs, output) -> None:  # returns None: a forward hook must not replace the output
        seen["shape"] = output.shape

    h = resolve_layer(net, a.target_layer).register_forward_hook(record)
    try:
        with torch.no_grad():
            was = net.training
            net.eval()
            net(torch.zeros(1, 3, input_size, input_size))
            net.train(was)
    finally:
        h.remove()
    return a.target_layer if min(seen["shape"][-2:]) >= 2 else a.cam_fallback


def resolve_layer(model: nn.Module, path: str) -> nn.Module:
    """``get_submodule`` that also accepts negative indices (``body.layer4.-1``)."""
    mod = model
    for part in path.split("."):
        if part.lstrip("-").isdigit():
            mod = mod[int(part)]  # type: ignore[index]
        else:
            mod = getattr(mod, part)
    return mod


def cached_imagenet_weights(arch: str) -> Path | None:
    """The ImageNet checkpoint in the local torch cache, if someone put it there."""
    a = ARCHITECTURES[arch]
    weights = getattr(torchvision.models, a.weights).DEFAULT
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    return path if path.is_file() else None


def network_from_state(arch: str, dropout: float, state: dict[str, torch.Tensor]) -> ClassifierNet:
    """A ClassifierNet holding ``state``, built on the meta device so no time goes into a random
    initialisation that the saved weights overwrite (VGG16's discarded 25088x4096 layer alone
    takes ~0.4 s to initialise on a CPU core)."""
    with torch.device("meta"):
        net = ClassifierNet(arch, dropout)
    net.load_state_dict(state, assign=True)  # strict: a missing or unexpected tensor is an error
    left = [n for n, t in [*net.named_parameters(), *net.named_buffers()] if t.is_meta]
    if left:
        raise ValueError(f"Expected saved weights for every tensor of {arch}. Got none for {left[:3]}.")
    return net


def build_network(arch: str, dropout: float = 0.3, pretrained: bool = False) -> tuple[ClassifierNet, str]:
    """Network and a note saying where its starting weights came from."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"Expected an architecture in {sorted(ARCHITECTURES)}. Got {arch!r}.")
    net = ClassifierNet(arch, dropout)
    if not pretrained:
        return net, "random initialisation"
    path = cached_imagenet_weights(arch)
    if path is None:
        msg = (f"ImageNet weights for {arch} are not in the local torch cache ({torch.hub.get_dir()}/checkpoints); "
               "training from scratch instead (nothing is downloaded).")
        log.warning(msg)
        return net, msg
    state = torch.load(path, map_location="cpu", weights_only=True)
    missing, unexpected = net.body.load_state_dict(state, strict=False)
    return net, f"ImageNet weights from {path.name} (head re-initialised; {len(unexpected)} classifier tensors unused)"
