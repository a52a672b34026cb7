"""The one fit loop of both training stages: `fit_stage` runs a `Stage` with the callbacks every run
needs (early stopping with the best weights, the schedule, the epoch log, the checkpoint)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .callbacks import BestWeights, EpochCheckpoint, EpochLog, learning_rate_schedule


@dataclass(frozen=True)
class Stage:
    """One training stage as the fit loop sees it."""

    name: str  # "bottleneck", "finetune" or "scratch": the log's and history.csv's name
    epochs: int
    patience: int  # epochs without a better validation loss before stopping
    lr_schedule: str  # "plateau" or "cosine"
    learning_rate: float  # the optimizer's starting rate, which the cosine schedule decays from
    start_from_epoch: int = 0  # early stopping does not stop the stage before this epoch (0-based)


def fit_stage(
    model,
    train: tuple | Callable,
    val,
    optimizer,
    stage: Stage,
    on_improvement=None,
    checkpoints=None,
    global_batch: int | None = None,
    **fit_args,
) -> EpochLog:
    """The one fit loop of both stages: compile, fit with the epoch log, early stopping and the
    learning-rate schedule, then restore the best weights, also after Ctrl-C or a NaN loss.

    `train` is what `model.fit` takes first (arrays `(x, y)`, or `(dataset,)`), `val` its validation
    data (arrays `(x, y)` or a dataset); `fit_args` go to it as they are (batch size, shuffling). In a
    cluster, `train` and `val` make each worker's pipelines instead (see `cluster_fit`), which take
    `global_batch` images a step; of `fit_args` only `class_weight` is used.
    `on_improvement(model)` runs at each new best (the run's checkpoint). With `checkpoints` (a
    `checkpoint.Checkpoints`), every epoch's end is saved there and a stage it holds continues where
    it stopped: weights, optimizer state, epoch, early stopping, the history so far.
    Returns the EpochLog (rows for history.csv, `interrupted`, `nan`, `best_epoch`).
    """
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    stopping = BestWeights(stage.patience, on_improvement=on_improvement, start_from_epoch=stage.start_from_epoch)
    log = EpochLog(stage.name, stage.epochs)
    schedule = learning_rate_schedule(stage.lr_schedule, stage.patience, stage.learning_rate, stage.epochs)
    callbacks = [log, stopping, schedule]
    if checkpoints is not None:
        progress = checkpoints.state.progress.get(stage.name)
        if progress is not None:  # a resumed stage: its history so far and its early stopping
            log.rows = [dict(row) for row in progress.rows]
            stopping.resume_from = (progress.best, progress.wait, progress.best_epoch, checkpoints.load_best(stage.name))
        callbacks.append(EpochCheckpoint(checkpoints, stage.name, log, stopping, schedule))  # last: after the others
    try:
        if callable(train):
            from .cluster_fit import fit_in_cluster

            assert global_batch is not None, "a cluster's steps take a global batch"
            fit_in_cluster(model, train, val, stage.epochs, callbacks, fit_args.get("class_weight"), global_batch)
        else:
            model.fit(*train, validation_data=val, epochs=stage.epochs, verbose=0, callbacks=callbacks, **fit_args)
    except KeyboardInterrupt:
        log.interrupted = True
    stopping.restore_best()
    log.best_epoch = stopping.best_epoch if stopping.best_weights is not None else -1
    return log
