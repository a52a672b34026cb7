"""The edge runtime: model contract, providers, image decoding, classification, streams, timing.

It imports numpy, OpenCV, onnxruntime and the standard library only, never TensorFlow, so it is
all a device needs. Importing it does no work.
"""

from .classify import FileResult, classify_files
from .contract import ModelInfo, build_metadata, read_contract
from .folders import collect_inputs
from .images import load_and_resize, load_image, resize_image
from .model import Classifier, load_classifier
from .providers import Provider, create_session

__all__ = [
    "Classifier",
    "FileResult",
    "ModelInfo",
    "Provider",
    "build_metadata",
    "classify_files",
    "collect_inputs",
    "create_session",
    "load_and_resize",
    "load_classifier",
    "load_image",
    "read_contract",
    "resize_image",
]
