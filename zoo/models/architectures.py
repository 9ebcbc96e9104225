"""The image backbones' facts (widths, Grad-CAM layers, minimum sizes) without importing torch.

The registry reads these at import; keeping them apart from ``networks.py`` means a clinical-only zoo,
the CLI and the dashboard start without loading torchvision.
"""
from __future__ import annotations

from dataclasses import dataclass

# ImageNet normalisation: every backbone's preprocessing derives from these (timm's PretrainedCfg habit).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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
    vgg_cfg: str | None = None    # torchvision's VGG layer table: the one family whose width can be scaled

    def features_at(self, width: float = 1.0) -> int:
        """Pooled feature width of this backbone at channel multiplier ``width``."""
        return self.features if width == 1.0 else scaled_channels(self.features, width)


def scaled_channels(channels: int, width: float) -> int:
    return max(8, int(round(channels * width)))


ARCHITECTURES: dict[str, Arch] = {
    "alexnet": Arch("alexnet", "AlexNet_Weights", "classifier", 256, "body.features.11", "AlexNet", 63, "avgpool"),
    "vgg16": Arch("vgg16", "VGG16_Weights", "classifier", 512, "body.features.29", "VGG16", 32, "avgpool",
                  vgg_cfg="D"),
    "vgg16_bn": Arch("vgg16_bn", "VGG16_BN_Weights", "classifier", 512, "body.features.42", "VGG16", 32, "avgpool",
                     vgg_cfg="D"),
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
