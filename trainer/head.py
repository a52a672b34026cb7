"""Stage 1's model: a small dense head over cached bottleneck features (trained by `fit_stage`)."""

from __future__ import annotations


def build_head(feature_dim: int, num_classes: int, units: tuple[int, ...], dropout: float, seed: int):
    """Dense (+ dropout) layers and a softmax, as a Keras model over feature vectors."""
    import keras

    inputs = keras.Input((feature_dim,), name="features")
    x = inputs
    for index, width in enumerate(units):
        x = keras.layers.Dense(width, activation="relu", name=f"head_dense_{index}")(x)
        x = keras.layers.Dropout(dropout, seed=seed + index, name=f"head_dropout_{index}")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="head")
