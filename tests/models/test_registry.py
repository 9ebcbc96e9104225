import numpy as np
import pytest

from zoo.errors import UnknownModelError
from zoo.models import create_model, list_models, model_config, register_model

PAPER_CLINICAL = {"LR", "RF", "KNN", "GB", "AdaBoost", "SVM", "XGBoost", "DT"}
PAPER_CNN = {"AlexNet", "VGG16", "ResNet", "MobileNet", "DenseNet"}


def test_registry_lists_every_model_of_the_paper():
    clinical = {model_config(n).paper_name for n in list_models(modality="clinical")}
    assert clinical == PAPER_CLINICAL
    for mod in ("marrow", "electrophoresis"):
        assert {model_config(n).paper_name for n in list_models(modality=mod, default_only=True, family="cnn",
                                                                profile="paper")} == PAPER_CNN
    assert {model_config(n).arch for n in list_models(family="cell")} == {model_config(n).arch
                                                                         for n in list_models("marrow_*", family="cnn")}
    # quick sees marrow at native resolution only (plasma-cell crops), every architecture of the study
    assert {model_config(n).paper_name for n in list_models(family="cell", default_only=True, profile="quick")} \
        == {f"{p} (cells)" for p in PAPER_CNN}
    assert not list_models("marrow_*", family="cnn", default_only=True, profile="quick")
    assert list_models(family="cell", default_only=True, profile="test") == ["marrow_cell_resnet18"]
    assert len(list_models(family="cell", default_only=True, profile="paper")) == 5
    assert len(list_models("marrow_*", family="cnn", default_only=True, profile="paper")) == 5
    assert "marrow_resnet50" in list_models("marrow_*") and not model_config("marrow_resnet50").default
    assert "ife_mobilenet_v3_large" in list_models(modality="electrophoresis")


def test_unknown_model_lists_valid_names():
    with pytest.raises(UnknownModelError, match=r"Expected a registered model\. Got 'ife_resnet999'.*ife_resnet18"):
        model_config("ife_resnet999")


def test_registering_a_name_twice_raises():
    cfg = model_config("clinical_lr")
    with pytest.raises(ValueError, match="registered twice"):
        register_model(cfg)(lambda *a, **k: None)


def test_cnn_configs_carry_preprocessing_and_cam_layer():
    for n in list_models(family="cnn"):
        c = model_config(n)
        assert c.target_layer and c.mean == (0.485, 0.456, 0.406) and c.class_names == ("non-PD", "PD")


@pytest.fixture(scope="module")
def tiny_data(tiny_cohort):
    from zoo.data import PatientData

    return PatientData.from_cohort(tiny_cohort), tiny_cohort.y


@pytest.mark.slow
@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_trains_and_predicts(name, tiny_data):
    data, y = tiny_data
    tr = np.arange(0, 60)
    te = np.arange(60, len(y))
    est = create_model(name, "test").fit(data.subset(tr), y[tr])
    p = est.predict_proba(data.subset(te))
    assert p.shape == (len(te), 2)
    mod = model_config(name).modality
    # a staging system predicts for the patients whose stage its inputs decide
    has = est.stage(data.subset(te)).notna().to_numpy() if mod == "reference" else data.subset(te).has(mod)
    assert np.isnan(p[~has, 1]).all(), "patients without the modality get no prediction"
    assert np.all((p[has, 1] >= 0) & (p[has, 1] <= 1))
    assert np.allclose(p[has].sum(axis=1), 1.0)


def test_predict_before_fit_is_refused(tiny_data):
    from sklearn.exceptions import NotFittedError

    data, _ = tiny_data
    for name in ("clinical_lr", "ife_resnet18"):
        with pytest.raises(NotFittedError, match="not fitted"):
            create_model(name, "test").predict_proba(data.subset([0, 1]))


def test_pretrained_weights_come_only_from_the_local_cache(tmp_path, monkeypatch):
    import torch

    from zoo.models.networks import build_network, cached_imagenet_weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # torch.hub.get_dir() -> TORCH_HOME/hub
    net, note = build_network("resnet18", pretrained=True)
    assert "not in the local torch cache" in note and "nothing is downloaded" in note
    import torchvision

    path = tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    path.parent.mkdir(parents=True)
    ref = torchvision.models.resnet18(weights=None)
    torch.save(ref.state_dict(), path)  # stands in for a checkpoint a user put in the cache
    assert cached_imagenet_weights("resnet18") == path
    net, note = build_network("resnet18", pretrained=True)
    assert "ImageNet weights from resnet18-f37072fd.pth" in note
    assert torch.equal(net.body.conv1.weight, ref.conv1.weight)


def test_cpu_profiles_halve_vgg_and_give_alexnet_on_gels_more_epochs():
    from zoo.training.profiles import get_profile

    quick, paper = get_profile("quick"), get_profile("paper")
    for name in ("ife_vgg16_bn", "marrow_cell_vgg16_bn", "marrow_vgg16_bn"):
        assert create_model(name, quick).width == 0.5
        assert create_model(name, paper).width == 1.0
    assert create_model("ife_resnet18", quick).width == 1.0
    assert create_model("ife_alexnet", quick).epochs == 8 * quick.epochs
    assert create_model("marrow_cell_alexnet", quick).epochs == quick.epochs
    assert create_model("ife_alexnet", paper).epochs == paper.epochs
    assert create_model("ife_resnet18", quick).image_size == quick.lane_height == 64
