"""CNN estimators with scikit-learn conventions over patients.

``fit(data, y)`` trains on every image of the patients given (each image
carries its patient's label); ``predict_proba(data)`` returns one row per
patient: the mean over that patient's images, NaN where the patient has no
image of this modality. Image and clinical models therefore share one
training and evaluation path.
"""
from __future__ import annotations

import contextlib
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassifierMixin

from zoo.data import PatientData
from zoo.models.networks import build_network
from zoo.preprocess import AUGMENT_POLICIES, augment, normalize

ProgressFn = Callable[[dict], None]


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("Expected a CUDA device for --device cuda. Got none. Use --device auto or cpu.")
    return torch.device(device)


# NHWC on every device: on CUDA it feeds the tensor cores; on CPU oneDNN's NHWC kernels train up to a third
# faster at these sizes (`python benchmarks/run.py kernels`, figures in docs/BENCHMARKS.md).
MEMORY_FORMAT = torch.channels_last


def _autocast(dev: torch.device):
    return torch.autocast("cuda", dtype=torch.bfloat16) if dev.type == "cuda" else contextlib.nullcontext()


def fused_optimiser(dev: torch.device) -> dict:
    """Keyword arguments that make Adam/AdamW update every parameter in one fused kernel where PyTorch has one.

    Why: the default per-tensor loop cost ResNet-18 44 ms of a 130-ms training step on 2 CPU cores (fused:
    6 ms; DenseNet-121 21 -> 5 ms). Each step is the loop's update to float rounding (1.5e-8 after 20 steps on
    the same gradients); over a training those roundings grow, so a zoo trained with it is another training run
    of the same recipe with its own weights and figures, as on another CPU, where test AUCs moved by up to 0.057
    (docs/MODELS.md, "Same code and seeds, another CPU"; docs/BENCHMARKS.md, "Fused Adam and cheaper random
    networks"). Not part of ``model_recipe``: a build resumed across this change keeps its loop-trained models,
    runs of the same recipe as the fused ones, as a build resumed on another machine would."""
    return {"fused": True} if dev.type in ("cpu", "cuda") else {}


BN_RECALIBRATION_INPUTS = 8192


@torch.no_grad()
def _recalibrate_batchnorm(net: torch.nn.Module, x_uint8: torch.Tensor, batch_size: int,
                           max_inputs: int = BN_RECALIBRATION_INPUTS) -> None:
    """Re-estimate BatchNorm running statistics with the final weights (one pass, no augmentation).

    With few optimisation steps the running averages lag far behind the weights
    and eval-mode outputs collapse to a constant; a cumulative average over the
    training images fixes that at the cost of one forward pass. At most ``max_inputs`` inputs
    (``BN_RECALIBRATION_INPUTS`` = 8192 for a trained model; a fixed sample, seed 0, so the same rows for every
    network given the same inputs) are used: a cell-level model has tens of thousands of training crops, and the
    pass over all of them cost more than its training epochs, while a mean over 8192 independent inputs has a
    standard error of about 1 % of an SD (2048: 2 %; crops of one patient are not independent, so somewhat more).
    """
    bns = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    if x_uint8.shape[0] > max_inputs:
        pick = np.sort(np.random.default_rng(0).choice(x_uint8.shape[0], max_inputs, replace=False))
        x_uint8 = x_uint8[torch.from_numpy(pick).to(x_uint8.device)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    net.train()
    for s in range(0, x_uint8.shape[0], max(batch_size, 2)):
        xb = x_uint8[s:s + max(batch_size, 2)]
        if xb.shape[0] > 1:
            net(normalize(xb).contiguous(memory_format=MEMORY_FORMAT))
    for m, mom in zip(bns, saved):
        m.momentum = mom


class CNNClassifier(BaseEstimator, ClassifierMixin):
    def __init__(self, arch: str = "resnet18", modality: str = "marrow", image_size: int = 64, epochs: int = 6,
                 batch_size: int = 32, lr: float = 1e-3, betas: tuple[float, float] = (0.85, 0.995),
                 weight_decay: float = 1e-4, dropout: float = 0.3, images_per_patient: int | None = None,
                 pretrained: bool = False, augment: str = "paper", device: str = "auto", seed: int = 0,
                 progress: ProgressFn | None = None, view: str = "whole", lane_width: int = 12,
                 width: float = 1.0, lane_density: str = "raw") -> None:
        self.arch = arch
        self.modality = modality
        self.image_size = image_size
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.betas = betas
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.images_per_patient = images_per_patient
        self.pretrained = pretrained
        self.augment = augment
        self.device = device
        self.seed = seed
        self.progress = progress
        self.view = view              # "whole" field, or a gel's "lanes" side by side (zoo.lanes)
        self.lane_width = lane_width
        self.width = width            # channel multiplier (VGG only; zoo.models.networks.ClassifierNet)
        self.lane_density = lane_density  # lanes as stained ("raw") or relative to the gel's albumin (zoo.lanes)

    # ----- helpers --------------------------------------------------------------
    def input_hw(self) -> tuple[int, int]:
        """(height, width) of one network input."""
        from zoo.lanes import N_LANES

        view = getattr(self, "view", "whole")
        return (self.image_size, N_LANES * self.lane_width) if view == "lanes" else (self.image_size,) * 2

    def bank_tensor(self, bank) -> torch.Tensor:
        """This model's inputs for every image of ``bank`` (cached by the bank per view and size)."""
        return bank.tensor(self.image_size, getattr(self, "view", "whole"), getattr(self, "lane_width", 12),
                           getattr(self, "lane_density", "raw"))

    def _samples(self, data: PatientData, for_fit: bool = False) -> tuple[torch.Tensor, np.ndarray]:
        """uint8 inputs (N, 3, S, S) and the patient (row in ``data``) each belongs to."""
        rows, owner = self._image_index(data)
        if len(rows) == 0:
            return torch.empty(0, 3, *self.input_hw(), dtype=torch.uint8), owner
        return self.bank_tensor(data.banks[self.modality])[torch.from_numpy(rows)], owner

    def _image_index(self, data: PatientData) -> tuple[np.ndarray, np.ndarray]:
        """Bank rows of every image and the patient (row in ``data``) each belongs to."""
        keys, owner = [], []
        for i, ks in enumerate(data.images[self.modality]):
            keys.extend(ks)
            owner.extend([i] * len(ks))
        bank = data.banks[self.modality]
        return bank.index_of(keys), np.asarray(owner, dtype=np.int64)

    def _epoch_order(self, owner: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.images_per_patient is None:
            return rng.permutation(len(owner))
        picks = []
        for p in np.unique(owner):
            rows = np.flatnonzero(owner == p)
            picks.extend(rng.choice(rows, size=min(self.images_per_patient, len(rows)), replace=False))
        return rng.permutation(np.asarray(picks))

    # ----- estimator API --------------------------------------------------------
    def fit(self, data: PatientData, y) -> "CNNClassifier":
        y = np.asarray(y, dtype=np.int64)
        x_cpu, owner = self._samples(data, for_fit=True)
        if len(owner) == 0:
            raise ValueError(f"Expected {self.modality} inputs for training. Got none among {len(data)} patients.")
        dev = resolve_device(self.device)
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        gen = torch.Generator().manual_seed(self.seed)
        x_all = x_cpu.to(dev)
        y_img = torch.from_numpy(y[owner]).to(dev)
        net, self.init_note_ = build_network(self.arch, self.dropout, self.pretrained,
                                                   getattr(self, "width", 1.0))
        net = net.to(dev).to(memory_format=MEMORY_FORMAT)
        counts = np.bincount(y[owner], minlength=2).astype(float)
        weight = torch.tensor(counts.sum() / (2 * np.maximum(counts, 1)), dtype=torch.float32, device=dev)
        opt = torch.optim.Adam(net.parameters(), lr=self.lr, betas=self.betas, weight_decay=self.weight_decay,
                               **fused_optimiser(dev))
        steps_per_epoch = max(1, int(np.ceil(len(self._epoch_order(owner, np.random.default_rng(0))) / self.batch_size)))
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=self.epochs * steps_per_epoch,
                                                           eta_min=self.lr * 0.01)
        self.history_: list[float] = []
        net.train()
        for epoch in range(self.epochs):
            order = self._epoch_order(owner, rng)
            total, seen = 0.0, 0
            for s in range(0, len(order), self.batch_size):
                b = order[s:s + self.batch_size]
                if len(b) < 2:  # BatchNorm cannot train on a single sample
                    continue
                bt = torch.from_numpy(b).to(dev)
                xb = augment(normalize(x_all[bt]), gen, AUGMENT_POLICIES[self.augment])
                xb = xb.contiguous(memory_format=MEMORY_FORMAT)
                with _autocast(dev):
                    logits = net(xb)
                loss = F.cross_entropy(logits.float(), y_img[bt], weight=weight)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total += float(loss.detach()) * len(b)
                seen += len(b)
            self.history_.append(total / max(seen, 1))
            if self.progress:
                self.progress({"epoch": epoch + 1, "epochs": self.epochs, "loss": self.history_[-1]})
        _recalibrate_batchnorm(net, x_all, self.batch_size)
        net.eval()
        self.net_ = net
        self.device_ = dev
        self.classes_ = np.array([0, 1])
        self._after_fit(x_all, owner, y)
        return self

    def _after_fit(self, x_all: torch.Tensor, owner: np.ndarray, y: np.ndarray) -> None:
        """Hook for subclasses (e.g. attention pooling over cells)."""

    def _check_fitted(self) -> None:
        if not hasattr(self, "net_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(f"This {self.arch} ({self.modality}) model is not fitted. Call fit or load it from a zoo.")

    @torch.inference_mode()
    def _run(self, x_uint8: torch.Tensor, what: str = "proba", batch: int = 128):
        """P(PD) (``proba``), pooled features (``embed``), or both from one forward pass (``both``: a tuple)."""
        probs, embs = [], []
        dev = self.device_
        for s in range(0, x_uint8.shape[0], batch):
            xb = normalize(x_uint8[s:s + batch].to(dev)).contiguous(memory_format=MEMORY_FORMAT)
            with _autocast(dev):
                e = self.net_.embed(xb)
                if what != "embed":
                    probs.append(torch.softmax(self.net_.head(e).float(), dim=1)[:, 1].cpu())
            if what != "proba":
                embs.append(e.float().cpu())
        p = torch.cat(probs) if probs else torch.empty(0)
        e = torch.cat(embs) if embs else torch.empty(0, self.net_.head[1].in_features)
        return (p, e) if what == "both" else (p if what == "proba" else e)

    def predict_image_proba(self, x_uint8: torch.Tensor) -> np.ndarray:
        """P(PD) for each denoised uint8 image (N, 3, S, S)."""
        self._check_fitted()
        return self._run(x_uint8).numpy()

    def _per_patient(self, data: PatientData, what: str) -> np.ndarray:
        self._check_fitted()
        x, owner = self._samples(data)
        return self._pool(x, owner, len(data), what)

    def _pool(self, x: torch.Tensor, owner: np.ndarray, n: int, what: str):
        """Mean over each patient's inputs of P(PD) (``proba``), of pooled features (``embed``), or both.

        One forward pass gives both; the unasked one costs only the head or a copy."""
        out_p, out_e = np.full((n, 1), np.nan), np.full((n, self.net_.head[1].in_features), np.nan)
        if len(owner):
            p, e = (t.numpy() for t in self._run(x, "both"))
            for q in np.unique(owner):
                rows = owner == q
                out_p[q], out_e[q] = p[rows].mean(), e[rows].mean(axis=0)
        return {"proba": out_p, "embed": out_e, "both": (out_p, out_e)}[what]

    def predict_proba(self, data: PatientData) -> np.ndarray:
        p = self._per_patient(data, "proba")[:, 0]
        return np.column_stack([1 - p, p])

    def embed(self, data: PatientData) -> np.ndarray:
        """Mean pooled backbone features per patient (for early fusion); NaN rows when no image."""
        return self._per_patient(data, "embed")

    def predict_proba_and_embed(self, data: PatientData) -> tuple[np.ndarray, np.ndarray]:
        """``predict_proba`` and ``embed`` from one forward pass over the patients' inputs (half the cost of two
        calls: scoring the held-out fold, test and external patients is most of a cell-level model's time)."""
        p, e = self._per_patient(data, "both")
        return np.column_stack([1 - p[:, 0], p[:, 0]]), e


class FoldBag:
    """The k out-of-fold CNNs used together as the final model (no refit).

    Cheap profiles skip the refit on the whole training set: each training
    patient's OOF prediction comes from the fold model that did not see it,
    and new patients get the mean of the k fold models. Embeddings are the
    fold models' pooled features side by side.
    """

    def __init__(self, members: list[CNNClassifier]) -> None:
        if not members:
            raise ValueError("Expected at least one fold model. Got none.")
        self.members = members
        first = members[0]
        self.arch, self.modality, self.image_size = first.arch, first.modality, first.image_size
        self.view, self.lane_width = getattr(first, "view", "whole"), getattr(first, "lane_width", 12)
        self.lane_density = getattr(first, "lane_density", "raw")
        self.classes_ = np.array([0, 1])

    def input_hw(self) -> tuple[int, int]:
        return self.members[0].input_hw()

    def bank_tensor(self, bank) -> torch.Tensor:
        return self.members[0].bank_tensor(bank)

    @property
    def net_(self):
        return self.members[0].net_

    @property
    def history_(self) -> list[float]:
        return self.members[-1].history_

    def predict_image_proba(self, x_uint8: torch.Tensor) -> np.ndarray:
        return np.mean([m.predict_image_proba(x_uint8) for m in self.members], axis=0)

    def predict_proba(self, data: PatientData) -> np.ndarray:
        p = np.mean([m.predict_proba(data)[:, 1] for m in self.members], axis=0)
        return np.column_stack([1 - p, p])

    def embed(self, data: PatientData) -> np.ndarray:
        return np.hstack([m.embed(data) for m in self.members])

    def predict_proba_and_embed(self, data: PatientData) -> tuple[np.ndarray, np.ndarray]:
        both = [m.predict_proba_and_embed(data) for m in self.members]
        p = np.mean([b[0][:, 1] for b in both], axis=0)
        return np.column_stack([1 - p, p]), np.hstack([b[1] for b in both])
