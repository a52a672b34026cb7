"""Class weights for imbalanced data: the weights themselves, and a 40:1 dataset trained both ways."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgecls.core.errors import EdgeclsError
from edgecls.trainer.class_weights import class_weights


def test_balanced_weights_make_every_class_count_the_same():
    labels = np.array([0] * 400 + [1] * 10 + [2] * 100)
    weights = class_weights(labels, ["common", "rare", "middle"], "balanced")
    assert weights == pytest.approx({0: 510 / (3 * 400), 1: 510 / (3 * 10), 2: 510 / (3 * 100)})
    counts = np.bincount(labels)
    totals = [counts[index] * weight for index, weight in weights.items()]
    assert totals == pytest.approx([totals[0]] * 3)  # each class adds the same to the loss


def test_auto_weighs_only_a_dataset_that_is_imbalanced_and_says_so(caplog):
    classes = ["a", "b"]
    with caplog.at_level(logging.INFO, logger="edgecls.trainer.class_weights"):
        assert class_weights(np.array([0] * 29 + [1] * 10), classes, "auto") is None  # 2.9:1
        assert caplog.records == []
        weights = class_weights(np.array([0] * 400 + [1] * 10), classes, "auto")
    # tempered: the square root of the balanced weights' 40:1, and an average image still weighs 1
    assert weights is not None and weights[1] / weights[0] == pytest.approx(math.sqrt(40.0))
    assert 400 * weights[0] + 10 * weights[1] == pytest.approx(410)
    (record,) = caplog.records
    assert "a has 400 training images, b 10: 40 to 1" in record.getMessage()
    assert "square root of the balanced weights" in record.getMessage()
    assert class_weights(np.array([0] * 400 + [1] * 10), classes, "none") is None


def test_an_unknown_choice_names_the_parameter():
    with pytest.raises(EdgeclsError, match=r"`class_weight` must be one of auto, balanced, none; received 'heavy'"):
        class_weights(np.array([0, 1]), ["a", "b"], "heavy")


def grey_squares(root: Path, counts: dict[str, int], levels: dict[str, float], seed: int) -> Path:
    """A grey square on a dark noisy background; the classes differ only in the square's mean level,
    and their levels overlap, so a classifier that follows the class frequencies misses the rare one."""
    rng = np.random.default_rng(seed)
    for name, count in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for index in range(count):
            image = rng.integers(0, 40, (32, 32, 3)).astype(np.uint8)
            level = int(np.clip(rng.normal(levels[name], 18), 0, 255))
            image[6:26, 6:26] = level
            cv2.imwrite(str(root / name / f"{index:03d}.png"), image)
    return root


@pytest.mark.slow
def test_a_rare_class_is_found_more_often_with_weights(tmp_path):
    """40:1: unweighted, the rare class is never found; full (balanced) weights find it far more often,
    and the tempered default in between (never below unweighted)."""
    levels = {"dim": 110.0, "bright": 140.0}
    data = grey_squares(tmp_path / "train", {"dim": 400, "bright": 10}, levels, seed=0)
    val = grey_squares(tmp_path / "val", {"dim": 60, "bright": 60}, levels, seed=1)
    from edgecls.trainer.config import TrainConfig
    from edgecls.trainer.run import train

    recall = {}
    for choice in ("auto", "balanced", "none"):
        config = TrainConfig(
            data=data,
            val_data=val,
            backbone="compactcnn",
            weights="none",
            image_size=32,
            mode="finetune",
            epochs=8,
            fine_tune_epochs=8,
            patience=16,
            batch_size=32,
            learning_rate=3e-3,
            lr_schedule="cosine",
            augment=False,
            head_units=(32,),
            dropout=0.0,
            class_weight=choice,
            out=tmp_path / f"run-{choice}",
        )
        result = train(config)
        metrics = json.loads((tmp_path / f"run-{choice}" / "metrics.json").read_text())
        recall[choice] = metrics["stages"]["scratch"]["per_class"]["bright"]["recall"]
        assert metrics == result.metrics
    auto = json.loads((tmp_path / "run-auto" / "metrics.json").read_text())
    scale = 410 / (400 * math.sqrt(0.5125) + 10 * math.sqrt(20.5))
    assert auto["class_weights"] == pytest.approx({"bright": math.sqrt(20.5) * scale, "dim": math.sqrt(0.5125) * scale}, abs=1e-4)
    assert json.loads((tmp_path / "run-none" / "metrics.json").read_text())["class_weights"] is None
    assert recall["balanced"] >= recall["none"] + 0.2, recall
    assert recall["auto"] >= recall["none"], recall
