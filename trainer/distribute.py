"""tf.distribute for `edgecls train --distribute`: `mirrored` (MirroredStrategy over every local GPU,
or over every logical CPU device where there is no GPU), `multiworker` (MultiWorkerMirroredStrategy,
one process per machine, the cluster in TF_CONFIG) or `none`.

The batch size is per replica: the global batch is `batch_size` x replicas, and the learning rates
are scaled by the replicas too (the linear scaling rule), so one epoch is the same number of images
with the same step size per image.

In a cluster only the chief (worker 0) writes the run directory: the model, the metrics, the
checkpoints. Every other worker keeps what it writes in a folder of its own, removed when it ends.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgecls.core.errors import EdgeclsError

logger = logging.getLogger(__name__)

DISTRIBUTE = ("none", "mirrored", "multiworker")
TF_CONFIG_EXAMPLE = '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'


@dataclass
class Distribution:
    strategy: object | None  # a tf.distribute.Strategy, or None for the default (one device)
    replicas: int  # in the whole cluster
    workers: int = 1  # processes, one per machine
    chief: bool = True  # whether this process writes the run directory
    worker_dir: Path | None = None  # a worker other than the chief: its own folder, removed at the end

    @property
    def multiworker(self) -> bool:
        return self.workers > 1

    def scope(self):
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()  # type: ignore[attr-defined]

    def close(self) -> None:
        if self.worker_dir is not None:
            shutil.rmtree(self.worker_dir, ignore_errors=True)


def check_distribute(mode: str) -> None:
    """Raises EdgeclsError for an unknown `mode`, or `multiworker` without a usable TF_CONFIG."""
    if mode not in DISTRIBUTE:
        raise EdgeclsError(f"`distribute` must be one of {', '.join(DISTRIBUTE)}; received {mode!r}.")
    if mode == "multiworker":
        cluster_task()


def cluster_task() -> tuple[list[str], int]:
    """The cluster's workers and this process's index among them, from TF_CONFIG.

    Raises:
        EdgeclsError: TF_CONFIG is missing or does not describe this process as one of its workers.
    """
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise EdgeclsError(
            f"`distribute` multiworker needs the cluster in the TF_CONFIG environment variable on every machine, "
            f"e.g. TF_CONFIG='{TF_CONFIG_EXAMPLE}' (index 0 on the first machine, 1 on the second)."
        )
    try:
        document = json.loads(text)
        workers, task = document["cluster"]["worker"], document["task"]
        index = int(task["index"])
        if set(document["cluster"]) != {"worker"} or task["type"] != "worker":
            raise ValueError("edgecls clusters are workers only (worker 0 is the chief)")
        if not isinstance(workers, list) or len(workers) < 2 or not 0 <= index < len(workers):
            raise ValueError("it needs two or more workers and this task's index among them")
    except (ValueError, KeyError, TypeError) as error:
        raise EdgeclsError(f"TF_CONFIG does not describe a worker of a cluster ({error}); expected e.g. {TF_CONFIG_EXAMPLE}") from None
    return workers, index


def make_distribution(mode: str) -> Distribution:
    """The strategy for `mode`. Logical CPU devices, and a cluster's collective operations, must be
    set up before TensorFlow runs anything: call this first."""
    check_distribute(mode)
    if mode == "none":
        return Distribution(None, 1)
    import tensorflow as tf

    if mode == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [device.name for device in gpus or tf.config.list_logical_devices("CPU")]
        strategy = tf.distribute.MirroredStrategy(devices)
        logger.info(f"mirrored over {len(devices)} device(s): {', '.join(devices)}")
        return Distribution(strategy, strategy.num_replicas_in_sync)
    workers, index = cluster_task()
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    chief = index == 0
    worker_dir = None if chief else Path(tempfile.mkdtemp(prefix=f"edgecls-worker{index}-"))
    role = "the chief, which writes the run directory" if chief else f"its own files in {worker_dir}"
    logger.info(f"worker {index} of {len(workers)} ({role}); {strategy.num_replicas_in_sync} replica(s) in the cluster")
    return Distribution(strategy, strategy.num_replicas_in_sync, len(workers), chief, worker_dir)


@dataclass(frozen=True)
class Shard:
    """One worker's share of a cluster's batches: `workers` input pipelines, this one `index`; each
    step takes `global_batch` images from all of them together."""

    workers: int
    index: int
    global_batch: int
