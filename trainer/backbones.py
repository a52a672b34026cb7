"""Backbones: Keras applications as feature extractors that take uint8 RGB and carry their own
preprocessing, built from stock Keras layers only (no Lambda), so `model.keras` loads in safe mode.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from edgecls.core.errors import DataError, EdgeclsError

# ImageNet channel means in RGB order, for the "caffe" preprocessing of VGG and ResNet.
CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)


@dataclass(frozen=True)
class BackboneSpec:
    application: str  # the name in keras.applications
    native_size: int
    min_size: int
    preprocessing: str  # "caffe": BGR minus mean; "tf": scale to [-1, 1]; "builtin": inside the model
    default_fine_tune_layers: int  # layers from the end unfrozen by default: the last block
    imagenet: bool = True  # whether ImageNet weights exist for it


BACKBONES: dict[str, BackboneSpec] = {
    "vgg16": BackboneSpec("VGG16", 224, 32, "caffe", 4),
    "vgg19": BackboneSpec("VGG19", 224, 32, "caffe", 5),
    "resnet50": BackboneSpec("ResNet50", 224, 32, "caffe", 33),
    "inceptionv3": BackboneSpec("InceptionV3", 299, 75, "tf", 32),
    "xception": BackboneSpec("Xception", 299, 71, "tf", 16),
    "mobilenetv2": BackboneSpec("MobileNetV2", 224, 32, "tf", 9),
    "mobilenetv3small": BackboneSpec("MobileNetV3Small", 224, 32, "builtin", 16),
    "mobilenetv3large": BackboneSpec("MobileNetV3Large", 224, 32, "builtin", 16),
    "efficientnetv2b0": BackboneSpec("EfficientNetV2B0", 224, 32, "builtin", 14),
    # Ours, for training from scratch on a CPU: no ImageNet weights exist for it.
    "compactcnn": BackboneSpec("CompactCNN", 64, 32, "tf", 7, imagenet=False),
}


def get_spec(name: str) -> BackboneSpec:
    if name not in BACKBONES:
        raise EdgeclsError(f"`backbone` must be one of {', '.join(BACKBONES)}; received {name!r}.")
    return BACKBONES[name]


def resolve_image_size(name: str, image_size: int | None) -> int:
    spec = get_spec(name)
    size = image_size or spec.native_size
    if size < spec.min_size:
        raise EdgeclsError(f"`image_size` {size} is too small for {name}: it needs at least {spec.min_size} pixels.")
    return size


def weights_identity(weights: str) -> str:
    """A string that changes whenever the weights do: 'imagenet', 'none', or a file's content hash."""
    if weights in ("imagenet", "none"):
        return weights
    import hashlib

    digest = hashlib.sha1(Path(weights).read_bytes()).hexdigest()[:16]
    return f"file-{digest}"


def check_weights_argument(weights: str, backbone: str | None = None) -> None:
    """Before any work: `weights` names something that can be loaded (into `backbone`, when given).

    Raises:
        DataError / EdgeclsError: a weights file that does not exist, or ImageNet weights for a backbone
            that has none.
    """
    if weights == "imagenet" and backbone is not None and not get_spec(backbone).imagenet:
        raise EdgeclsError(
            f"{backbone} has no ImageNet weights (it is for training from scratch): pass `weights` none, or "
            "`weights` PATH with a weights file saved from this backbone."
        )
    if weights not in ("imagenet", "none") and not Path(weights).is_file():
        raise DataError(
            "The `--weights` argument should be either `none` (random initialization), `imagenet` "
            f"(pre-training on ImageNet), or the path to a weights file to be loaded. Received `weights` {weights!r}, "
            "which is not a file."
        )


def build_backbone(name: str, weights: str, image_size: int, scratch_batchnorm_momentum: float = 0.9):
    """The Keras application without its top, global-average pooled, for (image_size, image_size, 3) input.

    Raises:
        EdgeclsError: ImageNet weights could not be downloaded (offline), or a weights file does not fit.
    """
    import keras

    spec = get_spec(name)
    check_weights_argument(weights, name)
    constructor = compact_cnn if spec.application == "CompactCNN" else getattr(keras.applications, spec.application)
    keyword = {"include_preprocessing": True} if spec.preprocessing == "builtin" else {}
    keras_weights = None if weights == "none" else weights
    try:
        with warnings.catch_warnings():
            # Keras warns that ImageNet weights are "for 224 px" at other sizes; the convolutions transfer.
            warnings.filterwarnings("ignore", message=".*Weights for input shape.*", category=UserWarning)
            model = constructor(
                include_top=False,
                weights=keras_weights,
                input_shape=(image_size, image_size, 3),
                pooling="avg",
                **keyword,
            )
    except Exception as error:  # Keras raises plain Exception for a failed download
        if weights == "imagenet":
            raise EdgeclsError(
                f"Could not get the ImageNet weights for {name} ({_first_line(error)}). This needs internet access "
                f"once (they are cached in ~/.keras/models). Offline, pass `weights` PATH with the Keras weights "
                f"file (no top) for {spec.application}, or `weights` none to train from scratch."
            ) from None
        if weights != "none":
            raise EdgeclsError(
                f"`weights` {weights}: could not load it into {spec.application} without its top "
                f"({_first_line(error)}). Pass the 'notop' weights file for this backbone."
            ) from None
        raise
    if spec.preprocessing == "caffe" and weights != "none":
        _flip_first_convolution_to_rgb(model)
    if weights == "none":
        # Training from scratch: the default BatchNorm momentum (0.99-0.999) needs thousands of steps
        # before the moving statistics match the data; a small dataset gives a few hundred.
        for layer in model.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = scratch_batchnorm_momentum
    return model


def compact_cnn(include_top: bool, weights, input_shape: tuple[int, int, int], pooling: str = "avg", width: int = 16):
    """A small VGG-style network for training from scratch on a CPU in minutes: four blocks of 3x3
    convolutions (batch norm, ReLU) and max pooling, `width` to 8 x `width` filters, then global
    average and global max pooling side by side (max pooling keeps a small bright thing, a lit lamp
    in a street scene, that averaging would wash out).

    Built from stock Keras layers only; takes the same arguments as a keras.applications constructor
    (without a top: `include_top` must be False and `pooling` "avg").
    """
    import keras

    if include_top or pooling != "avg":
        raise ValueError("compact_cnn is built without a top, pooled")
    inputs = keras.Input(input_shape, name="compact_input")
    x = inputs
    for block, (filters, convolutions) in enumerate(((width, 1), (2 * width, 2), (4 * width, 2), (8 * width, 2))):
        for index in range(convolutions):
            x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"block{block + 1}_conv{index + 1}")(
                x
            )
            x = keras.layers.BatchNormalization(name=f"block{block + 1}_bn{index + 1}")(x)
            x = keras.layers.ReLU(name=f"block{block + 1}_relu{index + 1}")(x)
        x = keras.layers.MaxPooling2D(name=f"block{block + 1}_pool")(x)
    pooled = keras.layers.Concatenate(name="avg_max_pool")(
        [keras.layers.GlobalAveragePooling2D(name="avg_pool")(x), keras.layers.GlobalMaxPooling2D(name="max_pool")(x)]
    )
    model = keras.Model(inputs, pooled, name="compactcnn")
    if weights is not None:
        model.load_weights(weights)
    return model


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__


def _flip_first_convolution_to_rgb(model) -> None:
    """Make a BGR-trained ("caffe") network take RGB by reversing its first convolution's input channels.

    conv(flip(x), W) == conv(x, flip(W)) exactly, padding included, so the model needs no channel
    swap in its graph, only the mean subtraction.
    """
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kernel, *rest = layer.get_weights()
            layer.set_weights([kernel[:, :, ::-1, :], *rest])
            return


def preprocessing_layer(name: str):
    """The stock Keras layer that turns uint8 RGB into what the backbone expects (casting to float)."""
    import keras

    mode = get_spec(name).preprocessing
    if mode == "caffe":
        return keras.layers.Normalization(mean=list(CAFFE_MEAN_RGB), variance=[1.0, 1.0, 1.0], name="preprocess")
    if mode == "tf":
        return keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess")
    return keras.layers.Rescaling(1.0, name="preprocess")  # a cast: the backbone rescales inside
