"""Cell-level marrow models: a CNN on plasma-cell crops whose patient probability pools its cells.

Each crop carries its patient's label. Pooling is the mean of cell
probabilities by default; ``pooling="attention"`` adds gated attention-MIL
(Ilse et al. 2018) fit on the trained CNN's cell embeddings, bag by bag.
Training draws from every crop; prediction pools at most ``max_cells_per_image``
crops of each smear (``zoo.segment.cells.pooled_index``), wherever it happens:
evaluation, the dashboard, the API and the Grad-CAM of a smear. (Attention-MIL
pooling is fitted on whole bags and then reads capped ones; no profile uses it.)
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from zoo.data import PatientData
from zoo.models.cnn import CNNClassifier


class AttentionPool(nn.Module):
    def __init__(self, dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.v = nn.Linear(dim, hidden)
        self.u = nn.Linear(dim, hidden)
        self.w = nn.Linear(hidden, 1)
        self.out = nn.Linear(dim, 1)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.w(torch.tanh(self.v(h)) * torch.sigmoid(self.u(h))).squeeze(-1)
        a = torch.softmax(a, dim=0)
        return self.out((a[:, None] * h).sum(0)).squeeze(-1), a


class CellBagClassifier(CNNClassifier):
    """CNNClassifier over plasma-cell crops; ``images_per_patient`` = cells drawn per patient per epoch."""

    def __init__(self, arch: str = "resnet18", modality: str = "marrow", image_size: int = 32, epochs: int = 6,
                 batch_size: int = 64, lr: float = 1e-3, betas: tuple[float, float] = (0.85, 0.995),
                 weight_decay: float = 1e-4, dropout: float = 0.3, images_per_patient: int | None = 8,
                 pretrained: bool = False, augment: str = "paper", device: str = "auto", seed: int = 0,
                 progress=None, pooling: str = "mean", mask_background: bool = False, width: float = 1.0,
                 max_cells_per_image: int | None = None) -> None:
        super().__init__(arch=arch, modality=modality, image_size=image_size, epochs=epochs, batch_size=batch_size,
                         lr=lr, betas=betas, weight_decay=weight_decay, dropout=dropout,
                         images_per_patient=images_per_patient, pretrained=pretrained, augment=augment,
                         device=device, seed=seed, progress=progress, width=width)
        self.pooling = pooling
        self.mask_background = mask_background
        self.max_cells_per_image = max_cells_per_image

    def pooled(self, instances: list[dict]) -> list[dict]:
        """The instances of one smear's segmentation whose crops prediction pools (``pooled_instances``)."""
        from zoo.segment.cells import pooled_instances

        return pooled_instances(instances, getattr(self, "max_cells_per_image", None))

    def _samples(self, data: PatientData, for_fit: bool = False):
        """Crops of segmented plasma cells. Fitting may use annotation-prompted segmentation (``data.cells``);
        prediction always uses the unprompted segmentation a new patient gets (``data.eval_cells``)."""
        cap = getattr(self, "max_cells_per_image", None)
        if for_fit:
            from zoo.segment.cells import check_cell_limit

            check_cell_limit(cap)
        bank = data.cells if for_fit else (data.eval_cells or data.cells)
        if bank is None:
            raise ValueError("Expected plasma-cell crops for a cell-level model. Got a PatientData without a CellBank.")
        crops, crop_img = bank.crops(self.image_size, self.mask_background)
        keys, owner_of_key = [], []
        for i, ks in enumerate(data.images[self.modality]):
            keys.extend(ks)
            owner_of_key.extend([i] * len(ks))
        if not keys:
            return crops[:0], np.zeros(0, dtype=np.int64)
        img_rows = bank.index_of(keys)
        row_to_owner = dict(zip(img_rows.tolist(), owner_of_key))
        sel = np.flatnonzero(np.isin(crop_img, img_rows))
        if not for_fit:  # training draws from every crop; prediction pools at most the limit per smear
            from zoo.segment.cells import pooled_rows

            sel = sel[pooled_rows(crop_img[sel], cap)]
        owner = np.array([row_to_owner[r] for r in crop_img[sel]], dtype=np.int64)
        return crops[torch.from_numpy(sel)], owner

    def _after_fit(self, x_all, owner, y) -> None:
        self.attention_ = None
        if self.pooling != "attention":
            return
        emb = self._run(x_all, "embed")
        torch.manual_seed(self.seed)
        pool = AttentionPool(emb.shape[1])
        opt = torch.optim.Adam(pool.parameters(), lr=1e-3, weight_decay=1e-4)
        bags = [(torch.from_numpy(np.flatnonzero(owner == p)), float(y[p])) for p in np.unique(owner)]
        rng = np.random.default_rng(self.seed)
        for _ in range(30):
            for j in rng.permutation(len(bags)):
                idx, lab = bags[j]
                logit, _ = pool(emb[idx])
                loss = nn.functional.binary_cross_entropy_with_logits(logit, torch.tensor(lab))
                opt.zero_grad()
                loss.backward()
                opt.step()
        self.attention_ = pool.eval()

    def _pool(self, x, owner, n, what):
        if what == "embed" or getattr(self, "attention_", None) is None:
            return super()._pool(x, owner, n, what)
        out = np.full((n, 1), np.nan)
        mean_emb = np.full((n, self.net_.head[1].in_features), np.nan)
        if len(owner):
            emb = self._run(x, "embed")
            with torch.no_grad():
                for p in np.unique(owner):
                    rows = torch.from_numpy(np.flatnonzero(owner == p))
                    logit, _ = self.attention_(emb[rows])
                    out[p] = float(torch.sigmoid(logit))
                    mean_emb[p] = emb[rows].numpy().mean(axis=0)
        return (out, mean_emb) if what == "both" else out

    def predict_crops(self, crops: torch.Tensor) -> tuple[float, np.ndarray]:
        """Patient P(PD) and mean embedding from one patient's pooled crops (uploads, the dashboard): each
        smear's crops already chosen by ``pooled``."""
        self._check_fitted()
        owner = np.zeros(len(crops), dtype=np.int64)
        if len(crops) == 0:
            return float("nan"), None
        p, e = self._pool(crops, owner, 1, "both")
        return float(p[0, 0]), e[0]
