"""What the scripts that measure one model share: their command line and opening the model."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgecls.runtime import Classifier, load_classifier
from edgecls.runtime.images import quiet_opencv_logs


def model_arguments(doc: str | None, **numbers: int) -> argparse.Namespace:
    """`MODEL.onnx` and one integer option per keyword (`per_class=100` -> --per-class, default 100)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    for name, default in numbers.items():
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=default)
    return parser.parse_args()


def open_model(path: Path) -> Classifier:
    """The model on the CPU, with OpenCV's own warnings off the terminal."""
    quiet_opencv_logs()
    return load_classifier(path, "cpu")
