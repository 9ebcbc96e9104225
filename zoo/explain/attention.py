"""Attention-on-target: the share of Grad-CAM energy inside the regions a model should look at.

Targets: where each modality's risk signal lies. Marrow: the plasma-cell
masks. IFE: the polyclonal γ region of every lane outside the M-protein
bands, whose depletion (immunoparesis) carries the gel's risk signal, when the
annotation gives it (synthetic cohorts write it as ``regions``); the bands are
measured beside it (``on_bands``), and are the target where only bands are
annotated.
Ground truth when the cohort has annotations, otherwise the classical
segmenter's plasma-cell masks and the documented band detector
(``zoo/segment/bands.py``). CAMs are computed in batches on a private copy of
each network.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from zoo.models.networks import model_cam_layer


def target_mask(image: np.ndarray, image_path: Path | None, modality: str, cohort_root: Path | None) -> tuple[np.ndarray, str]:
    """(boolean mask at the image's size, source) for one image."""
    from PIL import Image

    h, w = image.shape[:2]
    ann = _annotation_path(image_path, modality, cohort_root)
    if ann is not None:
        rec = json.loads(ann.read_text())
        if modality == "marrow":
            labels = np.asarray(Image.open(ann.with_suffix(".png"), formats=["PNG", "JPEG", "TIFF"]))
            ids = [c["id"] for c in rec["cells"] if c["type"] == "plasma"]
            return np.isin(labels, ids), "ground truth"
        from zoo.segment.bands import boxes_mask

        if rec.get("regions"):  # the polyclonal background outside the bands: a band-watcher gets no credit
            return (boxes_mask(rec["regions"], (h, w)) & ~boxes_mask(rec.get("bands", []), (h, w)),
                    "ground truth: polyclonal region")
        return boxes_mask(rec["bands"], (h, w)), "ground truth"
    if modality == "marrow":
        from zoo.segment.classical import ClassicalSegmenter

        return ClassicalSegmenter().segment(image).plasma_mask(), "classical segmenter"
    from zoo.segment.bands import boxes_mask, detect_bands

    return boxes_mask(detect_bands(image), (h, w)), "band detector"


def target_name(modality: str, source: str | None = None) -> str:
    """What a modality's attention target is, in words, for captions (``source`` from ``target_mask``)."""
    if modality == "marrow":
        return "plasma cells"
    if source and "polyclonal" in source:
        return "the polyclonal γ region (where immunoparesis shows)"
    return "the M-protein bands"


def reading_a_map(modality: str) -> str | None:
    """What a heat map of this modality can and cannot show, for the caption under it (None: nothing to add).

    Why for gels: every map shows the evidence for class PD, and Grad-CAM keeps only positive evidence. A gel
    signals risk by an absence, a paler polyclonal smear (immunoparesis), which such a map cannot mark; on the
    demo zoo's training folds even the maps of the evidence against PD did not go to the γ region clearly more
    than a random network's (docs/MODELS.md, "Diagnostic"). A reviewer should not read a gel map as where the
    risk lies."""
    if modality != "electrophoresis":
        return None
    return ("Gel maps show where the network found evidence for PD. Immunoparesis shows as an absence, a paler "
            "polyclonal γ smear, which a map of evidence for PD cannot mark: read a gel's map as what the network "
            "weighed, not as where the risk lies.")


def _annotation_path(image_path: Path | None, modality: str, cohort_root: Path | None) -> Path | None:
    """The cohort's annotation file for an image (by the image's stem), or None without one."""
    if cohort_root is None or image_path is None:
        return None
    ann = Path(cohort_root) / "annotations" / modality / f"{Path(image_path).stem}.json"
    return ann if ann.is_file() else None


def band_mask(image_shape: tuple[int, int], image_path: Path | None, cohort_root: Path | None) -> np.ndarray | None:
    """The annotated M-protein band boxes of a gel whose target is its polyclonal region (else None)."""
    ann = _annotation_path(image_path, "electrophoresis", cohort_root)
    if ann is None:
        return None
    rec = json.loads(ann.read_text())
    if not rec.get("regions"):
        return None
    from zoo.segment.bands import boxes_mask

    return boxes_mask(rec.get("bands", []), image_shape)


def chance_share(mask: np.ndarray, lanes=None, uniform: np.ndarray | None = None) -> float:
    """The attention on target of a map that ignored the target: the target's share of where the map can lie.

    A whole-field map can lie anywhere, so that is the target's share of the image. A lane model's map is zero
    between lanes by construction, so it is the target's share within the lanes (``zoo.lanes.lanes_mask``). A
    cell-level model's map lies only on its crops, each scaled by its pooling weight: its chance is the
    attention of ``uniform``, the same stitching of all-ones crop maps. The figure then says whether the
    network looks at the plasma cell within its crops, not whether the segmenter found plasma cells.
    """
    if uniform is not None:
        from zoo.explain.gradcam import energy_inside

        return energy_inside(uniform, mask)
    if lanes is None:
        return float(mask.mean())
    from zoo.lanes import lanes_mask

    return float(mask[lanes_mask(lanes, mask.shape)].mean())


def member_cams(estimator, x_uint8: torch.Tensor, batch: int = 32) -> tuple[np.ndarray, list[np.ndarray]]:
    """Grad-CAMs (the ``CAM_CLASS`` target: class PD by default) of denoised uint8 inputs: (the model's, (N, S, S) in [0, 1], a FoldBag's members
    averaged; each member's own). One Grad-CAM pass per member; the members are kept apart so that the spread
    between training runs can be shown beside the bag's figure."""
    from zoo.explain.gradcam import cams_in_batches

    members = getattr(estimator, "members", [estimator])
    own = []
    for m in members:
        net = copy.deepcopy(m.net_).float().cpu().eval()
        own.append(cams_in_batches(net, model_cam_layer(net, m, tuple(x_uint8.shape[-2:])), x_uint8, "gradcam",
                                   batch)[0].astype(np.float32))
    out = np.mean(own, axis=0)
    mx = out.reshape(len(out), -1).max(axis=1)
    return out / np.where(mx > 0, mx, 1)[:, None, None], own


TWIN_SEED = 12345
TWIN_DRAWS = 6  # random networks per model: their mean is the floor, their spread widens its interval (with 3,
# the bootstrap's interval over networks is their min-max, which holds their mean only 75 % of the time; with 6, 97 %)
TWIN_MIN_COVERAGE = 0.5  # a random network whose maps are defined on fewer of the compared images is left out
# training inputs a random network's BatchNorm statistics are estimated on (a trained model uses up to 8192): on the
# demo zoo's five cell models (30 random networks; the demo's 464 training gels are fewer than this, so its gel
# models' networks did not change) each network's attention moved by at most 0.012 of chance from 8192 inputs, each
# model's mean over its six by at most 0.003, and their pass took 183 s instead of 290 s (docs/BENCHMARKS.md, "Fused
# Adam and cheaper random networks"). The sample is the same rows for every network of a model (seed 0 in
# ``_recalibrate_batchnorm``), so its error is shared by the six and not in their spread; it is small beside that
# spread (their SD over the six: 0.007-0.05 of chance for the four cell models with BatchNorm on the demo zoo).
TWIN_BN_INPUTS = 2048


def twin_seed(model_name: str, draw: int) -> int:
    """The seed of a model's ``draw``-th random network: its own per model and draw (two ResNet-18s, IFE and
    marrow, do not share their random weights), the same on every build."""
    import zlib

    return int(np.random.SeedSequence([TWIN_SEED, zlib.crc32(model_name.encode()), draw]).generate_state(1)[0])


def randomised_twin(est, fit_data, seed: int):
    """A copy of a fitted CNN with every conv, linear and BatchNorm layer re-initialised (seeded; PyTorch's
    default initialisation), its attention pooling too, and BatchNorm re-estimated on its training inputs:
    what its maps look like when the network has learned nothing.

    Why: the uniform map's chance is not the only floor to read a Grad-CAM figure against. Some saliency
    methods give much the same maps on a randomly initialised network as on a trained one (Adebayo et al. 2018,
    "Sanity checks for saliency maps"), and a crop centred on a plasma cell can draw any network's map to its
    centre; the twin measures how much of a model's attention on target a network that learned nothing gets
    on the same images. The global torch random state is left as it was.
    """
    from zoo.models.cnn import _recalibrate_batchnorm

    twin = copy.deepcopy(est)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        nets = [twin.net_] + [m for m in [getattr(twin, "attention_", None)] if isinstance(m, torch.nn.Module)]
        for net in nets:
            for m in net.modules():
                if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear, torch.nn.modules.batchnorm._BatchNorm)):
                    m.reset_parameters()
        x, _ = twin._samples(fit_data, for_fit=True)  # (a network in train mode may draw from torch's generator)
        _recalibrate_batchnorm(twin.net_, x, 64, max_inputs=TWIN_BN_INPUTS)
    twin.net_.eval()
    return twin


def randomised_model(model, fit_data, seed: int = TWIN_SEED):
    """The randomised twin of a zoo's image model as loaded (a recalibration wrapper around one CNN or a fold
    bag): each fold member its own random network (seed + j); the recalibration is left out, as it does not
    change a map."""
    from zoo.models.cnn import FoldBag

    base = getattr(model, "base", model)
    members = getattr(base, "members", None)
    if members:
        return FoldBag([randomised_twin(m, fit_data, seed + j) for j, m in enumerate(members)])
    return randomised_twin(base, fit_data, seed)


def with_twin(att: pd.DataFrame, draws: list[pd.DataFrame]) -> pd.DataFrame:
    """The model's attention rows with its randomised twins' on the same images beside them.

    ``draws``: one attention table per random network (``TWIN_DRAWS`` per model). Per draw
    ``twin{r}_on_target`` / ``twin{r}_share_of_image`` (a twin's own chance differs from the model's only when
    attention pooling weighs the crops differently); ``twin_on_target`` and ``twin_share_of_image`` are their
    means over the draws with a defined map on that image. Rows are matched by model, patient and file name; a
    model whose rows cannot be told apart (one patient, two files of one name) gets none, with a warning,
    rather than another image's figures."""
    import warnings

    key = ["model", "patient_id", "image"]
    if att.empty or "model" not in att:
        return att
    parts = []
    for name, g in att.groupby("model", sort=False):
        tabs = [d[d["model"] == name] for d in draws if not d.empty and "model" in d]
        if g.duplicated(key).any() or any(t.duplicated(key).any() for t in tabs):
            warnings.warn(f"{name}: a test patient has two images of one file name, so its randomised networks' "
                          "attention cannot be matched to its images and is left out ('—' on the leaderboard). "
                          "Give each of a patient's images its own file name.", stacklevel=2)
            tabs = []
        for r, t in enumerate(tabs):
            g = g.merge(t[key + ["on_target", "target_share_of_image"]].rename(
                columns={"on_target": f"twin{r}_on_target", "target_share_of_image": f"twin{r}_share_of_image"}),
                on=key, how="left")
        if not tabs:
            parts.append(g.assign(twin_on_target=np.nan, twin_share_of_image=np.nan))
            continue
        on = g[[f"twin{r}_on_target" for r in range(len(tabs))]].to_numpy(float)
        ch = g[[f"twin{r}_share_of_image" for r in range(len(tabs))]].to_numpy(float)
        ok = np.isfinite(on) & np.isfinite(ch)
        n = ok.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            g["twin_on_target"] = np.where(n > 0, np.where(ok, on, 0).sum(axis=1) / n, np.nan)
            g["twin_share_of_image"] = np.where(n > 0, np.where(ok, ch, 0).sum(axis=1) / n, np.nan)
        parts.append(g)
    return pd.concat(parts, ignore_index=True)


TWIN_READING_MIN_PATIENTS = 10  # a percentile bootstrap over fewer patients gives no interval worth reading


def _twin_side(lo, hi, n_patients=None) -> str | None:
    """'above', 'below' or 'apart' (not told apart) from the difference's 95 % interval, taken at the two decimals
    the pages print (so '+0.00 to +0.30' reads 'apart', as it looks); None if not numbers, reversed, or over
    fewer than ``TWIN_READING_MIN_PATIENTS`` patients when their number is known."""
    try:
        lo, hi = float(lo), float(hi)
    except (TypeError, ValueError):
        return None
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi:
        return None
    try:
        if n_patients is not None and float(n_patients) < TWIN_READING_MIN_PATIENTS:
            return None
    except (TypeError, ValueError):
        pass
    lo, hi = round(lo, 2), round(hi, 2)
    return "above" if lo > 0 else "below" if hi < 0 else "apart"


def kept_networks(draws) -> int:
    """Random networks the figure rests on, from metrics.json's draws ({'kept': …}; a missing flag counts)."""
    rs = list(draws) if isinstance(draws, (list, tuple)) else []
    return sum(1 for r in rs if isinstance(r, dict) and r.get("kept", True))


def twin_reading(lo, hi, kept=None, n_patients=None) -> str:
    """The leaderboard's words for a model against its random networks, from the difference's 95 % interval:
    above, below or not told apart from their average, with the number of networks kept (for gels the reading
    can change with the networks drawn); '—' without a readable interval."""
    side = _twin_side(lo, hi, n_patients)
    if side is None:
        return "—"
    try:
        k = int(kept)
    except (TypeError, ValueError):
        k = 0
    nets = f"the average of its {k} random networks" if k > 0 else "its random networks' average"
    return {"above": "above ", "below": "below ", "apart": "not told apart from "}[side] + nets


def versus_random_networks(metrics: dict, model: str, split: str = "test") -> str | None:
    """A model's attention on target over a split's images beside its randomly initialised networks', in words
    (None when the zoo has no such figures, or they are not numbers): the context a reader needs under one
    image's heat map, which can sit far from either."""
    att = (((metrics.get("models") or {}).get(model) or {}).get(split) or {}).get("attention_on_target") or {}
    t = att.get("twin") or {}
    try:
        ratio, twin, diff = (float(t[k]) for k in ("ratio", "twin_ratio", "difference"))
        lo, hi = (float(v) for v in t["difference_ci"])
        n = int(t["n_images"])
    except (KeyError, TypeError, ValueError):
        return None
    if not all(np.isfinite([ratio, twin, diff, lo, hi])):
        return None
    side = _twin_side(lo, hi, t.get("n_patients"))
    if side is None:
        return None
    kept = kept_networks(t.get("draws"))
    nets = f"the average of the {kept} networks" if kept else "the average of networks"  # the verdict holds for those
    try:
        below_chance = float((att.get("ratio_ci") or [None])[-1]) < 1
    except (TypeError, ValueError):
        below_chance = False
    verdict = {"above": f"more on the target than {nets} that learned nothing",
               "below": f"less on the target than {nets} that learned nothing"
                        + (", and below chance: its maps look elsewhere" if below_chance else ""),
               # no difference shown is not a shown absence: the figures only fail to set it above untrained ones
               "apart": f"not told apart from {nets} that learned nothing: no evidence that it looks at the target "
                        "more than an untrained network of its architecture",
               }[side]
    return (f"{ratio:.2f}× chance on the {split} images compared ({n}), randomly initialised networks of its "
            f"architecture {twin:.2f}× (difference {diff:+.2f}, 95% interval {lo:+.2f} to {hi:+.2f}): {verdict}")


def attention_table(models: dict[str, object], data, patient_idx: np.ndarray, split: str,
                    cohort_root: Path | None, modality_of: dict[str, str]) -> pd.DataFrame:
    """One row per (model, image) of the given patients: the CAM energy share on target."""
    from PIL import Image

    from zoo.explain.gradcam import energy_inside

    rows = []
    masks: dict[tuple[str, str], tuple[np.ndarray, str]] = {}
    for name, est in models.items():
        mod = modality_of[name]
        bank = data.banks[mod]
        keys, owners = [], []
        for i in patient_idx:
            for k in data.images[mod][i]:
                keys.append(k)
                owners.append(data.ids[i])
        if not keys:
            continue
        first = est.members[0] if hasattr(est, "members") else est
        if hasattr(first, "predict_crops"):  # cell-level: maps on the crops, stitched back onto the smear
            rows.extend(_cell_rows(name, est, data, keys, owners, split, cohort_root, masks))
            continue
        x = first.bank_tensor(bank)[torch.from_numpy(bank.index_of(keys))]
        lanes_view = getattr(first, "view", "whole") == "lanes"
        cams, own = member_cams(est, x)
        for j, (k, pid, cam) in enumerate(zip(keys, owners, cams)):
            if (mod, k) not in masks:
                img = bank.raw(k)
                masks[(mod, k)] = target_mask(img, Path(k), mod, cohort_root)
            mask, source = masks[(mod, k)]
            lanes = bank.lanes(k) if lanes_view else None
            if lanes is not None:  # the map over straightened lanes goes back onto each lane of the gel
                from zoo.lanes import unstraighten

                def on_image(c):
                    return unstraighten(c, lanes, mask.shape)
            else:
                def on_image(c):
                    return np.asarray(Image.fromarray(c).resize(mask.shape[::-1], Image.BILINEAR))
            big = on_image(cam)
            chance = chance_share(mask, lanes)
            row = {"patient_id": pid, "split": split, "model": name, "image": Path(k).name,
                   "on_target": energy_inside(big, mask), "target_share_of_image": chance,
                   "target_share_whole_image": float(mask.mean()), "target_source": source}
            if len(own) > 1:  # a member's chance is the bag's: the same lanes or image
                row.update(_member_columns([(energy_inside(on_image(o[j]), mask), chance) for o in own]))
            if mod == "electrophoresis" and ("bands", k) not in masks:
                masks[("bands", k)] = band_mask(mask.shape, Path(k), cohort_root)
            bands = masks.get(("bands", k)) if mod == "electrophoresis" else None
            if bands is not None and bands.any():  # the bands, measured beside the polyclonal target
                row.update(on_bands=energy_inside(big, bands), bands_share_of_image=chance_share(bands, lanes))
            rows.append(row)
    return pd.DataFrame(rows)


CELL_CHUNK_CROPS = 4096  # crops mapped per pass in the attention table (memory: crops, CAMs, embeddings)


def _cell_rows(name: str, est, data, keys: list[str], owners: list[str], split: str, cohort_root: Path | None,
               masks: dict) -> list[dict]:
    """Attention rows of a cell-level model: each image segmented as a new patient's (``data.eval_cells``),
    its crops' maps stitched onto the smear; chance is the attention of the uniform map on the same crops.
    Smears are mapped together (``cell_maps_many``: one network copy and CAM context per fold member per
    pass), in passes of about ``CELL_CHUNK_CROPS`` crops, so memory stays bounded however large the split."""
    from zoo.explain.gradcam import cell_maps_many, smear_crops

    bank = data.eval_cells or data.cells
    rows: list[dict] = []
    pending: list[tuple[str, str, object]] = []

    def flush() -> None:
        maps = cell_maps_many(est, [sc for _, _, sc in pending],
                              per_member=len(getattr(est, "members", [])) > 1)
        rows.extend(_cell_row(name, split, k, pid, m, *masks[("marrow", k)])
                    for (k, pid, _), m in zip(pending, maps))
        pending.clear()

    for k, pid in zip(keys, owners):
        img = data.banks["marrow"].raw(k)
        if ("marrow", k) not in masks:
            masks[("marrow", k)] = target_mask(img, Path(k), "marrow", cohort_root)
        pending.append((k, pid, smear_crops(est, img, *bank.segmentation(k))))
        if sum(len(sc.crops) for _, _, sc in pending) >= CELL_CHUNK_CROPS:
            flush()
    if pending:
        flush()
    return rows


def _cell_row(name: str, split: str, key: str, pid: str, maps, mask: np.ndarray, source: str) -> dict:
    """One smear's attention row; a smear without plasma-cell crops has no map, so its shares are NaN."""
    from zoo.explain.gradcam import energy_inside

    row = {"patient_id": pid, "split": split, "model": name, "image": Path(key).name,
           "on_target": energy_inside(maps.stitched, mask) if maps.tiles else float("nan"),
           "target_share_of_image": chance_share(mask, uniform=maps.uniform) if maps.tiles else float("nan"),
           "target_share_whole_image": float(mask.mean()), "target_source": source}
    if len(maps.members) > 1:
        row.update(_member_columns([(energy_inside(st, mask), chance_share(mask, uniform=un))
                                    for st, un in maps.members]))
    return row


def _member_columns(pairs: list[tuple[float, float]]) -> dict:
    """One image's (attention, chance) per fold member as ``member{j}_on_target`` / ``member{j}_chance``."""
    out = {}
    for j, (on, chance) in enumerate(pairs):
        out[f"member{j}_on_target"], out[f"member{j}_chance"] = on, chance
    return out


def summarise(att: pd.DataFrame, preds: pd.DataFrame, thresholds: dict[str, float]) -> dict:
    """Per model: mean attention on target overall and for correct vs wrong predictions (at its threshold)."""
    out = {}
    if att.empty:
        return out
    per_patient = att.groupby(["model", "split", "patient_id"])["on_target"].mean().reset_index()
    # chance over the same images as the attention: an image whose map is all zero has no share, so its
    # chance is left out too (else a patient's attention and chance would come from different images)
    defined = att[att["on_target"].notna()]
    chance_of = {k: g.groupby("patient_id")["target_share_of_image"].mean()
                 for k, g in defined.groupby(["model", "split"])}
    merged = per_patient.merge(preds, on=["model", "split", "patient_id"], how="left")
    for (model, split), g in merged.groupby(["model", "split"]):
        correct = (g["prob"] >= thresholds[model]).astype(int) == g["y"]
        images = att[(att.model == model) & (att.split == split)]  # this model's per-image rows
        chance = g["patient_id"].map(chance_of.get((model, split), pd.Series(dtype=float))).to_numpy(float)
        out.setdefault(model, {})[split] = {
            "mean": float(g["on_target"].mean()), "correct": float(g.loc[correct, "on_target"].mean()),
            "wrong": float(g.loc[~correct, "on_target"].mean()) if (~correct).any() else None,
            # per patient, over the images with a defined map, as "mean" is; all maps zero: over every image
            "chance": (float(np.nanmean(chance)) if np.isfinite(chance).any()
                       else float(images["target_share_of_image"].mean())),
            # the target's share of the whole image: the chance of a map that could lie anywhere (differs from
            # "chance" for lane and cell-level models, whose maps lie only on lanes or crops)
            "chance_whole_image": (float(images["target_share_whole_image"].mean())
                                   if "target_share_whole_image" in att else None),
            "n_patients": int(len(g)),
            # every target source of this model's images (a split may mix annotated and detected targets)
            "target": "; ".join(sorted(images["target_source"].astype(str).unique())),
            **_bands_summary(images),
            **_members_summary(images),
            **_twin_summary(images),
            # an all-zero CAM has no defined share (NaN); a model whose maps are all zero has no mean
            "n_defined": int(g["on_target"].notna().sum()),
            **_uncertainty(g["on_target"].to_numpy(float), chance)}
    return out


def _members_summary(rows: pd.DataFrame) -> dict:
    """Each fold model's mean attention, chance and their ratio, paired with the final model's figure: on the
    test images where both its map and the final model's are defined, per patient, then over patients. The
    final model's interval is over patients only; the fold models show the variation between training runs
    that it leaves out."""
    out = []
    j = 0
    final_ok = rows["on_target"].notna()
    # a member's chance is defined wherever it was mapped; columns with none are another model's (rows of
    # several models share columns) or were not computed: they end this model's members
    while f"member{j}_chance" in rows and rows[f"member{j}_chance"].notna().any():
        on, ch = rows[f"member{j}_on_target"], rows[f"member{j}_chance"]
        ok = final_ok & on.notna() & ch.notna()
        j += 1
        if not ok.any():  # no image where both maps have a defined share: no figure rather than a made-up one
            out.append({"mean": None, "chance": None, "ratio": None, "n_images": 0})
            continue
        per = rows[ok].assign(on=on[ok], ch=ch[ok]).groupby("patient_id")[["on", "ch"]].mean()
        mean, chance = float(per["on"].mean()), float(per["ch"].mean())
        out.append({"mean": mean, "chance": chance, "ratio": mean / chance if chance > 0 else None,
                    "n_images": int(ok.sum())})
    return {"members": out} if out else {}


ATTENTION_BOOTSTRAP = 1000


def _twin_summary(rows: pd.DataFrame, n_boot: int = ATTENTION_BOOTSTRAP, seed: int = 0) -> dict:
    """The model's ratio to chance beside its randomised twins', with 95 % intervals of the twins' ratio and of
    the difference, and each random network's own ratio (``draws``).

    Which networks: a random network whose maps are all zero on most images says little about where such a
    network looks, so one defined on fewer than ``TWIN_MIN_COVERAGE`` of the images where the model's map is
    defined is left out (listed, ``kept`` false). Which images: those where the model's map and at least one
    kept network's are defined; per patient, then over patients (the model's ratio there is given too, as it
    can differ from its ratio over all its images). The random networks' figure per patient is the mean over
    its kept networks of each network's per-patient means.

    The difference says how far the model's attention on target lies above that of randomly initialised networks
    of its architecture (PyTorch's default initialisation) on the same images. Its interval comes from a
    two-stage bootstrap: patients resampled, then the kept networks resampled within each resample, so the
    spread between random networks widens it; a patient that none of a resample's networks mapped leaves both
    sides of that resample, so the pairing on the same patients holds."""
    if "twin_on_target" not in rows or rows["twin_on_target"].notna().sum() == 0:
        return {}
    from zoo.evaluation.bootstrap import bootstrap_weights, percentile_ci

    nets = [(f"twin{r}_on_target", f"twin{r}_share_of_image") for r in range(len(rows.columns))
            if f"twin{r}_on_target" in rows] or [("twin_on_target", "twin_share_of_image")]
    mine = rows[rows[["on_target", "target_share_of_image"]].notna().all(axis=1)]
    defined = [mine[[on, ch]].notna().all(axis=1) for on, ch in nets]
    kept = [bool(len(mine)) and bool(d.mean() >= TWIN_MIN_COVERAGE) for d in defined]
    ok = np.logical_or.reduce([d for d, k in zip(defined, kept) if k]) if any(kept) else np.zeros(len(mine), bool)
    shared = mine[np.asarray(ok, bool)]
    per = shared.groupby("patient_id")[["on_target", "target_share_of_image"]].mean()
    out = {"n_images": int(len(shared)), "n_patients": int(len(per))}
    draws, d_on, d_ch = [], [], []
    for (on, ch), k in zip(nets, kept):
        d = shared[[on, ch, "patient_id"]].dropna()
        dp = d.groupby("patient_id")[[on, ch]].mean().reindex(per.index)  # NaN: this network's maps all zero
        cm = float(dp[ch].mean()) if dp[ch].notna().any() else float("nan")
        draws.append({"ratio": float(dp[on].mean()) / cm if np.isfinite(cm) and cm > 0 else None,
                      "n_images": int(len(d)), "kept": k})
        if k:
            d_on.append(dp[on].to_numpy(float))
            d_ch.append(dp[ch].to_numpy(float))
    out["draws"] = draws
    if len(per) < 2 or not d_on or per["target_share_of_image"].sum() <= 0:
        return {"twin": out}
    import warnings

    a, c = per["on_target"].to_numpy(float), per["target_share_of_image"].to_numpy(float)
    on_m, ch_m = np.column_stack(d_on), np.column_stack(d_ch)  # (patients, kept networks)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a patient none of the picked networks mapped
        ta, tc = np.nanmean(on_m, axis=1), np.nanmean(ch_m, axis=1)  # every shared patient has one
        w = bootstrap_weights(len(per), n_boot, seed)
        pick = np.random.default_rng(seed + 1).integers(0, on_m.shape[1], size=(n_boot, on_m.shape[1]))
        on_b = np.nanmean(on_m[:, pick], axis=2).T  # (resamples, patients)
        ch_b = np.nanmean(ch_m[:, pick], axis=2).T
    if tc.sum() <= 0:
        return {"twin": out}
    seen = np.isfinite(on_b) & np.isfinite(ch_b)
    ws = w * seen
    with np.errstate(divide="ignore", invalid="ignore"):
        r_b = (ws * a).sum(1) / (ws * c).sum(1)  # the trained side on the same patients as the random side
        t_b = (ws * np.where(seen, on_b, 0)).sum(1) / (ws * np.where(seen, ch_b, 0)).sum(1)
    ratio, twin_ratio = a.mean() / c.mean(), ta.mean() / tc.mean()
    out.update(ratio=float(ratio), twin_ratio=float(twin_ratio), twin_ratio_ci=percentile_ci(t_b),
               difference=float(ratio - twin_ratio), difference_ci=percentile_ci(r_b - t_b))
    return {"twin": out}


def _uncertainty(on_target: np.ndarray, chance: np.ndarray, n_boot: int = ATTENTION_BOOTSTRAP,
                 seed: int = 0) -> dict:
    """95 % bootstrap CIs (patients with a defined map resampled) of the mean attention on target and of its
    ratio to chance.

    Why: a figure such as "0.38 against a chance level of 0.29" comes from ~100 test patients whose maps
    vary widely; without an interval a reader cannot tell 1.3× chance from noise, nor whether a "≥ 2×
    chance" bar is met. The ratio is mean attention over mean chance on the same patients (those with a
    defined map), resampled together, so a patient whose target is large counts in both.
    """
    from zoo.evaluation.bootstrap import bootstrap_weights, percentile_ci

    ok = np.isfinite(on_target) & np.isfinite(chance)
    a, c = on_target[ok], chance[ok]
    if len(a) < 2 or c.sum() <= 0:
        return {}
    w = bootstrap_weights(len(a), n_boot, seed)
    means, chances = w @ a / w.sum(axis=1), w @ c / w.sum(axis=1)
    return {"mean_ci": percentile_ci(means), "ratio": float(a.mean() / c.mean()),
            "ratio_ci": percentile_ci(means / np.where(chances > 0, chances, np.nan))}


def _bands_summary(rows: pd.DataFrame) -> dict:
    """Attention on the M-protein bands of a gel model whose target is the polyclonal region (mean over images)."""
    if "on_bands" not in rows or rows["bands_share_of_image"].notna().sum() == 0:
        return {}
    # NaN when every map of the model was all zero (no share is defined), as for the target's mean
    return {"on_bands": float(rows["on_bands"].mean()), "bands_chance": float(rows["bands_share_of_image"].mean())}
