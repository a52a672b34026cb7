"""Resuming an interrupted run: SIGINT to a real `edgecls train`, then `edgecls train --resume`."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from datasets import color_squares, tiny_weights_file

pytestmark = pytest.mark.slow

HEAD_EPOCHS, TUNE_EPOCHS = 3, 8  # with patience above both, every run trains every epoch


def train_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "edgecls.cli", "train", *arguments]


def settings(data: Path, weights: Path, out: Path) -> list[str]:
    return [
        "--data", str(data), "--backbone", "mobilenetv3small", "--weights", str(weights), "--image-size", "32",
        "--epochs", str(HEAD_EPOCHS), "--fine-tune-epochs", str(TUNE_EPOCHS), "--patience", "10", "--batch-size", "8",
        "--lr-schedule", "cosine", "--head-units", "16", "--no-augment", "--out", str(out),
        "--cache-dir", str(out.parent / "features"),
    ]  # fmt: skip


def history(run: Path) -> list[tuple[str, int]]:
    with open(run / "history.csv") as handle:
        return [(row["stage"], int(row["epoch"])) for row in csv.DictReader(handle)]


def interrupt_after(command: list[str], line: str, timeout: float = 240, number: int = signal.SIGINT) -> tuple[int, str]:
    """Run `command`, send it `number` (SIGINT) once `line` appears in its stderr; its exit code and stderr."""
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    # A process started in the background of a non-interactive shell (as CI may start this one) ignores
    # SIGINT, and so would its children: the child gets the default back, as a terminal's job has it.
    child = subprocess.Popen(
        command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=environment,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    seen, deadline = [], time.monotonic() + timeout
    assert child.stderr is not None
    for text in child.stderr:
        seen.append(text)
        if line in text:
            child.send_signal(number)
            break
        if time.monotonic() > deadline:
            break
    seen += child.stderr.readlines()
    return child.wait(timeout=60), "".join(seen)


def test_an_interrupted_run_resumes_where_it_stopped(tmp_path):
    data = color_squares(tmp_path / "data", per_class=40, size=40)  # epochs long enough to interrupt
    weights = tiny_weights_file(tmp_path / "backbone.weights.h5")
    whole = subprocess.run(train_command(*settings(data, weights, tmp_path / "whole")), capture_output=True, text=True)
    assert whole.returncode == 0, whole.stderr[-2000:]
    expected = [("bottleneck", epoch) for epoch in range(1, HEAD_EPOCHS + 1)]
    expected += [("finetune", epoch) for epoch in range(1, TUNE_EPOCHS + 1)]
    assert history(tmp_path / "whole") == expected
    assert not (tmp_path / "whole" / "checkpoint").exists()  # a finished run leaves no checkpoint

    # Interrupted in the fine-tuning stage, in or after its second epoch (of 8): its first is in the checkpoint.
    run = tmp_path / "interrupted"
    code, stderr = interrupt_after(train_command(*settings(data, weights, run)), f"finetune epoch 2/{TUNE_EPOCHS}")
    assert code == 130, stderr[-2000:]
    assert "Traceback" not in stderr and f"--resume {run}" in stderr
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    assert list(state["finished"]) == ["bottleneck"] and state["progress"]["finetune"]["epochs_done"] >= 1

    resumed = subprocess.run(train_command("--resume", str(run)), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming" in resumed.stderr and "bottleneck done" in resumed.stderr
    assert history(run) == expected  # the same epochs as the uninterrupted run, each once
    metrics = json.loads((run / "metrics.json").read_text())
    assert list(metrics["stages"]) == ["bottleneck", "finetune"] and metrics["final_stage"] == "finetune"
    assert not (run / "checkpoint").exists()

    again = subprocess.run(train_command("--resume", str(run)), capture_output=True, text=True)
    assert again.returncode == 2 and "nothing to resume from, it finished" in again.stderr
    assert "Traceback" not in again.stderr


def test_sigterm_stops_training_as_ctrl_c_does(tmp_path):
    data = color_squares(tmp_path / "data", per_class=40, size=40)
    weights = tiny_weights_file(tmp_path / "backbone.weights.h5")
    run = tmp_path / "terminated"
    command = train_command(*settings(data, weights, run))
    code, stderr = interrupt_after(command, f"finetune epoch 2/{TUNE_EPOCHS}", number=signal.SIGTERM)
    assert code == 130, stderr[-2000:]
    assert "Traceback" not in stderr and f"--resume {run}" in stderr
    assert (run / "model.keras").is_file() and json.loads((run / "metrics.json").read_text())["interrupted"] is True
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    assert state["progress"]["finetune"]["epochs_done"] >= 1
