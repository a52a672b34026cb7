"""Clip truth: what a clip with a ground truth shows (`<clip>.truth.json`: fps, the light's ROI,
the state of every frame and where it flashes), and how a run over it is scored. The one place the
format is written, read and scored: the built-in renderer, the independent yardstick, the demo, the
benchmarks and the tests all use it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from edgecls.core.errors import DataError
from edgecls.core.files import write_text_atomic


@dataclass(frozen=True)
class ClipTruth:
    fps: float
    roi: tuple[int, int, int, int]  # where the light is: X, Y, W, H
    states: list[str]  # per frame
    flashing: list[tuple[int, int]] = field(default_factory=list)  # [start, end) frames of flashing yellow

    def write(self, clip: Path) -> Path:
        """The truth beside `clip`, as `<clip>.truth.json`."""
        document = {
            "fps": self.fps,
            "roi": list(self.roi),
            "states": self.states,
            "flashing": [list(span) for span in self.flashing],
        }
        return write_text_atomic(truth_path(clip), json.dumps(document) + "\n")

    @classmethod
    def read(cls, clip: Path) -> ClipTruth:
        """The truth written beside `clip`.

        Raises:
            DataError: there is none, or it is not a clip truth.
        """
        path = truth_path(Path(clip))
        try:
            document = json.loads(path.read_text())
            return cls(
                float(document["fps"]),
                tuple(document["roi"]),
                list(document["states"]),
                [(int(start), int(end)) for start, end in document.get("flashing", [])],
            )
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise DataError(
                f"{path}: no ground truth for {clip} ({error}); clips with one are written by "
                "`edgecls data traffic-clip`."
            ) from None

    def reported(self) -> list[str]:
        """The state the live service should report for each frame: inside a flashing spell,
        flashing_yellow (the per-frame truth there is yellow or off)."""
        reported = list(self.states)
        for start, end in self.flashing:
            reported[start:end] = ["flashing_yellow"] * (end - start)
        return reported


def truth_path(clip: Path) -> Path:
    return clip.with_name(clip.name + ".truth.json")


def recall_by_class(pairs: list[tuple[str, str]]) -> dict[str, float]:
    """Per-class recall from (truth, predicted) pairs: of the items of each class, the share predicted so."""
    classes = sorted({truth for truth, _ in pairs})
    return {
        name: round(
            sum(truth == predicted for truth, predicted in pairs if truth == name)
            / sum(truth == name for truth, _ in pairs),
            4,
        )
        for name in classes
    }


def score_frames(truth: ClipTruth, frames: list[dict]) -> dict:
    """How a run's frame records (`--jsonl`: frame, label, state) match the truth: the per-frame
    label's accuracy and recall per class, the reported state's (a flashing spell's frames should
    say flashing_yellow), and how long flashing took to be seen and to clear."""
    states, reported = truth.states, truth.reported()
    label_right = sum(frame["label"] == states[frame["frame"]] for frame in frames)
    # A frame inside a flashing spell is right to say flashing_yellow, or its own lamp's state.
    state_right = sum(frame["state"] in (states[frame["frame"]], reported[frame["frame"]]) for frame in frames)
    scores: dict = {
        "clip_frame_accuracy": round(label_right / len(frames), 4) if frames else 0.0,
        "clip_smoothed_accuracy": round(state_right / len(frames), 4) if frames else 0.0,
        "clip_frame_recall": recall_by_class([(states[frame["frame"]], frame["label"]) for frame in frames]),
        "clip_state_recall": recall_by_class([(reported[frame["frame"]], frame["state"]) for frame in frames]),
    }
    if truth.flashing:
        scores.update(flashing_delays(frames, truth.flashing, truth.fps))
    return scores


def flashing_delays(frames: list[dict], spans: list[tuple[int, int]], fps: float) -> dict[str, float | None]:
    """Seconds from each flashing spell's start to the first `flashing_yellow` reported, and from its
    end to the first steady state reported (the worst spell; None if never)."""
    reported = sorted((frame["frame"], frame["state"]) for frame in frames)
    detected: list[float] = []
    cleared: list[float] = []
    for start, end in spans:
        first = next((i for i, state in reported if i >= start and state == "flashing_yellow"), None)
        back = next((i for i, state in reported if i >= end and not state.startswith("flashing")), None)
        if first is not None and first < end:
            detected.append((first - start) / fps)
        if back is not None:
            cleared.append((back - end) / fps)
    return {
        "clip_flashing_detected_s": round(max(detected), 2) if len(detected) == len(spans) else None,
        "clip_flashing_cleared_s": round(max(cleared), 2) if len(cleared) == len(spans) else None,
    }
