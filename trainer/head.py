"""Stage 1: a small dense head trained on cached bottleneck features."""

from __future__ import annotations

import numpy as np


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


def train_head(
    head,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    epochs: int,
    batch_size: int,
    learning_rate: float,
    patience: int,
    lr_schedule: str = "plateau",
):
    """Train `head` on (features, labels) with early stopping on validation loss.

    The best weights (lowest validation loss) are restored at the end, also after Ctrl-C or a NaN
    loss. Returns the EpochLog (rows for history.csv, `interrupted`, `nan`).
    """
    import keras

    from edgecls.trainer.callbacks import BestWeights, EpochLog, learning_rate_schedule

    head.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    stopping = BestWeights(patience)
    log = EpochLog("bottleneck", epochs)
    try:
        head.fit(
            train[0],
            train[1],
            validation_data=val,
            epochs=epochs,
            batch_size=batch_size,
            shuffle=True,
            verbose=0,
            callbacks=[log, stopping, learning_rate_schedule(lr_schedule, patience, learning_rate, epochs)],
        )
    except KeyboardInterrupt:
        log.interrupted = True
    stopping.restore_best()
    log.best_epoch = stopping.best_epoch
    return log
