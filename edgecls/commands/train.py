"""`edgecls train`: bottleneck and fine-tune transfer learning from a folder of class subfolders."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from edgecls.console import import_tensorflow_quietly
from edgecls.errors import EdgeclsError, require_extra
from edgecls.trainer.config import LR_SCHEDULES


class Backbone(str, Enum):
    vgg16 = "vgg16"
    vgg19 = "vgg19"
    resnet50 = "resnet50"
    inceptionv3 = "inceptionv3"
    xception = "xception"
    mobilenetv2 = "mobilenetv2"
    mobilenetv3small = "mobilenetv3small"
    mobilenetv3large = "mobilenetv3large"
    efficientnetv2b0 = "efficientnetv2b0"


Schedule = Enum("Schedule", {name: name for name in LR_SCHEDULES}, type=str)


class Mode(str, Enum):
    bottleneck = "bottleneck"
    finetune = "finetune"
    both = "both"


def train(
    data: Annotated[Path, typer.Option(help="Folder with one subfolder of images per class.", file_okay=False)],
    val_data: Annotated[Path | None, typer.Option(help="Separate validation folder (same classes).")] = None,
    val_split: Annotated[float, typer.Option(help="Share of each class held out for validation.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed for the split, initialisation and augmentation.")] = 0,
    backbone: Annotated[Backbone, typer.Option(help="Pretrained Keras backbone.")] = Backbone.vgg16,
    weights: Annotated[
        str, typer.Option(help="imagenet, none (from scratch) or a path to a weights file.")
    ] = "imagenet",
    image_size: Annotated[int | None, typer.Option(help="Input size in pixels (default: the backbone's).")] = None,
    mode: Annotated[Mode, typer.Option(help="bottleneck, finetune or both.")] = Mode.both,
    epochs: Annotated[int, typer.Option(min=1, help="Epochs for the head on bottleneck features.")] = 30,
    fine_tune_epochs: Annotated[int, typer.Option(min=1, help="Epochs for fine-tuning.")] = 20,
    batch_size: Annotated[int, typer.Option(min=1, help="Batch size.")] = 32,
    learning_rate: Annotated[float, typer.Option(help="Head (and from-scratch) learning rate, Adam.")] = 1e-3,
    fine_tune_learning_rate: Annotated[float, typer.Option(help="Fine-tuning learning rate, SGD + momentum.")] = 1e-4,
    fine_tune_layers: Annotated[str, typer.Option(help="Backbone layers to unfreeze, from the end, or 'all'.")] = "4",
    patience: Annotated[int, typer.Option(min=1, help="Early stopping: epochs without a better validation loss.")] = 5,
    lr_schedule: Annotated[
        Schedule,
        typer.Option(
            help="plateau: cut the learning rate when validation loss stalls; cosine: decay it over the epochs."
        ),
    ] = Schedule.plateau,
    augment: Annotated[bool, typer.Option(help="Flips, shifts, rotation, zoom, brightness while fine-tuning.")] = True,
    flip: Annotated[
        bool,
        typer.Option(
            help="Mirror left-right while augmenting; --no-flip where left and right differ (text, arrows, horizontal traffic lights)."
        ),
    ] = True,
    head_units: Annotated[str, typer.Option(help="Widths of the head's dense layers, comma-separated.")] = "256",
    dropout: Annotated[float, typer.Option(help="Dropout after each dense layer of the head.")] = 0.5,
    out: Annotated[Path | None, typer.Option(help="Run directory (default: runs/<backbone>-NNN).")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Bottleneck feature cache (default ~/.cache/edgecls).")] = None,
) -> None:
    """Train a classifier: bottleneck features + dense head, then fine-tuning of the last layers."""
    require_extra("tensorflow")
    import_tensorflow_quietly()
    from edgecls.trainer.config import TrainConfig
    from edgecls.trainer.run import train as run_training

    try:
        units = tuple(int(width) for width in head_units.split(",") if width.strip())
    except ValueError:
        raise EdgeclsError(
            f"--head-units must be comma-separated numbers, e.g. 256 or 512,128; received {head_units!r}."
        ) from None
    config = TrainConfig(
        data=str(data),
        val_data=str(val_data) if val_data else None,
        val_split=val_split,
        seed=seed,
        backbone=backbone.value,
        weights=weights,
        image_size=image_size,
        mode=mode.value,
        epochs=epochs,
        fine_tune_epochs=fine_tune_epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        fine_tune_learning_rate=fine_tune_learning_rate,
        fine_tune_layers=fine_tune_layers,
        patience=patience,
        lr_schedule=lr_schedule.value,
        augment=augment,
        flip=flip,
        head_units=units,
        dropout=dropout,
        out=str(out) if out else None,
        cache_dir=str(cache_dir) if cache_dir else None,
    )
    result = run_training(config)
    print(result.run_dir)
    if result.interrupted:
        raise typer.Exit(130)
