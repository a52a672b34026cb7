"""`edgecls train`: bottleneck and fine-tune transfer learning from a folder of class subfolders."""

from __future__ import annotations

import dataclasses
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from edgecls.commands import config_from
from edgecls.console import import_tensorflow_quietly
from edgecls.core.errors import EdgeclsError, require_extra
from edgecls.trainer.backbones import BACKBONES
from edgecls.trainer.class_weights import CLASS_WEIGHTS
from edgecls.trainer.config import LR_SCHEDULES, MODES, TrainConfig
from edgecls.trainer.distribute import DISTRIBUTE

# The choices come from the library's own lists, the defaults from TrainConfig: one source each.
# (Built from a list, so a type checker cannot enumerate the members; typer reads them at run time.)
Backbone = Enum("Backbone", {name: name for name in BACKBONES}, type=str)  # type: ignore[misc]
Mode = Enum("Mode", {name: name for name in MODES}, type=str)  # type: ignore[misc]
Schedule = Enum("Schedule", {name: name for name in LR_SCHEDULES}, type=str)  # type: ignore[misc]
ClassWeight = Enum("ClassWeight", {name: name for name in CLASS_WEIGHTS}, type=str)  # type: ignore[misc]
Distribute = Enum("Distribute", {name: name for name in DISTRIBUTE}, type=str)  # type: ignore[misc]
DEFAULTS = TrainConfig(data=Path())
DEFAULT_BACKBONE, DEFAULT_MODE = Backbone(DEFAULTS.backbone), Mode(DEFAULTS.mode)
DEFAULT_SCHEDULE = Schedule(DEFAULTS.lr_schedule)
DEFAULT_CLASS_WEIGHT = ClassWeight(DEFAULTS.class_weight)
DEFAULT_DISTRIBUTE = Distribute(DEFAULTS.distribute)
# What `train --from RUN` takes from the command line; every other setting is the run's own.
REFINE_APPLIES = {"data", "out", "fine_tune_epochs", "batch_size", "seed", "from_run"}
REFINE_KEEPS = {field.name for field in dataclasses.fields(TrainConfig)} - REFINE_APPLIES
DEFAULT_HEAD_UNITS = ",".join(str(width) for width in DEFAULTS.head_units)


LR_SCHEDULE_HELP = "plateau: cut the learning rate when validation loss stalls; cosine: decay it over the epochs."
FLIP_HELP = "Mirror left-right while augmenting; --no-flip where left and right differ (text, arrows, horizontal traffic lights)."
HEAD_LR_HELP = "Head (and from-scratch) learning rate, Adam."
IMAGE_CACHE_HELP = (
    "Keep the pre-scan's decoded images at model size in a file in the run directory while training "
    "(H x W x 3 bytes each); --no-image-cache decodes the files again every epoch instead."
)
DISTRIBUTE_HELP = (
    "tf.distribute: mirrored (every local GPU, or every logical CPU device), multiworker (a cluster of "
    "machines described in TF_CONFIG; worker 0 writes the run) or none. --batch-size is per replica; the "
    "learning rates are scaled by the replicas."
)
RESUME_HELP = (
    "Continue an interrupted run from its last whole epoch (stage, epoch, optimizer state, learning-rate "
    "schedule), with the settings it was started with."
)
CLASS_WEIGHT_HELP = (
    "Weigh the loss per class: auto (balanced once the largest class has 3x the images of the smallest), "
    "balanced, or none."
)


DataOption = Annotated[
    Path | None, typer.Option(help="Folder with one subfolder of images per class.", file_okay=False)
]

AugmentOption = Annotated[
    bool, typer.Option(help="Flips, shifts, rotation, zoom, softening, brightness while fine-tuning.")
]

HeadUnitsOption = Annotated[str, typer.Option(help="Widths of the head's dense layers, comma-separated.")]


def train(
    data: DataOption = None,
    val_data: Annotated[Path | None, typer.Option(help="Separate validation folder (same classes).")] = None,
    val_split: Annotated[float, typer.Option(help="Share of each class held out for validation.")] = DEFAULTS.val_split,
    seed: Annotated[int, typer.Option(help="Seed for the split, initialisation and augmentation.")] = DEFAULTS.seed,
    backbone: Annotated[Backbone, typer.Option(help="Pretrained Keras backbone.")] = DEFAULT_BACKBONE,
    weights: Annotated[
        str, typer.Option(help="imagenet, none (from scratch) or a path to a weights file.")
    ] = DEFAULTS.weights,
    image_size: Annotated[int | None, typer.Option(help="Input size in pixels (default: the backbone's).")] = None,
    mode: Annotated[Mode, typer.Option(help="bottleneck, finetune or both.")] = DEFAULT_MODE,
    epochs: Annotated[int, typer.Option(min=1, help="Epochs for the head on bottleneck features.")] = DEFAULTS.epochs,
    fine_tune_epochs: Annotated[int, typer.Option(min=1, help="Epochs for fine-tuning.")] = DEFAULTS.fine_tune_epochs,
    batch_size: Annotated[int, typer.Option(min=1, help="Batch size.")] = DEFAULTS.batch_size,
    learning_rate: Annotated[float, typer.Option(help=HEAD_LR_HELP)] = DEFAULTS.learning_rate,
    fine_tune_learning_rate: Annotated[
        float, typer.Option(help="Fine-tuning learning rate, SGD + momentum.")
    ] = DEFAULTS.fine_tune_learning_rate,
    fine_tune_layers: Annotated[
        str, typer.Option(help="Backbone layers to unfreeze, from the end, or 'all'.")
    ] = DEFAULTS.fine_tune_layers,
    patience: Annotated[
        int, typer.Option(min=1, help="Early stopping: epochs without a better validation loss.")
    ] = DEFAULTS.patience,
    lr_schedule: Annotated[Schedule, typer.Option(help=LR_SCHEDULE_HELP)] = DEFAULT_SCHEDULE,
    augment: AugmentOption = DEFAULTS.augment,
    flip: Annotated[bool, typer.Option(help=FLIP_HELP)] = DEFAULTS.flip,
    head_units: HeadUnitsOption = DEFAULT_HEAD_UNITS,
    dropout: Annotated[float, typer.Option(help="Dropout after each dense layer of the head.")] = DEFAULTS.dropout,
    class_weight: Annotated[ClassWeight, typer.Option(help=CLASS_WEIGHT_HELP)] = DEFAULT_CLASS_WEIGHT,
    out: Annotated[Path | None, typer.Option(help="Run directory (default: runs/<backbone>-NNN).")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Bottleneck feature cache (default ~/.cache/edgecls).")] = None,
    image_cache: Annotated[bool, typer.Option(help=IMAGE_CACHE_HELP)] = DEFAULTS.image_cache,
    distribute: Annotated[Distribute, typer.Option(help=DISTRIBUTE_HELP)] = DEFAULT_DISTRIBUTE,
    resume: Annotated[Path | None, typer.Option(help=RESUME_HELP, file_okay=False)] = None,
    from_run: Annotated[
        Path | None,
        typer.Option(
            "--from",
            metavar="RUN",
            file_okay=False,
            help="Fine-tune this finished run on --data (e.g. crops from serve-camera --collect) into a new run: "
            "its labels, input size, preprocessing and settings kept (--out, --fine-tune-epochs and --batch-size apply), RUN unchanged.",
        ),
    ] = None,
) -> None:
    """Train a classifier: bottleneck features + dense head, then fine-tuning of the last layers."""
    require_extra("tensorflow")
    import_tensorflow_quietly()
    from edgecls.trainer.callbacks import stop_on_sigterm
    from edgecls.trainer.run import resume as resume_training
    from edgecls.trainer.run import train as run_training

    stop_on_sigterm()

    if from_run is not None:
        from edgecls.trainer.run import refine

        if data is None or resume is not None:
            raise EdgeclsError("--from RUN refines a run on new images: give it with --data DIR (and without --resume).")
        given = config_from(TrainConfig, locals(), head_units=parse_widths(head_units))
        kept = [
            "--" + name.replace("_", "-")
            for name in sorted(REFINE_KEEPS)
            if getattr(given, name) != getattr(DEFAULTS, name)
        ]
        if kept:
            raise EdgeclsError(
                f"--from RUN keeps the run's settings; {', '.join(kept)} cannot change them. "
                "Only --out, --fine-tune-epochs, --batch-size and --seed apply (or train a new run without --from)."
            )
        refine_epochs = fine_tune_epochs if fine_tune_epochs != DEFAULTS.fine_tune_epochs else None
        batch = batch_size if batch_size != DEFAULTS.batch_size else None
        result = refine(from_run, data, out, refine_epochs, batch, seed=seed if seed != DEFAULTS.seed else None)
    elif resume is not None:
        if data is not None:
            raise EdgeclsError(
                "--resume continues a run with its own settings (its config.json): pass it without --data."
            )
        result = resume_training(resume)
    elif data is None:
        raise EdgeclsError("--data is needed: the folder with one subfolder of images per class (or --resume RUN_DIR).")
    else:
        result = run_training(config_from(TrainConfig, locals(), head_units=parse_widths(head_units)))
    if result.run_dir.exists():  # a cluster worker other than the chief leaves no run directory
        print(result.run_dir)
    if result.interrupted:
        raise typer.Exit(130)


def parse_widths(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(width) for width in text.split(",") if width.strip())
    except ValueError:
        raise EdgeclsError(
            f"--head-units must be comma-separated numbers, e.g. 256 or 512,128; received {text!r}."
        ) from None
