"""Grad-CAM / Grad-CAM++ for every registered image model (pytorch-grad-cam).

The target layer comes from the model's registry config (ResNet: layer4[-1];
VGG/AlexNet: the last ReLU of ``features``; DenseNet/MobileNet: features[-1]).
Hooks mutate a module, so every call works on a private copy of the network:
a model shared between Streamlit sessions is never hooked.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from zoo.models.networks import ARCHITECTURES, MIN_CAM_SIDE, deepest_layer_with_map, model_cam_layer, resolve_layer
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
    tiles: list | None = None  # cell-level models: one zoo.explain.stitch.Tile per plasma-cell crop
    uniform: np.ndarray | None = None  # cell-level models: the map that ignores the image, same crops and weights


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
    if hasattr(members[0], "predict_crops"):
        return cell_cam(estimator, image, method, display_size)
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
        layer = model_cam_layer(net, m, tuple(x8.shape[-2:]))
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


CELL_CAM_MIN_SIDE = MIN_CAM_SIDE  # pixels of the CAM layer's map for a crop (zoo.models.networks)


class CellMaps(NamedTuple):
    stitched: np.ndarray   # (H, W) at the image's size, in [0, 1]
    tiles: list            # one zoo.explain.stitch.Tile per plasma-cell crop
    probability: float     # the patient's pooled P(PD) from these crops
    uniform: np.ndarray    # the same stitching of all-ones crop maps: the chance map
    layer: str | None      # the CAM layer (None without crops)


def cell_maps(estimator, image: np.ndarray, labels: np.ndarray, instances: list[dict],
              method: str = "gradcam") -> CellMaps:
    """A cell-level model's map on the whole smear. Each plasma-cell crop's CAM is computed at the crop's native resolution,
    on the deepest layer whose map is at least 4×4, and placed back on its box, scaled by the crop's weight in
    the pooled prediction (``zoo.explain.stitch``). The uniform map is the same stitching of all-ones crop maps:
    the map of a network that looked nowhere in particular, whose attention on target is the chance level."""
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from zoo.explain.stitch import Tile, stitch
    from zoo.segment.cells import crop_boxes, crops_from

    members = getattr(estimator, "members", [estimator])
    first = members[0]
    crops = crops_from(image, labels, instances, first.image_size, first.mask_background)
    boxes = crop_boxes(image.shape[:2], instances)
    if len(crops) == 0:
        return CellMaps(np.zeros(image.shape[:2], np.float32), [], float("nan"),
                        np.zeros(image.shape[:2], np.float32), None)
    x8 = torch.from_numpy(crops)
    x = normalize(x8)
    cams, probs, weights, patient = [], [], [], []
    for m in members:
        net = copy.deepcopy(m.net_).float().cpu().eval()
        layer = deepest_layer_with_map(net, tuple(x8.shape[-2:]), CELL_CAM_MIN_SIDE)
        with _cam_class(method)(model=net, target_layers=[resolve_layer(net, layer)]) as cam:
            cams.append(cam(input_tensor=x.clone(), targets=[ClassifierOutputTarget(1)] * len(x)))
        with torch.no_grad():
            probs.append(torch.softmax(net(x), 1)[:, 1].numpy())
            pool = getattr(m, "attention_", None)
            if pool is not None:
                logit, a = pool(net.embed(x))
                weights.append(a.numpy())
                patient.append(float(torch.sigmoid(logit)))
            else:  # mean pooling: every crop an equal share
                weights.append(np.full(len(x), 1.0 / len(x)))
                patient.append(float(probs[-1].mean()))
    cam_tiles = np.mean(cams, axis=0)
    w, p = np.mean(weights, axis=0), np.mean(probs, axis=0)
    stitched = stitch(cam_tiles, boxes, image.shape[:2], w)
    uniform = stitch(np.ones_like(cam_tiles), boxes, image.shape[:2], w)
    tiles = [Tile(tuple(int(v) for v in b), float(wi), float(pi)) for b, wi, pi in zip(boxes, w, p)]
    return CellMaps(stitched, tiles, float(np.mean(patient)), uniform, layer)


def cell_cam(estimator, image: np.ndarray, method: str = "gradcam", display_size: int = 224,
             segmentation: tuple[np.ndarray, list[dict]] | None = None) -> CamResult:
    """Grad-CAM of a cell-level marrow model on a whole smear, segmented as a new patient's would be."""
    from pytorch_grad_cam.utils.image import show_cam_on_image

    if segmentation is None:
        from zoo.segment.classical import ClassicalSegmenter

        s = ClassicalSegmenter().segment(image)
        segmentation = (s.labels, s.instances)
    labels, instances = segmentation
    maps = cell_maps(estimator, image, labels, instances, method)
    disp = denoise_images([image], PreprocessConfig(image_size=display_size))[0].permute(1, 2, 0).numpy()
    cam_big = torch.nn.functional.interpolate(torch.from_numpy(maps.stitched)[None, None],
                                              size=(display_size,) * 2, mode="bilinear",
                                              align_corners=False)[0, 0].numpy()
    overlay = show_cam_on_image(disp.astype(np.float32) / 255.0, np.clip(cam_big, 0, 1), use_rgb=True,
                                image_weight=0.55)
    layer = maps.layer
    if layer is None:  # no crop was cut: name the layer a crop's map would come from
        first = getattr(estimator, "members", [estimator])[0]
        layer = deepest_layer_with_map(copy.deepcopy(first.net_).float().cpu(), (first.image_size,) * 2,
                                       CELL_CAM_MIN_SIDE)
    return CamResult(cam=cam_big, overlay=overlay, image=disp, probability=maps.probability, method=method,
                     layer=layer, tiles=maps.tiles, uniform=maps.uniform)


def energy_inside(cam: np.ndarray, mask: np.ndarray) -> float:
    """Share of the CAM's energy that falls inside ``mask`` (same shape, resized if needed)."""
    if mask.shape != cam.shape:
        from PIL import Image

        mask = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(cam.shape[::-1], Image.NEAREST)) > 0
    tot = float(cam.sum())
    return float(cam[mask.astype(bool)].sum() / tot) if tot > 0 else float("nan")
