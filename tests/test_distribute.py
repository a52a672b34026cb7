"""tf.distribute: mirrored over two logical CPU devices trains like one device; two local workers
of a cluster (MultiWorkerMirroredStrategy on loopback ports) train one model that exports."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from datasets import color_squares

pytestmark = pytest.mark.slow

ENVIRONMENT = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for each in sockets:
        each.bind(("127.0.0.1", 0))
    ports = [each.getsockname()[1] for each in sockets]
    for each in sockets:
        each.close()
    return ports


def start_cluster(arguments: list[str], workers: int = 2, **popen) -> list[subprocess.Popen]:
    """`edgecls train ARGUMENTS --distribute multiworker` in `workers` local processes, one cluster on
    loopback ports (`popen`: where their output goes)."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(workers)]}
    processes = []
    for index in range(workers):
        task = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        command = [sys.executable, "-m", "edgecls.cli", "train", *arguments, "--distribute", "multiworker"]
        environment = {**ENVIRONMENT, "TF_CONFIG": json.dumps(task)}
        processes.append(subprocess.Popen(command, env=environment, **{key: value[index] for key, value in popen.items()}))
    return processes


def run_cluster(arguments: list[str], workers: int = 2, timeout: float = 300) -> list[str]:
    """`start_cluster` to the end; each worker's stderr. Bounded in time: whatever is left is killed."""
    pipes = [subprocess.PIPE] * workers
    processes = start_cluster(arguments, workers, stdout=pipes, stderr=pipes, text=[True] * workers)
    try:
        outputs = [process.communicate(timeout=timeout)[1] for process in processes]
    finally:
        for process in processes:
            process.kill()
    for process, stderr in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr[-3000:]
    return outputs


def final_accuracy(log: str) -> str:
    return re.findall(r"validation accuracy (\S+) \(", log)[-1]


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


def test_two_local_workers_train_one_model_that_exports(tmp_path):
    data = color_squares(tmp_path / "data", per_class=24, size=40)
    out = tmp_path / "run"
    chief, other = run_cluster(settings(data, out))
    assert "worker 0 of 2 (the chief, which writes the run directory); 2 replica(s) in the cluster" in chief
    assert "2 replicas: global batch 16 (8 per replica)" in chief
    # One model: every epoch's figures are the cluster's, and the model each worker ends with is the same.
    epochs = [line for line in chief.splitlines() if "scratch epoch" in line]
    assert len(epochs) == 8 and [line.split(" (")[0] for line in epochs] == [
        line.split(" (")[0] for line in other.splitlines() if "scratch epoch" in line
    ]
    assert final_accuracy(chief) == final_accuracy(other)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accuracy"] >= 0.9, metrics
    # The chief wrote the run; the other worker's own folder is gone and nothing of it is in the run.
    worker_dir = Path(re.search(r"its own files in (\S+)\)", other).group(1))
    assert not worker_dir.exists() and not (out / "checkpoint").exists()
    exported = subprocess.run(
        [sys.executable, "-m", "edgecls.cli", "export", str(out)], capture_output=True, text=True, env=ENVIRONMENT
    )
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert (out / "model.onnx").is_file()


def test_two_local_workers_run_both_stages_and_only_the_chief_writes_the_feature_cache(tmp_path):
    from edgecls.console import import_tensorflow_quietly

    data = color_squares(tmp_path / "data", per_class=16, size=40)
    import_tensorflow_quietly()
    import keras

    from edgecls.trainer.backbones import build_backbone

    keras.utils.set_random_seed(0)
    weights = tmp_path / "compact.weights.h5"
    build_backbone("compactcnn", "none", 32).save_weights(weights)  # a stand-in for pretrained weights
    out, cache = tmp_path / "run", tmp_path / "cache"
    arguments = settings(data, out) + ["--weights", str(weights), "--cache-dir", str(cache), "--epochs", "3", "--fine-tune-epochs", "2"]
    chief, other = run_cluster(arguments)
    rows = (out / "history.csv").read_text().splitlines()[1:]
    assert [row.split(",")[:2] for row in rows] == [["bottleneck", "1"], ["bottleneck", "2"], ["bottleneck", "3"], ["finetune", "1"], ["finetune", "2"]]
    assert final_accuracy(chief) == final_accuracy(other)
    assert len(list(cache.iterdir())) == 1  # the chief's; the other worker extracted into its own folder
    assert "feature cache: extracted" in other and str(cache) not in other


def test_a_killed_cluster_resumes_from_the_chiefs_checkpoint(tmp_path):
    data = color_squares(tmp_path / "data", per_class=24, size=40)
    out = tmp_path / "run"
    arguments = settings(data, out) + ["--epochs", "6", "--fine-tune-epochs", "6", "--patience", "30"]
    logs = [tmp_path / "chief.log", tmp_path / "other.log"]
    processes = start_cluster(arguments, stderr=[log.open("w") for log in logs], stdout=[subprocess.DEVNULL] * 2)
    try:
        deadline = time.monotonic() + 200
        while "scratch epoch 4/12" not in logs[0].read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        for process in processes:
            process.kill()  # both machines lost at once, whatever they were writing
            process.wait()
    assert "scratch epoch 4/12" in logs[0].read_text()
    chief, other = run_cluster(["--resume", str(out)])
    assert "resuming" in chief and final_accuracy(chief) == final_accuracy(other)
    rows = (out / "history.csv").read_text().splitlines()[1:]
    assert [row.split(",")[:2] for row in rows] == [["scratch", str(epoch)] for epoch in range(1, 13)]
    assert not (out / "checkpoint").exists()


def test_multiworker_needs_a_cluster_described_in_tf_config(tmp_path, monkeypatch):
    from edgecls.core.errors import EdgeclsError
    from edgecls.trainer.distribute import check_distribute

    data = color_squares(tmp_path / "data", per_class=4, size=40)
    environment = {key: value for key, value in ENVIRONMENT.items() if key != "TF_CONFIG"}
    done = subprocess.run(
        [sys.executable, "-m", "edgecls.cli", "train", *settings(data, tmp_path / "run"), "--distribute", "multiworker"],
        capture_output=True, text=True, env=environment, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert "--distribute multiworker needs the cluster in the TF_CONFIG environment variable" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "run").exists()
    cases = {
        "{not json": "TF_CONFIG does not describe a worker of a cluster",
        json.dumps({"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 0}}): "two or more workers",
        json.dumps({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}): "two or more workers",
        json.dumps({"cluster": {"chief": ["a:1"], "worker": ["b:2"]}, "task": {"type": "chief", "index": 0}}): "workers only",
    }
    for text, expected in cases.items():
        monkeypatch.setenv("TF_CONFIG", text)
        with pytest.raises(EdgeclsError, match=expected):
            check_distribute("multiworker")
