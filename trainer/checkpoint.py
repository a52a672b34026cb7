"""What an interrupted run leaves to resume from, in `<run>/checkpoint/`: per stage, Keras'
BackupAndRestore files (the weights and the optimizer's state after the last whole epoch, and that
epoch's number), the best weights so far (`best.npz`), and `state.json`: the stages already
finished (their metrics), the history rows so far, and the early-stopping state of the stage in
progress. Written at every epoch's end; removed when the run finishes.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edgecls.core.errors import EdgeclsError
from edgecls.core.files import atomic_path, write_text_atomic

CHECKPOINT_DIR = "checkpoint"


@dataclass
class StageProgress:
    """The early-stopping state of a stage in progress."""

    best: float = float("inf")  # best validation loss so far
    wait: int = 0  # epochs since it improved
    best_epoch: int = -1
    epochs_done: int = 0
    rows: list[dict] = field(default_factory=list)  # its history rows so far
    plateau: dict = field(default_factory=dict)  # ReduceLROnPlateau's counters (`--lr-schedule plateau`)


@dataclass
class RunState:
    finished: dict[str, dict] = field(default_factory=dict)  # stage -> its metrics
    rows: list[dict] = field(default_factory=list)  # history.csv rows of the finished stages
    progress: dict[str, StageProgress] = field(default_factory=dict)  # the stage in progress
    extras: dict = field(default_factory=dict)  # figures a finished stage left (features extracted ...)


class Checkpoints:
    """The checkpoint folder of one run."""

    def __init__(self, run_dir: Path) -> None:
        self.root = Path(run_dir) / CHECKPOINT_DIR
        self.state = RunState()

    @property
    def state_path(self) -> Path:
        return self.root / "state.json"

    def stage_dir(self, stage: str) -> Path:
        return self.root / stage

    def load(self) -> RunState:
        """The state an interrupted run left.

        Raises:
            EdgeclsError: there is nothing to resume from (the run finished, or never ended an epoch).
        """
        if not self.state_path.is_file():
            run_dir = self.root.parent
            done = (run_dir / "metrics.json").is_file() and not self.root.exists()
            why = "it finished (see its metrics.json)" if done else "it never finished an epoch"
            raise EdgeclsError(f"`resume` {run_dir}: nothing to resume from, {why}. Start a new run instead.")
        try:
            values = json.loads(self.state_path.read_text())
            progress = {name: StageProgress(**item) for name, item in values.pop("progress").items()}
            self.state = RunState(**values, progress=progress)
        except (ValueError, TypeError, KeyError) as error:
            raise EdgeclsError(f"`resume`: {self.state_path} is unreadable ({error}); start a new run.") from None
        return self.state

    def save(self) -> None:
        document = asdict(self.state)
        write_text_atomic(self.state_path, json.dumps(document, indent=1) + "\n")

    def save_best(self, stage: str, weights: list[np.ndarray]) -> None:
        path = self.stage_dir(stage) / "best.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as temporary, open(temporary, "wb") as handle:
            np.savez(handle, *weights)

    def load_best(self, stage: str) -> list[np.ndarray] | None:
        path = self.stage_dir(stage) / "best.npz"
        if not path.is_file():
            return None
        with np.load(path) as stored:
            return [stored[f"arr_{index}"] for index in range(len(stored.files))]

    def finish_stage(self, stage: str, metrics: dict, rows: list[dict], **extras) -> None:
        self.state.finished[stage] = metrics
        self.state.rows += rows
        self.state.progress.pop(stage, None)
        self.state.extras.update(extras)
        self.save()
        shutil.rmtree(self.stage_dir(stage), ignore_errors=True)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
