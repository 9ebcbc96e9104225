"""Patient-level views of a cohort that every model (image or clinical) consumes.

Models receive a ``PatientData`` and return one probability per patient, so
training, OOF prediction and evaluation have one code path. Images live in
an ``ImageBank`` that decodes each file once and caches the denoised tensor
per input size.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from zoo.cohort.layout import MODALITIES
from zoo.schema import DEFAULT_SCHEMA, Schema


class ImageBank:
    """Decoded images of one modality, keyed; denoised tensors cached per size."""

    def __init__(self, loader, keys: Sequence[str]) -> None:
        self._loader = loader  # key -> RGB uint8 array
        self.keys = list(keys)
        self._index = {k: i for i, k in enumerate(self.keys)}
        self._cache: dict[object, object] = {}
        self._lanes: dict[str, object] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "ImageBank":
        return cls(arrays.__getitem__, list(arrays))

    def index_of(self, keys: Sequence[str]) -> np.ndarray:
        return np.array([self._index[k] for k in keys], dtype=np.int64)

    def tensor(self, image_size: int, view: str = "whole", lane_width: int = 12, density: str = "raw"):
        """uint8 inputs for all keys, computed once per (view, size).

        ``whole``: (N, 3, S, S), the denoised field resized to ``image_size``. ``lanes`` (gels): (N, 3, S,
        6·lane_width), the gel's six lanes straightened side by side at ``image_size`` rows, as stained
        (``density="raw"``) or relative to the gel's albumin (``"albumin"``; zoo.lanes).
        """
        from zoo.preprocess import PreprocessConfig, denoise_images

        key = image_size if view == "whole" else (view, image_size, lane_width, density)
        with self._lock:
            if key not in self._cache:
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(max_workers=4) as ex:  # Pillow decodes without the GIL
                    imgs = list(ex.map(self._loader, self.keys))
                if view == "whole":
                    self._cache[key] = denoise_images(imgs, PreprocessConfig(image_size=image_size))
                elif view == "lanes":
                    self._cache[key] = self._lane_tensor(imgs, image_size, lane_width, density)
                else:
                    raise ValueError(f"Expected an input view 'whole' or 'lanes'. Got {view!r}.")
            return self._cache[key]

    def _lane_tensor(self, imgs: list, height: int, lane_width: int, density: str = "raw"):
        import torch

        from zoo.lanes import N_LANES, lane_view

        out = torch.empty(len(imgs), 3, height, N_LANES * lane_width, dtype=torch.uint8)
        for i, (k, img) in enumerate(zip(self.keys, imgs)):
            view, lanes = lane_view(img, height, lane_width, density)
            self._lanes[k] = lanes
            out[i] = torch.from_numpy(view).permute(2, 0, 1)
        return out

    def lanes(self, key: str):
        """The lanes found in gel ``key`` (after a ``lanes`` tensor was built), for mapping CAMs back."""
        if key not in self._lanes:
            from zoo.lanes import find_lanes

            self._lanes[key] = find_lanes(self._loader(key))
        return self._lanes[key]

    def raw(self, key: str) -> np.ndarray:
        return self._loader(key)


@dataclass
class PatientData:
    """Rows = patients. ``images[m][i]`` lists the image keys of patient i for modality m."""

    ids: list[str]
    clinical: pd.DataFrame
    images: dict[str, list[list[str]]]
    banks: dict[str, ImageBank]
    schema: Schema = DEFAULT_SCHEMA
    features: list[str] = field(default_factory=list)
    cells: object | None = None  # zoo.segment.cells.CellBank over the marrow keys (cell-level models, fitting)
    eval_cells: object | None = None  # the same keys segmented unprompted (cell-level models, predicting)

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, idx: Sequence[int] | np.ndarray) -> "PatientData":
        idx = np.asarray(idx, dtype=np.int64)
        return PatientData(
            ids=[self.ids[i] for i in idx], clinical=self.clinical.iloc[idx],
            images={m: [v[i] for i in idx] for m, v in self.images.items()}, banks=self.banks,
            schema=self.schema, features=self.features, cells=self.cells, eval_cells=self.eval_cells)

    def has(self, modality: str) -> np.ndarray:
        if modality == "multimodal":  # a joint fusion model predicts from whatever a patient has
            return self.has("clinical") | self.has("marrow") | self.has("electrophoresis")
        if modality == "clinical":
            return self.clinical[self.features].notna().any(axis=1).to_numpy() if self.features else np.zeros(len(self), bool)
        return np.array([len(k) > 0 for k in self.images.get(modality, [[]] * len(self))])

    def drop_modality(self, modality: str) -> "PatientData":
        """Same patients as if ``modality`` had not been collected (ablation, modality Shapley)."""
        if modality == "clinical":
            clin = self.clinical.copy()
            clin[self.features] = np.nan
            return PatientData(self.ids, clin, self.images, self.banks, self.schema, self.features, self.cells,
                               self.eval_cells)
        imgs = dict(self.images)
        imgs[modality] = [[] for _ in self.ids]
        return PatientData(self.ids, self.clinical, imgs, self.banks, self.schema, self.features, self.cells,
                           self.eval_cells)

    @classmethod
    def from_cohort(cls, cohort, segmentation_dir=None, prompted_ids=None) -> "PatientData":
        """``prompted_ids``: patients whose marrow images may be segmented with their annotation points
        (training patients only; default none, i.e. every image segmented as a new patient's would be)."""
        from zoo.cohort.images import read_image
        from zoo.segment.cells import CellBank, cohort_segmentation

        ids = cohort.patient_ids
        images, banks = {}, {}
        for m in MODALITIES:
            per = [[str(p) for p in cohort.image_paths(pid, m)] for pid in ids]
            images[m] = per
            keys = [k for ks in per for k in ks]
            banks[m] = ImageBank(read_image, keys)
        feats = cohort.feature_columns
        wanted = set(prompted_ids or ())
        prompted = {k for pid, ks in zip(ids, images["marrow"]) if pid in wanted for k in ks}
        eval_cells = CellBank(read_image, banks["marrow"].keys, cohort_segmentation(cohort.root, segmentation_dir))
        cells = (CellBank(read_image, banks["marrow"].keys,
                          cohort_segmentation(cohort.root, segmentation_dir, prompted_keys=prompted))
                 if prompted else eval_cells)
        return cls(ids=ids, clinical=cohort.clinical[feats].copy(), images=images, banks=banks,
                   schema=cohort.schema, features=feats, cells=cells, eval_cells=eval_cells)

    @classmethod
    def single(cls, clinical: dict, images: dict[str, list[np.ndarray]] | None = None,
               schema: Schema = DEFAULT_SCHEMA, features: list[str] | None = None,
               keys: dict[str, list[str]] | None = None, segmentation_for=None,
               banks: dict[str, ImageBank] | None = None) -> "PatientData":
        """One patient from a form and optional uploads (keys default to content hashes).

        ``segmentation_for(key, img)``: where the smears' plasma-cell segmentations come from (a cache shared
        by the models of one prediction); by default each is segmented unprompted here. ``banks``: a bank per
        modality already holding these images under these keys (shared by the models of one prediction, so
        its cached inputs are computed once); one whose keys differ is not used."""
        from zoo.cohort.images import image_sha256
        from zoo.segment.cells import CellBank, cohort_segmentation

        feats = features or [v.name for v in schema.features()]
        row = {f: clinical.get(f, np.nan) for f in feats}
        images = images or {}
        given, per, banks = banks or {}, {}, {}
        for m in MODALITIES:
            arrs = images.get(m, [])
            ks = (keys or {}).get(m) or [image_sha256(a) for a in arrs]
            per[m] = [list(ks)]
            shared = given.get(m)
            banks[m] = shared if shared is not None and shared.keys == list(ks) else ImageBank.from_arrays(
                dict(zip(ks, arrs)))
        df = pd.DataFrame([row], index=pd.Index(["patient"], name="patient_id"), columns=feats)
        cells = CellBank(banks["marrow"].raw, banks["marrow"].keys, segmentation_for or cohort_segmentation(None))
        return cls(ids=["patient"], clinical=df, images=per, banks=banks, schema=schema, features=feats, cells=cells,
                   eval_cells=cells)
