"""The paper's preprocessing as one transform for CPU tensors and batched GPU tensors.

resize to 224x224 -> median filter (k=3) -> Gaussian blur (sigma=1.0) ->
resize to the model's input size (profiles may train smaller) -> scale to
[0, 1] -> ImageNet normalisation. The denoised uint8 result is what gets
cached, so the expensive part runs once per image and size.

Training augmentation (flips, rotation within ±30°, scale 0.8-1.2,
brightness/contrast jitter) runs batched on whatever device holds the batch,
so a GPU never waits on CPU-side augmentation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from zoo.models.architectures import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402 - one definition
FILTER_SIZE = 224


@dataclass(frozen=True)
class PreprocessConfig:
    image_size: int = 224
    filter_size: int = FILTER_SIZE
    median_kernel: int = 3
    gaussian_sigma: float = 1.0
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) uint8 tensor."""
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).contiguous()


# Devillard's optimal 19-exchange network: the median of 9 values without sorting.
_MED9 = ((1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3), (5, 8), (4, 7),
         (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2))


def median_filter(x: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Per-channel k x k median on (B, C, H, W) tensors of any real dtype (reflect padding).

    k=3 runs a min/max exchange network over the 9 shifted views (fast on CPU
    and GPU); other sizes fall back to unfold + median.
    """
    if k <= 1:
        return x
    b, c, h, w = x.shape
    pad = k // 2
    xp = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    if k == 3:
        p = [xp[:, :, dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)]
        for i, j in _MED9:
            p[i], p[j] = torch.minimum(p[i], p[j]), torch.maximum(p[i], p[j])
        return p[4]
    patches = F.unfold(xp, kernel_size=k).view(b, c, k * k, h * w)
    return patches.median(dim=2).values.view(b, c, h, w)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    if sigma <= 0:
        return x
    radius = max(1, int(round(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    nhwc = torch.channels_last  # depthwise convs run ~3.5x faster in NHWC on CPU (oneDNN)
    x = F.pad(x, (radius, radius, 0, 0), mode="reflect").contiguous(memory_format=nhwc)
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    x = F.pad(x, (0, 0, radius, radius), mode="reflect").contiguous(memory_format=nhwc)
    return F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c).contiguous()


def denoise(batch: torch.Tensor, cfg: PreprocessConfig = PreprocessConfig(), chunk: int = 32) -> torch.Tensor:
    """uint8 (B, 3, H, W) of any size -> uint8 (B, 3, S, S) at ``cfg.image_size``, filtered at 224."""
    outs = []
    for i in range(0, batch.shape[0], chunk):
        x = batch[i:i + chunk]
        if x.shape[-2:] != (cfg.filter_size, cfg.filter_size):
            x = F.interpolate(x.float(), size=(cfg.filter_size, cfg.filter_size), mode="bilinear", antialias=True,
                              align_corners=False).round().clamp(0, 255).to(torch.uint8)
        # uint8 in, uint8 after the resize (the median commutes with rounding): on uint8 the median moves a
        # quarter of the bytes, ~8x faster on CPU (`python benchmarks/run.py kernels`)
        x = gaussian_blur(median_filter(x, cfg.median_kernel).float(), cfg.gaussian_sigma)
        if cfg.image_size != cfg.filter_size:
            x = F.interpolate(x, size=(cfg.image_size, cfg.image_size), mode="bilinear", antialias=True,
                              align_corners=False)
        outs.append(x.round().clamp(0, 255).to(torch.uint8))
    return torch.cat(outs) if outs else torch.empty(0, 3, cfg.image_size, cfg.image_size, dtype=torch.uint8)


def denoise_images(images: list[np.ndarray], cfg: PreprocessConfig = PreprocessConfig(), chunk: int = 64) -> torch.Tensor:
    """Images of differing sizes -> one uint8 (N, 3, S, S) tensor (same-sized images are batched)."""
    if not images:
        return torch.empty(0, 3, cfg.image_size, cfg.image_size, dtype=torch.uint8)
    out = torch.empty(len(images), 3, cfg.image_size, cfg.image_size, dtype=torch.uint8)
    by_shape: dict[tuple, list[int]] = {}
    for i, im in enumerate(images):
        by_shape.setdefault(im.shape, []).append(i)
    for idx in by_shape.values():
        for s in range(0, len(idx), chunk):
            part = idx[s:s + chunk]
            batch = torch.from_numpy(np.stack([images[i] for i in part])).permute(0, 3, 1, 2)
            out[part] = denoise(batch, cfg, chunk)
    return out


def normalize(x: torch.Tensor, cfg: PreprocessConfig = PreprocessConfig()) -> torch.Tensor:
    """uint8 or [0,255] float (B, 3, S, S) -> ImageNet-normalised float32."""
    mean = torch.tensor(cfg.mean, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(cfg.std, device=x.device).view(1, 3, 1, 1)
    return (x.float() / 255.0 - mean) / std


def preprocess(images: list[np.ndarray], cfg: PreprocessConfig = PreprocessConfig()) -> torch.Tensor:
    """Full transform for inference: list of RGB uint8 arrays -> normalised (N, 3, S, S)."""
    return normalize(denoise_images(images, cfg), cfg)


@dataclass(frozen=True)
class AugmentPolicy:
    """Augmentation strengths. ``paper`` is the study's recipe; ``gel`` keeps lane order
    and migration direction (a flipped gel swaps SP with λ and anode with cathode)."""

    hflip: bool = True
    vflip: bool = True
    max_rotation: float = 30.0
    scale: tuple[float, float] = (0.8, 1.2)
    jitter: float = 0.2


AUGMENT_POLICIES = {
    "paper": AugmentPolicy(),
    "gel": AugmentPolicy(hflip=False, vflip=False, max_rotation=4.0, scale=(0.92, 1.08), jitter=0.2),
    "none": AugmentPolicy(hflip=False, vflip=False, max_rotation=0.0, scale=(1.0, 1.0), jitter=0.0),
}


def augment(x: torch.Tensor, generator: torch.Generator | None = None,
            policy: AugmentPolicy = AUGMENT_POLICIES["paper"]) -> torch.Tensor:
    """Random flips, rotation, scale and brightness/contrast on a normalised float batch (any device)."""
    b = x.shape[0]
    dev = x.device

    def rand(*shape):
        return torch.rand(*shape, generator=generator).to(dev)

    if policy.hflip:
        x = torch.where((rand(b) < 0.5).view(b, 1, 1, 1), x.flip(-1), x)
    if policy.vflip:
        x = torch.where((rand(b) < 0.5).view(b, 1, 1, 1), x.flip(-2), x)
    if policy.max_rotation > 0 or policy.scale != (1.0, 1.0):
        ang = (rand(b) * 2 - 1) * (policy.max_rotation * np.pi / 180)
        s = policy.scale[0] + rand(b) * (policy.scale[1] - policy.scale[0])
        cos, sin = torch.cos(ang) / s, torch.sin(ang) / s
        zero = torch.zeros_like(cos)
        theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    if policy.jitter > 0:
        bright = (rand(b) * 2 - 1) * policy.jitter
        contrast = 1 + (rand(b) * 2 - 1) * policy.jitter
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * contrast.view(b, 1, 1, 1) + mean + bright.view(b, 1, 1, 1)
    return x
