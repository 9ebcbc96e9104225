"""Same seed and profile => identical CNN results on CPU (tolerance 1e-6 on probabilities)."""
import numpy as np

from zoo.data import PatientData
from zoo.models import create_model

CNN_TOLERANCE = 1e-6  # stated in docs/MODELS.md; CPU kernels are deterministic for a fixed thread count


def test_cnn_training_is_reproducible(tiny_cohort):
    data = PatientData.from_cohort(tiny_cohort)
    y = tiny_cohort.y
    tr, te = np.arange(60), np.arange(60, len(y))
    a = create_model("ife_resnet18", "test", seed=3).fit(data.subset(tr), y[tr]).predict_proba(data.subset(te))
    b = create_model("ife_resnet18", "test", seed=3).fit(data.subset(tr), y[tr]).predict_proba(data.subset(te))
    c = create_model("ife_resnet18", "test", seed=4).fit(data.subset(tr), y[tr]).predict_proba(data.subset(te))
    assert np.allclose(a, b, atol=CNN_TOLERANCE, equal_nan=True)
    assert not np.allclose(a, c, atol=CNN_TOLERANCE, equal_nan=True)
