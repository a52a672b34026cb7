"""The Keras side of `edgecls bench --keras`: the same timing as the ONNX models, on a compiled
(tf.function) forward pass, so the ONNX speed-up is a ratio measured in one run."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from edgecls.runtime.bench import BenchSettings, latency_stats, time_calls


def bench_keras(source: str, settings: BenchSettings) -> list[dict]:
    """One record per batch size for a model.keras (or a run directory holding one)."""
    import tensorflow as tf

    from edgecls.core.errors import EdgeclsError
    from edgecls.trainer.saving import load_keras_model

    path = Path(source)
    model_path = path / "model.keras" if path.is_dir() else path
    if path.is_dir() and not model_path.is_file():
        raise EdgeclsError(f"`keras` {source}: no model.keras there. Pass a run directory or a .keras file.")
    if settings.threads:
        tf.config.threading.set_intra_op_parallelism_threads(settings.threads)
    started = time.perf_counter()
    model = load_keras_model(model_path)
    forward = tf.function(lambda images: model(images, training=False), reduce_retracing=True)
    _, height, width, _ = model.input.shape
    rng = np.random.default_rng(0)
    forward(tf.constant(rng.integers(0, 256, (1, height, width, 3), dtype=np.uint8))).numpy()
    cold_start_s = time.perf_counter() - started
    device = "gpu" if tf.config.list_logical_devices("GPU") else "cpu"
    records = []
    for batch in settings.batches:
        images = tf.constant(rng.integers(0, 256, (batch, height, width, 3), dtype=np.uint8))
        stats = latency_stats(time_calls(lambda images=images: forward(images).numpy(), settings), batch)
        records.append(
            {
                "model": str(model_path),
                "name": f"{model_path.parent.name}/{model_path.name}",
                "engine": "keras",
                "backbone": model.name.removeprefix("edgecls_"),
                "precision": "fp32",
                "provider": device,
                "batch": batch,
                "image_size": [height, width],
                "size_mb": round(model_path.stat().st_size / 2**20, 2),
                "cold_start_ms": round(cold_start_s * 1000, 1),
                "tensorflow": tf.__version__,
                "threads": settings.threads,
                **stats,
            }
        )
    return records
