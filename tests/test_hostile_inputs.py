"""What a real disk or a hostile sender holds, against `predict` and the runtime: bombs, folder
loops, FIFOs, unreadable folders, names that are not UTF-8 or hold control characters, broken models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from typer.testing import CliRunner

from edgecls.cli import app
from edgecls.runtime.contract import build_metadata
from edgecls.runtime.folders import collect_inputs

from image_files import encode, jpeg_bomb, png_header_only, solid, tiff_bomb
from onnx_models import color_classifier

runner = CliRunner()


def png(color_rgb) -> bytes:
    return encode(".png", solid(color_rgb))


def errors_of(results) -> dict[str, str]:
    return {item.path: item.error for item in results if not isinstance(item, str)}


def test_each_real_folder_is_walked_once_and_a_loop_is_a_failure(tmp_path):
    root = tmp_path / "photos"
    (root / "a").mkdir(parents=True)
    (root / "a" / "red.png").write_bytes(png((250, 0, 0)))
    (root / "a" / "up").symlink_to("..")  # a loop
    (root / "a" / "top").symlink_to(root)  # a second loop
    (root / "alias").symlink_to(root / "a")  # another way to a folder: not a loop, walked once
    started = time.perf_counter()
    results = collect_inputs([str(root)])
    assert time.perf_counter() - started < 5
    files = [item for item in results if isinstance(item, str)]
    assert len(files) == 1 and files[0].endswith("red.png")
    problems = errors_of(results)
    assert len(problems) == 2 and all(error.startswith("folder loop") for error in problems.values())
    # A recursive glob over the same tree terminates, and lists each file once.
    results = collect_inputs([str(root) + "/**/*.png"])
    assert [item for item in results if isinstance(item, str)] == files


def test_an_unreadable_folder_is_a_failure_not_a_silence(tmp_path, monkeypatch):
    root = tmp_path / "photos"
    (root / "locked").mkdir(parents=True)
    (root / "ok.png").write_bytes(png((0, 250, 0)))
    real_scandir = os.scandir

    def scandir(path="."):  # as chmod 000 does for a user who is not root
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    problems = errors_of(collect_inputs([str(root)]))
    assert problems == {str(root / "locked"): "cannot read this folder (Permission denied)"}


def test_fifos_are_reported_not_opened_and_named_ones_are_not_missing(tmp_path, color_model):
    folder = tmp_path / "in"
    folder.mkdir()
    os.mkfifo(folder / "pipe.jpg")
    (folder / "ok.png").write_bytes(png((0, 0, 250)))
    for target in (str(folder), str(folder / "pipe.jpg")):
        result = runner.invoke(app, ["predict", str(color_model), target, "--format", "json"])
        rows = {row["path"]: row for row in map(json.loads, result.stdout.splitlines())}
        assert rows[str(folder / "pipe.jpg")]["error"] == "not a regular file (a FIFO)", result.output
        assert result.exit_code == 1


def test_names_that_are_not_utf8_or_hold_control_characters(tmp_path, color_model):
    folder = tmp_path / "in"
    folder.mkdir()
    names = [b"caf\xe9.png", b"tab\tname.png", b"new\nline.png", b"\x1b[31mred.png"]
    for name in names:
        Path(os.fsdecode(os.fsencode(folder) + b"/" + name)).write_bytes(png((250, 0, 0)))
    for output_format in ("json", "table", "csv"):
        out = subprocess.run(
            [sys.executable, "-m", "edgecls.cli", "predict", str(color_model), str(folder), "--format", output_format],
            capture_output=True,
            env={**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONIOENCODING": ""},
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        text = out.stdout.decode("utf-8")  # strict: every output is valid UTF-8
        assert "\x1b" not in text and "\x1b" not in out.stderr.decode("utf-8")
        lines = text.splitlines()
        assert len(lines) == len(names) + (output_format == "csv"), lines  # no forged rows
        if output_format == "json":
            paths = {json.loads(line)["path"] for line in lines}
            assert str(folder / "caf\\xe9.png") in paths and str(folder / "new\nline.png") in paths
        else:
            assert any("caf\\xe9.png" in line for line in lines) and any("new\\nline" in line for line in lines)
            assert any("tab\\tname" in line for line in lines)


def test_class_names_that_would_drive_a_terminal_are_refused(tmp_path):
    model = color_classifier(tmp_path / "m.onnx", classes=("red", "\x1b[2Jgreen", "blue"))
    result = runner.invoke(app, ["predict", str(model), str(tmp_path)])
    assert result.exit_code == 2 and "printable" in result.output and "\x1b" not in result.output


def test_non_finite_outputs_are_a_per_image_error(tmp_path):
    model = onnx.load(color_classifier(tmp_path / "m.onnx"))
    weights = numpy_helper.to_array(model.graph.initializer[0]).copy()
    weights[0, 0] = np.nan
    model.graph.initializer[0].CopyFrom(numpy_helper.from_array(weights, "weights"))
    onnx.save(model, tmp_path / "nan.onnx")
    (tmp_path / "red.png").write_bytes(png((250, 0, 0)))
    result = runner.invoke(app, ["predict", str(tmp_path / "nan.onnx"), str(tmp_path / "red.png"), "--format", "json"])
    row = json.loads(result.stdout)  # strict JSON: no NaN
    assert "score" not in row and "not finite" in row["error"] and result.exit_code == 1


@pytest.mark.parametrize("size", [[2000000, 2000000], [0, 32], [True, 32]])
def test_implausible_input_size_is_refused_by_the_contract(tmp_path, size):
    metadata = build_metadata(("red", "green", "blue"), (32, 32), "test", "fp32", 1.0, "now")
    metadata["input_size"] = json.dumps(size)
    model = color_classifier(tmp_path / "m.onnx", metadata=metadata, static_size=False)
    result = runner.invoke(app, ["predict", str(model), str(tmp_path)])
    assert result.exit_code == 2 and "'input_size' must be [height, width]" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", [["predict"], ["bench", "--seconds", "0.2"]])
def test_a_truncated_model_is_one_line_in_every_command(tmp_path, color_model, command):
    truncated = tmp_path / "cut.onnx"
    truncated.write_bytes(color_model.read_bytes()[:300])
    (tmp_path / "red.png").write_bytes(png((250, 0, 0)))
    images = [str(tmp_path / "red.png")] if command[0] == "predict" else []
    result = runner.invoke(app, [command[0], str(truncated), *command[1:], *images])
    assert result.exit_code == 2, result.output
    assert "cannot load this file as an ONNX model" in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_one_folder_of_everything_hostile(tmp_path, color_model):
    # Bombs (a size after 128 KB of comments, a TIFF directory at the end, a PNG header), two folder
    # loops, a FIFO, names that are not UTF-8, and good images: each good file classified once, each
    # bad one reported once with its reason, valid UTF-8, exit 1, quickly and in bounded memory.
    folder = tmp_path / "everything"
    (folder / "sub").mkdir(parents=True)
    good = {"red.png": (250, 0, 0), "sub/green.png": (0, 250, 0), "blue.png": (0, 0, 250)}
    for name, color in good.items():
        (folder / name).write_bytes(png(color))
    Path(os.fsdecode(os.fsencode(folder) + b"/caf\xe9.png")).write_bytes(png((250, 0, 0)))
    for index in range(4):
        (folder / f"late{index}.jpg").write_bytes(jpeg_bomb())
        (folder / f"late{index}.tif").write_bytes(tiff_bomb())
    (folder / "header.png").write_bytes(png_header_only(40000, 40000))
    (folder / "sub" / "loop").symlink_to("..")
    (folder / "sub" / "top").symlink_to(folder)
    os.mkfifo(folder / "pipe.jpg")
    # The peak is VmHWM of this process's own memory: ru_maxrss would carry over the forking pytest
    # process's peak across exec on Linux.
    script = (
        "import re, sys\n"
        "from edgecls.cli import app\n"
        "try:\n    app(sys.argv[1:])\n"
        "finally:\n"
        "    status = open('/proc/self/status').read()\n"
        "    print(re.search(r'VmHWM:\\s+(\\d+)', status).group(1), file=sys.stderr)\n"
    )
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", script, "predict", str(color_model), str(folder), "--format", "json"],
        capture_output=True,
        timeout=60,
    )
    seconds = time.perf_counter() - started
    peak_mib = int(out.stderr.decode().strip().splitlines()[-1]) / 1024
    assert out.returncode == 1, out.stderr.decode()
    rows = [json.loads(line) for line in out.stdout.decode("utf-8").splitlines()]
    paths = [row["path"] for row in rows]
    assert len(paths) == len(set(paths)) == 4 + 9 + 2 + 1
    labelled = {row["path"]: row.get("label") for row in rows if "label" in row}
    assert labelled == {
        str(folder / "red.png"): "red",
        str(folder / "sub/green.png"): "green",
        str(folder / "blue.png"): "blue",
        str(folder / "caf\\xe9.png"): "red",
    }
    reasons = [row["error"] for row in rows if "error" in row]
    assert sum("over the limit" in reason for reason in reasons) == 9
    assert sum(reason.startswith("folder loop") for reason in reasons) == 2
    assert "not a regular file (a FIFO)" in reasons
    assert seconds < 30 and peak_mib < 1024, (seconds, peak_mib)
    print(f"everything folder: {seconds:.1f} s, peak {peak_mib:.0f} MiB")
