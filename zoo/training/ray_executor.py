"""Training and scoring on Ray: the same jobs as the local executor, spread over a Ray cluster.

A zoo build is a list of independent model jobs (each fits its out-of-fold models and the final model, then
commits ``models/NAME`` atomically). Each job becomes one Ray task that runs ``trainer.train_one_model``: the
function the local loop's work is made of, so the two executors give the same zoo on the same seed. Workers
read the cohort and the run's ``split.json`` and write the model into the run folder, so the cohort and the
output must be on storage every node sees (a shared volume on KubeRay; docs/SCALE.md). Nothing fitted travels
through Ray's object store: models reach the driver only as safetensors/skops files with their hashes.

Scoring a large cohort uses Ray Data: patients in batches through an actor pool, each actor holding one loaded
zoo (hashes verified once per actor).
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from zoo.errors import MyeloZooError

ROOT = Path(__file__).resolve().parents[2]
CNN_FAMILIES = ("cnn", "cell", "joint")


class RayUnavailable(MyeloZooError):
    pass


def _ray():
    try:
        import ray
    except ImportError:
        raise RayUnavailable("--executor ray needs Ray: pip install -r requirements.txt (the README's setup installs "
                             "it). The default --executor local needs nothing more.") from None
    return ray


def init_ray(address: str | None = None, num_cpus: int | None = None):
    """Join the cluster at ``address``, or start a local Ray on this machine's cores. Workers import ``zoo`` from
    this checkout (PYTHONPATH), as the driver does."""
    ray = _ray()
    if not ray.is_initialized():
        env = {"env_vars": {"PYTHONPATH": str(ROOT), "TOKENIZERS_PARALLELISM": "false"}}
        kw = {"address": address} if address else {"num_cpus": num_cpus or os.cpu_count() or 1}
        ray.init(**kw, runtime_env=env, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    return ray


def _resources(name: str, job: dict, largest_node_cpus: int) -> dict:
    """One CPU per job. A CNN job trains with the driver's torch thread count (its weights depend on it) and
    reserves that many CPUs (at most a node's), and a GPU when the run trains on CUDA (a GPU cluster)."""
    from zoo.models.registry import model_config

    cnn = model_config(name).family in CNN_FAMILIES
    threads = min(int(job.get("torch_threads") or 1), max(1, largest_node_cpus))
    return {"num_cpus": threads if cnn else 1, "num_gpus": 1 if cnn and job["device"] == "cuda" else 0}


def _largest_node_cpus(ray) -> int:
    return int(max((n.get("Resources", {}).get("CPU", 1) for n in ray.nodes() if n.get("Alive")), default=1))


def _job(job: dict, name: str) -> float:
    from zoo.training.trainer import train_one_model

    return train_one_model(job, name)


def train_models_on_ray(names: list[str], job: dict, address: str | None = None, stop_on_failure: bool = False
                        ) -> Iterator[tuple[str, float, str | None]]:
    """Submit every model, yield ``(name, seconds, failure or None)`` as each finishes (in completion order).
    A worker out of memory stops the run, as it does locally; with ``stop_on_failure`` the first failure cancels
    the jobs still queued or running."""
    from zoo.training.trainer import failure_reason

    if not names:
        return
    ray = init_ray(address)
    remote = ray.remote(max_retries=0)(_job)
    started = time.perf_counter()
    node_cpus = _largest_node_cpus(ray)
    refs = {remote.options(**_resources(n, job, node_cpus), name=f"train:{n}").remote(job, n): n for n in names}
    pending = list(refs)
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            ref = done[0]
            name = refs[ref]
            try:
                seconds = ray.get(ref)
            except ray.exceptions.OutOfMemoryError:
                raise MemoryError(f"{name}: Ray killed its worker for lack of memory") from None
            except ray.exceptions.RayTaskError as e:
                cause = e.cause if isinstance(getattr(e, "cause", None), BaseException) else e
                if isinstance(cause, MemoryError):
                    raise MemoryError(f"{name}: a Ray worker ran out of memory") from None
                yield name, round(time.perf_counter() - started, 2), failure_reason(cause)
                if stop_on_failure:
                    break
                continue
            yield name, seconds, None
    finally:
        for ref in pending:  # a stopped run leaves nothing computing for nobody
            ray.cancel(ref, force=True)


class _ZooScorer:
    """A Ray Data actor: one loaded zoo (hashes verified once) and the cohort read as ``score_cohort_dir`` reads it,
    scoring batches of patient IDs."""

    def __init__(self, zoo_dir: str, cohort_dir: str, strict: bool, warnings: dict) -> None:
        from zoo.api import Zoo
        from zoo.cohort import validate_cohort
        from zoo.data import PatientData

        self.zoo = Zoo.load(zoo_dir)
        _, cohort = validate_cohort(cohort_dir, decode_images=False, strict=strict, require_outcome=False)
        self.data = PatientData.from_cohort(cohort)
        self.index = {pid: i for i, pid in enumerate(self.data.ids)}
        self.warnings = warnings

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        from zoo.scoring.batch import score_data

        idx = [self.index[str(p)] for p in batch["patient_id"]]
        return score_data(self.zoo, self.data.subset(idx), self.warnings, None, False)


def score_cohort_dir_on_ray(zoo_dir: str | Path, root: str | Path, strict: bool = False, batch_size: int = 64,
                            actors: int | None = None, address: str | None = None):
    """``score_cohort_dir`` with the patients spread over ``actors`` Ray actors (Ray Data ``map_batches``);
    the same table, rows in cohort order, and the same validation report."""
    from zoo.cohort import validate_cohort
    from zoo.errors import CohortError
    from zoo.scoring.batch import patient_warnings

    report, cohort = validate_cohort(root, decode_images=False, strict=strict, require_outcome=False)
    if cohort is None:
        raise CohortError(f"Cohort {Path(root).name} cannot be scored: {len(report.errors)} error(s).\n"
                          + "\n".join(str(p) for p in report.errors[:50]), report.problems)
    ids = [str(p) for p in cohort.patient_ids]
    ray = init_ray(address)
    from ray import data as ray_data

    n = actors or max(1, int(ray.available_resources().get("CPU", 1)))
    ds = ray_data.from_pandas(pd.DataFrame({"patient_id": ids}))
    out = ds.map_batches(_ZooScorer, fn_constructor_args=(str(zoo_dir), str(root), strict, patient_warnings(report)),
                         batch_size=batch_size, batch_format="pandas", compute=ray_data.ActorPoolStrategy(size=n),
                         num_cpus=1)
    table = out.to_pandas()
    order = {p: i for i, p in enumerate(ids)}
    table = table.sort_values("patient_id", key=lambda s: s.astype(str).map(order)).reset_index(drop=True)
    return table, report
