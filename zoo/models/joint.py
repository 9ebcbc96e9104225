"""Joint (intermediate) fusion: one network over marrow, IFE and clinical embeddings, trained end to end.

Late fusion averages models that never saw each other's modality; early fusion feeds frozen image embeddings
to a linear head. Here the three encoders and the head learn together, so an encoder can learn what the
others do not already tell. Three parts:

* marrow: a compact CNN on plasma-cell crops at the scanned resolution (the cell-level models' input),
  mean-pooled over the patient's crops (mean MIL); trained on a few crops per patient per step, it predicts
  from the crops the cell-level models pool (``max_cells_per_image`` per smear), not from every cell;
* IFE: a compact CNN on the gel's six straightened lanes (the lane models' input), averaged over gels;
* clinical: the clinical models' own schema preprocessing (scaling, imputation, one-hot), then an MLP.

The head sees each embedding times its availability flag plus the flags, so "not collected" is a state it
was trained on, not a zero it must guess at. Training drops each available modality of a patient with
probability ``modality_dropout`` (never all of them), which is what lets the model predict with any
modality missing. The encoders are compact, not the study's backbones: a joint model re-runs every encoder
for every patient at every step, and the study's backbones on three inputs do not fit the CPU profiles'
time (docs/MODELS.md).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassifierMixin

from zoo.data import PatientData
from zoo.preprocess import normalize

JOINT_MODALITIES = ("clinical", "marrow", "electrophoresis")


def _conv_encoder(dim: int) -> nn.Sequential:
    def block(i: int, o: int) -> list[nn.Module]:
        return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]

    return nn.Sequential(*block(3, 16), nn.MaxPool2d(2), *block(16, 32), nn.MaxPool2d(2), *block(32, dim),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten())


class JointFusionNet(nn.Module):
    def __init__(self, n_clinical: int, dim: int = 32, dropout: float = 0.2) -> None:
        super().__init__()
        self.marrow = _conv_encoder(dim)
        self.ife = _conv_encoder(dim)
        self.clinical = nn.Sequential(nn.Linear(n_clinical, 64), nn.ReLU(), nn.Dropout(dropout), nn.Linear(64, dim))
        self.head = nn.Sequential(nn.Linear(3 * dim + 3, 32), nn.ReLU(), nn.Dropout(dropout), nn.Linear(32, 1))
        self.dim = dim

    def embed(self, crops: torch.Tensor, crop_owner: torch.Tensor, lanes: torch.Tensor, lane_owner: torch.Tensor,
              clinical: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-patient embeddings (B, dim) per modality; a patient without inputs of a modality gets zeros."""
        b = clinical.shape[0]

        def pooled(enc: nn.Module, x: torch.Tensor, owner: torch.Tensor) -> torch.Tensor:
            out = clinical.new_zeros(b, self.dim)
            if len(x) == 0:
                return out
            h = enc(normalize(x))
            out.index_add_(0, owner, h)
            n = torch.bincount(owner, minlength=b).clamp(min=1).to(h.dtype)
            return out / n[:, None]

        return {"marrow": pooled(self.marrow, crops, crop_owner), "electrophoresis": pooled(self.ife, lanes, lane_owner),
                "clinical": self.clinical(clinical)}

    def forward(self, crops, crop_owner, lanes, lane_owner, clinical, avail: torch.Tensor) -> torch.Tensor:
        """Logit of PD per patient. ``avail`` (B, 3): 1 where the modality (JOINT_MODALITIES order) is used."""
        e = self.embed(crops, crop_owner, lanes, lane_owner, clinical)
        z = torch.cat([e[m] * avail[:, i:i + 1] for i, m in enumerate(JOINT_MODALITIES)] + [avail], dim=1)
        return self.head(z).squeeze(1)


class JointFusionClassifier(BaseEstimator, ClassifierMixin):
    """scikit-learn estimator over a ``PatientData``: all three modalities in, one P(PD) out."""

    modality = "multimodal"

    def __init__(self, crop_size: int = 32, lane_height: int = 64, lane_width: int = 12, dim: int = 32,
                 epochs: int = 12, batch_size: int = 32, lr: float = 1e-3, weight_decay: float = 1e-4,
                 modality_dropout: float = 0.25, crops_per_patient: int = 8, imputer: str = "knn",
                 device: str = "auto", seed: int = 0, progress=None, max_cells_per_image: int | None = None) -> None:
        self.crop_size = crop_size
        self.lane_height = lane_height
        self.lane_width = lane_width
        self.dim = dim
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.modality_dropout = modality_dropout
        self.crops_per_patient = crops_per_patient
        self.imputer = imputer
        self.device = device
        self.seed = seed
        self.progress = progress
        self.max_cells_per_image = max_cells_per_image

    # ----- inputs ---------------------------------------------------------------------------------
    def _inputs(self, data: PatientData, for_fit: bool, Z_clin: np.ndarray | None = None):
        """Everything the network reads, per patient: crops and gels (uint8) with owners, clinical matrix,
        availability (n, 3). ``Z_clin``: ``transform_features`` of the patients' rows, when a caller already has it."""
        n = len(data)
        bank = (data.cells if for_fit else (data.eval_cells or data.cells))
        crops, crop_img = bank.crops(self.crop_size) if bank is not None and bank.keys else (
            torch.empty(0, 3, self.crop_size, self.crop_size, dtype=torch.uint8), np.zeros(0, np.int64))
        img_owner = {}
        for i, ks in enumerate(data.images.get("marrow", [[]] * n)):
            if ks:
                for r in bank.index_of(ks):
                    img_owner[int(r)] = i
        sel = np.flatnonzero(np.isin(crop_img, list(img_owner))) if img_owner else np.zeros(0, np.int64)
        cap = getattr(self, "max_cells_per_image", None)  # zoos saved before the limit pool every cell
        if not for_fit and cap is not None and len(sel):  # the cell-level models' rule: at most cap per smear
            from zoo.segment.cells import pooled_rows

            sel = sel[pooled_rows(crop_img[sel], cap)]
        c_owner = np.array([img_owner[int(r)] for r in crop_img[sel]], dtype=np.int64)
        c_x = crops[torch.from_numpy(sel)] if len(sel) else crops[:0]
        keys, l_owner = [], []
        for i, ks in enumerate(data.images.get("electrophoresis", [[]] * n)):
            keys.extend(ks)
            l_owner.extend([i] * len(ks))
        ife_bank = data.banks.get("electrophoresis")
        if keys:
            l_x = ife_bank.tensor(self.lane_height, "lanes", self.lane_width)[torch.from_numpy(ife_bank.index_of(keys))]
        else:
            l_x = torch.empty(0, 3, self.lane_height, 6 * self.lane_width, dtype=torch.uint8)
        X = data.clinical.reindex(columns=self.features_ if hasattr(self, "features_") else data.features)
        has_clin = X.notna().any(axis=1).to_numpy()
        width = len(self.prep_.get_feature_names_out())
        Z = np.zeros((n, width), np.float32)  # a patient without clinical values: flag 0, the row is never read
        if Z_clin is not None and np.shape(Z_clin) != (n, width):
            raise ValueError(f"Expected Z_clin of shape {(n, width)} (one transformed clinical row per patient). "
                             f"Got {np.shape(Z_clin)}.")
        if has_clin.any():
            Z[has_clin] = (self.prep_.transform(X[has_clin]) if Z_clin is None else Z_clin[has_clin]).astype(np.float32)
        avail = np.column_stack([has_clin, np.bincount(c_owner, minlength=n) > 0,
                                 np.bincount(np.asarray(l_owner, np.int64), minlength=n) > 0]).astype(np.float32)
        return c_x, c_owner, l_x, np.asarray(l_owner, np.int64), Z, avail

    @staticmethod
    def _rows(owner: np.ndarray, patients: np.ndarray, rng: np.random.Generator | None, cap: int | None):
        """Rows of ``owner`` that belong to ``patients`` (at most ``cap`` per patient when sampling) and their
        position within ``patients``."""
        pos = {int(p): j for j, p in enumerate(patients)}
        rows, own = [], []
        for p in patients:
            r = np.flatnonzero(owner == p)
            if rng is not None and cap is not None and len(r) > cap:
                r = rng.choice(r, size=cap, replace=False)
            rows.extend(r.tolist())
            own.extend([pos[int(p)]] * len(r))
        return np.asarray(rows, np.int64), np.asarray(own, np.int64)

    # ----- estimator API --------------------------------------------------------------------------
    def fit(self, data: PatientData, y) -> "JointFusionClassifier":
        from zoo.models.clinical import build_preprocessor
        from zoo.models.cnn import fused_optimiser, resolve_device
        from zoo.segment.cells import check_cell_limit

        check_cell_limit(self.max_cells_per_image)
        y = np.asarray(y, dtype=np.float32)
        self.features_ = list(data.features)
        self.prep_ = build_preprocessor(data.schema, self.features_, self.imputer).fit(data.clinical[self.features_])
        c_x, c_owner, l_x, l_owner, Z, avail = self._inputs(data, for_fit=True)
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        dev = resolve_device(self.device)
        net = JointFusionNet(Z.shape[1], self.dim).to(dev)
        opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay, **fused_optimiser(dev))
        pos_weight = torch.tensor(float((1 - y).sum() / max(y.sum(), 1)), device=dev)
        Zt, At, yt = torch.from_numpy(Z).to(dev), torch.from_numpy(avail).to(dev), torch.from_numpy(y).to(dev)
        self.history_: list[float] = []
        net.train()
        for epoch in range(self.epochs):
            order = rng.permutation(len(y))
            total = 0.0
            for s in range(0, len(order), self.batch_size):
                b = order[s:s + self.batch_size]
                if len(b) < 2:  # BatchNorm cannot train on one patient
                    continue
                cr, co = self._rows(c_owner, b, rng, self.crops_per_patient)
                lr_, lo = self._rows(l_owner, b, rng, 1)
                a = At[torch.from_numpy(b)].clone()
                drop = torch.from_numpy(rng.random(a.shape) < self.modality_dropout).to(dev) & (a > 0)
                keep_one = (a * ~drop).sum(1) == 0  # never drop every modality a patient has
                drop[keep_one] = False
                a[drop] = 0.0
                logit = net(c_x[torch.from_numpy(cr)].to(dev), torch.from_numpy(co).to(dev),
                            l_x[torch.from_numpy(lr_)].to(dev), torch.from_numpy(lo).to(dev), Zt[torch.from_numpy(b)], a)
                loss = F.binary_cross_entropy_with_logits(logit, yt[torch.from_numpy(b)], pos_weight=pos_weight)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(b)
            self.history_.append(total / len(y))
            if self.progress:
                self.progress({"epoch": epoch + 1, "epochs": self.epochs, "loss": self.history_[-1]})
        self.net_ = net.eval()
        self.device_ = dev
        self.prevalence_ = float(y.mean())  # the prediction with no modality at all (modality Shapley's v(∅))
        self.classes_ = np.array([0, 1])
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "net_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("This joint fusion model is not fitted. Call fit or load it from a zoo.")

    def transform_features(self, X: pd.DataFrame) -> np.ndarray:
        """The fitted clinical preprocessing alone (``Z_clin`` of ``predict_proba``)."""
        self._check_fitted()
        return np.asarray(self.prep_.transform(X.reindex(columns=self.features_)), float)

    def preprocessor_fingerprint(self) -> str:
        """Same fingerprint as a clinical model whose fitted preprocessing is identical: the zoo's scoring then
        runs that preprocessing (a KNN imputation, most of a one-row transform's 9 ms) once for all of them."""
        from zoo.models.clinical import prep_fingerprint

        self._check_fitted()
        return prep_fingerprint(self.features_, self.prep_)

    @torch.inference_mode()
    def predict_proba(self, data: PatientData, Z_clin: np.ndarray | None = None) -> np.ndarray:
        """P(PD) from whatever each patient has: a patient with no modality at all gets NaN.

        ``Z_clin``: ``transform_features`` of ``data.clinical`` (one row per patient, same order), when the
        caller already computed it for a model with the same ``preprocessor_fingerprint``."""
        self._check_fitted()
        c_x, c_owner, l_x, l_owner, Z, avail = self._inputs(data, for_fit=False, Z_clin=Z_clin)
        out = np.full(len(data), np.nan)
        dev = self.device_
        for s in range(0, len(data), 64):
            b = np.arange(s, min(s + 64, len(data)))
            cr, co = self._rows(c_owner, b, None, None)
            lr_, lo = self._rows(l_owner, b, None, None)
            logit = self.net_(c_x[torch.from_numpy(cr)].to(dev), torch.from_numpy(co).to(dev),
                              l_x[torch.from_numpy(lr_)].to(dev), torch.from_numpy(lo).to(dev),
                              torch.from_numpy(Z[b]).to(dev), torch.from_numpy(avail[b]).to(dev))
            out[b] = torch.sigmoid(logit).cpu().numpy()
        out[avail.sum(1) == 0] = np.nan
        return np.column_stack([1 - out, out])

    def modalities_used(self, data: PatientData) -> list[list[str]]:
        _, _, _, _, _, avail = self._inputs(data, for_fit=False)
        return [[m for m, a in zip(JOINT_MODALITIES, row) if a] for row in avail]
