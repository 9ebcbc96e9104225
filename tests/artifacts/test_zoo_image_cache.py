"""The zoo's per-image cache: keyed by the pixels, not by what the caller calls the image, and safe when an entry
is evicted between storing and reading (issue 12, "Shared image cache")."""
import numpy as np
import pytest

from zoo.api import _LRU, Zoo


def _marrow_model(zoo: Zoo) -> str:
    return next(n for n in zoo.model_names
                if zoo.manifest["models"][n]["modality"] == "marrow" and zoo.manifest["models"][n]["family"] == "cnn")


@pytest.fixture(scope="module")
def two_images(tiny_cohort) -> tuple[np.ndarray, np.ndarray]:
    from zoo.cohort.images import read_image

    paths = [p for pid in tiny_cohort.patient_ids for p in tiny_cohort.image_paths(pid, "marrow")]
    return read_image(paths[0]), read_image(paths[-1])


@pytest.fixture
def zoo(test_zoo, monkeypatch) -> Zoo:
    """The session's zoo (models already loaded) with an empty image cache, restored afterwards."""
    monkeypatch.setattr(test_zoo, "_image_cache", _LRU())
    return test_zoo


def test_same_key_for_different_pixels_returns_each_images_own_result(zoo, two_images):
    """The predictor page keys cohort images by their path: a file replaced on disk kept its old result."""
    a, b = two_images
    name = _marrow_model(zoo)
    p_a = zoo.predict_patient({}, {"marrow": [a]}, {"marrow": ["/cohort/marrow/P001_1.png"]}).model_probs[name]
    p_b = zoo.predict_patient({}, {"marrow": [b]}, {"marrow": ["/cohort/marrow/P001_1.png"]}).model_probs[name]
    zoo._image_cache = _LRU()
    truth_b = zoo.predict_patient({}, {"marrow": [b]}).model_probs[name]
    assert p_a != pytest.approx(truth_b, abs=1e-6), "pick two images the model tells apart"
    assert p_b == pytest.approx(truth_b, abs=1e-6)


def test_entry_evicted_between_put_and_get_does_not_break_prediction(zoo, two_images):
    """With a cache smaller than one patient's images, the old code read back an evicted entry (TypeError)."""
    a, b = two_images
    name = _marrow_model(zoo)
    big = zoo.predict_patient({}, {"marrow": [a, b]}).model_probs[name]
    zoo._image_cache = _LRU(size=1)
    assert zoo.predict_patient({}, {"marrow": [a, b]}).model_probs[name] == pytest.approx(big, abs=1e-6)
    e = zoo.image_embedding(name, [a, b])
    assert e is not None and np.isfinite(e).all()


def test_cache_hits_do_not_rerun_the_network(zoo, two_images, monkeypatch):
    from zoo.models.cells import CellBagClassifier
    from zoo.models.cnn import CNNClassifier

    a, b = two_images
    zoo.predict_patient({}, {"marrow": [a, b]})

    def again(*args, **kw):
        pytest.fail("a cached image went through the network again")

    monkeypatch.setattr(CNNClassifier, "predict_image_proba", again)
    monkeypatch.setattr(CellBagClassifier, "predict_crops", again)
    zoo.predict_patient({}, {"marrow": [a.copy(), b.copy()]}, {"marrow": ["other", "names"]})


def test_read_only_upload_arrays_predict(zoo, two_images):
    """Uploads come back read-only from the shared decode cache; prediction must not write into them."""
    ro = two_images[0].copy()
    ro.setflags(write=False)
    assert zoo.predict_patient({}, {"marrow": [ro]}).model_probs[_marrow_model(zoo)] is not None


def test_one_prediction_segments_each_smear_once_for_every_cell_level_and_joint_model(zoo, two_images, monkeypatch):
    """Cell-level models and the joint model all read plasma-cell crops: they share one segmentation per smear,
    cached by the pixels, and give the same answers as segmenting afresh."""
    from zoo.segment.classical import ClassicalSegmenter

    users = [n for n in zoo.model_names if zoo.manifest["models"][n]["family"] in ("cell", "joint")]
    assert len(users) >= 2, users
    calls = []
    real = ClassicalSegmenter.segment

    def counting(self, img, *a, **k):
        calls.append(img.shape)
        return real(self, img, *a, **k)

    monkeypatch.setattr(ClassicalSegmenter, "segment", counting)
    a, b = two_images
    first = zoo.predict_patient({"age": 70}, {"marrow": [a, b]}).model_probs
    assert len(calls) == 2  # two smears, however many models read them
    zoo._image_cache = _LRU()
    again = zoo.predict_patient({"age": 70}, {"marrow": [a, b]}).model_probs
    assert {n: again[n] for n in users} == pytest.approx({n: first[n] for n in users})


def test_cell_models_of_one_prediction_cut_each_smears_crops_once_per_size(zoo, two_images, monkeypatch):
    """Crops of one size are cut once per smear for all the cell models of a prediction, and the answer is the
    one cutting afresh gives; nothing of the scratch memo outlives the call."""
    import zoo.segment.cells as cells

    name = next(n for n in zoo.model_names if zoo.manifest["models"][n]["family"] == "cell")
    est = zoo.model(name)
    a, b = two_images
    keys = ["ka", "kb"]
    fresh = zoo._cell_probs(name, est, [a, b], keys)
    calls = []
    real = cells.crops_from

    def counting(*args, **kw):
        calls.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(cells, "crops_from", counting)
    memo: dict = {}
    for _ in range(3):  # three cell models reading the same crop size
        zoo._image_cache = _LRU()  # no cached pooled result: each call needs the crops
        p, e = zoo._cell_probs(name, est, [a, b], keys, memo)
    assert len(calls) == 2 and len(memo) == 2
    assert p == pytest.approx(fresh[0]) and np.allclose(e, fresh[1])

    class OtherSize:  # a cell model reading 48-px crops must get its own cut, never the 32-px crops in the memo
        image_size, mask_background, shapes = 48, False, []

        def predict_crops(self, crops):
            self.shapes.append(tuple(crops.shape))
            return 0.5, np.zeros(2)

    other = OtherSize()
    zoo._cell_probs("other_size", other, [a, b], keys, memo)
    assert len(calls) == 4 and len(memo) == 4 and other.shapes[0][1:] == (3, 48, 48)
