"""The fit loop both training stages share (`fit_stage`) and its callbacks: one log line per epoch,
early stopping that keeps the best weights (also when interrupted), NaN detection, the schedules.

This module imports Keras at the top: import it only inside the functions that train.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
import threading
import time
from pathlib import Path

import keras

logger = logging.getLogger(__name__)


class EpochCheckpoint(keras.callbacks.BackupAndRestore):
    """Keras' BackupAndRestore (the weights, the optimizer's state and the epoch, put back when a fit
    begins) plus the rest of a stage's state (history rows, early stopping, best weights), all saved
    at every epoch's end with Ctrl-C held off until they are written, so a checkpoint is never half
    one epoch and half the next."""

    PLATEAU_STATE = ("wait", "best", "cooldown_counter")  # what ReduceLROnPlateau counts between epochs

    def __init__(self, checkpoints, stage: str, log: EpochLog, stopping: BestWeights, schedule=None) -> None:
        super().__init__(str(checkpoints.stage_dir(stage) / "backup"), delete_checkpoint=False)
        self.checkpoints, self.stage, self.log, self.stopping = checkpoints, stage, log, stopping
        self.plateau = schedule if isinstance(schedule, keras.callbacks.ReduceLROnPlateau) else None

    def on_train_begin(self, logs=None):
        try:
            super().on_train_begin(logs)
        except (OSError, ValueError) as error:
            from edgecls.core.errors import EdgeclsError

            raise EdgeclsError(
                f"`resume`: the checkpoint in {self.backup_dir} is unreadable ({error}); start a new run."
            ) from None
        progress = self.checkpoints.state.progress.get(self.stage)
        if self.plateau is not None and progress is not None:  # runs after the schedule's own (it resets)
            for name, value in progress.plateau.items():
                setattr(self.plateau, name, value)

    def _save_model(self):
        """Keras' save, but each file written beside its place and moved in (a process killed while
        writing leaves the last epoch's files whole). Overrides a private method of Keras 3's
        BackupAndRestore (its file names and epoch counters are its own)."""
        from edgecls.core.errors import EdgeclsError
        from edgecls.core.files import write_text_atomic

        weights = Path(self.backup_dir) / "next.weights.h5"
        try:
            weights.parent.mkdir(parents=True, exist_ok=True)
            self.model.save_weights(str(weights), overwrite=True)
            os.replace(weights, self._weights_path)
        except OSError as error:  # a full disk: the last whole epoch's files are kept
            weights.unlink(missing_ok=True)
            run_dir = self.checkpoints.root.parent
            raise EdgeclsError(
                f"could not write the checkpoint in {self.backup_dir} ({error.strerror or error}); the last whole "
                f"epoch's checkpoint is kept. Free some space, then `resume` {run_dir} continues from it."
            ) from None
        metadata = {"epoch": self._current_epoch, "batch": self._last_batch_seen}
        write_text_atomic(Path(self._training_metadata_path), json.dumps(metadata))

    def on_epoch_end(self, epoch, logs=None):
        from .checkpoint import StageProgress

        with sigint_held():
            super().on_epoch_end(epoch, logs)
            if self.stopping.best_epoch == epoch and self.stopping.best_weights is not None:
                self.checkpoints.save_best(self.stage, self.stopping.best_weights)
            plateau = {name: float(getattr(self.plateau, name)) for name in self.PLATEAU_STATE} if self.plateau else {}
            plateau.update({name: int(plateau[name]) for name in ("wait", "cooldown_counter") if name in plateau})
            self.checkpoints.state.progress[self.stage] = StageProgress(
                float(self.stopping.best), int(self.stopping.wait), int(self.stopping.best_epoch), epoch + 1, self.log.rows, plateau
            )
            self.checkpoints.save()


@contextlib.contextmanager
def sigint_held():
    """Ctrl-C (SIGINT), or SIGTERM, inside the block takes effect when it ends (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {number: signal.signal(number, lambda number, frame: received.append(number)) for number in held}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
        if received:
            raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """SIGTERM (`kill`, `docker stop`, a scheduler's preemption) stops training as Ctrl-C does: the best
    model so far and the last whole epoch's checkpoint are kept (main thread only)."""

    def interrupt(number, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)


class BestWeights(keras.callbacks.EarlyStopping):
    """Keras' early stopping on validation loss with `restore_best_weights`, and what a run needs besides:
    a loss that is not finite never counts as the best (it counts as a stall), `on_improvement(model)`
    runs at each new best, `restore_best()` works at any time (Keras restores only at the end of a fit,
    which Ctrl-C skips), stopping never comes before `start_from_epoch` (0-based; the best epoch is
    tracked from the first), and stopping is logged once."""

    def __init__(self, patience: int, on_improvement=None, start_from_epoch: int = 0) -> None:
        # Keras' own start_from_epoch would also ignore the best epoch before it: this one only holds the stop.
        super().__init__(monitor="val_loss", patience=patience, restore_best_weights=True)
        self.first_stop_epoch = start_from_epoch
        self.on_improvement = on_improvement
        self.resume_from: tuple | None = None  # (best, wait, best_epoch, best_weights) of a resumed stage

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.resume_from is not None:
            self.best, self.wait, self.best_epoch, self.best_weights = self.resume_from

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get("val_loss")
        if current is not None and not math.isfinite(float(current)):
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch, self.model.stop_training = epoch, True
        else:
            best = self.best
            super().on_epoch_end(epoch, logs)
            if self.best != best and self.on_improvement is not None:
                self.on_improvement(self.model)
        if self.model.stop_training and self.stopped_epoch == epoch and epoch < self.first_stop_epoch:
            self.model.stop_training, self.stopped_epoch = False, 0  # too early to stop: keep counting
        if self.model.stop_training and self.stopped_epoch == epoch:
            logger.info(f"early stopping: validation loss has not improved for {self.patience} epoch(s)")

    def on_train_end(self, logs=None):
        """Nothing here: the fit loop calls `restore_best`, after a normal end and after Ctrl-C alike."""

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
