"""The segmenter's peak finder gives scikit-image's peaks exactly: same coordinates, same order.

The order matters: the watershed numbers its markers in this order, so instance ids (and the crops the cell
models pool) follow it. A difference anywhere would change what every cell-level model reads.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage as ndi
from skimage.feature import peak_local_max

from zoo.segment.peaks import labelled_peaks


def _reference(image, labels, md):
    return peak_local_max(image, min_distance=md, labels=labels, exclude_border=False)


def _blobs(seed: int, shape=(96, 96), n=40, radius=(2, 9)):
    """Crowded overlapping discs, the way nuclei touch on a smear: many objects within the filter's reach."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    fg = np.zeros(shape, bool)
    for _ in range(n):
        cy, cx, r = rng.integers(0, shape[0]), rng.integers(0, shape[1]), rng.integers(*radius)
        fg |= (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2
    return fg


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("md", [1, 3, 5])
def test_distance_map_peaks_equal_scikit_image_on_crowded_objects(seed, md):
    fg = _blobs(seed)
    dist = ndi.distance_transform_edt(fg)
    labels = ndi.label(fg)[0]
    ref = _reference(dist, labels, md)
    assert len(ref) > 5
    np.testing.assert_array_equal(labelled_peaks(dist, labels, md), ref)


def test_flat_objects_and_single_pixels_follow_scikit_images_trivial_rule():
    """A plateau (every pixel a maximum) keeps only its isolated pixels; a one-pixel object is its own peak."""
    image = np.zeros((20, 20))
    labels = np.zeros((20, 20), int)
    image[2:5, 2:9] = 1.0            # flat rectangle: opening with a cross trims its corners, which are kept
    labels[2:5, 2:9] = 1
    image[10, 10] = 2.0              # one pixel
    labels[10, 10] = 2
    image[14:16, 3:8] = 1.0          # flat with a one-pixel spur: the spur is the isolated pixel
    image[13, 7] = 1.0
    labels[14:16, 3:8] = 3
    labels[13, 7] = 3
    ref = _reference(image, labels, 3)
    np.testing.assert_array_equal(labelled_peaks(image, labels, 3), ref)
    assert [10, 10] in ref.tolist()


def test_a_brighter_neighbour_never_suppresses_another_objects_peak():
    """Two touching objects: the dimmer one keeps its own peak (the neighbour is outside its mask)."""
    image = np.zeros((12, 12))
    labels = np.zeros((12, 12), int)
    image[2:10, 2:6], labels[2:10, 2:6] = 1.0, 1
    image[5, 4] = 3.0
    image[2:10, 6:10], labels[2:10, 6:10] = 5.0, 2
    image[6, 8] = 9.0
    out = labelled_peaks(image, labels, 4)
    np.testing.assert_array_equal(out, _reference(image, labels, 4))
    assert out.tolist() == [[5, 4], [6, 8]]


def test_any_image_not_only_a_distance_map_bright_background_and_negative_values():
    """The threshold is the whole image's minimum and background never counts: on a distance map (0 outside,
    at least 1 inside) neither can show, so here the background is brighter than the objects and values are
    negative."""
    rng = np.random.default_rng(5)
    fg = _blobs(11, n=25)
    labels = ndi.label(fg)[0]
    for image in (np.where(fg, rng.normal(-5.0, 1.0, fg.shape), 10.0),     # bright background
                  np.where(fg, rng.integers(-3, 3, fg.shape), 7).astype(np.int16),  # ties, negatives
                  np.where(fg, ndi.distance_transform_edt(fg) - 2.0, -2.0)):  # the minimum inside objects
        ref = _reference(image, labels, 3)
        assert len(ref) > 3
        np.testing.assert_array_equal(labelled_peaks(image, labels, 3), ref)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_a_min_distance_it_does_not_reproduce_is_refused(bad):
    fg = _blobs(1, n=5)
    with pytest.raises(ValueError, match="min_distance"):
        labelled_peaks(ndi.distance_transform_edt(fg), ndi.label(fg)[0], bad)


def test_gaps_in_label_numbers_and_background_are_skipped():
    fg = _blobs(3, n=15)
    labels = ndi.label(fg)[0] * 3  # labels 3, 6, 9, ...: absent numbers have no object
    dist = ndi.distance_transform_edt(fg)
    np.testing.assert_array_equal(labelled_peaks(dist, labels, 3), _reference(dist, labels, 3))
    assert labelled_peaks(np.zeros((5, 5)), np.zeros((5, 5), int), 3).shape == (0, 2)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), md=st.integers(1, 7), n=st.integers(1, 60),
       integer=st.booleans())
def test_any_blob_field_gives_scikit_images_peaks(seed, md, n, integer):
    fg = _blobs(seed, shape=(64, 80), n=n, radius=(1, 8))
    dist = ndi.distance_transform_edt(fg)
    image = np.round(dist).astype(np.int32) if integer else dist  # integer maps: many ties, order by row-major
    labels = ndi.label(fg)[0]
    np.testing.assert_array_equal(labelled_peaks(image, labels, md), _reference(image, labels, md))


def test_the_segmenter_gives_the_same_instances_as_with_scikit_images_peak_finder(tmp_path, monkeypatch):
    """On rendered smears, the classical segmenter's labels and instances are those scikit-image's peaks give."""
    from PIL import Image

    from zoo.segment import classical
    from zoo.synth.cohort import generate_cohort

    generate_cohort(tmp_path / "c", n=10, seed=3, image_size=224, workers=1, show_bar=False)
    smears = sorted((tmp_path / "c").rglob("*.png"))
    smears = [p for p in smears if "marrow" in p.parts and "annotations" not in p.parts]
    assert smears
    for path in smears:
        img = np.asarray(Image.open(path).convert("RGB"))
        fast = classical.ClassicalSegmenter().segment(img)
        with monkeypatch.context() as m:
            m.setattr(classical, "labelled_peaks",
                      lambda im, lab, md: peak_local_max(im, min_distance=md, labels=lab, exclude_border=False))
            ref = classical.ClassicalSegmenter().segment(img)
        np.testing.assert_array_equal(fast.labels, ref.labels)
        assert fast.instances == ref.instances and len(ref.instances) > 5
