"""The Python API the dashboard and the CLI use: load a zoo once, predict, read the leaderboard.

Loading verifies the manifest (its signature when MYELOZOO_MANIFEST_KEY is set, schema version, paths
inside the zoo, plain names, SHA-256 of every file) and refuses a tampered or incompatible zoo; every file
is read through one checked accessor, so nothing the manifest does not list is ever opened. Models load
lazily, once, and are safe to share between threads: prediction never mutates them. Image-model outputs
are cached per image content hash (computed here from the pixels, whatever the caller calls the image),
so a what-if change of a clinical value never re-runs a CNN.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from zoo.artifacts.files import read_json
from zoo.artifacts.manifest import ZooFiles, check_manifest, check_signature
from zoo.data import PatientData
from zoo.errors import ZooIntegrityError
from zoo.evaluation.calibration import calibrate_if_needed
from zoo.lru import LRU as _LRU  # noqa: F401 - the name tests and callers use
from zoo.schema import DEFAULT_SCHEMA, SCHEMA_VERSION, Schema
from zoo.schema.derived import with_derived_stages

MAIN_ENSEMBLE = "ens_soft_vote"
RISK_BANDS = ((0.25, "low"), (0.5, "intermediate"), (1.01, "high"))


def risk_band(p: float) -> str:
    for cut, name in RISK_BANDS:
        if p < cut:
            return name
    return "high"


@dataclass
class PatientPrediction:
    model_probs: dict[str, float | None]
    ensemble_probs: dict[str, float]
    modalities_used: dict[str, list[str]]
    members_used: dict[str, list[str]]
    main: str = MAIN_ENSEMBLE
    warnings: list[str] = field(default_factory=list)
    patient_id: str | None = None
    uncertainty: dict[str, dict] = field(default_factory=dict)  # model/ensemble -> PatientUncertainty.to_dict()
    stages: dict[str, str | None] = field(default_factory=dict)  # ISS, R-ISS, R2-ISS, IMS/IMWG flag (None: undecided)

    @property
    def probability(self) -> float:
        return self.ensemble_probs[self.main]

    @property
    def band(self) -> str:
        return risk_band(self.probability)

    def to_dict(self) -> dict:
        return {**({"patient_id": self.patient_id} if self.patient_id is not None else {}),
                "probability": self.probability, **self.uncertainty.get(self.main, {}),
                "risk_band": self.band, "main_ensemble": self.main,
                "models": self.model_probs, "ensembles": self.ensemble_probs,
                "modalities_used": self.modalities_used, "members_used": self.members_used,
                "stages": self.stages, "warnings": self.warnings}


@dataclass
class CohortScores:
    """Many patients' scores: ``probabilities`` (patients x models and ensembles) and ``used``
    (patients x '<ensemble>:members' / '<ensemble>:modalities', '+'-joined)."""

    probabilities: pd.DataFrame
    used: pd.DataFrame


class Zoo:
    def __init__(self, path: Path, manifest: dict, device: str = "auto") -> None:
        self.path = path
        self.manifest = manifest
        self.device = device
        self._models: dict[str, object] = {}
        self._ensembles: dict[str, object] = {}
        self._lock = threading.RLock()
        self._image_cache = _LRU()
        self.files = ZooFiles(path, manifest.get("files", {}), f"zoo {Path(path).name}")
        self.signature_checked = False  # True when MYELOZOO_MANIFEST_KEY was set and the signature matched
        self._prep_keys: dict[str, str] = {}
        self.schema: Schema = DEFAULT_SCHEMA

    # ----- loading -------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path, device: str = "auto", verify: bool | str = True) -> "Zoo":
        """Open a zoo: signature (with a key set), manifest, schema version and the presence of every file are
        checked now; each file's SHA-256 is checked before it is first read (``verify="all"`` hashes everything
        up front)."""
        path = Path(path)
        mpath = path / "manifest.json"
        if not mpath.is_file():
            if (path / "run.json").is_file():
                raise ZooIntegrityError(
                    f"{path}: expected a complete zoo. Got an interrupted training run (no manifest.json). "
                    "Resume it with the same python -m zoo train command.")
            raise ZooIntegrityError(
                f"{path}: expected a trained zoo (manifest.json). Got none. Build one with "
                "python -m zoo train --cohort DIR --profile quick --out " + str(path))
        what = f"zoo {path.name}"
        try:
            manifest = read_json(mpath)
        except ValueError as e:
            raise ZooIntegrityError(f"{what}: expected manifest.json to be JSON. Got unreadable data ({e}). "
                                    "Restore the zoo from a trusted copy or retrain it.") from e
        if not isinstance(manifest, dict):
            raise ZooIntegrityError(f"{what}: expected manifest.json to hold a JSON object. Got "
                                    f"{type(manifest).__name__}. Restore the zoo from a trusted copy or retrain it.")
        signed = check_signature(manifest, what)  # first: an edited manifest is reported as such
        if manifest.get("schema_version") != SCHEMA_VERSION:
            raise ZooIntegrityError(
                f"{path}: expected schema version {SCHEMA_VERSION}. Got {manifest.get('schema_version')!r}. "
                "This zoo was built by an incompatible MyeloZoo; retrain it.")
        check_manifest(path, manifest, what)  # paths inside the zoo, plain names that match the manifest
        missing = [rel for rel in manifest["files"] if not (path / rel).is_file()]
        if missing:
            raise ZooIntegrityError(
                f"zoo {path.name}: expected file {missing[0]} listed in the manifest. Got no such file "
                f"({len(missing)} missing). The zoo is incomplete or was modified; retrain it.")
        zoo = cls(path, manifest, device)
        zoo.signature_checked = signed
        if verify == "all":
            zoo.files.verify_all()
        return zoo

    def _read(self, *rels: str) -> None:
        """Verify files' SHA-256 against the manifest before anything reads them (once per process)."""
        self.files.verify(*rels)

    @property
    def hash(self) -> str:
        """Identifies this zoo's content (for caches)."""
        import hashlib

        return hashlib.sha256(repr(sorted(self.manifest.get("files", {}).items())).encode()).hexdigest()[:16]

    @property
    def model_names(self) -> list[str]:
        """Registry order (the manifest's JSON keys are sorted)."""
        return list(self.manifest.get("model_order") or self.manifest["models"])

    @property
    def ensemble_names(self) -> list[str]:
        return list(self.manifest.get("ensemble_order") or self.manifest["ensembles"])

    @property
    def displays(self) -> dict[str, str]:
        """Display name of every model and ensemble (the leaderboard's, the reports', the predictor's)."""
        return {n: r.get("display", n) for part in ("models", "ensembles") for n, r in self.manifest[part].items()}

    @property
    def features(self) -> list[str]:
        return list(self.manifest["cohort"]["features"])

    def model(self, name: str):
        """The fitted estimator (loaded once; re-verified against the manifest before deserialising)."""
        from zoo.artifacts.model_io import load_fitted
        from zoo.models.registry import model_config

        with self._lock:
            if name not in self._models:
                if not isinstance(name, str) or name not in self.manifest["models"]:
                    raise ZooIntegrityError(f"Expected a model of this zoo. Got {name!r}. Has: {self.model_names}.")
                self._read(*[k for k in self.manifest["files"] if k.startswith(f"models/{name}/")])
                self._models[name] = load_fitted(model_config(name), self.files.dir(f"models/{name}"), self.device)
            return self._models[name]

    def preload(self) -> None:
        """Every model and ensemble loaded now rather than on first use (a server's start-up)."""
        for name in self.model_names:
            self.model(name)
        for name in self.ensemble_names:
            self.ensemble(name)

    def ensemble(self, name: str):
        from zoo.artifacts.model_io import load_fusion
        from zoo.models.ensembles import late_fusion_from_dict

        with self._lock:
            if name not in self._ensembles:
                if not isinstance(name, str) or name not in self.manifest["ensembles"]:
                    raise ZooIntegrityError(
                        f"Expected an ensemble of this zoo. Got {name!r}. Has: {self.ensemble_names}.")
                d = self.files.dir(f"ensembles/{name}")
                self._read(*[k for k in self.manifest["files"] if k.startswith(f"ensembles/{name}/")])
                rec = read_json(d.path("ensemble.json"))
                self._ensembles[name] = load_fusion(d) if rec["class"] == "EarlyFusion" else late_fusion_from_dict(rec)
            return self._ensembles[name]

    # ----- stored results --------------------------------------------------------------------
    def metrics(self) -> dict:
        return self.files.read_json("metrics.json")

    def curves(self) -> dict:
        return self.files.read_json("curves.json")

    def predictions(self) -> pd.DataFrame:
        return self.files.read_parquet("predictions.parquet")

    def attention(self) -> pd.DataFrame:
        """Per (model, image) share of Grad-CAM energy on target; empty when the manifest lists none
        (a file it does not list is never read, whatever lies in the folder)."""
        if self.files.has("attention.parquet"):
            return self.files.read_parquet("attention.parquet")
        return pd.DataFrame(
            columns=["patient_id", "split", "model", "image", "on_target", "target_share_of_image",
                     "target_share_whole_image", "target_source"])

    def split(self) -> dict:
        return self.files.read_json("split.json")

    def leaderboard(self, split: str = "test") -> pd.DataFrame:
        from zoo.leaderboard import leaderboard_table

        return leaderboard_table(self, split)

    # ----- prediction ----------------------------------------------------------------------
    def _image_probs(self, name: str, model, modality: str, images: list[np.ndarray], keys: list[str],
                     banks_memo: dict | None = None):
        """Per-image P(PD) and embedding, cached by (model, image content hash).

        The values returned are the ones looked up or computed in this call, never read back from the
        cache after storing: another thread may evict an entry between ``put`` and a later ``get``.
        ``banks_memo`` (one prediction's scratch dict) lets the image models of one prediction share the
        bank of the same images, so a gel's lanes are found and straightened once per input setting, not
        once per model; it is not kept, so the long-lived cache holds no pixels.
        """
        import torch

        found = {i: hit for i, k in enumerate(keys) if (hit := self._image_cache.get((name, k))) is not None}
        # each distinct image once: the same picture uploaded twice is one bank row (it was an IndexError)
        first = {}
        for i, k in enumerate(keys):
            if i not in found:
                first.setdefault(k, i)
        if first:
            mk = (modality, tuple(first))
            bank = None if banks_memo is None else banks_memo.get(mk)
            if bank is None:
                one = PatientData.single({}, {modality: [images[i] for i in first.values()]},
                                         keys={modality: list(first)})
                bank = one.banks[modality]
                if banks_memo is not None:
                    banks_memo[mk] = bank
            members = getattr(model, "members", [model])
            x = members[0].bank_tensor(bank)[torch.from_numpy(bank.index_of(list(first)))]
            ran = [m._run(x, "both") for m in members]  # P(PD) and features from one forward pass
            probs = np.mean([p.numpy() for p, _ in ran], axis=0)
            embs = np.hstack([e.numpy() for _, e in ran])
            computed = {k: (float(probs[j]), embs[j]) for j, k in enumerate(first)}
            for k, hit in computed.items():
                self._image_cache.put((name, k), hit)
            found.update({i: computed[k] for i, k in enumerate(keys) if i not in found})
        return [found[i][0] for i in range(len(keys))], [found[i][1] for i in range(len(keys))]

    def _cell_probs(self, name: str, model, images: list[np.ndarray], keys: list[str], crops_memo: dict | None = None):
        """Cell-level model on one patient's images: automatic segmentation, crops, pooled P(PD); cached.

        ``crops_memo`` (one prediction's scratch dict) lets the cell models of one prediction that read crops of
        the same size cut them once; it is not kept, so the long-lived cache holds no crops."""
        import torch

        from zoo.segment.cells import crops_from

        ck = (name, "cells", tuple(keys))
        hit = self._image_cache.get(ck)
        if hit is not None:
            return hit
        members = getattr(model, "members", [model])
        size, maskbg = members[0].image_size, members[0].mask_background
        cap = getattr(members[0], "max_cells_per_image", None)
        parts = []
        for img, k in zip(images, keys):
            c = None if crops_memo is None else crops_memo.get((k, size, maskbg, cap))
            if c is None:  # only the cells evaluation pooled from a smear like it are cut
                labels, instances = self._segmentation(k, img)
                c = crops_from(img, labels, members[0].pooled(instances), size, maskbg)
                if crops_memo is not None:
                    crops_memo[(k, size, maskbg, cap)] = c
            parts.append(c)
        crops = torch.from_numpy(np.concatenate(parts)) if parts else torch.empty(0, 3, size, size, dtype=torch.uint8)
        res = [m.predict_crops(crops) for m in members]
        p = float(np.mean([r[0] for r in res]))
        e = None if res[0][1] is None else np.hstack([r[1] for r in res])
        self._image_cache.put(ck, (p, e))
        return p, e

    def image_embedding(self, name: str, images: list[np.ndarray], keys: list[str] | None = None):
        """Mean pooled CNN features of one patient's images (cached per image), or None without images.

        ``keys`` is accepted for compatibility and ignored: the cache is keyed by the pixels' hash.
        """
        if not images:
            return None
        keys = _content_keys(images)
        if self.manifest["models"][name]["family"] == "cell":  # crops of the smears, as predict_patient embeds them
            return self._cell_probs(name, self.model(name), images, keys)[1]
        _, es = self._image_probs(name, self.model(name), self.manifest["models"][name]["modality"], images, keys)
        return np.mean(es, axis=0)

    def _segmentation(self, key: str, img: np.ndarray) -> tuple[np.ndarray, list[dict]]:
        """The classical segmentation of one smear (what a new patient's crops are cut from), cached by the
        pixels' hash: every cell-level model and the joint model of a prediction share one segmentation."""
        hit = self._image_cache.get(("segmentation", key))
        if hit is None:
            from zoo.segment.classical import ClassicalSegmenter

            s = ClassicalSegmenter().segment(img)
            hit = (s.labels, s.instances)
            self._image_cache.put(("segmentation", key), hit)
        return hit

    def joint_patient(self, X: pd.DataFrame, images: dict[str, list[np.ndarray]],
                      banks_memo: dict | None = None) -> PatientData:
        """One patient as a joint fusion model reads it: canonical clinical row and the uploaded images.

        ``banks_memo``: the prediction's shared banks (see ``_image_probs``), used and filled here."""
        keys = {m: _content_keys(arrs) for m, arrs in images.items()}
        memo = {} if banks_memo is None else banks_memo
        one = PatientData.single({}, images, schema=self.schema, features=self.features, keys=keys,
                                 segmentation_for=self._segmentation,
                                 banks={m: b for m in keys if (b := memo.get((m, tuple(keys[m])))) is not None})
        for m in keys:
            memo.setdefault((m, tuple(keys[m])), one.banks[m])
        return PatientData(one.ids, X.reindex(columns=self.features).set_axis(one.ids), one.images, one.banks,
                           one.schema, self.features, one.cells, one.eval_cells)

    def predict_patient(self, clinical: dict, images: dict[str, list[np.ndarray]] | None = None,
                        image_keys: dict[str, list[str]] | None = None) -> PatientPrediction:
        """Every model's and ensemble's P(PD) for one patient; images optional, clinical values canonical.

        ``image_keys`` is accepted for compatibility and ignored: image outputs are cached by the SHA-256 of
        the pixels, computed here, so a caller's label (a file path, say) can never return another image's
        cached result after the file changed.
        """
        images = images or {}
        keys = {m: _content_keys(arrs) for m, arrs in images.items()}
        X = self.clinical_frame([clinical])
        model_probs: dict[str, float | None] = {}
        emb_by_model: dict[str, np.ndarray | None] = {}
        shared: dict[str, np.ndarray] = {}  # each distinct fitted clinical preprocessing runs once, as in score()
        clin = self.clinical_probabilities(X, shared=shared)
        crops_memo: dict = {}  # plasma-cell crops of this prediction's smears, per crop size
        banks_memo: dict = {}  # this prediction's images as one bank per modality: lanes straightened once
        for name in self.model_names:
            mod = self.manifest["models"][name]["modality"]
            est = self.model(name)
            if mod in ("clinical", "reference"):  # a staging system reads the same clinical row
                p = clin[name][0] if name in clin else est.predict_proba(X)[0, 1]
                model_probs[name] = None if np.isnan(p) else float(p)
            elif mod == "multimodal":  # joint fusion: the whole patient at once, any modality may be missing
                p = est.predict_proba(self.joint_patient(X, images, banks_memo),
                                      Z_clin=self._clinical_design(name, est, X, shared))[0, 1]
                model_probs[name] = None if np.isnan(p) else float(p)
            else:
                arrs = images.get(mod, [])
                if not arrs:
                    model_probs[name], emb_by_model[name] = None, None
                    continue
                if self.manifest["models"][name]["family"] == "cell":
                    p, e = self._cell_probs(name, est, arrs, keys[mod], crops_memo)
                    p = float(calibrate_if_needed(est, np.array([p]))[0]) if not np.isnan(p) else p
                    model_probs[name] = None if np.isnan(p) else p
                    emb_by_model[name] = e
                    continue
                ps, es = self._image_probs(name, est, mod, arrs, keys[mod], banks_memo)
                # a patient's score is the mean over their images; the recalibrator maps that score to a risk
                model_probs[name] = float(calibrate_if_needed(est, np.array([np.mean(ps)]))[0])
                emb_by_model[name] = np.mean(es, axis=0)
        P = pd.DataFrame([{k: (np.nan if v is None else v) for k, v in model_probs.items()}])
        ens_probs, mods_used, members_used = {}, {}, {}
        for ens_name in self.ensemble_names:
            rec = self.manifest["ensembles"][ens_name]
            ens = self.ensemble(ens_name)
            if rec["kind"] == "late":
                ens_probs[ens_name] = float(ens.predict_proba(P)[0])
                mods_used[ens_name] = ens.modalities_used(P)[0]
                members_used[ens_name] = ens.members_used(P)[0]
            else:
                emb = {}
                for mod, mname in rec.get("embedding_models", {}).items():
                    e = emb_by_model.get(mname)
                    emb[mod] = None if e is None else e[None, :]
                emb = {k: v for k, v in emb.items() if v is not None}
                Z_clin = self._clinical_design(ens_name, ens, X, shared)
                ens_probs[ens_name] = float(ens.predict_proba(X, emb, Z_clin=Z_clin)[0, 1])
                mods_used[ens_name] = ens.modalities_used(X, emb)[0]
                members_used[ens_name] = mods_used[ens_name]
        unc = self.uncertainty({**model_probs, **ens_probs}, {k: "+".join(v) for k, v in mods_used.items()})
        pred = PatientPrediction(model_probs, ens_probs, mods_used, members_used, uncertainty=unc,
                                 stages=self.patient_stages(clinical))
        return pred

    # ----- per-patient uncertainty -----------------------------------------------------------
    def intervals(self, name: str, pattern: str | None = None):
        """The Venn–Abers/conformal predictor of a model, or of a late ensemble for one modality pattern.

        Fitted when first needed on stored out-of-fold calibrated predictions (hash-checked files:
        ``predictions.parquet``, or the ensemble's per-pattern OOF in ``ensemble.json``), so nothing
        executable is stored. None when the training patients lack one outcome.
        """
        from zoo.evaluation.intervals import RiskIntervals

        key = (name, pattern)
        with self._lock:
            if not hasattr(self, "_intervals"):
                self._intervals: dict[tuple, object] = {}
            if key in self._intervals:
                return self._intervals[key]
            by_pattern = {}
            if pattern and name in self.manifest["ensembles"] and self.manifest["ensembles"][name]["kind"] == "late":
                by_pattern = getattr(self.ensemble(name), "oof_by_pattern_", None) or {}
            try:
                if pattern in by_pattern:
                    cal = by_pattern[pattern]
                    data = (cal["p"], cal["y"], cal.get("w"))
                else:
                    P = self.predictions()
                    oof = P[(P["model"] == name) & (P["split"] == "oof")]
                    data = (oof["prob"], oof["y"], oof.get("weight"))
            except KeyError:
                data = None
        # fitted outside the lock: a weighted Venn–Abers fit takes seconds on a large censored cohort, and every
        # other request would wait on it; two first requests may both fit, and the first stored is kept
        try:
            fitted = None if data is None else RiskIntervals().fit(*data)
        except (ValueError, KeyError):
            fitted = None
        with self._lock:
            return self._intervals.setdefault(key, fitted)

    def uncertainty(self, probs: dict[str, float | None], patterns: dict[str, str] | None = None) -> dict[str, dict]:
        out = {}
        for name, p in probs.items():
            iv = (self.intervals(name, (patterns or {}).get(name)) if p is not None and np.isfinite(p) else None)
            d = iv.describe(p) if iv is not None else None
            if d is not None:
                out[name] = d.to_dict()
        return out

    def interval_columns(self, name: str, p: np.ndarray, patterns=None) -> dict[str, np.ndarray]:
        """Batch form: Venn–Abers bounds, the calibration band and the 90 % conformal set for many probabilities
        of one model (``patterns``: each patient's modalities used, for late ensembles)."""
        from zoo.evaluation.intervals import set_labels

        p = np.asarray(p, dtype=float)
        pats = np.full(len(p), None, dtype=object) if patterns is None else np.asarray(patterns, dtype=object)
        lo, hi = np.full(len(p), np.nan), np.full(len(p), np.nan)
        blo, bhi = np.full(len(p), np.nan), np.full(len(p), np.nan)
        sets = np.full(len(p), "", dtype=object)
        for pat in set(pats):
            rows = (pats == pat) & ~np.isnan(p)
            iv = self.intervals(name, pat or None)
            if iv is None or not rows.any():
                continue
            b = iv.interval(p[rows])
            lo[rows], hi[rows] = b[:, 0], b[:, 1]
            bd = iv.band(p[rows])
            blo[rows], bhi[rows] = bd[:, 0], bd[:, 1]
            sets[rows] = set_labels(iv.prediction_sets(p[rows]))
        return {"interval_low": lo, "interval_high": hi, "band_low": blo, "band_high": bhi,
                "conformal_set_90": sets}

    def patient_stages(self, clinical: dict) -> dict[str, str | None]:
        """ISS, R-ISS, R2-ISS and the IMS/IMWG flag for one patient's canonical values (None: undecided).

        Uses the LDH limit the zoo's staging models were trained with, when it has them.
        """
        from zoo.schema.derived import derive_staging_systems
        from zoo.schema.variables import LDH_ULN_U_PER_L

        uln = LDH_ULN_U_PER_L
        for name in self.model_names:
            if self.manifest["models"][name]["modality"] == "reference":
                uln = getattr(self.model(name), "ldh_uln_", uln)
                break
        row = pd.DataFrame([{k: (np.nan if v is None else v) for k, v in clinical.items()}])
        st = derive_staging_systems(row, uln).iloc[0]
        return {k: (None if pd.isna(v) else str(v)) for k, v in st.items()}

    def score(self, data: PatientData, batch: int | None = None, progress=None) -> "CohortScores":
        """P(PD) of every model and ensemble for many patients, with what each ensemble used per patient.

        Models run batched over each chunk; ensembles combine their members' outputs exactly as for one
        patient. Image models are skipped (NaN) for a chunk with no image of their modality.
        ``progress(done, total)`` is called after each chunk.
        """
        has_images = any(len(k) for ks in data.images.values() for k in ks) if data.images else False
        batch = batch or (256 if has_images else 8192)
        parts, used_parts = [], []
        n = len(data)
        for s in range(0, n, batch):
            sub = data.subset(np.arange(s, min(s + batch, n)))
            X = self.clinical_frame(sub.clinical.reindex(columns=self.features).to_dict("records"))
            sub = PatientData(sub.ids, X.set_axis(sub.ids), sub.images, sub.banks, sub.schema, self.features, sub.cells,
                              sub.eval_cells)
            shared: dict[str, np.ndarray] = {}
            cols = self.clinical_probabilities(X, shared=shared)
            for name in self.model_names:
                mod = self.manifest["models"][name]["modality"]
                if mod == "clinical":
                    continue
                if mod == "reference":  # staging: the chunk's stages
                    cols[name] = self.model(name).predict_proba(sub)[:, 1]
                elif mod == "multimodal":  # joint: the whole chunk, its clinical preprocessing shared
                    est = self.model(name)
                    cols[name] = est.predict_proba(sub, Z_clin=self._clinical_design(name, est, X, shared))[:, 1]
                elif not sub.has(mod).any():
                    cols[name] = np.full(len(sub), np.nan)
                else:
                    cols[name] = self.model(name).predict_proba(sub)[:, 1]
            P = pd.DataFrame({n: cols[n] for n in self.model_names}, index=sub.ids)
            used = pd.DataFrame(index=sub.ids)
            emb_cache: dict[str, np.ndarray] = {}
            for e in self.ensemble_names:
                rec, ens = self.manifest["ensembles"][e], self.ensemble(e)
                if rec["kind"] == "late":
                    P[e] = ens.predict_proba(P[ens.members])
                    used[f"{e}:members"] = ["+".join(u) for u in ens.members_used(P[ens.members])]
                    used[f"{e}:modalities"] = ["+".join(u) for u in ens.modalities_used(P[ens.members])]
                else:
                    emb = {}
                    for mod, mname in rec.get("embedding_models", {}).items():
                        if mname not in emb_cache:
                            emb_cache[mname] = (self.model(mname).embed(sub) if sub.has(mod).any()
                                                else np.full((len(sub), 1), np.nan))
                        if not np.isnan(emb_cache[mname]).all():
                            emb[mod] = emb_cache[mname]
                    P[e] = ens.predict_proba(X, emb, Z_clin=self._clinical_design(e, ens, X, shared))[:, 1]
                    mods = ["+".join(u) for u in ens.modalities_used(X, emb)]
                    used[f"{e}:members"] = mods
                    used[f"{e}:modalities"] = mods
            parts.append(P)
            used_parts.append(used)
            if progress is not None:
                progress(min(s + batch, n), n)
        if not parts:
            return CohortScores(pd.DataFrame(columns=self.model_names + self.ensemble_names), pd.DataFrame())
        return CohortScores(pd.concat(parts), pd.concat(used_parts))

    def clinical_probabilities(self, X: pd.DataFrame, names: list[str] | None = None,
                               shared: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """P(PD) of the clinical models for model-ready rows ``X``.

        Every clinical model's preprocessing (encoding, scaling, KNN imputation) is fitted on the same
        training rows, so most are identical; each distinct fitted preprocessor runs once per call and
        its output feeds every model that shares it (the imputation dominates batch scoring time).
        """
        names = names if names is not None else [n for n in self.model_names
                                                 if self.manifest["models"][n]["modality"] == "clinical"]
        out: dict[str, np.ndarray] = {}
        shared = {} if shared is None else shared
        for name in names:
            est = self.model(name)
            key = self._prep_key(name, est)
            if key not in shared:
                shared[key] = est.transform_features(X)
            out[name] = est.predict_proba_transformed(shared[key], X)[:, 1]
        return out

    def _clinical_design(self, name: str, est, X: pd.DataFrame, shared: dict[str, np.ndarray]) -> np.ndarray:
        """A fusion ensemble's or the joint model's clinical design: computed once per distinct fitted
        preprocessing (``shared``, keyed by ``preprocessor_fingerprint``), as the clinical models share it."""
        key = self._prep_key(name, est)
        if key not in shared:
            shared[key] = est.transform_features(X)
        return shared[key]

    def _prep_key(self, name: str, est) -> str:
        """The key under which ``name``'s clinical design is shared; a preprocessing whose fingerprint cannot be
        computed (``_hash_state`` refuses a reference cycle) gets a key of its own: it runs alone, never fails."""
        with self._lock:
            if name not in self._prep_keys:
                try:
                    self._prep_keys[name] = est.preprocessor_fingerprint()
                except ValueError:
                    self._prep_keys[name] = f"not shared: {name}"
            return self._prep_keys[name]

    def predict_cohort(self, data: PatientData, batch: int | None = None) -> pd.DataFrame:
        """P(PD) of every model and ensemble for many patients (rows = patient ids)."""
        return self.score(data, batch).probabilities

    def clinical_frame(self, rows: list[dict] | pd.DataFrame) -> pd.DataFrame:
        """Model-ready clinical rows: this zoo's features, ISS/R-ISS derived from their inputs.

        A DataFrame keeps its index (SHAP passes thousands of masked rows at once).
        """
        if isinstance(rows, pd.DataFrame):
            df = rows.copy()
        else:
            df = pd.DataFrame([{k: (np.nan if v is None else v) for k, v in r.items()} for r in rows])
        df = with_derived_stages(df.reindex(columns=sorted(set(df.columns) | set(self.features))))
        return df.reindex(columns=self.features)

    def clinical_only_probability(self, clinical_rows: list[dict] | pd.DataFrame,
                                  image_probs: dict[str, float | None], ensemble: str = MAIN_ENSEMBLE) -> np.ndarray:
        """A late-fusion ensemble's P(PD) for many variants of one patient's clinical values.

        The what-if fast path (and the function the ensemble's SHAP waterfall explains): only the
        ensemble's clinical members run (batched, sharing their fitted preprocessing), image members
        reuse the probabilities already computed for this patient.
        """
        ens = self.ensemble(ensemble)
        X = self.clinical_frame(clinical_rows)
        clinical = [n for n in ens.members if self.manifest["models"][n]["modality"] == "clinical"]
        probs = self.clinical_probabilities(X, clinical)
        cols = {}
        for name in ens.members:
            if name in probs:
                cols[name] = probs[name]
            else:
                v = image_probs.get(name)
                cols[name] = np.full(len(X), np.nan if v is None else v)
        return ens.predict_proba(pd.DataFrame(cols))


def _content_keys(images: list[np.ndarray]) -> list[str]:
    """The image cache's keys: each array's shape and pixels hashed (about 2 ms for a 1000×1000 RGB image)."""
    from zoo.cohort.images import image_sha256

    return [image_sha256(np.asarray(a)) for a in images]


def load_zoo(path: str | Path, device: str = "auto") -> Zoo:
    return Zoo.load(path, device)
