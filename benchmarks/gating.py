"""What the change gate saves, and whether the states it reports match classifying every time.

    python benchmarks/gating.py MODEL.onnx [--seconds 30] [--heartbeat 2] [--json OUT.json]

Clips with a ground truth, 640x480 at 25 fps: from the built-in renderer (a drifting camera; a
camera on a rigid mount with sensor noise; the same with a flickering exposure, +-8% and +-15%; a
night street with a spell of flashing yellow, drifting with a flickering exposure, and on a rigid
mount), and one from the independent yardstick's renderer (a panning photograph, a different light).
Each is played through serve-camera's loop twice per rate, the gate off (`--heartbeat 0`) and on, at
5 classifications a second (a camera's default, on the clip's clock) and at every frame; per clip it
prints the share of classified frames whose reported state is the same in both runs, the model runs
the gate saved, and the smoothed accuracy of both against the truth.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from edgecls.datasets.clips import ClipTruth, score_frames  # noqa: E402
from edgecls.datasets.traffic_lights.clip import write_clip  # noqa: E402
from edgecls.runtime.live import LiveConfig, run_live  # noqa: E402
from edgecls.runtime.sources import parse_source  # noqa: E402
from edgecls.runtime.streams import FrameSource  # noqa: E402

from common import open_model  # noqa: E402

CLIPS = {
    "drifting camera": {"seed": 11},
    "rigid mount, noise": {"seed": 12, "drift": False},
    "rigid mount, flicker 8%": {"seed": 13, "drift": False, "flicker": 0.08},
    "rigid mount, flicker 15%": {"seed": 14, "drift": False, "flicker": 0.15},
    "night street, flicker 8%": {"seed": 15, "night": True, "flicker": 0.08},
    "night street, rigid mount": {"seed": 5, "night": True, "drift": False},
}


def play(classifier, clip: Path, roi, classify_fps: float | None, heartbeat_s: float, folder: Path) -> tuple[dict, list[dict]]:
    out = folder / f"frames-{classify_fps}-{heartbeat_s}.jsonl"
    source = FrameSource(parse_source(str(clip)), classify_fps=classify_fps).start()
    summary = run_live(classifier, source, LiveConfig(smooth=3, roi=roi, jsonl=out, heartbeat_s=heartbeat_s))
    frames = [json.loads(line) for line in out.read_text().splitlines()]
    return summary.to_dict(), frames


def compare(classifier, clip: Path, classify_fps: float | None, heartbeat_s: float, folder: Path) -> dict:
    truth = ClipTruth.read(clip)
    _, plain = play(classifier, clip, truth.roi, classify_fps, 0.0, folder)
    summary, gated = play(classifier, clip, truth.roi, classify_fps, heartbeat_s, folder)
    assert [frame["frame"] for frame in plain] == [frame["frame"] for frame in gated]
    same = sum(a["state"] == b["state"] for a, b in zip(plain, gated, strict=True))
    runs = summary["inferences"] + summary["gated"]
    return {
        "frames": len(plain),
        "same_state": same / len(plain),
        "model_runs": summary["inferences"],
        "saved": summary["gated"] / runs if runs else 0.0,
        "smoothed_plain": score_frames(truth, plain)["clip_smoothed_accuracy"],
        "smoothed_gated": score_frames(truth, gated)["clip_smoothed_accuracy"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--heartbeat", type=float, default=LiveConfig.heartbeat_s)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    classifier = open_model(args.model)
    rows = []
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        clips = {}
        for title, options in CLIPS.items():
            clips[title] = folder / f"{options['seed']}.avi"
            write_clip(clips[title], seconds=args.seconds, **options)
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from independent import photographs
        from independent import write_clip as write_independent_clip

        clips["independent renderer"] = folder / "independent.avi"
        write_independent_clip(clips["independent renderer"], args.seconds, 25.0, photographs(None), 21)
        print(f"{'clip':<28}{'rate':>9}{'frames':>8}{'same state':>12}{'model runs':>12}{'saved':>8}{'accuracy off -> on':>21}")
        for title, clip in clips.items():
            for rate in (5.0, None):
                row = {"clip": title, "classify_fps": rate or 0, **compare(classifier, clip, rate, args.heartbeat, folder)}
                rows.append(row)
                print(
                    f"{title:<28}{'5/s' if rate else 'every':>9}{row['frames']:>8}{row['same_state']:>12.2%}"
                    f"{row['model_runs']:>12}{row['saved']:>8.1%}"
                    f"{row['smoothed_plain']:>12.2%} -> {row['smoothed_gated']:.2%}",
                    flush=True,
                )
    total = sum(row["frames"] for row in rows)
    same = sum(row["same_state"] * row["frames"] for row in rows)
    print(f"all clips: the same state on {same / total:.2%} of {total} classified frames, heartbeat {args.heartbeat:g} s")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
