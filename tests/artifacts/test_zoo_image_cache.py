"""The zoo's per-image cache: keyed by the pixels, not by what the caller calls the image, and safe when an entry
is evicted between storing and reading (issue 12, "Shared image cache")."""
import numpy as np
import pytest

from zoo.api import _LRU, Zoo
from zoo.evaluation.calibration import calibrate_if_needed


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

        def pooled(self, instances):
            return instances

        def predict_crops(self, crops):
            self.shapes.append(tuple(crops.shape))
            return 0.5, np.zeros(2)

    other = OtherSize()
    zoo._cell_probs("other_size", other, [a, b], keys, memo)
    assert len(calls) == 4 and len(memo) == 4 and other.shapes[0][1:] == (3, 48, 48)


def test_gel_models_of_one_prediction_find_each_gels_lanes_once(zoo, tiny_cohort, monkeypatch):
    """The IFE models and the joint model of one prediction read the same straightened lanes: each gel's lanes are
    found once per lane setting, not once per model, and every model's answer is the one a fresh bank gives."""
    from zoo.cohort.images import read_image
    from zoo.data import ImageBank

    gel_models = [n for n in zoo.model_names if zoo.manifest["models"][n]["modality"] == "electrophoresis"]
    lane_models = [n for n in gel_models if getattr(zoo.model(n), "view", getattr(
        getattr(zoo.model(n), "members", [None])[0], "view", None)) == "lanes"]
    assert len(lane_models) >= 2, gel_models
    gels = [read_image(p) for pid in tiny_cohort.patient_ids[:2] for p in tiny_cohort.image_paths(pid, "electrophoresis")]
    settings = {(m.image_size, m.lane_width, getattr(m, "lane_density", "raw"))
                for n in lane_models for m in getattr(zoo.model(n), "members", [zoo.model(n)])}
    settings |= {(j.lane_height, j.lane_width, "raw") for n in zoo.model_names
                 if zoo.manifest["models"][n]["family"] == "joint" for j in [zoo.model(n)]}
    alone = {}
    for n in gel_models:  # each model on its own: no memo shared with another model
        zoo._image_cache = _LRU()
        alone[n] = zoo._image_probs(n, zoo.model(n), "electrophoresis", gels, [f"g{i}" for i in range(len(gels))])
    calls = []
    real = ImageBank._lane_tensor

    def counting(self, imgs, *a, **k):
        calls.append(len(imgs))
        return real(self, imgs, *a, **k)

    monkeypatch.setattr(ImageBank, "_lane_tensor", counting)
    zoo._image_cache = _LRU()
    pred = zoo.predict_patient({"age": 70}, {"electrophoresis": gels}).model_probs
    assert sum(calls) == len(gels) * len(settings)  # per gel and lane setting, however many models read them
    joint = [n for n in zoo.model_names if zoo.manifest["models"][n]["family"] == "joint"]
    zoo._image_cache = _LRU()
    X = zoo.clinical_frame([{"age": 70}])
    for n in joint:  # the joint model on a bank of its own gives the answer it gave on the shared one
        assert zoo.model(n).predict_proba(zoo.joint_patient(X, {"electrophoresis": gels}))[0, 1] == pytest.approx(pred[n])
    for n in gel_models:
        probs, embs = zoo._image_probs(n, zoo.model(n), "electrophoresis", gels, [f"g{i}" for i in range(len(gels))],
                                       {})
        assert probs == pytest.approx(alone[n][0]) and np.allclose(embs, alone[n][1]), n
        assert pred[n] == pytest.approx(float(calibrate_if_needed(zoo.model(n), np.array([np.mean(alone[n][0])]))[0]))


def _gels(tiny_cohort, k=2):
    from zoo.cohort.images import read_image

    return [read_image(p) for pid in tiny_cohort.patient_ids[:k] for p in tiny_cohort.image_paths(pid, "electrophoresis")]


def test_shared_banks_give_each_gel_its_own_answer_with_some_gels_already_cached(zoo, tiny_cohort):
    """One model has gel 0 cached, the others nothing: each computes what it lacks from a bank of exactly those
    gels, and every gel's stored answer is the one that gel gets alone."""
    from zoo.api import _content_keys

    gels = _gels(tiny_cohort)
    keys = _content_keys(gels)
    gel_models = [n for n in zoo.model_names if zoo.manifest["models"][n]["modality"] == "electrophoresis"]
    alone = {}
    for n in gel_models:
        for g, k in zip(gels, keys):
            zoo._image_cache = _LRU()
            alone[(n, k)] = zoo._image_probs(n, zoo.model(n), "electrophoresis", [g], [k])[0][0]
    zoo._image_cache = _LRU()
    zoo._image_probs(gel_models[0], zoo.model(gel_models[0]), "electrophoresis", gels[:1], keys[:1])
    zoo.predict_patient({"age": 70}, {"electrophoresis": gels})
    for n in gel_models:
        for k in keys:
            assert zoo._image_cache.get((n, k))[0] == pytest.approx(alone[(n, k)], abs=1e-6), (n, k)


def test_the_same_gel_uploaded_twice_predicts_as_once(zoo, tiny_cohort):
    """Two identical uploads are one image: it used to raise an IndexError (one bank row for two entries)."""
    g = _gels(tiny_cohort, 1)[0]
    once = zoo.predict_patient({"age": 70}, {"electrophoresis": [g]}).model_probs
    zoo._image_cache = _LRU()
    twice = zoo.predict_patient({"age": 70}, {"electrophoresis": [g, g.copy()]}).model_probs
    gel_models = [n for n in zoo.model_names if zoo.manifest["models"][n]["modality"] == "electrophoresis"]
    assert {n: twice[n] for n in gel_models} == pytest.approx({n: once[n] for n in gel_models})
