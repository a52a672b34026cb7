from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from edgecls.bench import format_table
from edgecls.cli import app
from edgecls.core.errors import ProviderError
from edgecls.runtime.bench import BenchSettings, bench_onnx, latency_stats, time_calls
from edgecls.runtime.providers import cuda_unavailable_reason


def test_latency_stats_on_known_timings():
    samples = np.arange(1, 101) / 1000.0  # 1 ms .. 100 ms
    stats = latency_stats(samples, batch=4)
    assert stats["iterations"] == 100
    assert stats["p50_ms"] == pytest.approx(50.5)
    assert stats["p90_ms"] == pytest.approx(90.1)
    assert stats["p99_ms"] == pytest.approx(99.01)
    assert stats["min_ms"] == 1.0 and stats["max_ms"] == 100.0
    assert stats["images_per_s"] == pytest.approx(4 / 0.0505, rel=1e-3)
    with pytest.raises(ValueError):
        latency_stats([], batch=1)


def test_time_calls_counts_warmup_and_iterations():
    calls = []
    samples = time_calls(lambda: calls.append(1), BenchSettings(warmup=3, iterations=7))
    assert len(calls) == 10 and len(samples) == 7
    timed = time_calls(lambda: None, BenchSettings(warmup=0, seconds=0.05, min_iterations=5))
    assert len(timed) >= 5


def test_bench_records_what_ran(color_model):
    records = bench_onnx(color_model, "cpu", BenchSettings(batches=(1, 4), warmup=2, iterations=5))
    assert [record["batch"] for record in records] == [1, 4]
    for record in records:
        assert record["provider"] == "cpu" and record["session_providers"] == ["CPUExecutionProvider"]
        assert record["precision"] == "fp32" and record["iterations"] == 5
        assert record["p50_ms"] <= record["p90_ms"] <= record["p99_ms"]
        assert record["cold_start_ms"] > 0 and record["size_mb"] >= 0
    assert "p50 ms" in format_table(records)


@pytest.mark.skipif(cuda_unavailable_reason() is None, reason="CUDA is usable here")
def test_cuda_without_cuda_is_an_error_not_cpu_numbers(color_model):
    with pytest.raises(ProviderError, match="^`provider` cuda was asked for"):  # the library's own terms
        bench_onnx(color_model, "cuda", BenchSettings(iterations=1))
    result = CliRunner().invoke(app, ["bench", str(color_model), "--provider", "cuda", "--iters", "1"])
    assert result.exit_code == 2 and "CUDA cannot be used" in result.output and "p50" not in result.stdout
    assert "error: --provider cuda was asked for" in result.output and "or use --provider cpu" in result.output


def test_cli_json_schema_and_accuracy(color_model, tmp_path):
    import cv2

    from image_files import solid

    data = tmp_path / "labelled"
    for name, rgb in {"red": (250, 0, 0), "green": (0, 250, 0), "blue": (0, 0, 250)}.items():
        (data / name).mkdir(parents=True)
        for index in range(3):
            cv2.imwrite(str(data / name / f"{index}.png"), solid(rgb))
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(
        app,
        [
            "bench",
            str(color_model),
            "--provider",
            "cpu",
            "--batch",
            "1,2",
            "--iters",
            "3",
            "--warmup",
            "1",
            "--data",
            str(data),
            "--json",
            str(out),
            "--plot",
            str(tmp_path / "bench.png"),
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert set(document) == {"environment", "settings", "records"}
    assert {"cpu", "cores", "onnxruntime", "edgecls", "numpy", "opencv", "gpu"} <= set(document["environment"])
    assert document["settings"]["batches"] == [1, 2]
    for record in document["records"]:
        assert {
            "p50_ms",
            "p90_ms",
            "p99_ms",
            "images_per_s",
            "cold_start_ms",
            "provider",
            "precision",
            "batch",
            "size_mb",
            "accuracy",
            "end_to_end_ms_per_image",
        } <= set(record)
        assert record["accuracy"] == 1.0
    assert (tmp_path / "bench.png").stat().st_size > 0
    bad = CliRunner().invoke(app, ["bench", str(color_model), "--batch", "0,x"])
    assert bad.exit_code == 2 and "--batch" in bad.output
