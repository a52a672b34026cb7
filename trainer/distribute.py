"""tf.distribute for `edgecls train --distribute`: `mirrored` (MirroredStrategy over every local GPU,
or over every logical CPU device where there is no GPU) or `none`.

The batch size is per replica: the global batch is `batch_size` x replicas, and the learning rates
are scaled by the replicas too (the linear scaling rule), so one epoch is the same number of images
with the same step size per image.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from edgecls.core.errors import EdgeclsError

logger = logging.getLogger(__name__)

DISTRIBUTE = ("none", "mirrored")


@dataclass
class Distribution:
    strategy: object | None  # a tf.distribute.Strategy, or None for the default (one device)
    replicas: int

    def scope(self):
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()  # type: ignore[attr-defined]


def check_distribute(mode: str) -> None:
    if mode not in DISTRIBUTE:
        raise EdgeclsError(f"`distribute` must be one of {', '.join(DISTRIBUTE)}; received {mode!r}.")


def make_distribution(mode: str) -> Distribution:
    """The strategy for `mode`. Logical CPU devices must be configured before TensorFlow starts."""
    check_distribute(mode)
    if mode == "none":
        return Distribution(None, 1)
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    devices = [device.name for device in gpus or tf.config.list_logical_devices("CPU")]
    strategy = tf.distribute.MirroredStrategy(devices)
    logger.info(f"mirrored over {len(devices)} device(s): {', '.join(devices)}")
    return Distribution(strategy, strategy.num_replicas_in_sync)
