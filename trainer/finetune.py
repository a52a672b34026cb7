"""Stage 2's model: the head on top of the backbone and the last layers unfrozen (trained by
`fit_stage` at a low learning rate, on the batches of `pipelines`). Also the from-scratch path,
where nothing is frozen."""

from __future__ import annotations

from edgecls.core.errors import EdgeclsError


def assemble_model(name: str, backbone, head, image_size: int, pretrained: bool):
    """uint8 RGB image -> preprocessing -> backbone -> head -> probabilities, as one Keras model.

    Returns the model and the feature extractor (the same layers, ending at the backbone's output).

    A pretrained backbone is called with training=False so its BatchNorm layers stay in inference
    mode even when unfrozen (fine-tuning would otherwise wreck their statistics).
    """
    import keras

    from .backbones import preprocessing_layer

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
