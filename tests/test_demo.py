"""The demo's whole chain at toy scale: data, train, export, predict, serve-camera, bench."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_demo_runs_every_stage_and_reports(tmp_path):
    from edgecls.console import import_tensorflow_quietly

    import_tensorflow_quietly()
    from edgecls.demo import DemoConfig, run_demo

    config = DemoConfig(
        out=str(tmp_path / "demo"),
        per_class=20,
        val_per_class=4,
        test_per_class=4,
        clip_seconds=1.0,
        image_size=32,
        epochs=4,
        patience=2,
        try_imagenet=False,
        fp16_min_agreement=0.0,
        int8_min_agreement=1.01,  # no INT8 model can pass: the demo must report it and go on
    )
    result = run_demo(config)
    summary = json.loads((tmp_path / "demo" / "demo.json").read_text())
    assert set(summary["seconds"]) == {"data", "train", "export", "predict", "serve-camera", "bench"}
    for key in ("onnx_fp32", "onnx_fp16", "clip", "clip_frames", "clip_annotated", "run"):
        assert Path(result.paths[key]).exists(), key
    figures = summary["figures"]
    assert figures["weights"] == "none (offline)"
    run_config = json.loads((Path(result.paths["run"]) / "config.json").read_text())
    assert run_config["backbone"] == "compactcnn" and run_config["val_data"].endswith("val")
    # The figures are what the files say: recomputed here from the outputs the demo wrote.
    recall = figures["held_out_recall"]
    assert set(recall) == {"red", "yellow", "green", "off"}  # four images each: accuracy is mean recall
    assert figures["held_out_accuracy"] == pytest.approx(sum(recall.values()) / 4, abs=1e-4)
    frames = [json.loads(line) for line in (tmp_path / "demo" / "clip.frames.jsonl").read_text().splitlines()]
    states = json.loads((tmp_path / "demo" / "data" / "clip.avi.truth.json").read_text())["states"]
    assert len(frames) == len(states) == 25
    right = sum(frame["label"] == states[frame["frame"]] for frame in frames)
    assert figures["clip_frame_accuracy"] == pytest.approx(right / 25, abs=1e-4)
    assert figures["fp32_agreement"] == 1.0
    assert figures["int8_gate"] == "failed, not written" and "onnx_int8" not in result.paths
    parity = json.loads((Path(result.paths["run"]) / "model.parity.json").read_text())
    assert figures["int8_agreement"] == pytest.approx(parity["int8"]["agreement"], abs=1e-4)
    assert parity["int8"]["passed"] is False
    assert "fp32_batch1_p50_ms" in figures and not any(key.startswith("int8_batch") for key in figures)
    # A second demo into the same folder replaces the first; a folder that is not a demo is refused.
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("mine")
    from edgecls.core.errors import EdgeclsError

    with pytest.raises(EdgeclsError, match="not an earlier demo"):
        run_demo(DemoConfig(out=str(tmp_path / "mine")))
    assert (tmp_path / "mine" / "keep.txt").read_text() == "mine"
