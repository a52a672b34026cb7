"""`predict --ray` on a real Ray cluster on loopback (`ray start --head`, 2 CPUs): the same rows as
local predict, Parquet output, remote (file://) paths, a worker killed mid-run, and one clear line
for each way it cannot run."""

from __future__ import annotations

import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers.loopback import free_port
from helpers.ray_cluster import RayCluster, ray_environment

from edgecls.cli import ray_address_in_argv

from image_files import encode, solid

EDGECLS = [sys.executable, "-m", "edgecls.cli"]


@pytest.fixture(scope="module")
def cluster():
    started = RayCluster(cpus=2)
    yield started
    started.stop()


def edgecls(*args: str, timeout: float = 180, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*EDGECLS, *args], capture_output=True, text=True, timeout=timeout, env={**ray_environment(), **env}, check=False, cwd=cwd
    )


def rows_by_path(stdout: str) -> dict[str, dict]:
    rows = [json.loads(line) for line in stdout.splitlines()]  # every line of stdout is a row
    paths = [row["path"] for row in rows]
    assert len(paths) == len(set(paths)), collections.Counter(paths).most_common(3)
    return {row["path"]: row for row in rows}


def assert_same_rows(cluster_rows: dict[str, dict], local_rows: dict[str, dict]) -> None:
    assert set(cluster_rows) == set(local_rows)
    for path, local in local_rows.items():
        remote = cluster_rows[path]
        assert remote.get("error") == local.get("error"), path
        if "error" in local:
            continue
        assert remote["label"] == local["label"], path
        assert abs(remote["score"] - local["score"]) <= 1e-5, path
        assert [item["label"] for item in remote["topk"]] == [item["label"] for item in local["topk"]]


def test_the_same_rows_and_exit_code_as_local_predict(cluster, color_model, messy_folder, tmp_path):
    folder, expected = messy_folder
    listing = tmp_path / "more.txt"  # an @LIST: a file already in the folder, a missing one, blank lines
    listing.write_text(f"{folder / 'red.png'}\n\n{tmp_path / 'gone.png'}\n")
    arguments = ["predict", str(color_model), str(folder), f"@{listing}", "--format", "json", "--topk", "2"]
    local = edgecls(*arguments, "--provider", "cpu")
    remote = edgecls(*arguments, "--ray", cluster.address, "--batch", "4")
    assert local.returncode == remote.returncode == 1, remote.stderr  # bad files are rows, not a failed job
    local_rows, remote_rows = rows_by_path(local.stdout), rows_by_path(remote.stdout)
    assert set(local_rows) == {*expected, str(tmp_path / "gone.png")}
    assert_same_rows(remote_rows, local_rows)
    assert "Ray cluster: 1 node(s), 2 CPU(s)" in remote.stderr
    assert "Traceback" not in remote.stderr


def test_names_that_are_not_utf8_and_two_paths_to_one_file(cluster, color_model, tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "red.png").write_bytes(encode(".png", solid((250, 10, 10))))
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.png"), "wb") as latin1:  # not UTF-8
        latin1.write(encode(".png", solid((10, 240, 10))))
    arguments = ["predict", str(color_model), "red.png", str(folder / "red.png"), ".", "--format", "json"]
    local = edgecls(*arguments, cwd=folder)
    remote = edgecls(*arguments, "--ray", cluster.address, cwd=folder)
    assert local.returncode == remote.returncode == 0, remote.stderr
    rows = rows_by_path(remote.stdout)
    assert_same_rows(rows, rows_by_path(local.stdout))
    assert rows["./caf\\xe9.png"]["label"] == "green" and rows[str(folder / "red.png")]["label"] == "red"
    assert rows["red.png"]["label"] == rows["./red.png"]["label"] == "red"  # one file by three paths: three rows, as locally


def test_parquet_shards_instead_of_stdout(cluster, color_model, messy_folder, tmp_path):
    import pyarrow.parquet as pq

    folder, expected = messy_folder
    out = tmp_path / "results"
    result = edgecls("predict", str(color_model), str(folder), "--ray", cluster.address, "--out", str(out))
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    table = pq.read_table(out)
    assert sorted(table.column_names) == sorted(["path", "label", "score", "topk_labels", "topk_scores", "error"])
    rows = {row["path"]: row for row in table.to_pylist()}
    assert set(rows) == set(expected) and table.num_rows == len(expected)
    assert rows[str(folder / "red.png")]["label"] == "red" and rows[str(folder / "red.png")]["error"] is None
    assert "empty file" in rows[str(folder / "empty.jpg")]["error"]
    assert f"wrote {len(expected)} rows to 1 Parquet file(s) in {out}" in result.stderr
    again = edgecls("predict", str(color_model), str(folder), "--ray", cluster.address, "--out", str(out))
    assert again.returncode == 2 and "already holds files" in again.stderr and "Traceback" not in again.stderr
    assert pq.read_table(out).num_rows == len(expected)  # nothing overwritten


def test_remote_paths_and_a_private_cluster(color_model, messy_folder):
    """file:// stands in for s3:// (the same pyarrow filesystem code). --ray alone, where the cluster
    `ray start` recorded on this machine is gone (killed without `ray stop`), starts a private cluster
    (said in one line) instead of waiting for the dead one; Ray's temp folder is the test's own."""
    folder, expected = messy_folder
    good = folder / "level one"
    temp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))  # short: Ray's socket paths are long
    (temp / "ray").mkdir()
    (temp / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{free_port()}")
    local = edgecls("predict", str(color_model), str(good), "--format", "json", "--provider", "cpu")
    remote = edgecls(
        "predict", str(color_model), f"file://{good}", f"file://{folder}/gone.png", "--format", "json", "--ray",
        RAY_TMPDIR=str(temp),
    )  # fmt: skip
    shutil.rmtree(temp, ignore_errors=True)
    assert remote.returncode == 1, remote.stderr
    assert "does not answer: it stopped without `ray stop`. Starting a private cluster instead." in remote.stderr
    rows = rows_by_path(remote.stdout)
    assert rows.pop(f"file://{folder}/gone.png")["error"] == "not found"
    assert_same_rows({path.removeprefix("file://"): row for path, row in rows.items()}, rows_by_path(local.stdout))


def test_a_worker_killed_mid_run_loses_nothing(cluster, color_model, tmp_path):
    images = tmp_path / "noise"
    images.mkdir()
    noise = np.random.default_rng(0).integers(0, 255, (600, 800, 3), dtype=np.uint8)  # slow to decode
    names = []
    for index in range(256):
        cv2.imwrite(str(images / f"{index:03d}.jpg"), np.roll(noise, index, axis=1), [cv2.IMWRITE_JPEG_QUALITY, 95])
        names.append(str(images / f"{index:03d}.jpg"))
    command = [*EDGECLS, "predict", str(color_model), str(images), "--format", "csv", "--batch", "1", "--ray", cluster.address]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ray_environment())
    lines, killed = [], []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        if len(lines) == 2:  # the header and a first row: the actors are at work
            killed = cluster.processes(b"ray::MapWorker")[:1]
            for pid in killed:
                os.kill(pid, signal.SIGKILL)
    stderr = process.stderr.read() if process.stderr else ""
    assert process.wait(timeout=180) == 0, stderr
    assert killed, "no actor process was found to kill"
    paths = [line.split(",")[0] for line in lines[1:]]
    assert sorted(paths) == names  # every input exactly once


def test_one_line_for_each_way_it_cannot_run(color_model, messy_folder, tmp_path):
    folder, _ = messy_folder
    image = str(folder / "red.png")
    started = time.monotonic()
    nobody = edgecls("predict", str(color_model), image, "--ray", f"127.0.0.1:{free_port()}")
    assert time.monotonic() - started < 60
    assert nobody.returncode == 2 and nobody.stdout == ""
    assert "no Ray cluster answers at 127.0.0.1" in nobody.stderr and "ray start --head" in nobody.stderr
    not_an_address = edgecls("predict", str(color_model), image, "--ray=somewhere")
    assert not_an_address.returncode == 2 and "is not an address" in not_an_address.stderr
    alone = edgecls("predict", str(color_model), image, "--workers", "3")
    assert alone.returncode == 2 and "--workers applies to a run on a cluster: add --ray" in alone.stderr
    threads = edgecls("predict", str(color_model), image, "--ray", "--threads", "2")
    assert threads.returncode == 2 and "--threads applies to local predict" in threads.stderr
    without_ray = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['ray'] = None; from edgecls.cli import app; app()",
         "predict", str(color_model), image, "--ray"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert without_ray.returncode == 2 and "pip install 'edgecls[ray]'" in without_ray.stderr
    for result in (nobody, not_an_address, alone, threads, without_ray):
        assert "Traceback" not in result.stderr and result.stderr.count("error:") == 1, result.stderr


def test_the_address_after_ray_is_taken_only_when_it_is_one():
    assert ray_address_in_argv(["predict", "m.onnx", "images", "--ray"]) == ["predict", "m.onnx", "images", "--ray="]
    assert ray_address_in_argv(["predict", "--ray", "m.onnx", "x"]) == ["predict", "--ray=", "m.onnx", "x"]
    assert ray_address_in_argv(["predict", "m", "x", "--ray", "auto"]) == ["predict", "m", "x", "--ray=auto"]
    assert ray_address_in_argv(["predict", "m", "--ray", "10.0.0.5:6379", "x"]) == ["predict", "m", "--ray=10.0.0.5:6379", "x"]
    assert ray_address_in_argv(["predict", "m", "--ray", "ray://head:10001"]) == ["predict", "m", "--ray=ray://head:10001"]
    assert ray_address_in_argv(["train", "--ray"]) == ["train", "--ray"]
    assert ray_address_in_argv(["predict", "m", "x", "--", "--ray"]) == ["predict", "m", "x", "--", "--ray"]


def test_list_files_for_local_predict(color_model, messy_folder, tmp_path):
    folder, _ = messy_folder
    listing = tmp_path / "paths.txt"
    listing.write_bytes(f"{folder / 'red.png'}\r\n\n{folder / 'level one'}\n{folder / '*.bmp'}\n".encode())
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    result = edgecls(
        "predict", str(color_model), f"@{listing}", f"@{empty}", f"@{tmp_path / 'missing.txt'}", "--format", "json"
    )
    rows = rows_by_path(result.stdout)
    assert rows[str(folder / "red.png")]["label"] == "red"
    assert rows[str(folder / "level one/level two/deep red.bmp")]["label"] == "red"
    assert "list of paths is empty" in rows[f"@{empty}"]["error"]
    assert "cannot read this list of paths" in rows[f"@{tmp_path / 'missing.txt'}"]["error"]
    assert rows[str(folder / "*.bmp")]["error"] == "no files match this pattern"  # a line is any argument
    assert result.returncode == 1 and len(rows) == 5


def test_actors_share_what_the_cluster_has_and_never_ask_for_more_than_a_node_holds():
    from edgecls.core.errors import ClusterError
    from edgecls.runtime.cluster import ActorPlan, plan_actors

    assert plan_actors([2, 2], [0, 0], "auto") == ActorPlan(4, 1.0, 0.0, "auto")  # one an actor a CPU
    assert plan_actors([2, 2], [0, 0], "cpu", workers=1) == ActorPlan(1, 2.0, 0.0, "cpu")  # not 4: no node has 4
    assert plan_actors([2], [0], "auto", workers=3) == ActorPlan(3, 0.66, 0.0, "auto")  # more actors than CPUs
    assert plan_actors([8, 8], [1, 1], "auto") == ActorPlan(2, 8.0, 1.0, "cuda")  # one a GPU, the CPUs shared
    assert plan_actors([8], [1], "cuda", workers=2) == ActorPlan(2, 4.0, 0.5, "cuda")
    assert plan_actors([8], [1], "cpu") == ActorPlan(8, 1.0, 0.0, "cpu")  # a GPU the provider does not use
    with pytest.raises(ClusterError, match="offers no GPU"):
        plan_actors([4], [0], "cuda")
    with pytest.raises(ClusterError, match="offers no CPU"):
        plan_actors([0], [0], "auto")
