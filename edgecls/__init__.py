"""edgecls: transfer-learning image classifiers exported to one self-describing ONNX file."""

__version__ = "0.1.0"
