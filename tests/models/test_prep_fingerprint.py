"""The preprocessing fingerprint decides which models share one clinical design at scoring: equal fingerprints
must mean the same fitted numbers, not only the same settings."""
import numpy as np
import pytest

from zoo.models.clinical import _hash_state, build_preprocessor


def _fingerprint(prep) -> str:
    import hashlib

    h = hashlib.sha256()
    _hash_state(prep, h)
    return h.hexdigest()


def test_preprocessings_fitted_on_different_rows_get_different_fingerprints(tiny_cohort):
    from zoo.data import PatientData

    data = PatientData.from_cohort(tiny_cohort)
    X = data.clinical[list(data.features)]
    half = len(X) // 2
    a, b, a2 = (build_preprocessor(data.schema, list(data.features), "knn").fit(rows)
                for rows in (X.iloc[:half], X.iloc[half:], X.iloc[:half]))
    assert _fingerprint(a) == _fingerprint(a2), "the same fit must share"
    assert _fingerprint(a) != _fingerprint(b), "different training rows (scaler means, imputer rows) must not"
    assert not np.allclose(a.transform(X), b.transform(X))  # and they do transform differently


def test_a_function_parameter_is_hashed_by_name_and_a_cycle_is_refused():
    import hashlib

    class Node:
        pass

    n = Node()
    n.fn = np.mean
    h1, h2 = hashlib.sha256(), hashlib.sha256()
    _hash_state(n, h1)
    _hash_state(n, h2)
    assert h1.hexdigest() == h2.hexdigest()
    n.fn = np.median  # another function: another fingerprint (the old hash used repr, an address, for both)
    h3 = hashlib.sha256()
    _hash_state(n, h3)
    assert h3.hexdigest() != h1.hexdigest()
    n.me = n
    with pytest.raises(ValueError, match="reference cycle"):
        _hash_state(n, hashlib.sha256())
