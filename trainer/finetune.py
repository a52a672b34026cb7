"""Stage 2: the head on top of the backbone, the last layers unfrozen, trained on images at a low
learning rate with augmentation. Also the from-scratch path, where nothing is frozen."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgecls.core.errors import EdgeclsError


def assemble_model(name: str, backbone, head, image_size: int, pretrained: bool):
    """uint8 RGB image -> preprocessing -> backbone -> head -> probabilities, as one Keras model.

    Returns the model and the feature extractor (the same layers, ending at the backbone's output).

    A pretrained backbone is called with training=False so its BatchNorm layers stay in inference
    mode even when unfrozen (fine-tuning would otherwise wreck their statistics).
    """
    import keras

    from edgecls.trainer.backbones import preprocessing_layer

    inputs = keras.Input((image_size, image_size, 3), dtype="uint8", name="image")
    features = backbone(preprocessing_layer(name)(inputs), training=False if pretrained else None)
    model = keras.Model(inputs, head(features), name=f"edgecls_{name}")
    return model, keras.Model(inputs, features, name=f"{name}_features")


def unfreeze_last_layers(backbone, fine_tune_layers: str) -> int:
    """Make the last N layers of `backbone` trainable ("all": every layer); returns how many are."""
    layers = backbone.layers
    if fine_tune_layers == "all":
        count = len(layers)
    else:
        try:
            count = int(fine_tune_layers)
        except ValueError:
            raise EdgeclsError(
                f"`fine_tune_layers` must be a number or 'all'; received {fine_tune_layers!r}."
            ) from None
        if count < 0:
            raise EdgeclsError(f"`fine_tune_layers` must not be negative; received {count}.")
    backbone.trainable = True
    for index, layer in enumerate(layers):
        layer.trainable = index >= len(layers) - count
    return min(count, len(layers))


def augmentation(seed: int, flip: bool = True):
    """Flips (unless `flip` is False), shifts, rotation, zoom and brightness, on float images in [0, 255].
    Nothing here changes hue: a colour that defines a class stays that colour."""
    import keras

    return keras.Sequential(
        [keras.layers.RandomFlip("horizontal", seed=seed)] * flip
        + [
            keras.layers.RandomTranslation(0.1, 0.1, fill_mode="reflect", seed=seed + 1),
            keras.layers.RandomRotation(0.04, fill_mode="reflect", seed=seed + 2),
            keras.layers.RandomZoom(0.1, fill_mode="reflect", seed=seed + 3),
            keras.layers.RandomBrightness(0.15, value_range=(0, 255), seed=seed + 4),
        ],
        name="augmentation",
    )


def image_batches(images: np.ndarray, labels: np.ndarray, batch_size: int, augment: bool, seed: int, flip: bool = True):
    """A shuffled tf.data pipeline of uint8 batches, augmented on the fly (the model still sees uint8)."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    if augment:
        layers = augmentation(seed, flip)

        def augment_batch(batch, batch_labels):
            changed = layers(tf.cast(batch, tf.float32), training=True)
            return tf.cast(tf.clip_by_value(tf.round(changed), 0, 255), tf.uint8), batch_labels

        dataset = dataset.map(augment_batch, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def fine_tune(
    model,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    optimizer,
    settings: dict,
    on_improvement: Callable,
):
    """Train the whole `model` on images with early stopping on validation loss.

    `settings` holds epochs, batch_size, patience, augment, flip, lr_schedule, seed and stage (the log's name).
    `on_improvement(model)` is called at every new best (the run writes its checkpoint there).
    The best weights are restored at the end, also after Ctrl-C or a NaN loss.
    Returns the EpochLog.
    """
    from edgecls.trainer.callbacks import BestWeights, EpochLog, learning_rate_schedule

    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    stopping = BestWeights(settings["patience"], on_improvement=on_improvement)
    log = EpochLog(settings["stage"], settings["epochs"])
    batches = image_batches(
        train[0], train[1], settings["batch_size"], settings["augment"], settings["seed"], settings["flip"]
    )
    schedule = learning_rate_schedule(
        settings["lr_schedule"], settings["patience"], float(optimizer.learning_rate), settings["epochs"]
    )
    try:
        model.fit(
            batches,
            validation_data=val,
            validation_batch_size=settings["batch_size"],
            epochs=settings["epochs"],
            verbose=0,
            shuffle=False,  # the pipeline shuffles
            callbacks=[log, stopping, schedule],
        )
    except KeyboardInterrupt:
        log.interrupted = True
    stopping.restore_best()
    log.best_epoch = stopping.best_epoch
    return log
