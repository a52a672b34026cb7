"""Score a model on a clip with a ground truth, the way `edgecls demo` scores its own clip.

    python benchmarks/score_clip.py MODEL.onnx CLIP.avi

CLIP.avi.truth.json holds fps, the light's ROI and the state of every frame (written by
`edgecls data traffic-clip` or `benchmarks/independent.py clip`). Prints per-frame and smoothed accuracy.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from edgecls.demo import score_clip
from edgecls.runtime import load_classifier
from edgecls.runtime.images import quiet_opencv_logs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("clip", type=Path)
    parser.add_argument("--provider", default="auto")
    args = parser.parse_args()
    quiet_opencv_logs()
    classifier = load_classifier(args.model, args.provider)
    with tempfile.TemporaryDirectory() as folder:
        scores = score_clip(classifier, args.clip, Path(folder) / "frames.jsonl")
    print(json.dumps(scores, indent=2))


if __name__ == "__main__":
    main()
