"""Late-fusion ensembles over member probabilities, robust to missing modalities.

All ensembles take a patients x members table of P(PD) (NaN where a member's
modality is missing), are fit on out-of-fold training predictions only, and
for each patient use just the members that are available, reporting which.
``SoftVoting`` is the study's (mean of the two best models per modality);
``WeightedVoting`` learns non-negative weights; ``Stacking`` learns a
logistic meta-model per modality-availability pattern.
"""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from sklearn.linear_model import LogisticRegression

EPS = 1e-4


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p / (1 - p))


class LateFusion:
    """Common parts: members, their modalities, availability masks, prior for 'no member available'."""

    kind = "late"

    def __init__(self, members: list[str], member_modality: dict[str, str]) -> None:
        self.members = list(members)
        self.member_modality = {m: member_modality[m] for m in members}

    def _matrix(self, P: pd.DataFrame, modalities: set[str] | None = None) -> np.ndarray:
        X = P.reindex(columns=self.members).to_numpy(dtype=float).copy()
        if modalities is not None:
            for j, m in enumerate(self.members):
                if self.member_modality[m] not in modalities:
                    X[:, j] = np.nan
        return X

    def members_used(self, P: pd.DataFrame, modalities: set[str] | None = None) -> list[list[str]]:
        X = self._matrix(P, modalities)
        return [[m for m, v in zip(self.members, row) if not np.isnan(v)] for row in X]

    def modalities_used(self, P: pd.DataFrame, modalities: set[str] | None = None) -> list[list[str]]:
        return [sorted({self.member_modality[m] for m in used}) for used in self.members_used(P, modalities)]

    def fit(self, P: pd.DataFrame, y) -> "LateFusion":
        self.prior_ = float(np.mean(y))
        return self

    calibrator_ = None  # a ScoreCalibrator fitted on the ensemble's cross-fitted OOF output (see assemble)
    calibrators_: dict | None = None  # modality pattern ('clinical+marrow') -> its own ScoreCalibrator
    # pattern -> {"p": calibrated OOF, "y": outcomes, "w": censoring weights when the cohort has them}, for intervals
    oof_by_pattern_: dict | None = None

    def predict_proba(self, P: pd.DataFrame, modalities: set[str] | None = None) -> np.ndarray:
        """Calibrated P(PD) for the modalities each patient has.

        Averaging squeezes probabilities, and an average over clinical members alone is distributed
        differently from one over all modalities; so each pattern of available modalities has its own
        recalibrator, fitted on the cross-fitted OOF output of the ensemble restricted to that pattern
        (training patients only). Patterns too rare to fit one use the all-modality calibrator.
        """
        p = self.raw_proba(P, modalities)
        if self.calibrator_ is None and not self.calibrators_:
            return p
        keys = np.asarray(["+".join(u) for u in self.modalities_used(P, modalities)], dtype=object)
        out = p.copy()
        for k in set(keys):
            if not k:
                continue  # no member available: the training prevalence, already a risk
            rows = keys == k
            cal = (self.calibrators_ or {}).get(k, self.calibrator_)
            if cal is not None:
                out[rows] = cal.predict(p[rows])
        return out

    def raw_proba(self, P: pd.DataFrame, modalities: set[str] | None = None) -> np.ndarray:
        raise NotImplementedError

    def to_dict(self) -> dict:
        return {"class": type(self).__name__, "members": self.members, "member_modality": self.member_modality,
                "prior": self.prior_,
                "calibration": None if self.calibrator_ is None else self.calibrator_.to_dict(),
                "calibration_by_pattern": {k: c.to_dict() for k, c in (self.calibrators_ or {}).items()},
                "oof_by_pattern": self.oof_by_pattern_ or {}}

    def _restore_calibration(self, d: dict) -> None:
        from zoo.evaluation.calibration import ScoreCalibrator

        if d.get("calibration"):
            self.calibrator_ = ScoreCalibrator.from_dict(d["calibration"])
        self.calibrators_ = {k: ScoreCalibrator.from_dict(v) for k, v in (d.get("calibration_by_pattern") or {}).items()}
        self.oof_by_pattern_ = d.get("oof_by_pattern") or {}


class SoftVoting(LateFusion):
    """Mean of the available members' probabilities (the study's ensemble)."""

    def raw_proba(self, P: pd.DataFrame, modalities: set[str] | None = None) -> np.ndarray:
        X = self._matrix(P, modalities)
        with np.errstate(invalid="ignore"):
            n = (~np.isnan(X)).sum(axis=1)
            p = np.where(n > 0, np.nansum(X, axis=1) / np.maximum(n, 1), self.prior_)
        return p

    @classmethod
    def from_dict(cls, d: dict) -> "SoftVoting":
        e = cls(d["members"], d["member_modality"])
        e.prior_ = d["prior"]
        e._restore_calibration(d)
        return e


class WeightedVoting(LateFusion):
    """Soft voting with non-negative weights (summing to one) that minimise OOF log loss."""

    def fit(self, P: pd.DataFrame, y) -> "WeightedVoting":
        super().fit(P, y)
        X = self._matrix(P)
        y = np.asarray(y, dtype=float)
        full = ~np.isnan(X).any(axis=1)
        Xf, yf = np.clip(X[full], EPS, 1 - EPS), y[full]
        k = X.shape[1]

        def loss(z):
            w = np.exp(z - z.max())
            w /= w.sum()
            p = np.clip(Xf @ w, EPS, 1 - EPS)
            return -np.mean(yf * np.log(p) + (1 - yf) * np.log(1 - p)) + 1e-3 * np.sum(z**2)

        if full.sum() >= 10 and len(np.unique(yf)) == 2:
            z = minimize(loss, np.zeros(k), method="L-BFGS-B").x
            w = np.exp(z - z.max())
            self.weights_ = (w / w.sum()).tolist()
        else:
            self.weights_ = [1.0 / k] * k
        return self

    def raw_proba(self, P: pd.DataFrame, modalities: set[str] | None = None) -> np.ndarray:
        X = self._matrix(P, modalities)
        w = np.asarray(self.weights_)[None, :] * ~np.isnan(X)
        tot = w.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            p = np.nansum(np.nan_to_num(X) * w, axis=1) / tot
        return np.where(tot > 0, p, self.prior_)

    def to_dict(self) -> dict:
        return {**super().to_dict(), "weights": self.weights_}

    @classmethod
    def from_dict(cls, d: dict) -> "WeightedVoting":
        e = cls(d["members"], d["member_modality"])
        e.prior_, e.weights_ = d["prior"], d["weights"]
        e._restore_calibration(d)
        return e


class Stacking(LateFusion):
    """Logistic meta-learner on member logits, one per pattern of available modalities.

    The model for a pattern is trained on every OOF row that has at least those
    modalities, so even rare patterns get a meta-model.
    """

    def __init__(self, members: list[str], member_modality: dict[str, str], C: float = 1.0) -> None:
        super().__init__(members, member_modality)
        self.C = C

    def _patterns(self) -> list[tuple[str, ...]]:
        mods = sorted(set(self.member_modality.values()))
        return [c for r in range(1, len(mods) + 1) for c in itertools.combinations(mods, r)]

    def fit(self, P: pd.DataFrame, y) -> "Stacking":
        super().fit(P, y)
        X = self._matrix(P)
        y = np.asarray(y, dtype=int)
        self.meta_: dict[str, dict] = {}
        for pat in self._patterns():
            cols = [j for j, m in enumerate(self.members) if self.member_modality[m] in pat]
            rows = ~np.isnan(X[:, cols]).any(axis=1)
            if rows.sum() < 10 or len(np.unique(y[rows])) < 2:
                continue
            lr = LogisticRegression(C=self.C, max_iter=2000).fit(_logit(X[rows][:, cols]), y[rows])
            self.meta_["+".join(pat)] = {"members": [self.members[j] for j in cols],
                                         "coef": lr.coef_[0].tolist(), "intercept": float(lr.intercept_[0])}
        return self

    def raw_proba(self, P: pd.DataFrame, modalities: set[str] | None = None) -> np.ndarray:
        X = self._matrix(P, modalities)
        out = np.full(len(X), self.prior_)
        avail_mod = [tuple(sorted({self.member_modality[m] for m, v in zip(self.members, row) if not np.isnan(v)}))
                     for row in X]
        col = {m: j for j, m in enumerate(self.members)}
        for i, pat in enumerate(avail_mod):
            meta = self.meta_.get("+".join(pat))
            if not pat:
                continue
            if meta is None:  # no meta-model for this pattern: fall back to the mean of what is there
                out[i] = float(np.nanmean(X[i]))
                continue
            pat_members = [m for m in meta["members"] if not np.isnan(X[i, col[m]])]
            if len(pat_members) != len(meta["members"]):
                out[i] = float(np.nanmean(X[i]))
                continue
            z = meta["intercept"] + float(np.dot(meta["coef"], _logit(X[i, [col[m] for m in meta["members"]]])))
            out[i] = 1.0 / (1.0 + np.exp(-z))
        return out

    def to_dict(self) -> dict:
        return {**super().to_dict(), "C": self.C, "meta": self.meta_}

    @classmethod
    def from_dict(cls, d: dict) -> "Stacking":
        e = cls(d["members"], d["member_modality"], d.get("C", 1.0))
        e.prior_, e.meta_ = d["prior"], d["meta"]
        e._restore_calibration(d)
        return e


LATE_FUSION = {"SoftVoting": SoftVoting, "WeightedVoting": WeightedVoting, "Stacking": Stacking}


def late_fusion_from_dict(d: dict) -> LateFusion:
    return LATE_FUSION[d["class"]].from_dict(d)


def top_k_per_modality(oof_auc: dict[str, float], member_modality: dict[str, str], k: int = 2) -> list[str]:
    """The study's membership rule, applied to out-of-fold AUCs (never to test data)."""
    chosen = []
    for mod in sorted(set(member_modality.values())):
        cands = sorted((m for m in oof_auc if member_modality[m] == mod and not np.isnan(oof_auc[m])),
                       key=lambda m: (-oof_auc[m], m))
        chosen.extend(cands[:k])
    return chosen
