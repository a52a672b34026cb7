"""The training configuration: a frozen dataclass, written next to every run as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgecls.core.files import hold_paths
from edgecls.runtime.images import DEFAULT_MAX_PIXELS

LR_SCHEDULES = ("plateau", "cosine")
MODES = ("bottleneck", "finetune", "both")


@dataclass(frozen=True)
class TrainConfig:
    """Everything `edgecls train` needs; defaults first, then flags. Paths may be given as strings and
    are held as `Path`s."""

    data: Path
    val_data: Path | None = None
    val_split: float = 0.2
    seed: int = 0
    backbone: str = "vgg16"
    weights: str = "imagenet"  # "imagenet", "none" or a path to a Keras weights file (no top)
    image_size: int | None = None  # None: the backbone's native size
    mode: str = "both"  # "bottleneck", "finetune" or "both"
    epochs: int = 30
    fine_tune_epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 1e-3
    fine_tune_learning_rate: float = 1e-4
    fine_tune_layers: str = "4"  # a number of layers from the end of the backbone, or "all"
    patience: int = 5
    lr_schedule: str = "plateau"  # "plateau" (cut on a stall) or "cosine" (decay over the epochs)
    augment: bool = True
    flip: bool = True  # left-right mirroring while augmenting
    head_units: tuple[int, ...] = (256,)
    dropout: float = 0.5
    distribute: str = "none"  # "none", "mirrored" (every local GPU or logical CPU device) or "multiworker" (TF_CONFIG)
    class_weight: str = "auto"  # "auto" (balanced once the classes are 3:1 or worse), "balanced" or "none"
    out: Path | None = None
    cache_dir: Path | None = None
    # The pre-scan writes the decoded images at model size to a file in the run directory, which
    # training reads a batch at a time (removed when it ends); off: every epoch decodes the files again.
    image_cache: bool = True
    max_pixels: int = DEFAULT_MAX_PIXELS
    # `train --from RUN`: start from that run's model and keep its labels, input size and preprocessing.
    from_run: Path | None = None
    extras: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        hold_paths(self, "data", "val_data", "out", "cache_dir", "from_run")

    def to_json(self) -> str:
        """The configuration as JSON, its folders as absolute paths: a run resumes from any working directory."""
        values = {name: value.absolute() if isinstance(value, Path) else value for name, value in asdict(self).items()}
        return json.dumps(values, indent=2, sort_keys=True, default=str)

    @classmethod
    def from_json_file(cls, path: Path) -> TrainConfig:
        values = json.loads(Path(path).read_text())
        values["head_units"] = tuple(values.get("head_units", (256,)))
        return cls(**values)
