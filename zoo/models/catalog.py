"""Every model of the study, registered once. Adding a model is one entry here.

Image models: AlexNet, VGG16, ResNet (18 default, 50 selectable), MobileNet
(v2 default, v3-large selectable), DenseNet121, for each image modality.
Clinical models: LR, RF, KNN, GB, AdaBoost, SVM, XGBoost, DT.
"""
from __future__ import annotations

from sklearn.ensemble import AdaBoostClassifier, GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from zoo.models.architectures import ARCHITECTURES
from zoo.models.registry import ModelConfig, register_model

MODALITY_PREFIX = {"marrow": "marrow", "electrophoresis": "ife"}
# Registered image architectures; True = trained by default (the others are selectable).
# VGG16 is torchvision's batch-normalised VGG16: plain VGG16 did not train from scratch in the CPU
# profiles' budget (loss stayed at ln 2 for 6 epochs at lr 1e-4..1e-3; docs/MODELS.md).
CNN_ARCHS = {"alexnet": True, "vgg16_bn": True, "resnet18": True, "resnet50": False, "mobilenet_v2": True,
             "mobilenet_v3_large": False, "densenet121": True}
DEFAULT_ARCHS = tuple(a for a, d in CNN_ARCHS.items() if d)
ARCH_DISPLAY = {"alexnet": "AlexNet", "vgg16_bn": "VGG16-BN", "resnet18": "ResNet-18", "resnet50": "ResNet-50",
                "mobilenet_v2": "MobileNetV2", "mobilenet_v3_large": "MobileNetV3-L", "densenet121": "DenseNet-121"}
# AlexNet has no BatchNorm and needs a smaller step when trained from scratch.
LR_SCALE = {"alexnet": 0.2}
# Augmentation per modality outside the paper profile: gels keep lane order and direction.
AUGMENT = {"marrow": "paper", "electrophoresis": "gel"}
# Channel multiplier outside the paper profile. VGG16-BN at full width was 47 % of the quick build on 2 cores
# (1890 of 3978 s); at half width it costs what ResNet-18 costs (docs/MODELS.md, docs/BENCHMARKS.md).
CPU_WIDTH = {"vgg16": 0.5, "vgg16_bn": 0.5}


# Epoch multiplier outside the paper profile, per (modality, arch). AlexNet has no BatchNorm: from scratch on
# one gel per patient (15 steps an epoch) its training loss stayed at ln 2 for the first 4-8 epochs and fell
# from about epoch 10 (docs/MODELS.md). The criterion is the training loss, not a held-out score.
EPOCH_SCALE = {("electrophoresis", "alexnet"): 8}


def _epochs(cfg: ModelConfig, profile) -> int:
    return profile.epochs * (1 if profile.name == "paper" else EPOCH_SCALE.get((cfg.modality, cfg.arch), 1))


def _width(arch: str, profile, overrides: dict) -> float:
    """ImageNet weights (``--pretrained``) fit only the full network, so asking for them keeps it."""
    return 1.0 if profile.name == "paper" or overrides.get("pretrained") else CPU_WIDTH.get(arch, 1.0)


def _cnn_factory(cfg: ModelConfig, profile, **overrides):
    from zoo.models.cnn import CNNClassifier

    params = dict(
        arch=cfg.arch, modality=cfg.modality, image_size=max(profile.image_size, ARCHITECTURES[cfg.arch].min_size),
        epochs=_epochs(cfg, profile),
        batch_size=profile.batch_size, lr=profile.lr * (1.0 if profile.name == "paper" else LR_SCALE.get(cfg.arch, 1.0)),
        betas=profile.betas, weight_decay=profile.weight_decay, dropout=profile.dropout,
        images_per_patient=profile.images_per_patient, width=_width(cfg.arch, profile, overrides),
        augment="paper" if profile.name == "paper" else AUGMENT[cfg.modality])
    if cfg.modality == "electrophoresis" and getattr(profile, "ife_view", "whole") == "lanes":
        params.update(view="lanes", image_size=max(profile.lane_height, ARCHITECTURES[cfg.arch].min_size),
                      lane_width=profile.lane_width)
    params.update(overrides)
    return CNNClassifier(**params)


# Marrow input per profile (issue 11). ``quick`` sees the smear at its scanned resolution: plasma-cell crops
# pooled per patient (the cell-level models below), not a whole field squeezed to 48 px, on which a plasma
# cell is 2–3 pixels across. ``paper`` keeps the study's 224-px whole field (and adds the cell models);
# ``test`` keeps the cheap whole field beside one cell model, for CI time.
WHOLE_FIELD_MARROW_PROFILES = ("paper", "test")

for _modality, _prefix in MODALITY_PREFIX.items():
    for _arch, _default in CNN_ARCHS.items():
        _a = ARCHITECTURES[_arch]
        register_model(ModelConfig(
            name=f"{_prefix}_{_arch}", modality=_modality, family="cnn", arch=_arch,
            display=f"{ARCH_DISPLAY[_arch]} ({'marrow' if _modality == 'marrow' else 'IFE'})",
            paper_name=_a.paper_name, default=_default, target_layer=_a.target_layer,
            default_profiles=WHOLE_FIELD_MARROW_PROFILES if _modality == "marrow" else None,
        ))(_cnn_factory)


# ----- cell-level marrow models (crops of segmented plasma cells) ---------------------------
# Every architecture is trained by default in ``paper`` and ``quick``; ``test`` trains the ResNet-18 one only.
CELL_DEFAULT_CPU = ("resnet18",)
CELL_CROP = 32  # pixels; AlexNet needs 64
# Crops of one smear a cell-level model pools at prediction in the CPU profiles (docs/MODELS.md, "Cells pooled
# per smear"): VGG16-BN's training-fold AUC did not move past 16; a whole build then showed every architecture
# 0.001-0.005 lower on OOF, for a prediction 40 % faster. The paper profile pools every cell.
CELL_POOL_PER_IMAGE = 16


def _cell_factory(cfg: ModelConfig, profile, **overrides):
    from zoo.models.cells import CellBagClassifier

    params = dict(
        arch=cfg.arch, modality="marrow", image_size=max(CELL_CROP, ARCHITECTURES[cfg.arch].min_size),
        epochs=profile.epochs, batch_size=max(profile.batch_size, 64),
        lr=profile.lr * (1.0 if profile.name == "paper" else LR_SCALE.get(cfg.arch, 1.0)), betas=profile.betas,
        weight_decay=profile.weight_decay, dropout=profile.dropout,
        images_per_patient=profile.cells_per_patient, augment="paper", width=_width(cfg.arch, profile, overrides),
        max_cells_per_image=None if profile.name == "paper" else CELL_POOL_PER_IMAGE)
    params.update(overrides)
    return CellBagClassifier(**params)


for _arch, _default in CNN_ARCHS.items():
    _a = ARCHITECTURES[_arch]
    register_model(ModelConfig(
        name=f"marrow_cell_{_arch}", modality="marrow", family="cell", arch=_arch,
        display=f"{ARCH_DISPLAY[_arch]} on plasma cells (marrow)", paper_name=f"{_a.paper_name} (cells)",
        default=_default, default_profiles=None if _arch in CELL_DEFAULT_CPU else ("paper", "quick"),
        target_layer=_a.target_layer,
    ))(_cell_factory)


# ----- joint (intermediate) fusion: one network over all three modalities (zoo/models/joint.py) ----
# Not in the study. Epochs: the compact network is cheap, and from scratch it needs more passes than the
# fine-tuned backbones; the IFE branch reads the lane view at the test profile's 64 rows in the CPU profiles.
JOINT_EPOCHS = {"test": 3, "quick": 15, "paper": 60}


def _joint_factory(cfg: ModelConfig, profile, **overrides):
    from zoo.models.joint import JointFusionClassifier

    params = dict(crop_size=CELL_CROP, lane_height=64 if profile.name != "paper" else profile.lane_height,
                  lane_width=profile.lane_width, epochs=JOINT_EPOCHS.get(profile.name, 3 * profile.epochs),
                  batch_size=32, lr=1e-3, weight_decay=profile.weight_decay,
                  max_cells_per_image=None if profile.name == "paper" else CELL_POOL_PER_IMAGE)
    params.update(overrides)
    return JointFusionClassifier(**params)


register_model(ModelConfig(
    name="joint_fusion", modality="multimodal", family="joint", display="Joint fusion network",
    paper_name="— (not in the study)",
    intended_use="Research only: an intermediate-fusion network trained end to end with modality dropout, shown "
                 "beside the study's late-fusion ensembles. " + "Not a medical device; not for treatment decisions.",
))(_joint_factory)


# ----- clinical models ---------------------------------------------------------------------
# grids per profile size; the first value of each list is the tiny profile's fixed choice
def _grid(profile, full: dict, small: dict | None = None, tiny: dict | None = None) -> dict:
    if profile.grid == "tiny":
        return tiny if tiny is not None else {k: v[:1] for k, v in (small or full).items()}
    if profile.grid == "small":
        return small or full
    return full


def _clinical(name: str, display: str, paper: str, family: str = "sklearn"):
    def deco(make):
        def factory(cfg: ModelConfig, profile, **overrides):
            from zoo.models.clinical import TunedClinicalModel

            est, grid = make(profile, overrides.pop("seed", 0))
            return TunedClinicalModel(estimator=est, param_grid=grid, inner_folds=profile.inner_folds,
                                      imputer=overrides.pop("imputer", "knn"), **overrides)

        register_model(ModelConfig(name=name, modality="clinical", family=family, display=display,
                                   paper_name=paper))(factory)
        return make
    return deco


@_clinical("clinical_lr", "Logistic regression", "LR")
def _lr(profile, seed):
    return (LogisticRegression(max_iter=5000, class_weight="balanced"),
            _grid(profile, {"C": [0.03, 0.1, 0.3, 1.0, 3.0]}, {"C": [0.1, 0.3, 1.0]}, {"C": [0.3]}))


@_clinical("clinical_rf", "Random forest", "RF")
def _rf(profile, seed):
    n = {"tiny": 50, "small": 200, "full": 400}[profile.grid]
    return (RandomForestClassifier(n_estimators=n, class_weight="balanced_subsample", random_state=seed, n_jobs=1),
            _grid(profile, {"max_depth": [3, 5, 8, None], "min_samples_leaf": [1, 5, 10]},
                  {"max_depth": [4, None], "min_samples_leaf": [5, 10]}, {"max_depth": [4], "min_samples_leaf": [5]}))


@_clinical("clinical_knn", "k-nearest neighbours", "KNN")
def _knn(profile, seed):
    return (KNeighborsClassifier(),
            _grid(profile, {"n_neighbors": [5, 15, 31, 51], "weights": ["uniform", "distance"]},
                  {"n_neighbors": [15, 31, 51]}, {"n_neighbors": [7]}))


@_clinical("clinical_gb", "Gradient boosting", "GB")
def _gb(profile, seed):
    n = {"tiny": 30, "small": 100, "full": 200}[profile.grid]
    return (GradientBoostingClassifier(n_estimators=n, subsample=0.8, random_state=seed),
            _grid(profile, {"learning_rate": [0.03, 0.1], "max_depth": [2, 3]},
                  {"learning_rate": [0.05], "max_depth": [2, 3]}, {"learning_rate": [0.1], "max_depth": [2]}))


@_clinical("clinical_adaboost", "AdaBoost", "AdaBoost")
def _ada(profile, seed):
    return (AdaBoostClassifier(random_state=seed),
            _grid(profile, {"n_estimators": [50, 150], "learning_rate": [0.1, 0.5, 1.0]},
                  {"n_estimators": [100], "learning_rate": [0.1, 0.5]}, {"n_estimators": [30], "learning_rate": [0.5]}))


@_clinical("clinical_svm", "Support vector machine", "SVM")
def _svm(profile, seed):
    from sklearn.calibration import CalibratedClassifierCV

    # Platt-scaled SVM probabilities (scikit-learn's replacement for SVC(probability=True))
    return (CalibratedClassifierCV(SVC(kernel="rbf", class_weight="balanced", random_state=seed), ensemble=False),
            _grid(profile, {"estimator__C": [0.1, 0.3, 1.0, 3.0], "estimator__gamma": ["scale", 0.01]},
                  {"estimator__C": [0.3, 1.0]}, {"estimator__C": [1.0]}))


@_clinical("clinical_xgb", "XGBoost", "XGBoost", family="xgboost")
def _xgb(profile, seed):
    from xgboost import XGBClassifier

    n = {"tiny": 30, "small": 150, "full": 300}[profile.grid]
    return (XGBClassifier(n_estimators=n, subsample=0.8, colsample_bytree=0.8, tree_method="hist", n_jobs=1,
                          random_state=seed, eval_metric="logloss"),
            _grid(profile, {"max_depth": [2, 3, 4], "learning_rate": [0.03, 0.1]},
                  {"max_depth": [2, 3], "learning_rate": [0.05]}, {"max_depth": [2], "learning_rate": [0.1]}))


@_clinical("clinical_dt", "Decision tree", "DT")
def _dt(profile, seed):
    return (DecisionTreeClassifier(class_weight="balanced", random_state=seed),
            _grid(profile, {"max_depth": [2, 3, 4, 6], "min_samples_leaf": [5, 20]},
                  {"max_depth": [3, 4], "min_samples_leaf": [10]}, {"max_depth": [3], "min_samples_leaf": [10]}))



# ----- staging systems as reference models (zoo/models/staging.py) --------------------------
# Not ensemble members and never the "best single model": they are what the models are compared with.
STAGING_MODELS = {"ref_iss": "iss", "ref_riss": "riss", "ref_r2iss": "r2iss", "ref_imwg": "imwg_hr"}


def _staging_factory(cfg: ModelConfig, profile, **overrides):
    from zoo.models.staging import StagingModel

    overrides.pop("seed", None)  # nothing random to seed
    return StagingModel(system=cfg.extra["system"], **overrides)


def _register_staging() -> None:
    from zoo.schema.derived import STAGING_SYSTEMS

    for _name, _system in STAGING_MODELS.items():
        s = STAGING_SYSTEMS[_system]
        register_model(ModelConfig(name=_name, modality="reference", family="staging", display=s.display,
                                   paper_name=s.display, extra={"system": _system, "citation": s.citation},
                                   intended_use="Reference only: a staging system's training progression rate "
                                                "per stage, the baseline every model is compared with."))(
            _staging_factory)


_register_staging()
