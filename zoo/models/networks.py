"""torchvision backbones with a dropout + 2-class head.

Each architecture's pooled-feature width and Grad-CAM target layer live in
``ARCHITECTURES``; adding a backbone is one entry there plus one registry
entry. ImageNet weights are used only when already in the local torch cache:
nothing is downloaded at run time.
"""
from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import torch
import torch.nn as nn
import torchvision

from zoo.models.architectures import ARCHITECTURES, Arch  # noqa: F401 - re-exported

log = logging.getLogger(__name__)


class _DenseNetBody(nn.Module):
    def __init__(self, features: nn.Module) -> None:
        super().__init__()
        self.features = features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = torch.relu(self.features(x))
        return torch.flatten(nn.functional.adaptive_avg_pool2d(f, 1), 1)


class ClassifierNet(nn.Module):
    """``body`` (torchvision model minus its classifier) -> dropout -> Linear(features, 2).

    ``width`` scales every convolution's channels (VGG only): the CPU profiles train VGG16-BN at half width,
    a quarter of its compute, because at full width it alone was half of a CPU build (docs/MODELS.md).
    """

    def __init__(self, arch: str, dropout: float = 0.3, width: float = 1.0) -> None:
        super().__init__()
        a = ARCHITECTURES[arch]
        if width == 1.0:
            body = getattr(torchvision.models, a.builder)(weights=None)
        elif a.vgg_cfg is not None and 0 < width < 1.0:
            from torchvision.models.vgg import VGG, cfgs, make_layers

            from zoo.models.architectures import scaled_channels

            layers = [v if v == "M" else scaled_channels(v, width) for v in cfgs[a.vgg_cfg]]
            body = VGG(make_layers(layers, batch_norm=arch.endswith("_bn")), init_weights=True)
        else:
            raise ValueError(f"Expected width 1.0, or a width in (0, 1) for a VGG. Got width {width} for {arch}.")
        setattr(body, a.head_attr, nn.Identity())
        if a.pool_attr:
            setattr(body, a.pool_attr, nn.AdaptiveAvgPool2d(1))
        if arch.startswith("densenet"):
            body = _DenseNetBody(body.features)
        self.body = body
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(a.features_at(width), 2))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def cam_layer(net: nn.Module, arch: str, input_size: int | tuple[int, int]) -> str:
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
            hw = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
            net(torch.zeros(1, 3, *hw))
            net.train(was)
    finally:
        h.remove()
    return a.target_layer if min(seen["shape"][-2:]) >= 2 else a.cam_fallback


MIN_CAM_SIDE = 4  # pixels of the CAM layer's map for a crop or a lane view (deepest_layer_with_map)


def model_cam_layer(net: nn.Module, model, input_hw: tuple[int, int]) -> str:
    """The Grad-CAM layer of a fitted image model: for a lane view (a gel's six lanes, 64 rows in the CPU
    profiles) the deepest layer with a map of at least 4×4, as for cell crops (the registered layers end in
    2 rows there, which cannot say where along a lane the network looked); else the architecture's layer."""
    if getattr(model, "view", "whole") == "lanes":
        return deepest_layer_with_map(net, input_hw, MIN_CAM_SIDE)
    return cam_layer(net, model.arch, input_hw)


def deepest_layer_with_map(net: nn.Module, input_hw: tuple[int, int], min_side: int = 4) -> str:
    """The last module, in forward order, whose output map is at least ``min_side`` pixels on each side.

    The Grad-CAM layer for small inputs such as a 32-px cell crop: there the registered layer's map is 1×1 or
    2×2, and a CAM upsampled from it is a smooth bump whose share on any centred target equals the target's
    area share, so it cannot say where in the crop the network looked. A container's hook fires after its
    children, so a whole residual stage or dense transition is preferred over a module inside it. A module
    called more than once in a forward is never taken. (ResNet-50, selectable, then gets a module of its
    first layer-3 block's main branch at 32 px, ``layer3.0.bn1``: its shortcut bypasses that map.)
    """
    order: list[tuple[str, tuple[int, ...]]] = []
    hooks = []
    for name, mod in net.named_modules():
        if not name.startswith("body.") or name == "body":
            continue
        hooks.append(mod.register_forward_hook(
            lambda m, i, o, name=name: order.append((name, tuple(o.shape)))
            if isinstance(o, torch.Tensor) and o.dim() == 4 else None))
    try:
        with torch.no_grad():
            was = net.training
            net.eval()
            net(torch.zeros(1, 3, *input_hw))
            net.train(was)
    finally:
        for h in hooks:
            h.remove()
    fired = Counter(n for n, _ in order)
    # a module called more than once per forward (a ResNet bottleneck's one ReLU, three times) has no single map:
    # Grad-CAM would pair one call's activations with another call's gradients
    fits = [n for n, shape in order if min(shape[-2:]) >= min_side and fired[n] == 1]
    if not fits:
        raise ValueError(f"Expected a layer with a map of at least {min_side}×{min_side} at input {input_hw}. Got none.")
    return fits[-1]


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


def network_from_state(arch: str, dropout: float, state: dict[str, torch.Tensor],
                       width: float = 1.0) -> ClassifierNet:
    """A ClassifierNet holding ``state``, built on the meta device so no time goes into a random
    initialisation that the saved weights overwrite (VGG16's discarded 25088x4096 layer alone
    takes ~0.4 s to initialise on a CPU core)."""
    with torch.device("meta"):
        net = ClassifierNet(arch, dropout, width)
    net.load_state_dict(state, assign=True)  # strict: a missing or unexpected tensor is an error
    left = [n for n, t in [*net.named_parameters(), *net.named_buffers()] if t.is_meta]
    if left:
        raise ValueError(f"Expected saved weights for every tensor of {arch}. Got none for {left[:3]}.")
    return net


def build_network(arch: str, dropout: float = 0.3, pretrained: bool = False,
                  width: float = 1.0) -> tuple[ClassifierNet, str]:
    """Network and a note saying where its starting weights came from."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"Expected an architecture in {sorted(ARCHITECTURES)}. Got {arch!r}.")
    net = ClassifierNet(arch, dropout, width)
    if not pretrained:
        return net, "random initialisation"
    if width != 1.0:
        return net, f"random initialisation (ImageNet weights do not fit a {width:g}-width {arch})"
    path = cached_imagenet_weights(arch)
    if path is None:
        msg = (f"ImageNet weights for {arch} are not in the local torch cache ({torch.hub.get_dir()}/checkpoints); "
               "training from scratch instead (nothing is downloaded).")
        log.warning(msg)
        return net, msg
    state = torch.load(path, map_location="cpu", weights_only=True)
    missing, unexpected = net.body.load_state_dict(state, strict=False)
    return net, f"ImageNet weights from {path.name} (head re-initialised; {len(unexpected)} classifier tensors unused)"
