"""Clinical-table models: scikit-learn Pipelines whose preprocessing derives from the schema.

``SchemaEncoder`` turns the canonical table into model columns using only the
schema (ordinal stages -> codes, binaries -> 0/1, categoricals kept as levels);
the ColumnTransformer then scales and imputes numeric columns (KNN by default,
iterative as an option) and one-hot encodes categoricals with the schema's
levels. Hyperparameters are tuned by an inner cross-validation on the training
rows only (``TunedClinicalModel``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from zoo.data import PatientData
from zoo.schema import Kind, Schema


def _one_hot_name(feature: str, level: str) -> str:
    return f"{feature}={level}"


class SchemaEncoder(TransformerMixin, BaseEstimator):
    """Stateless schema-driven encoding: ordinals -> integer codes, everything else as is.

    Parameters are plain data (column names, kinds, levels) so the fitted
    pipeline persists through skops without custom code paths.
    """

    def __init__(self, columns: list[str] | None = None, ordinal_levels: dict | None = None) -> None:
        self.columns = columns
        self.ordinal_levels = ordinal_levels

    def fit(self, X: pd.DataFrame, y=None) -> "SchemaEncoder":
        self.n_features_in_ = len(self.columns or [])
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out = X.reindex(columns=self.columns).astype(object)
        out = out.where(out.notna(), np.nan)  # pd.NA/None -> NaN, which every imputer understands
        ordinal = self.ordinal_levels or {}
        for col in out.columns:  # vectorised: 100,000-row batches stay fast
            s = out[col]
            if col in ordinal:
                code = {lvl: float(i) for i, lvl in enumerate(ordinal[col])}
                out[col] = s.map(code).astype("float64").fillna(pd.to_numeric(s, errors="coerce"))
            elif pd.api.types.infer_dtype(s, skipna=True) not in ("string", "mixed", "mixed-integer"):
                out[col] = pd.to_numeric(s, errors="coerce")
        return out

    def get_feature_names_out(self, input_features=None):
        return np.asarray(self.columns, dtype=object)


def build_preprocessor(schema: Schema, features: list[str], imputer: str = "knn") -> Pipeline:
    """Encoding, scaling, imputation and one-hot from the schema and the cohort's columns."""
    variables = [schema[f] for f in features]
    num = [v.name for v in variables if v.kind in (Kind.numeric, Kind.binary, Kind.ordinal)]
    cat = [v.name for v in variables if v.kind is Kind.categorical]
    ordinal = {v.name: list(v.levels) for v in variables if v.kind is Kind.ordinal}
    if imputer == "knn":
        imp = KNNImputer(n_neighbors=5)
    elif imputer == "iterative":
        imp = IterativeImputer(max_iter=10, random_state=0)
    else:
        raise ValueError(f"Expected imputer 'knn' or 'iterative'. Got {imputer!r}.")
    transformers = []
    if num:
        transformers.append(("num", Pipeline([("scale", StandardScaler()), ("impute", imp)]), num))
    if cat:
        transformers.append(("cat", Pipeline([
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("onehot", OneHotEncoder(categories=[list(schema[c].levels) for c in cat], handle_unknown="ignore",
                                     sparse_output=False, feature_name_combiner=_one_hot_name)),
        ]), cat))
    ct = ColumnTransformer(transformers, verbose_feature_names_out=False)
    return Pipeline([("encode", SchemaEncoder(columns=list(features), ordinal_levels=ordinal)), ("prep", ct)])


_HASH_MAX_DEPTH = 64  # a guard against reference cycles; a fitted preprocessing nests about 15 levels deep


def _hash_state(obj, h, depth: int = 0) -> None:
    """Feed an estimator's class, parameters and fitted arrays into ``h`` (recursively, deterministic).

    Every level is hashed: the scaler's means and the KNN imputer's training rows sit 13 levels down, and a
    fingerprint that stopped above them called two preprocessings fitted on different rows identical."""
    if depth > _HASH_MAX_DEPTH:
        raise ValueError(f"Expected a fitted preprocessing nested at most {_HASH_MAX_DEPTH} levels deep (a reference "
                         "cycle?). Its fingerprint cannot be computed, so its output cannot be shared.")
    if isinstance(obj, np.ndarray):
        h.update(str((obj.dtype, obj.shape)).encode())
        h.update(np.ascontiguousarray(obj).tobytes() if obj.dtype != object else repr(obj.tolist()).encode())
    elif isinstance(obj, (list, tuple)):
        h.update(b"[")
        for v in obj:
            _hash_state(v, h, depth + 1)
    elif isinstance(obj, dict):
        for k in sorted(obj, key=repr):
            h.update(repr(k).encode())
            _hash_state(obj[k], h, depth + 1)
    elif hasattr(obj, "__dict__") and not callable(obj) or isinstance(obj, BaseEstimator):
        h.update(type(obj).__qualname__.encode())
        _hash_state({k: v for k, v in vars(obj).items() if not k.startswith("__")}, h, depth + 1)
    elif callable(obj) and hasattr(obj, "__qualname__"):  # a function parameter: its name, not its address
        h.update(f"{getattr(obj, '__module__', '')}.{obj.__qualname__}".encode())
    else:
        h.update(repr(obj).encode())


def prep_fingerprint(features: list[str], prep) -> str:
    """Identifies a fitted preprocessing state over ``features``: equal fingerprints transform identically, so the
    zoo's scoring runs one preprocessing for every model (clinical, fusion, joint) that has it."""
    import hashlib

    h = hashlib.sha256(repr(features).encode())
    _hash_state(prep, h)
    return h.hexdigest()


class TunedClinicalModel(ClassifierMixin, BaseEstimator):
    """A clinical classifier: schema preprocessing + estimator, tuned by inner CV on the rows it is fit on.

    ``fit`` runs a grid search with stratified ``inner_folds`` on the given
    training rows only, then keeps the refit best pipeline as ``pipeline_``.
    """

    def __init__(self, estimator=None, param_grid: dict | None = None, inner_folds: int = 3,
                 imputer: str = "knn", seed: int = 0, n_jobs: int | None = None) -> None:
        self.estimator = estimator
        self.param_grid = param_grid
        self.inner_folds = inner_folds
        self.imputer = imputer
        self.seed = seed
        self.n_jobs = n_jobs

    modality = "clinical"

    def fit(self, data: PatientData, y) -> "TunedClinicalModel":
        y = np.asarray(y, dtype=int)
        X = data.clinical[data.features]
        pipe = Pipeline([("prep", build_preprocessor(data.schema, data.features, self.imputer)),
                         ("clf", clone(self.estimator))])
        grid = {f"clf__{k}": v for k, v in (self.param_grid or {}).items()}
        n_splits = int(min(self.inner_folds, np.bincount(y, minlength=2).min()))
        if grid and n_splits >= 2 and any(len(v) > 1 for v in grid.values()):
            search = GridSearchCV(pipe, grid, scoring="roc_auc", cv=StratifiedKFold(n_splits, shuffle=True,
                                  random_state=self.seed), n_jobs=self.n_jobs, refit=True, error_score="raise")
            search.fit(X, y)
            self.pipeline_ = search.best_estimator_
            self.best_params_ = {k.removeprefix("clf__"): v for k, v in search.best_params_.items()}
            self.cv_auc_ = float(search.best_score_)
        else:
            pipe.set_params(**{k: v[0] for k, v in grid.items()})
            self.pipeline_ = pipe.fit(X, y)
            self.best_params_ = {k.removeprefix("clf__"): v[0] for k, v in grid.items()}
            self.cv_auc_ = float("nan")
        self.features_ = list(data.features)
        self.classes_ = np.array([0, 1])
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "pipeline_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("This clinical model is not fitted. Call fit or load it from a zoo.")

    def predict_proba(self, data: PatientData | pd.DataFrame) -> np.ndarray:
        self._check_fitted()
        X = data if isinstance(data, pd.DataFrame) else data.clinical
        X = X.reindex(columns=self.features_)
        p = self.pipeline_.predict_proba(X)[:, 1]
        empty = X.isna().all(axis=1).to_numpy()
        p = np.where(empty, np.nan, p)
        return np.column_stack([1 - p, p])

    def transform_features(self, X: pd.DataFrame) -> np.ndarray:
        """The fitted preprocessing alone (shared between models whose preprocessors are identical)."""
        self._check_fitted()
        return np.asarray(self.pipeline_.named_steps["prep"].transform(X.reindex(columns=self.features_)), dtype=float)

    def predict_proba_transformed(self, Z: np.ndarray, X: pd.DataFrame) -> np.ndarray:
        """``predict_proba`` from ``transform_features`` output; ``X`` marks the rows with no clinical value."""
        p = self.final_estimator.predict_proba(Z)[:, 1]
        p = np.where(X.reindex(columns=self.features_).isna().all(axis=1).to_numpy(), np.nan, p)
        return np.column_stack([1 - p, p])

    def preprocessor_fingerprint(self) -> str:
        """Identifies the fitted preprocessing state: equal fingerprints transform identically."""
        return prep_fingerprint(self.features_, self.pipeline_.named_steps["prep"])

    def transformed(self, X: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
        """Model-space features (after encoding/imputation/one-hot) and their names, for SHAP."""
        self._check_fitted()
        prep = self.pipeline_.named_steps["prep"]
        Z = prep.transform(X.reindex(columns=self.features_))
        return np.asarray(Z, dtype=float), list(prep.named_steps["prep"].get_feature_names_out())

    @property
    def final_estimator(self):
        self._check_fitted()
        return self.pipeline_.named_steps["clf"]
