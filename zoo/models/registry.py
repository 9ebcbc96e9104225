"""The model registry (timm style): one entry per model, read by training,
the leaderboard and the predictor.

``register_model`` adds a factory and its frozen config; ``create_model``
builds an unfitted estimator for a profile; ``list_models`` filters by
pattern, modality or the default training set. Names are unique; unknown
names raise with the list of valid ones.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Callable

from zoo.errors import UnknownModelError
from zoo.models.architectures import IMAGENET_MEAN, IMAGENET_STD

CLASS_NAMES = ("non-PD", "PD")
INTENDED_USE = ("Research and demonstration only: estimates 2-year progression risk in NDMM on bortezomib-based "
                "induction. Not a medical device; not for treatment decisions.")


@dataclass(frozen=True)
class ModelConfig:
    name: str
    modality: str            # clinical | marrow | electrophoresis | multimodal (joint fusion) | reference
    family: str              # cnn | sklearn | xgboost | cell | joint | staging
    display: str
    paper_name: str          # the study's label (ResNet, DenseNet, LR, ...)
    arch: str | None = None
    default: bool = True     # part of a default zoo build
    default_profiles: tuple[str, ...] | None = None  # restrict "default" to these profiles (None = all)
    input_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    class_names: tuple[str, str] = CLASS_NAMES
    target_layer: str | None = None  # Grad-CAM layer, relative to the network module
    version: str = "1"
    intended_use: str = INTENDED_USE
    extra: dict = field(default_factory=dict)


_REGISTRY: dict[str, tuple[ModelConfig, Callable]] = {}


def register_model(cfg: ModelConfig) -> Callable[[Callable], Callable]:
    """Decorator: ``@register_model(ModelConfig(...))`` over ``factory(cfg, profile, **overrides)``."""

    def deco(factory: Callable) -> Callable:
        if cfg.name in _REGISTRY:
            raise ValueError(f"Model {cfg.name!r} is registered twice. Pick a unique name.")
        _REGISTRY[cfg.name] = (cfg, factory)
        return factory

    return deco


def _ensure_loaded() -> None:
    # Registration happens on import of the model modules; keep it lazy for fast startup.
    from zoo.models import catalog  # noqa: F401


def list_models(pattern: str = "*", modality: str | None = None, default_only: bool = False,
                family: str | None = None, profile: str | None = None) -> list[str]:
    """Registered names; ``default_only`` keeps a default build's models (for ``profile`` when given)."""
    _ensure_loaded()

    def is_default(c: ModelConfig) -> bool:
        return c.default and (profile is None or c.default_profiles is None or profile in c.default_profiles)

    return [n for n, (c, _) in _REGISTRY.items()
            if fnmatch.fnmatch(n, pattern) and (modality is None or c.modality == modality)
            and (not default_only or is_default(c)) and (family is None or c.family == family)]


def model_config(name: str) -> ModelConfig:
    _ensure_loaded()
    if name not in _REGISTRY:
        raise UnknownModelError(f"Expected a registered model. Got {name!r}. Valid: {', '.join(_REGISTRY)}.")
    return _REGISTRY[name][0]


def create_model(name: str, profile=None, **overrides):
    """Unfitted estimator for ``name`` under ``profile`` (a Profile or its name)."""
    from zoo.training.profiles import Profile, get_profile

    cfg = model_config(name)
    prof = profile if isinstance(profile, Profile) else get_profile(profile or "quick")
    return _REGISTRY[name][1](cfg, prof, **overrides)
