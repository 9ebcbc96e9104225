"""P(PD) and features from one forward pass equal the two separate passes they replace."""
import numpy as np
import torch

from zoo.models.cells import CellBagClassifier
from zoo.models.cnn import CNNClassifier
from zoo.models.networks import ClassifierNet


def _fitted(cls, arch="resnet18", **kw):
    est = cls(arch=arch, device="cpu", **kw)
    torch.manual_seed(0)
    est.net_, est.device_, est.classes_ = ClassifierNet(arch).eval(), torch.device("cpu"), np.array([0, 1])
    return est


def test_both_equals_proba_and_embed_separately():
    est = _fitted(CNNClassifier)
    x = torch.randint(0, 256, (7, 3, 32, 32), dtype=torch.uint8)
    p, e = est._run(x, "both")
    assert torch.allclose(p, est._run(x, "proba"), atol=1e-6)
    assert torch.allclose(e, est._run(x, "embed"), atol=1e-6)
    owner = np.array([0, 0, 1, 1, 1, 3, 3])
    pp, ee = est._pool(x, owner, 5, "both")
    np.testing.assert_allclose(pp, est._pool(x, owner, 5, "proba"), atol=1e-6)
    np.testing.assert_allclose(ee, est._pool(x, owner, 5, "embed"), atol=1e-6)
    assert np.isnan(pp[2]).all() and np.isnan(ee[4]).all()  # patients without inputs stay NaN
    np.testing.assert_allclose(pp[1, 0], p[2:5].mean().item(), atol=1e-6)


def test_cell_model_predict_crops_is_the_mean_of_its_crops():
    est = _fitted(CellBagClassifier)
    est.attention_ = None
    crops = torch.randint(0, 256, (9, 3, 32, 32), dtype=torch.uint8)
    p, e = est.predict_crops(crops)
    assert np.isclose(p, est._run(crops, "proba").mean().item(), atol=1e-6)
    np.testing.assert_allclose(e, est._run(crops, "embed").numpy().mean(axis=0), atol=1e-5)
