"""Accuracy of a traffic-light model on built-in images, per framing: a tight crop around the housing
(what --roi or a detector gives), a looser crop, and a small light in a busy street scene.

    python benchmarks/framings.py MODEL.onnx [--per-class 100] [--seed 99]

Renders `--per-class` images of each state in each framing (a seed no training set uses) and prints
accuracy and per-class recall for each.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np

from edgecls.datasets.clips import recall_by_class
from edgecls.datasets.traffic_lights import FRAMINGS, STATES, render_traffic_light
from edgecls.runtime import classify_files, collect_inputs

from common import model_arguments, open_model


def main() -> None:
    args = model_arguments(__doc__, per_class=100, seed=99)
    classifier = open_model(args.model)
    with tempfile.TemporaryDirectory() as folder:
        for framing_index, framing in enumerate(FRAMINGS):
            truth = {}
            for state_index, state in enumerate(STATES):
                for index in range(args.per_class):
                    rng = np.random.default_rng([args.seed, framing_index, state_index, index])
                    image = render_traffic_light(rng, state, framing=framing)
                    path = Path(folder) / framing / f"{state}_{index:04d}.png"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
                    truth[str(path)] = state
            results = list(classify_files(classifier, collect_inputs([str(Path(folder) / framing)])))
            pairs = [(truth[result.path], result.label) for result in results]
            accuracy = sum(t == p for t, p in pairs) / len(pairs)
            recall = ", ".join(f"{name} {value:.1%}" for name, value in recall_by_class(pairs).items())
            print(f"{framing:>6}: {accuracy:.2%} of {len(pairs)}; recall {recall}")


if __name__ == "__main__":
    main()
