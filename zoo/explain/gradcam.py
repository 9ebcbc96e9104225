"""Grad-CAM / Grad-CAM++ for every registered image model (pytorch-grad-cam).

The target layer comes from the model's registry config (ResNet: layer4[-1];
VGG/AlexNet: the last ReLU of ``features``; DenseNet/MobileNet: features[-1]).
Hooks mutate a module, so every call works on a private copy of the network:
a model shared between Streamlit sessions is never hooked.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from zoo.models.networks import ARCHITECTURES, cam_layer, resolve_layer
from zoo.preprocess import PreprocessConfig, denoise_images, normalize

CAM_METHODS = ("gradcam", "gradcam++")


@dataclass
class CamResult:
    cam: np.ndarray        # (H, W) in [0, 1], at the display size
    overlay: np.ndarray    # (H, W, 3) uint8 heat map over the denoised image
    image: np.ndarray      # (H, W, 3) uint8 denoised image at the display size
    probability: float     # the model's P(PD) for this image
    method: str
    layer: str
    lanes: object = None   # zoo.lanes.Lanes the map was computed on (lane models), else None


def _cam_class(method: str):
    from pytorch_grad_cam import GradCAM, GradCAMPlusPlus

    try:
        return {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus}[method]
    except KeyError:
        raise ValueError(f"Expected a CAM method in {CAM_METHODS}. Got {method!r}.") from None


def target_layer_name(arch: str) -> str:
    return ARCHITECTURES[arch].target_layer


def grad_cam(estimator, image: np.ndarray, method: str = "gradcam", display_size: int = 224) -> CamResult:
    """CAM of P(PD) for one RGB image; FoldBag models average their members' maps."""
    from pytorch_grad_cam.utils.image import show_cam_on_image
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    members = getattr(estimator, "members", [estimator])
    size = members[0].image_size
    lanes = None
    if getattr(members[0], "view", "whole") == "lanes":  # a gel: the map is computed on its straightened lanes
        from zoo.lanes import lane_view

        view, lanes = lane_view(image, size, members[0].lane_width)
        x8 = torch.from_numpy(view).permute(2, 0, 1)[None].contiguous()
    else:
        x8 = denoise_images([image], PreprocessConfig(image_size=size))
    x = normalize(x8)
    cams, probs = [], []
    for m in members:
        net = copy.deepcopy(m.net_).float().cpu().eval()  # private copy: hooks never touch the shared model
        layer = cam_layer(net, m.arch, tuple(x8.shape[-2:]))
        with _cam_class(method)(model=net, target_layers=[resolve_layer(net, layer)]) as cam:
            g = cam(input_tensor=x.clone(), targets=[ClassifierOutputTarget(1)])[0]
        cams.append(g)
        with torch.no_grad():
            probs.append(float(torch.softmax(net(x), 1)[0, 1]))
    cam = np.mean(cams, axis=0)
    cam = cam / cam.max() if cam.max() > 0 else cam
    disp = denoise_images([image], PreprocessConfig(image_size=display_size))[0].permute(1, 2, 0).numpy()
    if lanes is not None:  # each lane's map back onto that lane of the gel, nothing between lanes
        from zoo.lanes import unstraighten

        on_gel = unstraighten(cam, lanes, image.shape[:2])
        cam_big = torch.nn.functional.interpolate(torch.from_numpy(on_gel)[None, None].float(),
                                                  size=(display_size,) * 2, mode="bilinear",
                                                  align_corners=False)[0, 0].numpy()
    else:
        cam_big = torch.nn.functional.interpolate(torch.from_numpy(cam)[None, None].float(),
                                                  size=(display_size,) * 2, mode="bilinear",
                                                  align_corners=False)[0, 0].numpy()
    overlay = show_cam_on_image(disp.astype(np.float32) / 255.0, cam_big, use_rgb=True, image_weight=0.55)
    return CamResult(cam=cam_big, overlay=overlay, image=disp, probability=float(np.mean(probs)), method=method,
                     layer=layer, lanes=lanes)


def energy_inside(cam: np.ndarray, mask: np.ndarray) -> float:
    """Share of the CAM's energy that falls inside ``mask`` (same shape, resized if needed)."""
    if mask.shape != cam.shape:
        from PIL import Image

        mask = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(cam.shape[::-1], Image.NEAREST)) > 0
    tot = float(cam.sum())
    return float(cam[mask.astype(bool)].sum() / tot) if tot > 0 else float("nan")
