"""tf.distribute: mirrored over two logical CPU devices trains like one device."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from datasets import color_squares

pytestmark = pytest.mark.slow

ENVIRONMENT = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def settings(data: Path, out: Path) -> list[str]:
    return [
        "--data", str(data), "--backbone", "compactcnn", "--weights", "none", "--image-size", "32",
        "--epochs", "4", "--fine-tune-epochs", "4", "--patience", "10", "--batch-size", "8", "--no-augment",
        "--lr-schedule", "cosine", "--head-units", "16", "--seed", "3", "--out", str(out),
    ]  # fmt: skip


def test_mirrored_over_two_logical_cpus_trains_like_one_device(tmp_path):
    data = color_squares(tmp_path / "data", per_class=24, size=40)
    # Two logical CPU devices must be made before TensorFlow starts: the CLI in a process that makes them.
    code = (
        "import sys, tensorflow as tf\n"
        "cpu = tf.config.list_physical_devices('CPU')[0]\n"
        "tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)\n"
        "sys.argv = ['edgecls', 'train', *sys.argv[1:]]\n"
        "from edgecls.cli import app\n"
        "app()\n"
    )
    accuracy = {}
    for mode in ("none", "mirrored"):
        out = tmp_path / mode
        done = subprocess.run(
            [sys.executable, "-c", code, *settings(data, out), "--distribute", mode],
            capture_output=True, text=True, env=ENVIRONMENT, timeout=400,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        accuracy[mode] = json.loads((out / "metrics.json").read_text())["accuracy"]
        if mode == "mirrored":
            assert "mirrored over 2 device(s)" in done.stderr
            assert "global batch 16 (8 per replica)" in done.stderr
    assert abs(accuracy["mirrored"] - accuracy["none"]) <= 0.01 + 1e-9, accuracy
    assert accuracy["none"] >= 0.9, accuracy
