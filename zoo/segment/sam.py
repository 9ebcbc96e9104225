"""Segment Anything (segment-anything's SamPredictor / SamAutomaticMaskGenerator).

Checkpoints are not shipped and never downloaded: the caller passes a local
path. The model is built by ``sam_model_registry[model]`` and its weights are
loaded with ``torch.load(..., weights_only=True)`` (tensors only, no code).
With annotation points each point prompts one mask (one instance per
annotated cell); without, the automatic generator's masks are filtered by
size and roundness and called plasma cells by the same colour rule as the
classical segmenter.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from zoo.segment.base import Segmentation, instance_record, register_segmenter

SAM_MODELS = ("vit_b", "vit_l", "vit_h")


def load_sam(model_type: str, checkpoint: str | Path):
    import torch
    from segment_anything import sam_model_registry

    if model_type not in SAM_MODELS:
        raise ValueError(f"Expected --sam-model in {SAM_MODELS}. Got {model_type!r}.")
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"Expected a SAM checkpoint at {path}. Got no file. Download it yourself and pass "
                                "its path; MyeloZoo never downloads weights.")
    sam = sam_model_registry[model_type](checkpoint=None)
    sam.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return sam.eval()


class SamSegmenter:
    def __init__(self, sam=None, checkpoint: str | Path | None = None, model_type: str = "vit_b",
                 min_area: int = 40, max_area_fraction: float = 0.05, min_roundness: float = 0.55,
                 points_per_side: int = 16) -> None:
        self.sam = sam if sam is not None else load_sam(model_type, checkpoint)
        self.model_type = model_type
        self.checkpoint_sha256 = (hashlib.sha256(Path(checkpoint).read_bytes()).hexdigest()
                                  if checkpoint is not None else None)
        self.name = f"sam-{model_type}" + ("" if checkpoint is not None else "-untrained")
        self.min_area = min_area
        self.max_area_fraction = max_area_fraction
        self.min_roundness = min_roundness
        self.points_per_side = points_per_side

    def segment(self, img: np.ndarray, points: list | None = None) -> Segmentation:
        from zoo.segment.classical import ClassicalSegmenter

        h, w = img.shape[:2]
        labels = np.zeros((h, w), np.uint16)
        instances = []
        if points:
            from segment_anything import SamPredictor

            predictor = SamPredictor(self.sam)  # per call: the predictor holds the image embedding
            predictor.set_image(img)
            for i, (x, y) in enumerate(points, start=1):
                masks, _, _ = predictor.predict(point_coords=np.array([[x, y]], dtype=float),
                                                point_labels=np.array([1]), multimask_output=False)
                m = masks[0].astype(bool) & (labels == 0)
                labels[m] = i
                instances.append(instance_record(labels, i, True, (x, y)) if m.any() else
                                 {"id": i, "area": 0, "is_plasma": True, "bbox": None, "centroid": None,
                                  "point": [float(x), float(y)]})
            return Segmentation(labels, instances, self.name, prompted=True)
        from segment_anything import SamAutomaticMaskGenerator

        gen = SamAutomaticMaskGenerator(self.sam, points_per_side=self.points_per_side)
        rule = ClassicalSegmenter()
        s = (h / rule.reference_size) ** 2
        k = 0
        for ann in sorted(gen.generate(img), key=lambda a: -a["area"]):
            m = ann["segmentation"].astype(bool) & (labels == 0)
            area = int(m.sum())
            if area < self.min_area * s or area > self.max_area_fraction * h * w:
                continue
            if _roundness(m) < self.min_roundness:
                continue
            k += 1
            labels[m] = k
            instances.append(instance_record(labels, k, rule._looks_plasma(img, m, s)))
        return Segmentation(labels, instances, self.name, prompted=False)


def _roundness(m: np.ndarray) -> float:
    """4πA / P², 1 for a disc."""
    from skimage.measure import perimeter

    p = perimeter(m)
    return float(4 * np.pi * m.sum() / (p * p)) if p > 0 else 0.0


@register_segmenter("sam")
def _sam(**kw) -> SamSegmenter:
    return SamSegmenter(**kw)


def tiny_random_sam(img_size: int = 64, embed_dim: int = 32, seed: int = 0):
    """A randomly initialised, tiny SAM built from ``segment_anything.modeling`` (tests and demos of the plumbing)."""
    import torch
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    torch.manual_seed(seed)
    patch = 16
    grid = img_size // patch
    enc = ImageEncoderViT(img_size=img_size, patch_size=patch, embed_dim=embed_dim, depth=1, num_heads=2,
                          out_chans=embed_dim, window_size=0, global_attn_indexes=())
    prompt = PromptEncoder(embed_dim=embed_dim, image_embedding_size=(grid, grid), input_image_size=(img_size, img_size),
                           mask_in_chans=4)
    dec = MaskDecoder(num_multimask_outputs=3, transformer=TwoWayTransformer(depth=1, embedding_dim=embed_dim,
                                                                             mlp_dim=64, num_heads=2),
                      transformer_dim=embed_dim, iou_head_depth=1, iou_head_hidden_dim=16)
    return Sam(image_encoder=enc, prompt_encoder=prompt, mask_decoder=dec).eval()
