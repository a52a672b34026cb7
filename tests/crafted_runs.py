"""A run directory around a hand-weighted Keras model whose INT8 behaviour is known in advance.

The model reads the mean red of a flat-coloured image and answers `dark` below 0.51, `bright` above
0.56 and `middle` in between: a narrow band. A hidden channel fires only on a pure green pixel, at
25.5. One calibration image has such a pixel, so MinMax calibration stretches the first layers' range
to [0, 25.5]: one uint8 step is then 0.1 of red, the middle images' red 0.533 becomes 0.5, and every
`middle` image reads `dark` while the other two classes stay right. Percentile calibration leaves
that single pixel out of the range, and INT8 agrees with Keras again.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

CLASSES = ["bright", "dark", "middle"]
RED = {"dark": 51, "bright": 204, "middle": 136}  # mean red 0.2, 0.8 and 0.533
SIZE = 32


def band_model():
    import keras

    inputs = keras.Input((SIZE, SIZE, 3), dtype="uint8", name="image")
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(2, 1, activation="relu", name="channels")(x)  # red, and the green detector
    x = keras.layers.Conv2D(1, 1, name="sum")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="probabilities")(x)
    model = keras.Model(inputs, outputs)
    gain = 2550.0  # a pure green pixel: relu(2550 * 1 - 2524.5) = 25.5
    model.get_layer("channels").set_weights(
        [np.array([[[[1, 0], [0, gain], [0, 0]]]], np.float32), np.array([0, -0.99 * gain], np.float32)]
    )
    model.get_layer("sum").set_weights([np.ones((1, 1, 2, 1), np.float32), np.zeros(1, np.float32)])
    # logits over m, the mean red: bright 200 (m - 0.56), dark -200 (m - 0.51), middle 0
    model.get_layer("probabilities").set_weights(
        [np.array([[200.0, -200.0, 0.0]], np.float32), np.array([-112.0, 102.0, 0.0], np.float32)]
    )
    return model


def _image(name: str, outlier: bool = False) -> np.ndarray:
    image = np.zeros((SIZE, SIZE, 3), np.uint8)  # BGR for OpenCV
    image[..., 2] = RED[name]
    if outlier:
        image[0, 0] = (0, 255, 0)
    return image


def _folder(root: Path, counts: dict[str, int], outlier: bool = False) -> list[list]:
    items = []
    for name, count in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for index in range(count):
            path = root / name / f"{index:03d}.png"
            cv2.imwrite(str(path), _image(name, outlier and name == "dark" and index == 0))
            items.append([str(path), CLASSES.index(name)])
    return items


def band_run(root: Path) -> Path:
    """A run directory (model.keras, config.json, split.json) for `band_model`, its training split
    200 calibration images (one with the green pixel), its validation split 200 dark, 200 bright and 6
    middle images: INT8 by MinMax loses every middle image, 1.5% of the images, which the overall gate
    (98%) lets through and the per-class gate does not."""
    run = root / "run"
    run.mkdir(parents=True)
    band_model().save(run / "model.keras")
    train = _folder(root / "calibration", {"dark": 67, "bright": 67, "middle": 66}, outlier=True)
    val = _folder(root / "check", {"dark": 200, "bright": 200, "middle": 6})
    config = {"backbone": "compactcnn", "image_size": SIZE, "seed": 0}
    (run / "config.json").write_text(json.dumps(config))
    (run / "split.json").write_text(json.dumps({"classes": CLASSES, "train": train, "val": val, "skipped": []}))
    return run
