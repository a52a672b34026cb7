"""Stage 2's model and data: the head on top of the backbone, the last layers unfrozen, images
augmented on the fly (trained by `fit_stage` at a low learning rate). Also the from-scratch path,
where nothing is frozen."""

from __future__ import annotations

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
