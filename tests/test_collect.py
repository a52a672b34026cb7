"""serve-camera --collect: the crops that teach the most, as class folders with a sidecar each,
capped, never the gated repeats; a folder that cannot be written is one line."""

from __future__ import annotations

import json

import cv2
import numpy as np
from helpers.clips import write_clip

from edgecls.runtime import load_classifier
from edgecls.runtime.live import LiveConfig, run_live
from edgecls.runtime.live.collect import CollectConfig
from edgecls.runtime.sources import parse_source
from edgecls.runtime.streams import FrameSource


def write_mixed_clip(path, frames: int = 60):
    """A clear red spell, then a near tie (grey with a red tinge: the model is unsure), then blue."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 25.0, (64, 48))
    rng = np.random.default_rng(0)
    for index in range(frames):
        colour = (0, 0, 255) if index < 20 else (120, 120, 123) if index < 40 else (255, 0, 0)
        writer.write(np.clip(np.array(colour) + rng.normal(0, 2, (48, 64, 3)), 0, 255).astype(np.uint8))
    writer.release()
    return path


def test_collect_keeps_changes_unsure_crops_and_a_sample_as_class_folders(color_model, tmp_path):
    clip = write_mixed_clip(tmp_path / "mixed.avi")
    folder = tmp_path / "collected"
    source = FrameSource(parse_source(str(clip)), realtime=True).start()
    notices: list[str] = []
    config = LiveConfig(smooth=1, collect=CollectConfig(folder, every_s=3600))
    run_live(load_classifier(color_model, "cpu"), source, config, on_status=notices.append)
    sidecars = [json.loads(path.read_text()) for path in sorted(folder.glob("*/*.json"))]
    crops = sorted(folder.glob("*/*.jpg"))
    assert len(crops) == len(sidecars) and {path.with_suffix(".json") for path in crops} == set(folder.glob("*/*.json"))
    why = [sidecar["why"] for sidecar in sidecars]
    assert why.count("sample") == 1  # the first look; the next would be an hour later
    assert why.count("change") >= 2 and 1 <= why.count("unsure") <= 2  # the tie lasts 0.8 s: one a second at most
    for path, sidecar in zip(crops, sidecars, strict=True):
        top = max(sidecar["scores"], key=sidecar["scores"].get)
        assert path.parent.name == top and set(sidecar) == {"time", "camera", "light", "frame", "state", "reason", "why", "scores", "model"}
        assert cv2.imread(str(path)).shape == (48, 64, 3)
    assert any(f"collect: saved {len(crops)} crop(s) to {folder}" in notice for notice in notices)
    # The cap counts what the folder holds already: a second run adds nothing.
    source = FrameSource(parse_source(str(clip))).start()
    config = LiveConfig(smooth=1, collect=CollectConfig(folder, max_crops=len(crops)))
    run_live(load_classifier(color_model, "cpu"), source, config, on_status=notices.append)
    assert len(list(folder.glob("*/*.jpg"))) == len(crops) and any("its cap" in notice for notice in notices)


def test_gated_repeats_are_not_collected_and_a_folder_that_cannot_be_written_is_one_line(color_model, tmp_path):
    from typer.testing import CliRunner

    from edgecls.cli import app

    clip = write_clip(tmp_path / "clip.avi", ["green"] * 50)
    folder = tmp_path / "collected"
    result = CliRunner().invoke(app, ["serve-camera", str(color_model), "--source", str(clip), "--collect", str(folder)])
    assert result.exit_code == 0 and len(list(folder.glob("green/*.jpg"))) == 1  # sure and unchanged: the sample
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = CliRunner().invoke(app, ["serve-camera", str(color_model), "--source", str(clip), "--collect", str(blocker / "x")])
    assert result.exit_code == 2 and "--collect" in result.output and "cannot write there" in result.output
    assert "Traceback" not in result.output
