"""Early fusion: clinical features + pooled CNN embeddings -> one classifier.

Each image modality's patient embedding (mean over its images of the best
CNN's pooled features) is reduced by PCA fit on training patients; a
patient without that modality gets the training mean (zeros after PCA) and
a missing-indicator, so the model still predicts from what is there.

Training embeddings are cross-fitted: each training patient's embedding comes from the
fold CNN that did not see that patient, so the fusion head never learns from in-sample
image features; test and external patients are embedded by the final CNN. The head's
output passes through a recalibrator fitted on the fusion's own out-of-fold predictions.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.preprocessing import StandardScaler

from zoo.models.clinical import build_preprocessor, prep_fingerprint


class EarlyFusion(ClassifierMixin, BaseEstimator):
    def __init__(self, head: str = "lr", n_components: int = 8, imputer: str = "knn", seed: int = 0,
                 inner_folds: int = 3) -> None:
        self.head = head
        self.n_components = n_components
        self.imputer = imputer
        self.seed = seed
        self.inner_folds = inner_folds

    def _design(self, clinical: pd.DataFrame, emb: dict[str, np.ndarray], fit: bool,
                Z_clin: np.ndarray | None = None) -> np.ndarray:
        Z = Z_clin if Z_clin is not None else self.clin_prep_.transform(clinical.reindex(columns=self.features_))
        parts = [np.asarray(Z, dtype=float)]
        for m in self.modalities_:
            E = emb.get(m)
            if E is None:
                E = np.full((len(clinical), self.emb_dim_[m]), np.nan)
            have = ~np.isnan(E).any(axis=1)
            Z = np.zeros((len(E), self.pca_[m].n_components_))
            if have.any():
                Z[have] = self.pca_[m].transform(self.emb_scaler_[m].transform(E[have]))
            parts.extend([Z, (~have).astype(float)[:, None]])
        return np.hstack(parts)

    def fit(self, clinical: pd.DataFrame, emb: dict[str, np.ndarray], y, schema, features: list[str]) -> "EarlyFusion":
        y = np.asarray(y, dtype=int)
        self.features_ = list(features)
        self.modalities_ = sorted(emb)
        self.clin_prep_ = build_preprocessor(schema, self.features_, self.imputer).fit(clinical[self.features_], y)
        self.pca_, self.emb_scaler_, self.emb_dim_ = {}, {}, {}
        for m in self.modalities_:
            E = emb[m]
            have = ~np.isnan(E).any(axis=1)
            self.emb_dim_[m] = E.shape[1]
            k = int(max(1, min(self.n_components, have.sum() - 1, E.shape[1])))
            self.emb_scaler_[m] = StandardScaler().fit(E[have])
            self.pca_[m] = PCA(n_components=k, random_state=self.seed).fit(self.emb_scaler_[m].transform(E[have]))
        X = self._design(clinical, emb, fit=True)
        if self.head == "lr":
            est, grid = LogisticRegression(max_iter=5000), {"C": [0.03, 0.1, 0.3, 1.0]}
        elif self.head == "xgb":
            from xgboost import XGBClassifier

            est = XGBClassifier(n_estimators=150, max_depth=2, learning_rate=0.05, subsample=0.8,
                                colsample_bytree=0.8, tree_method="hist", n_jobs=1, random_state=self.seed,
                                eval_metric="logloss")
            grid = {"max_depth": [2, 3]}
        else:
            raise ValueError(f"Expected head 'lr' or 'xgb'. Got {self.head!r}.")
        n_splits = int(min(self.inner_folds, np.bincount(y, minlength=2).min()))
        if n_splits >= 2:
            search = GridSearchCV(est, grid, scoring="roc_auc",
                                  cv=StratifiedKFold(n_splits, shuffle=True, random_state=self.seed)).fit(X, y)
            self.clf_ = search.best_estimator_
        else:
            self.clf_ = clone(est).fit(X, y)
        self.classes_ = np.array([0, 1])
        return self

    def preprocessor_fingerprint(self) -> str:
        """Same fingerprint as a clinical model whose fitted preprocessing is identical (shared at scoring)."""
        return prep_fingerprint(self.features_, self.clin_prep_)

    def transform_features(self, X: pd.DataFrame) -> np.ndarray:
        """The fitted clinical preprocessing alone: what ``Z_clin`` holds when a caller shares it."""
        return np.asarray(self.clin_prep_.transform(X.reindex(columns=self.features_)), float)

    def predict_proba(self, clinical: pd.DataFrame, emb: dict[str, np.ndarray],
                      Z_clin: np.ndarray | None = None) -> np.ndarray:
        """``Z_clin``: the clinical preprocessing output when already computed (see ``preprocessor_fingerprint``)."""
        X = self._design(clinical, emb, fit=False, Z_clin=Z_clin)
        p = self.clf_.predict_proba(X)[:, 1]
        if getattr(self, "calibrator_", None) is not None:
            p = self.calibrator_.predict(p)
        return np.column_stack([1 - p, p])

    def modalities_used(self, clinical: pd.DataFrame, emb: dict[str, np.ndarray]) -> list[list[str]]:
        has_clin = clinical.reindex(columns=self.features_).notna().any(axis=1).to_numpy()
        out = []
        for i in range(len(clinical)):
            used = ["clinical"] if has_clin[i] else []
            used += [m for m in self.modalities_ if emb.get(m) is not None and not np.isnan(emb[m][i]).any()]
            out.append(used)
        return out


__all__ = ["EarlyFusion"]
