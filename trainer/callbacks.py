"""Keras callbacks shared by both stages: one log line per epoch, early stopping that keeps the best
weights (also when interrupted), and NaN detection.

This module imports Keras at the top: import it only inside the functions that train.
"""

from __future__ import annotations

import logging
import math
import time

import keras

logger = logging.getLogger(__name__)


class BestWeights(keras.callbacks.Callback):
    """Early stopping on validation loss that remembers the best weights and can restore them at any time.

    `on_improvement` is called with the model whenever validation loss improves (for checkpoints).
    """

    def __init__(self, patience: int, on_improvement=None) -> None:
        super().__init__()
        self.patience = patience
        self.on_improvement = on_improvement
        self.best_loss = math.inf
        self.best_weights = None
        self.best_epoch = -1
        self.wait = 0

    def on_epoch_end(self, epoch, logs=None):
        loss = float((logs or {}).get("val_loss", math.nan))
        if math.isfinite(loss) and loss < self.best_loss:
            self.best_loss, self.best_epoch, self.wait = loss, epoch, 0
            self.best_weights = self.model.get_weights()
            if self.on_improvement is not None:
                self.on_improvement(self.model)
        else:
            self.wait += 1
            if self.wait >= self.patience:
                logger.info(f"early stopping: validation loss has not improved for {self.patience} epoch(s)")
                self.model.stop_training = True

    def restore_best(self) -> None:
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class EpochLog(keras.callbacks.Callback):
    """Collects per-epoch metrics for history.csv, prints one line per epoch, and stops on a NaN loss."""

    def __init__(self, stage: str, epochs: int) -> None:
        super().__init__()
        self.stage, self.epochs = stage, epochs
        self.rows: list[dict] = []
        self.interrupted = False
        self.nan = False
        self.best_epoch = -1  # set by the stage: the epoch whose weights were kept, -1 if none was good
        self._start = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = {key: float(value) for key, value in (logs or {}).items()}
        seconds = time.perf_counter() - self._start
        self.rows.append({"stage": self.stage, "epoch": epoch + 1, "seconds": round(seconds, 2), **logs})
        numbers = ", ".join(f"{key} {value:.4f}" for key, value in logs.items())
        logger.info(f"{self.stage} epoch {epoch + 1}/{self.epochs}: {numbers} ({seconds:.1f}s)")

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.nan = True
            self.model.stop_training = True


def learning_rate_schedule(kind: str, patience: int, base: float, epochs: int) -> keras.callbacks.Callback:
    """`plateau`: cut on a stall (below). `cosine`: from `base` down to 1% of it along a half cosine
    over the stage's `epochs`, for a fixed budget of epochs (the low rate at the end settles the weights)."""
    if kind == "cosine":
        import math

        def rate(epoch: int, _current: float) -> float:
            progress = min(epoch, epochs - 1) / max(1, epochs - 1)
            return base * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))

        return keras.callbacks.LearningRateScheduler(rate)
    return reduce_on_plateau(patience)


def reduce_on_plateau(patience: int) -> keras.callbacks.ReduceLROnPlateau:
    """Cut the learning rate to 30% when validation loss stalls for half the early-stopping patience."""
    return keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss", factor=0.3, patience=max(1, patience // 2), min_lr=1e-6
    )
