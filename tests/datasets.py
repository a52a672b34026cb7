"""Small generated image folders for trainer and exporter tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

COLORS_RGB = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}


def color_squares(
    root: Path,
    per_class: int = 24,
    size: int = 40,
    seed: int = 0,
    names: tuple[str, ...] | None = None,
    background: tuple[int, int] = (0, 90),
    paint=None,
    suffix: str = ".png",
) -> Path:
    """Class folders (red/green/blue, or `names`; a name without a colour is purple): a coloured
    square at a random place on a noisy background of grey levels in `background`. `paint(rgb, rng)`
    gives the square's colour (default: the class colour with a random jitter)."""
    rng = np.random.default_rng(seed)
    paint = paint or (lambda rgb, rng: np.array(rgb) + rng.integers(-20, 20, 3))
    for name in names or tuple(COLORS_RGB):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            image = rng.integers(*background, (size, size, 3)).astype(np.uint8)
            side = int(rng.integers(size // 2, size - 4))
            top, left = rng.integers(0, size - side, 2)
            image[top : top + side, left : left + side] = np.clip(paint(COLORS_RGB.get(name, (150, 40, 200)), rng), 0, 255)
            cv2.imwrite(str(folder / f"{index:03d}{suffix}"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return root


def tiny_scratch_config(data: Path, out: Path):
    """A TrainConfig that trains MobileNetV3Small from scratch at 32 px in seconds (for tests)."""
    from edgecls.trainer.config import TrainConfig

    return TrainConfig(
        data=str(data),
        backbone="mobilenetv3small",
        weights="none",
        image_size=32,
        epochs=12,
        fine_tune_epochs=1,
        batch_size=8,
        patience=4,
        augment=False,
        head_units=(32,),
        dropout=0.1,
        out=str(out),
    )


def tiny_weights_file(path: Path) -> Path:
    """A local 'pretrained' weights file for MobileNetV3Small at 32 px (random init, saved), standing
    in for ImageNet weights."""
    from edgecls.console import import_tensorflow_quietly

    import_tensorflow_quietly()
    import keras

    keras.utils.set_random_seed(0)
    backbone = keras.applications.MobileNetV3Small(
        include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg", include_preprocessing=True
    )
    backbone.save_weights(path)
    return path
