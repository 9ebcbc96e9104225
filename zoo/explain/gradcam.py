"""Grad-CAM / Grad-CAM++ for every registered image model (pytorch-grad-cam).

The target layer comes from the model's registry config (ResNet: layer4[-1];
VGG/AlexNet: the last ReLU of ``features``; DenseNet/MobileNet: features[-1]).
Hooks mutate a module, so every call works on a private copy of the network:
a model shared between Streamlit sessions is never hooked.
"""
from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from zoo.models.networks import ARCHITECTURES, MIN_CAM_SIDE, deepest_layer_with_map, model_cam_layer, resolve_layer
from zoo.preprocess import PreprocessConfig, denoise_images, normalize

CAM_METHODS = ("gradcam", "gradcam++")
CAM_CLASSES = ("pd", "predicted", "non-pd")
# Which class's evidence a map shows: "pd" (class PD for every input), "predicted" (the class each network
# input is called, pytorch-grad-cam's default) or "non-pd" (class non-PD for every input: the evidence against
# progression). Grad-CAM keeps only positive evidence for its class, so where a modality signals risk by an
# absence (a gel's depleted polyclonal smear) the PD map cannot land on it, and the non-PD map can.
CAM_CLASS = "pd"


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
    cells_found: int | None = None  # cell-level models: plasma cells the segmenter found (``tiles`` are those pooled)


def _cam_class(method: str):
    from pytorch_grad_cam import GradCAM, GradCAMPlusPlus

    try:
        return {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus}[method]
    except KeyError:
        raise ValueError(f"Expected a CAM method in {CAM_METHODS}. Got {method!r}.") from None


def cam_targets(n: int):
    """pytorch-grad-cam ``targets`` for a batch of ``n`` inputs under ``CAM_CLASS`` (None: each input's
    highest-scoring class)."""
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    if CAM_CLASS not in CAM_CLASSES:
        raise ValueError(f"Expected a CAM class in {CAM_CLASSES}. Got {CAM_CLASS!r}.")
    if CAM_CLASS == "predicted":
        return None
    return [ClassifierOutputTarget({"pd": 1, "non-pd": 0}[CAM_CLASS])] * n


def _cam_probabilities(cam, net: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    """P(PD) of the batch a CAM object has just been called on. pytorch-grad-cam keeps its forward's logits as
    ``outputs``: reading them saves a second forward of the same input (the same numbers). A version that
    does not keep them gets that forward."""
    logits = getattr(cam, "outputs", None)
    if logits is None:
        with torch.no_grad():
            logits = net(x)
    return torch.softmax(logits.detach(), 1)[:, 1].numpy()


@contextlib.contextmanager
def gradients_from(net: torch.nn.Module, layer: torch.nn.Module):
    """Backpropagate only from the class score down to ``layer`` on ``net`` (a private copy).

    Why: Grad-CAM needs the gradient at its layer, nothing below it and no weight's gradient, yet autograd
    would build the whole network's graph and compute every weight's gradient. Here no weight requires a
    gradient and the layer's output starts the graph (a forward hook registered before the CAM's own, so the
    CAM stores and hooks the tensor the rest of the network reads), so the backward runs through the layers
    after it only. The activations and their gradients are those of the full backward (bit-identical on this
    platform's CPU kernels, tests/explain/test_gradients_from.py; a platform whose kernels differ when nothing
    needs a gradient could differ in the last bits, as ``predict``'s no-grad forward would); the weights'
    ``requires_grad`` flags are restored on exit."""
    def start_graph(module, args, output):
        # ``* 1.0``: a tensor with a graph node, so a following in-place op (ReLU) acts on it as it would on
        # the layer's own output, not on a leaf (which autograd refuses)
        return output.detach().requires_grad_(True) * 1.0

    params = [p for p in net.parameters() if p.requires_grad]
    handle = None
    try:
        for p in params:
            p.requires_grad_(False)
        handle = layer.register_forward_hook(start_graph)
        yield
    finally:
        if handle is not None:
            handle.remove()
        for p in params:
            p.requires_grad_(True)


def target_layer_name(arch: str) -> str:
    return ARCHITECTURES[arch].target_layer


def grad_cam(estimator, image: np.ndarray, method: str = "gradcam", display_size: int = 224) -> CamResult:
    """CAM of one RGB image for the ``CAM_CLASS`` target (the PD logit by default); FoldBag models average their
    members' maps."""
    from pytorch_grad_cam.utils.image import show_cam_on_image

    members = getattr(estimator, "members", [estimator])
    if hasattr(members[0], "predict_crops"):
        return cell_cam(estimator, image, method, display_size)
    size = members[0].image_size
    lanes = None
    if getattr(members[0], "view", "whole") == "lanes":  # a gel: the map is computed on its straightened lanes
        from zoo.lanes import lane_view

        view, lanes = lane_view(image, size, members[0].lane_width, getattr(members[0], "lane_density", "raw"))
        x8 = torch.from_numpy(view).permute(2, 0, 1)[None].contiguous()
    else:
        x8 = denoise_images([image], PreprocessConfig(image_size=size))
    cams, probs = [], []
    for m in members:
        net = copy.deepcopy(m.net_).float().cpu().eval()  # private copy: hooks never touch the shared model
        layer = model_cam_layer(net, m, tuple(x8.shape[-2:]))
        # one input through the batched path: its check that no map was swallowed keeps a failed member from
        # silently leaving the average
        c, p = cams_in_batches(net, layer, x8, method, 1)
        cams.append(c[0])
        probs.append(float(p[0]))
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
CELL_CAM_BATCH = 64  # crops per Grad-CAM forward/backward: large enough to amortise, small enough for memory


class CellMaps(NamedTuple):
    stitched: np.ndarray   # (H, W) at the image's size, in [0, 1]
    tiles: list            # one zoo.explain.stitch.Tile per plasma-cell crop
    probability: float     # the patient's pooled P(PD) from these crops
    uniform: np.ndarray    # the same stitching of all-ones crop maps: the chance map
    layer: str | None      # the CAM layer (None without crops)
    members: tuple = ()    # with ``per_member``: one (stitched, uniform) pair per fold member, its own crops'
    #                        maps and pooling weights (how much one training run's map differs from another's)


class SmearCrops(NamedTuple):
    """What a cell-level map needs from one smear: its crops, where they lie, and the smear's size. Keeping
    only these (not the image) lets a whole evaluation's smears be mapped in one pass."""
    crops: np.ndarray             # uint8 (n, 3, S, S), ``crops_from``
    boxes: np.ndarray             # (n, 4) x0, y0, x1, y1 of each crop on the smear, ``crop_boxes``
    shape: tuple[int, int]        # the smear's (H, W)


class _MemberOutputs(NamedTuple):
    cams: np.ndarray       # (N, S, S) every crop's CAM
    probs: np.ndarray      # (N,) every crop's P(PD)
    weights: np.ndarray    # (N,) every crop's share of its own smear's pooled prediction
    patient: list[float]   # one pooled P(PD) per smear (NaN without crops)
    layer: str


def smear_crops(estimator, image: np.ndarray, labels: np.ndarray, instances: list[dict]) -> SmearCrops:
    """The plasma-cell crops a cell-level model pools for one smear (``pooled``: at most its limit per smear),
    with their boxes on it."""
    from zoo.segment.cells import crop_boxes, crops_from

    first = getattr(estimator, "members", [estimator])[0]
    pooled = first.pooled(instances)  # only the cells the prediction pools get a map
    return SmearCrops(crops_from(image, labels, pooled, first.image_size, first.mask_background),
                      crop_boxes(image.shape[:2], pooled), tuple(image.shape[:2]))


def cell_maps(estimator, image: np.ndarray, labels: np.ndarray, instances: list[dict],
              method: str = "gradcam") -> CellMaps:
    """A cell-level model's map on the whole smear. Each plasma-cell crop's CAM is computed at the crop's native resolution,
    on the deepest layer whose map is at least 4×4, and placed back on its box, scaled by the crop's weight in
    the pooled prediction (``zoo.explain.stitch``). The uniform map is the same stitching of all-ones crop maps:
    the map of a network that looked nowhere in particular, whose attention on target is the chance level.
    One smear through ``cell_maps_many``, so the dashboard and the attention table share one definition."""
    return next(cell_maps_many(estimator, [smear_crops(estimator, image, labels, instances)], method))


def cell_maps_many(estimator, smears: Sequence[SmearCrops], method: str = "gradcam",
                   batch: int = CELL_CAM_BATCH, per_member: bool = False) -> Iterator[CellMaps]:
    """``cell_maps`` of many smears, in order. Every smear's crops go through one private copy and one CAM
    context per fold member in batches of ``batch`` crops, whatever smear they come from: a crop's CAM and
    P(PD) depend on that crop alone. Pooling weights (mean or attention MIL) are computed smear by smear:
    the model pools all of a patient's smears together, so a tile's weight and the ``probability`` here are
    within its smear (the stitched map is the same either way: a softmax over a subset is a rescaling, and
    ``stitch`` scales by the heaviest tile). Stitching is lazy: one smear's full-size maps at a time.
    ``per_member`` also stitches each fold member's own maps (``CellMaps.members``): the bag's figure is an
    average of training runs, and the members show how far one run's attention is from another's."""
    counts = [len(s.crops) for s in smears]
    bounds = np.concatenate([[0], np.cumsum(counts)]).astype(int)
    if bounds[-1] == 0:
        yield from (_empty_maps(s.shape) for s in smears)
        return
    x8 = torch.from_numpy(np.concatenate([s.crops for s in smears if len(s.crops)]))
    outs = [_member_outputs(m, x8, bounds, method, batch) for m in getattr(estimator, "members", [estimator])]
    cam_tiles = np.mean([o.cams for o in outs], axis=0)
    w, p = np.mean([o.weights for o in outs], axis=0), np.mean([o.probs for o in outs], axis=0)
    for i, s in enumerate(smears):
        a, b = bounds[i], bounds[i + 1]
        if a == b:
            yield _empty_maps(s.shape)
            continue
        patient = float(np.mean([o.patient[i] for o in outs]))
        maps = _stitched_maps(s, cam_tiles[a:b], w[a:b], p[a:b], patient, outs[-1].layer)
        if per_member:
            maps = maps._replace(members=tuple(_member_maps(s, o.cams[a:b], o.weights[a:b], w[a:b], maps.uniform)
                                               for o in outs))
        yield maps


def _member_maps(smear: SmearCrops, cams: np.ndarray, weights: np.ndarray, bag_weights: np.ndarray,
                 bag_uniform: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One fold member's (stitched, uniform) maps on a smear. Under mean pooling every member weighs the crops
    equally, so its chance map is the bag's and is not stitched again."""
    from zoo.explain.stitch import stitch

    same = np.allclose(weights, bag_weights)
    return (stitch(cams, smear.boxes, smear.shape, weights),
            bag_uniform if same else stitch(np.ones_like(cams), smear.boxes, smear.shape, weights))


def _empty_maps(shape: tuple[int, int]) -> CellMaps:
    """A smear without plasma-cell crops: nothing to map, no pooled probability."""
    return CellMaps(np.zeros(shape, np.float32), [], float("nan"), np.zeros(shape, np.float32), None)


def _stitched_maps(smear: SmearCrops, cams: np.ndarray, weights: np.ndarray, probs: np.ndarray,
                   patient: float, layer: str) -> CellMaps:
    """One smear's crop maps (members already averaged) placed back on the smear, with the chance map."""
    from zoo.explain.stitch import Tile, stitch

    stitched = stitch(cams, smear.boxes, smear.shape, weights)
    uniform = stitch(np.ones_like(cams), smear.boxes, smear.shape, weights)
    tiles = [Tile(tuple(int(v) for v in b), float(wi), float(pi)) for b, wi, pi in zip(smear.boxes, weights, probs)]
    return CellMaps(stitched, tiles, patient, uniform, layer)


def _member_outputs(m, x8: torch.Tensor, bounds: np.ndarray, method: str, batch: int) -> _MemberOutputs:
    """One fold member on every crop: CAMs and P(PD) from the same forward, then its pooling per smear."""
    net = copy.deepcopy(m.net_).float().cpu().eval()  # private copy: hooks never touch the shared model
    layer = deepest_layer_with_map(net, tuple(x8.shape[-2:]), CELL_CAM_MIN_SIDE)
    cams, probs = cams_in_batches(net, layer, x8, method, batch)
    weights, patient = _pool_per_smear(m, net, x8, probs, bounds, batch)
    return _MemberOutputs(cams, probs, weights, patient, layer)


def cams_in_batches(net: torch.nn.Module, layer: str, x8: torch.Tensor, method: str,
               batch: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, S, S) CAMs of the ``CAM_CLASS`` target (class PD by default) and (N,) P(PD) of uint8 inputs (crops, lane views), ``batch`` per
    forward/backward, on ``net`` (a private copy: the CAM hooks it)."""
    cams, probs = [], []
    target = resolve_layer(net, layer)
    with gradients_from(net, target), _cam_class(method)(model=net, target_layers=[target]) as cam:
        for s in range(0, len(x8), batch):
            xb = normalize(x8[s:s + batch])
            cams.append(cam(input_tensor=xb, targets=cam_targets(len(xb))))
            probs.append(_cam_probabilities(cam, net, xb))
    # pytorch-grad-cam's context manager swallows an IndexError (numpy's AxisError among them) raised inside it:
    # never return a partial batch
    if sum(len(c) for c in cams) != len(x8) or sum(len(p) for p in probs) != len(x8):
        raise RuntimeError(f"Grad-CAM returned maps for {sum(len(c) for c in cams)} of {len(x8)} inputs.")
    return np.concatenate(cams), np.concatenate(probs)


def _pool_per_smear(m, net: torch.nn.Module, x8: torch.Tensor, probs: np.ndarray, bounds: np.ndarray,
                    batch: int) -> tuple[np.ndarray, list[float]]:
    """Each crop's weight in its smear's pooled prediction and each smear's pooled P(PD). Attention MIL is a
    softmax over one smear's crops, so it is applied smear by smear, never across smears."""
    spans = list(zip(bounds[:-1], bounds[1:]))
    pool = getattr(m, "attention_", None)
    if pool is None:  # mean pooling: every crop of a smear an equal share
        weights = [np.full(b - a, 1.0 / (b - a)) for a, b in spans if b > a]
        patient = [float(probs[a:b].mean()) if b > a else float("nan") for a, b in spans]
        return np.concatenate(weights), patient
    with torch.no_grad():
        emb = torch.cat([net.embed(normalize(x8[s:s + batch])) for s in range(0, len(x8), batch)])
        weights, patient = [], []
        for a, b in spans:
            if b == a:
                patient.append(float("nan"))
                continue
            logit, att = pool(emb[a:b])
            weights.append(att.numpy())
            patient.append(float(torch.sigmoid(logit)))
    return np.concatenate(weights), patient


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
    from zoo.segment.cells import plasma_instances

    found = len(plasma_instances(instances))
    return CamResult(cam=cam_big, overlay=overlay, image=disp, probability=maps.probability, method=method,
                     layer=layer, tiles=maps.tiles, uniform=maps.uniform, cells_found=found)


def energy_inside(cam: np.ndarray, mask: np.ndarray) -> float:
    """Share of the CAM's energy that falls inside ``mask`` (same shape, resized if needed)."""
    if mask.shape != cam.shape:
        from PIL import Image

        mask = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(cam.shape[::-1], Image.NEAREST)) > 0
    tot = float(cam.sum())
    return float(cam[mask.astype(bool)].sum() / tot) if tot > 0 else float("nan")
