"""The Keras side of `edgecls bench --keras`: the same timing as the ONNX models, on a compiled
(tf.function) forward pass, so the ONNX speed-up is a ratio measured in one run."""

from __future__ import annotations

from pathlib import Path

from edgecls.core.errors import EdgeclsError
from edgecls.runtime.bench import BenchRecord, BenchSettings, Timed, measure


def bench_keras(source: str, settings: BenchSettings) -> list[BenchRecord]:
    """One record per batch size for a model.keras (or a run directory holding one)."""
    import tensorflow as tf

    from .saving import load_keras_model

    path = Path(source)
    model_path = path / "model.keras" if path.is_dir() else path
    if path.is_dir() and not model_path.is_file():
        raise EdgeclsError(f"`keras` {source}: no model.keras there. Pass a run directory or a .keras file.")
    if settings.threads:
        tf.config.threading.set_intra_op_parallelism_threads(settings.threads)

    def load() -> Timed:
        model = load_keras_model(model_path)
        forward = tf.function(lambda images: model(images, training=False), reduce_retracing=True)
        _, height, width, _ = model.input.shape
        fields = {
            "model": str(model_path),
            "name": f"{model_path.parent.name}/{model_path.name}",
            "engine": "keras",
            "backbone": model.name.removeprefix("edgecls_"),
            "precision": "fp32",
            "provider": "gpu" if tf.config.list_logical_devices("GPU") else "cpu",
            "size_mb": round(model_path.stat().st_size / 2**20, 2),
            "tensorflow": tf.__version__,
            "threads": settings.threads,
        }
        return Timed(lambda images: forward(images).numpy(), (height, width), fields, prepare=tf.constant)

    return measure(load, settings)
