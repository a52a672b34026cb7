"""`train`: the whole recipe, stage by stage, into a run directory.

scan -> (bottleneck features -> head) -> (fine-tune | from scratch) -> evaluate -> outputs.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import shutil
import socket
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgecls.core.errors import EdgeclsError
from edgecls.core.files import atomic_path, write_text_atomic

from .checkpoint import CHECKPOINT_DIR, Checkpoints
from .class_weights import check_class_weight, class_weights
from .config import LR_SCHEDULES, MODES, TrainConfig
from .distribute import Distribution, check_distribute, make_distribution

if TYPE_CHECKING:
    from .data import Dataset

logger = logging.getLogger(__name__)


class TrainingStopped(EdgeclsError):
    """Training ended early (NaN loss); the last good model was kept."""

    exit_code = 1


@dataclass
class RunResult:
    run_dir: Path
    model_path: Path
    metrics: dict
    interrupted: bool
    num_features_extracted: int
    bottleneck_seconds: float | None


CLAIM = ".edgecls-run"  # created exclusively in a run directory by the run that owns it
DECODED_DIR = ".decoded"  # the pre-scan's decoded images, while the run lasts


def next_run_dir(root: Path, backbone: str) -> Path:
    """runs/<backbone>-001, -002, ...: the first number not taken, created here (atomically, so two
    runs started at once get two directories)."""
    root.mkdir(parents=True, exist_ok=True)
    taken = {entry.name for entry in root.iterdir()}
    number = 1
    while True:
        candidate = root / f"{backbone}-{number:03d}"
        if candidate.name not in taken:
            try:
                candidate.mkdir()
                return candidate
            except FileExistsError:
                pass
        number += 1


def claim_run_dir(run_dir: Path) -> None:
    """Make `run_dir` this run's own: exactly one run can create its claim file. A claim left by a
    process of this machine that is gone, in a folder that holds nothing trained (a run that failed
    or was killed before its first epoch), is taken over with a notice.

    Raises:
        EdgeclsError: another run (finished, interrupted or still going) already used the folder.
    """
    for _ in range(2):
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            handle = os.open(run_dir / CLAIM, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
            break
        except FileExistsError:
            owner = _abandoned_claim(run_dir)
            if owner is None:
                raise EdgeclsError(
                    f"`out` {run_dir} is used by another run (running, interrupted or finished). Choose another "
                    "folder, or remove it if that run is not wanted."
                ) from None
            logger.warning(f"`out` {run_dir}: taking it over from a run that never trained ({owner} is gone)")
            (run_dir / CLAIM).unlink(missing_ok=True)
        except OSError as error:
            raise EdgeclsError(f"`out` {run_dir}: cannot create the run directory ({error.strerror}).") from None
    else:
        raise EdgeclsError(f"`out` {run_dir} is being claimed by another run at this moment. Choose another folder.")
    os.write(handle, f"{os.getpid()}\n{socket.gethostname()}\n".encode())
    os.close(handle)


def _abandoned_claim(run_dir: Path) -> str | None:
    """'process N' when `run_dir`'s claim was made on this machine by a process that no longer runs
    and the folder holds nothing trained; None when the claim is live, foreign or its run trained."""
    if _trained(run_dir):
        return None
    try:
        pid_text, _, host = (run_dir / CLAIM).read_text().partition("\n")
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    if host.strip() not in ("", socket.gethostname()):
        return None  # another machine's run (a shared folder): its process cannot be looked up here
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return f"process {pid}"
    except PermissionError:
        return None  # alive, another user's
    return None


def _trained(run_dir: Path) -> bool:
    """Whether a run in `run_dir` got as far as a model or an epoch's checkpoint."""
    return (run_dir / "model.keras").exists() or (run_dir / CHECKPOINT_DIR).exists()


def _release_if_untrained(run_dir: Path) -> None:
    """A run that stopped before training anything leaves no claim behind to block the next one."""
    if not _trained(run_dir):
        (run_dir / CLAIM).unlink(missing_ok=True)


def train(config: TrainConfig, runs_root: Path = Path("runs")) -> RunResult:
    """Run the transfer-learning recipe described by `config` and write the run directory.

    Raises:
        DataError / EdgeclsError: bad data or arguments, with the fix in the message.
        TrainingStopped: a NaN loss stopped training (the last good model is kept).
    """
    check_distribute(config.distribute)
    distribution = make_distribution(config.distribute)
    try:
        if distribution.worker_dir is not None:  # a cluster's worker other than the chief: its own folder
            config = replace(config, out=distribution.worker_dir)
        config, run_dir = _prepare_run(config, runs_root)
        try:
            return _run(config, run_dir, Checkpoints(run_dir), distribution)
        except (EdgeclsError, OSError):
            _release_if_untrained(run_dir)
            raise
    finally:
        distribution.close()


def resume(run_dir: Path) -> RunResult:
    """Continue the interrupted run in `run_dir` from its last checkpoint (the end of its last whole
    epoch): its own configuration, the stages it finished, the stage in progress at that epoch with
    its weights, optimizer state, learning-rate schedule and early stopping.

    Raises:
        EdgeclsError: `run_dir` is not a run, or has nothing to resume from.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise EdgeclsError(f"`resume` {run_dir}: not a run directory (no config.json). Pass the folder `train` wrote.")
    checkpoints = Checkpoints(run_dir)
    state = checkpoints.load()
    config = TrainConfig.from_json_file(run_dir / "config.json")
    done = ", ".join(f"{name} done" for name in state.finished)
    going = ", ".join(f"{name} after epoch {item.epochs_done}" for name, item in state.progress.items())
    logger.info(f"resuming {run_dir}: {', '.join(part for part in (done, going) if part) or 'from the start'}")
    distribution = make_distribution(config.distribute)
    try:
        if distribution.worker_dir is not None:  # not the chief: go on from a copy of the chief's run
            shutil.copytree(run_dir, distribution.worker_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns(DECODED_DIR))
            run_dir = distribution.worker_dir
            checkpoints = Checkpoints(run_dir)
            checkpoints.load()
        return _run(config, run_dir, checkpoints, distribution)
    finally:
        distribution.close()


def _run(config: TrainConfig, run_dir: Path, checkpoints: Checkpoints, distribution: Distribution) -> RunResult:
    try:
        with distribution.scope():
            return _train(_scaled(config, distribution.replicas), run_dir, checkpoints, distribution)
    finally:
        shutil.rmtree(run_dir / DECODED_DIR, ignore_errors=True)


def _scaled(config: TrainConfig, replicas: int) -> TrainConfig:
    """The batch size per replica makes the global batch; the learning rates follow it (linear scaling)."""
    if replicas == 1:
        return config
    scaled = replace(
        config,
        batch_size=config.batch_size * replicas,
        learning_rate=config.learning_rate * replicas,
        fine_tune_learning_rate=config.fine_tune_learning_rate * replicas,
    )
    logger.info(
        f"{replicas} replicas: global batch {scaled.batch_size} ({config.batch_size} per replica), learning rates "
        f"{scaled.learning_rate:g} and {scaled.fine_tune_learning_rate:g} ({replicas} x the given ones)"
    )
    return scaled


def _train(config: TrainConfig, run_dir: Path, checkpoints: Checkpoints, distribution: Distribution) -> RunResult:
    size = config.image_size
    assert size is not None  # _prepare_run resolved it from the backbone
    dataset = _load_data(config, size, run_dir)
    if distribution.replicas > 1 and len(dataset.train) < config.batch_size:
        raise EdgeclsError(
            f"{len(dataset.train)} training images are fewer than one global batch ({config.batch_size}: "
            f"`batch_size` x {distribution.replicas} replicas); lower `batch_size`."
        )
    weights = class_weights(dataset.train.labels, dataset.classes, config.class_weight)
    models = _build_models(config, size, len(dataset.classes))
    model_path = run_dir / "model.keras"
    state = checkpoints.state
    metrics: dict = {"classes": dataset.classes, "class_weights": _named(weights, dataset.classes), "stages": {}}
    metrics["stages"].update(state.finished)
    result = StageResult(rows=list(state.rows), **state.extras)
    stages = []
    if config.weights != "none" and config.mode in ("bottleneck", "both"):
        stages.append(("bottleneck", _bottleneck_stage))
    if config.mode in ("finetune", "both"):
        refining_scratch = config.from_run is not None and config.weights == "none"
        stages.append(("refine" if refining_scratch else "finetune" if config.weights != "none" else "scratch", _image_stage))
    run = _Stages(config, dataset, models, weights, model_path, checkpoints, metrics, result, distribution)
    for name, run_stage in stages:
        if name in state.finished:
            if name == "bottleneck" and len(stages) > 1:
                models.model.load_weights(model_path)  # the model as the finished head left it
            continue
        run_stage(run)
        if result.interrupted or result.nan:
            break
    _final_metrics(metrics, result.interrupted)
    if config.from_run and not result.nan:
        metrics["refined_from"] = _compare_with_run(config, dataset, metrics)
    _write_outputs(run_dir, result.rows, metrics, dataset.classes)
    logger.info(f"validation accuracy {metrics['accuracy']:.4f} ({metrics['final_stage']}); model saved to {model_path}")
    if config.from_run and not result.nan:
        before = metrics["refined_from"]
        logger.info(
            f"on the {before['val_images']} validation images of {config.data}: {config.from_run} "
            f"{before['accuracy']:.2%}, {run_dir} {metrics['accuracy']:.2%}"
        )
    if result.nan:
        raise TrainingStopped(
            f"the loss became NaN, so training stopped; the last good model is in {model_path}. "
            "Lower `learning_rate` / `fine_tune_learning_rate` and train again."
        )
    if result.interrupted and not distribution.chief:
        logger.warning("interrupted: stop every worker, then `resume` the chief's run directory on each of them")
    elif result.interrupted:
        logger.warning(f"interrupted: kept the best model so far in {model_path}; `resume` {run_dir} continues it")
    else:
        checkpoints.remove()
    return RunResult(run_dir, model_path, metrics, result.interrupted, result.num_extracted, result.bottleneck_seconds)


def refine(
    run_dir: Path,
    data: Path,
    out: Path | None = None,
    fine_tune_epochs: int | None = None,
    batch_size: int | None = None,
    runs_root: Path = Path("runs"),
    seed: int | None = None,
) -> RunResult:
    """Fine-tune the finished run in `run_dir` on the images of `data` (class folders named as the
    run's classes; a class may be missing) into a new run (`out`, else the next runs/<backbone>-NNN):
    its labels, input size, preprocessing and settings kept (but `fine_tune_epochs`, `batch_size` and
    `seed` when given: a few hundred crops want smaller batches than the run's data), `run_dir` unchanged. Ends with the
    old and the new model's accuracy on the new data's validation images (`metrics["refined_from"]`).

    Raises:
        EdgeclsError: `run_dir` is not a finished run, or `out` is `run_dir`.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file() or not (run_dir / "model.keras").is_file():
        raise EdgeclsError(
            f"`from_run` {run_dir}: not a finished run (it needs config.json and model.keras). Pass a folder `train` wrote."
        )
    if out is not None and Path(out).resolve() == run_dir.resolve():
        raise EdgeclsError(f"`out` {out} is the run being refined: it is left unchanged; choose a new folder.")
    old = TrainConfig.from_json_file(run_dir / "config.json")
    config = replace(
        old,
        data=Path(data),
        val_data=None,
        out=out,
        mode="finetune",
        from_run=run_dir.absolute(),
        fine_tune_epochs=fine_tune_epochs or old.fine_tune_epochs,
        batch_size=batch_size or old.batch_size,
        seed=old.seed if seed is None else seed,
        distribute="none",
    )
    logger.info(f"refining {run_dir} ({old.backbone}, {old.image_size} px, classes {', '.join(_run_classes(run_dir))}) on {data}")
    return train(config, runs_root)


def _run_classes(run_dir: Path) -> list[str]:
    return [line for line in (Path(run_dir) / "classes.txt").read_text(encoding="utf-8").splitlines() if line]


def _compare_with_run(config: TrainConfig, dataset: Dataset, metrics: dict) -> dict:
    """The refined run's starting model on the same validation images."""
    from .evaluate import predict_images
    from .saving import load_keras_model

    assert config.from_run is not None
    old_model = load_keras_model(Path(config.from_run) / "model.keras")
    probabilities = predict_images(old_model, dataset.val.images, config.batch_size)
    accuracy = float((probabilities.argmax(axis=1) == dataset.val.labels).mean()) if len(dataset.val) else 0.0
    return {"run": str(config.from_run), "accuracy": accuracy, "val_images": len(dataset.val)}


@dataclass
class _Stages:
    """What every stage of one run works with and adds to."""

    config: TrainConfig
    dataset: Dataset
    models: _Models
    weights: dict[int, float] | None  # class weights
    model_path: Path
    checkpoints: Checkpoints
    metrics: dict
    result: StageResult
    distribution: Distribution  # the tf.distribute strategy, its replicas and workers


@dataclass
class StageResult:
    """What the stages add up to: history rows, how they ended, the bottleneck stage's figures."""

    rows: list[dict] = field(default_factory=list)
    interrupted: bool = False
    nan: bool = False
    num_extracted: int = 0
    bottleneck_seconds: float | None = None


def _load_data(config: TrainConfig, size: int, run_dir: Path) -> Dataset:
    """Every image, checked once and decoded at the model's size; the split written to the run."""
    from .data import load_dataset, report_scan

    decoded_dir = run_dir / DECODED_DIR if config.image_cache else None
    classes = _run_classes(config.from_run) if config.from_run else None
    dataset = load_dataset(
        config.data, config.val_data, config.val_split, config.seed, (size, size), config.max_pixels, decoded_dir, classes
    )
    report_scan(dataset)
    logger.info(
        f"{len(dataset.classes)} classes, {len(dataset.train)} training and {len(dataset.val)} validation images "
        f"at {size}x{size}"
    )
    _write_dataset_files(run_dir, dataset, config)
    return dataset


@dataclass(frozen=True)
class _Models:
    backbone: Any
    head: Any
    model: Any  # the whole model: uint8 image -> probabilities
    extractor: Any  # uint8 image -> the backbone's features


def _build_models(config: TrainConfig, size: int, num_classes: int) -> _Models:
    """The backbone, the head, the whole model and the feature extractor."""
    import keras

    from .backbones import build_backbone
    from .finetune import assemble_model
    from .head import build_head

    keras.utils.set_random_seed(config.seed)
    if config.distribute == "none":
        # The same command with the same seed gives the same model on the same machine (with the
        # seeded shuffle and the stateless augmentation); a cluster's collectives are not covered.
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    # Refining a run: its weights are loaded below, so the backbone's own are not fetched.
    backbone = build_backbone(config.backbone, "none" if config.from_run else config.weights, size)
    head = build_head(backbone.output_shape[-1], num_classes, config.head_units, config.dropout, config.seed)
    model, extractor = assemble_model(config.backbone, backbone, head, size, config.weights != "none")
    if config.from_run:
        model.load_weights(Path(config.from_run) / "model.keras")
    return _Models(backbone, head, model, extractor)


def _final_metrics(metrics: dict, interrupted: bool) -> None:
    """The last stage's figures become the run's headline figures."""
    final_stage = list(metrics["stages"])[-1] if metrics["stages"] else None
    if final_stage is None:  # interrupted before any stage produced a model
        raise EdgeclsError("training was stopped before the first epoch ended; nothing to save.")
    metrics.update({key: metrics["stages"][final_stage][key] for key in ("accuracy", "per_class", "confusion_matrix")})
    metrics["final_stage"] = final_stage
    metrics["val_accuracy"] = metrics["accuracy"]
    metrics["interrupted"] = interrupted


def _prepare_run(config: TrainConfig, runs_root: Path) -> tuple[TrainConfig, Path]:
    """Check the arguments, resolve the image size, create the run directory and write config.json."""
    from .backbones import check_weights_argument, get_spec, resolve_image_size

    get_spec(config.backbone)
    if config.mode not in MODES:
        raise EdgeclsError(f"`mode` must be one of {', '.join(MODES)}; received {config.mode!r}.")
    if config.lr_schedule not in LR_SCHEDULES:
        raise EdgeclsError(f"`lr_schedule` must be one of {', '.join(LR_SCHEDULES)}; received {config.lr_schedule!r}.")
    check_weights_argument(config.weights, config.backbone)  # before the pre-scan decodes anything
    check_class_weight(config.class_weight)
    if config.weights == "none" and config.mode == "bottleneck":
        raise EdgeclsError(
            "`mode` bottleneck needs pretrained weights: with `weights` none there are no features to transfer. "
            "Use `weights` imagenet or `weights` PATH, or `mode` finetune to train from scratch."
        )
    config = replace(config, image_size=resolve_image_size(config.backbone, config.image_size))
    run_dir = Path(config.out) if config.out else next_run_dir(runs_root, config.backbone)
    if (run_dir / "model.keras").exists():
        raise EdgeclsError(f"`out` {run_dir} already holds a trained model. Choose another folder or remove it.")
    claim_run_dir(run_dir)
    write_text_atomic(run_dir / "config.json", config.to_json() + "\n")
    logger.info(f"run directory: {run_dir}")
    return config, run_dir


def _bottleneck_stage(run: _Stages) -> None:
    """Stage 1: cached features of the frozen backbone, then the head on them."""
    import keras

    from .backbones import weights_identity
    from .evaluate import predict_images
    from .features import cache_file, cached_features, default_cache_dir
    from .fit import fit_stage

    config, dataset, weights, result = run.config, run.dataset, run.weights, run.result
    started = time.perf_counter()
    backbone, head, model, extractor = run.models.backbone, run.models.head, run.models.model, run.models.extractor
    backbone.trainable = False
    cache_dir = Path(config.cache_dir) if config.cache_dir else default_cache_dir()
    if run.distribution.worker_dir is not None:  # only the chief writes the shared cache
        cache_dir = run.distribution.worker_dir / "features"
    assert config.image_size is not None  # resolved by _prepare_run
    cache_path = cache_file(cache_dir, config.backbone, weights_identity(config.weights), config.image_size)
    features, num_extracted = cached_features(
        extractor,
        {"train": (dataset.train.images, dataset.train.hashes), "val": (dataset.val.images, dataset.val.hashes)},
        cache_path,
        config.batch_size,
    )
    log = fit_stage(
        head,
        *_head_data(run, features),
        keras.optimizers.Adam(config.learning_rate),
        _stage_plan(run, "bottleneck", config.epochs, config.learning_rate),
        checkpoints=run.checkpoints,
        global_batch=config.batch_size,
        batch_size=config.batch_size,
        shuffle=True,
        class_weight=weights,
    )
    _end_stage(log, "bottleneck", config, result)
    probabilities = predict_images(head, features["val"], 256)
    seconds = time.perf_counter() - started
    figures = _stage_metrics(run.metrics, "bottleneck", dataset, probabilities, seconds)
    _save_model(model, run.model_path)
    result.num_extracted, result.bottleneck_seconds = num_extracted, seconds
    if not result.interrupted and not result.nan:
        run.checkpoints.finish_stage("bottleneck", figures, log.rows, num_extracted=num_extracted, bottleneck_seconds=seconds)
    accuracy = figures["accuracy"]
    logger.info(f"bottleneck stage: validation accuracy {accuracy:.4f} in {seconds:.1f}s")


def _head_data(run: _Stages, features: dict[str, np.ndarray]) -> tuple[Any, Any]:
    """The head's training and validation data: the features and labels, or in a cluster each
    worker's pipelines of them."""
    train, val = (features["train"], run.dataset.train.labels), (features["val"], run.dataset.val.labels)
    if not run.distribution.multiworker:
        return train, val
    from .pipelines import array_batches

    seed = run.config.seed
    return (
        _cluster_batches(run, lambda batch, shard: array_batches(*train, batch, seed, True, shard)),
        _cluster_batches(run, lambda batch, shard: array_batches(*val, batch, seed, False, shard)),
    )


def _cluster_batches(run: _Stages, make):
    """`make(batch size per replica, shard)` as a cluster's `distribute_datasets_from_function` calls it."""
    from .distribute import Shard

    global_batch = run.config.batch_size

    def pipeline(context):
        shard = Shard(context.num_input_pipelines, context.input_pipeline_id, global_batch)
        return make(context.get_per_replica_batch_size(global_batch), shard)

    return pipeline


def _image_stage(run: _Stages) -> None:
    """Stage 2 on images: fine-tuning a pretrained backbone's last layers, or training from scratch."""
    from .evaluate import predict_images
    from .fit import fit_stage

    config, dataset, result = run.config, run.dataset, run.result
    started = time.perf_counter()
    model = run.models.model
    stage, epochs, rate, optimizer = _image_stage_optimizer(run)
    log = fit_stage(
        model,
        *_image_data(run),
        optimizer,
        _stage_plan(run, stage, epochs, rate),
        on_improvement=lambda improved: _save_model(improved, run.model_path),
        checkpoints=run.checkpoints,
        shuffle=False,  # the pipeline shuffles
        class_weight=run.weights,
        global_batch=config.batch_size,
    )
    _end_stage(log, stage, config, result)
    probabilities = predict_images(model, dataset.val.images, config.batch_size)
    figures = _stage_metrics(run.metrics, stage, dataset, probabilities, time.perf_counter() - started)
    _save_model(model, run.model_path)
    if not result.interrupted and not result.nan:
        run.checkpoints.finish_stage(stage, figures, log.rows)


# Early stopping counts epochs, but what makes a validation loss trustworthy is training steps: on a
# small set an epoch is a few dozen steps and the loss is still noisy. Stopping waits at least
# PATIENCE_STEPS steps without a better loss, and never comes before MIN_STEPS steps.
PATIENCE_STEPS = 300
MIN_STEPS = 600


def _stage_plan(run: _Stages, name: str, epochs: int, rate: float):
    """The stage as the fit loop runs it: `patience` and the first epoch early stopping may end,
    scaled to the steps an epoch has (said once when they grow)."""
    from .fit import Stage

    config = run.config
    steps = max(1, len(run.dataset.train) // max(1, config.batch_size))
    patience = min(epochs, max(config.patience, math.ceil(PATIENCE_STEPS / steps)))
    first = min(epochs // 2, math.ceil(MIN_STEPS / steps))
    if patience > config.patience or first > 1:
        logger.info(
            f"{steps} training steps an epoch: early stopping waits {patience} epoch(s) without a better validation "
            f"loss (`patience` {config.patience}) and does not stop the {name} stage before epoch {first + 1}"
        )
    return Stage(name, epochs, patience, config.lr_schedule, rate, start_from_epoch=first)


def _image_stage_optimizer(run: _Stages) -> tuple[str, int, float, object]:
    """The image stage's name, epochs, learning rate and optimizer; the backbone made trainable."""
    import keras

    from .finetune import unfreeze_last_layers

    config, backbone = run.config, run.models.backbone
    if config.from_run and config.weights == "none":  # a model trained from scratch: all of it, gently
        backbone.trainable = True
        rate = config.fine_tune_learning_rate
        logger.info(f"refining {config.from_run}: the whole network at learning rate {rate} (Adam)")
        return "refine", config.fine_tune_epochs, rate, keras.optimizers.Adam(rate)
    if config.weights != "none":
        count = unfreeze_last_layers(backbone, config.fine_tune_layers)
        rate = config.fine_tune_learning_rate
        logger.info(f"fine-tuning the last {count} backbone layer(s) at learning rate {rate}")
        return "finetune", config.fine_tune_epochs, rate, keras.optimizers.SGD(rate, momentum=0.9)
    backbone.trainable = True
    epochs = config.epochs + config.fine_tune_epochs
    logger.info(
        "`weights` none: nothing to transfer, training the whole network from scratch in one stage of "
        f"{epochs} epochs (`epochs` {config.epochs} + `fine_tune_epochs` {config.fine_tune_epochs}; Adam, "
        f"learning rate {config.learning_rate})"
    )
    return "scratch", epochs, config.learning_rate, keras.optimizers.Adam(config.learning_rate)


def _image_data(run: _Stages) -> tuple[Any, Any]:
    """The image stage's training and validation pipelines (the training one augmented), or in a
    cluster each worker's pipelines of them."""
    from .pipelines import image_batches

    config, train, val, replicas = run.config, run.dataset.train, run.dataset.val, run.distribution.replicas

    def batches(batch_size: int, shard=None):
        return image_batches(
            train.images, train.labels, batch_size, config.augment, config.seed, config.flip, replicas=replicas, shard=shard
        )

    def val_batches(batch_size: int, shard=None):
        return image_batches(val.images, val.labels, batch_size, False, config.seed, shuffle=False, replicas=replicas, shard=shard)

    if run.distribution.multiworker:
        return _cluster_batches(run, batches), _cluster_batches(run, val_batches)
    return (batches(config.batch_size),), val_batches(config.batch_size)


def _end_stage(log, stage: str, config: TrainConfig, result: StageResult) -> None:
    result.rows += log.rows
    result.interrupted, result.nan = log.interrupted, log.nan
    _refuse_if_nothing_good(log, stage, config)


def _refuse_if_nothing_good(log, stage: str, config: TrainConfig) -> None:
    """A stage whose loss went NaN before any good epoch has nothing worth saving over the last model."""
    if log.nan and log.best_epoch < 0:
        kept = " The previous stage's model is kept in model.keras." if stage in ("finetune",) else ""
        raise TrainingStopped(
            f"the {stage} loss became NaN before any epoch finished well, so nothing from it was saved.{kept} "
            f"Lower the learning rate (now {config.learning_rate} / {config.fine_tune_learning_rate}) and train again."
        )


def _stage_metrics(metrics: dict, stage: str, dataset, probabilities: np.ndarray, seconds: float) -> dict:
    from .evaluate import classification_metrics

    result = classification_metrics(dataset.val.labels, probabilities, dataset.classes)
    result["seconds"] = round(seconds, 2)
    metrics["stages"][stage] = result
    recall = ", ".join(f"{name} {figures['recall']:.1%}" for name, figures in result["per_class"].items())
    logger.info(f"{stage} stage: validation recall per class: {recall}")
    return result


def _named(weights: dict[int, float] | None, classes: list[str]) -> dict[str, float] | None:
    return None if weights is None else {classes[index]: round(weight, 4) for index, weight in weights.items()}


def _save_model(model, path: Path) -> None:
    with atomic_path(path) as temporary:
        model.save(temporary)


def _write_dataset_files(run_dir: Path, dataset, config: TrainConfig) -> None:
    """classes.txt, and split.json: which file went where, each path relative to its data folder
    (recorded as an absolute path), so the run reads the same from any working directory."""
    write_text_atomic(run_dir / "classes.txt", "".join(f"{name}\n" for name in dataset.classes))
    roots = {"train": os.path.abspath(config.data), "val": os.path.abspath(config.val_data or config.data)}

    def entries(split, role: str) -> list[list]:
        return [[_relative(path, roots[role]), int(label)] for path, label in zip(split.paths, split.labels, strict=True)]

    split = {
        "classes": dataset.classes,
        "roots": roots,
        "train": entries(dataset.train, "train"),
        "val": entries(dataset.val, "val"),
        "skipped": [[path, reason] for path, reason in dataset.skipped],
    }
    # ASCII escapes, so a file name that is not UTF-8 on disk survives the round trip exactly.
    write_text_atomic(run_dir / "split.json", json.dumps(split, indent=1) + "\n")


def _relative(path: str, root: str) -> str:
    """`path` relative to `root` when it is inside it; else absolute."""
    absolute = os.path.abspath(path)
    inside = os.path.commonpath([absolute, root]) == root
    return os.path.relpath(absolute, root) if inside else absolute


def _write_outputs(run_dir: Path, rows: list[dict], metrics: dict, classes: list[str]) -> None:
    from .evaluate import plot_confusion, plot_curves

    columns = ["stage", "epoch", "seconds", "loss", "accuracy", "val_loss", "val_accuracy"]
    columns += sorted({key for row in rows for key in row} - set(columns))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(run_dir / "history.csv", buffer.getvalue())
    write_text_atomic(run_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    if rows:
        plot_curves(rows, run_dir / "plots" / "curves.png")
    plot_confusion(metrics["confusion_matrix"], classes, run_dir / "plots" / "confusion.png")
