import numpy as np
import torch
import torch.nn.functional as F

from zoo.preprocess import (
    AUGMENT_POLICIES, PreprocessConfig, augment, denoise_images, gaussian_blur, median_filter, normalize, preprocess,
)


def test_median_network_equals_reference_median():
    x = torch.rand(3, 3, 37, 41)
    ref = F.unfold(F.pad(x, (1, 1, 1, 1), mode="reflect"), 3).view(3, 3, 9, -1).median(2).values.view(3, 3, 37, 41)
    assert torch.equal(median_filter(x, 3), ref)
    assert median_filter(x, 5).shape == x.shape


def test_uint8_median_equals_float_median():
    x = torch.randint(0, 256, (2, 3, 29, 33), dtype=torch.uint8)
    assert torch.equal(median_filter(x).float(), median_filter(x.float()))


def test_denoise_matches_the_float_reference_within_one_grey_level():
    """The fast path (uint8 median, NHWC blur) against the paper's transform written out in float."""
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (300, 260, 3), dtype=np.uint8)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float()
    x = F.interpolate(x, size=(224, 224), mode="bilinear", antialias=True, align_corners=False)
    x = F.interpolate(gaussian_blur(median_filter(x), 1.0), size=(64, 64), mode="bilinear", antialias=True,
                      align_corners=False)
    ref = x.round().clamp(0, 255)
    out = denoise_images([img], PreprocessConfig(image_size=64)).float()
    assert (out - ref).abs().max() <= 1


def test_median_removes_salt_noise():
    x = torch.zeros(1, 1, 20, 20)
    x[0, 0, 10, 10] = 255
    assert median_filter(x).max() == 0


def test_gaussian_blur_preserves_mass_and_smooths():
    x = torch.zeros(1, 3, 31, 31)
    x[..., 15, 15] = 1.0
    y = gaussian_blur(x, 1.0)
    assert torch.allclose(y.sum(dim=(2, 3)), torch.ones(1, 3), atol=1e-5)
    assert y.max() < 0.2


def test_pipeline_shapes_sizes_and_normalisation():
    imgs = [np.full((300, 200, 3), 128, np.uint8), np.zeros((224, 224, 3), np.uint8)]
    d = denoise_images(imgs, PreprocessConfig(image_size=64))
    assert d.shape == (2, 3, 64, 64) and d.dtype == torch.uint8
    x = preprocess(imgs, PreprocessConfig(image_size=96))
    assert x.shape == (2, 3, 96, 96) and x.dtype == torch.float32
    expected = (128 / 255 - 0.485) / 0.229
    assert abs(float(x[0, 0].mean()) - expected) < 1e-2


def test_batched_and_single_preprocessing_agree():
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 256, (224, 224, 3), dtype=np.uint8) for _ in range(3)]
    batched = denoise_images(imgs, PreprocessConfig(image_size=64))
    single = torch.cat([denoise_images([im], PreprocessConfig(image_size=64)) for im in imgs])
    assert torch.equal(batched, single)


def test_augment_keeps_shape_and_gel_policy_keeps_orientation():
    x = normalize(torch.randint(0, 255, (8, 3, 64, 64), dtype=torch.uint8))
    g = torch.Generator().manual_seed(0)
    y = augment(x, g, AUGMENT_POLICIES["paper"])
    assert y.shape == x.shape and not torch.allclose(x, y)
    # a gel with a dark top band stays dark at the top under the gel policy
    gel = torch.zeros(4, 3, 64, 64)
    gel[:, :, :8] = -2.0
    out = augment(gel, torch.Generator().manual_seed(1), AUGMENT_POLICIES["gel"])
    assert (out[:, :, :6].mean(dim=(1, 2, 3)) < out[:, :, 40:].mean(dim=(1, 2, 3))).all()
    same = augment(gel, torch.Generator().manual_seed(1), AUGMENT_POLICIES["none"])
    assert torch.equal(same, gel)
