"""Class weights on a small, imbalanced set we did not make: `edgecls train` with its defaults
(`--class-weight auto`) against `--class-weight none`, over several seeds.

    python benchmarks/class_weight_seeds.py [--seeds 1 2 3 4 5] [--rare-every 20] [--json OUT]

The data is scikit-learn's bundled handwritten digits (8x8 scans, upscaled to 32 px): three classes
that are easy to confuse (3, 5 and 8); two keep 120 training images each, the third one image in
`--rare-every` (6 at 20:1). Each model is scored on held-out digits of the three classes, 50 each:
accuracy over them (every class alike), the rare class's recall, and accuracy weighted by the
training proportions (as a held-out set drawn like the training set would be).
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path

import cv2
import numpy as np

DIGITS = (3, 5, 8)
COMMON = 120
HELD_OUT = 50


def write_sets(root: Path, rare_every: int) -> tuple[Path, Path, dict[str, int]]:
    """train/ and held-out/ class folders of PNGs; the training counts per class."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    counts = {}
    for position, digit in enumerate(DIGITS):
        images = digits.images[digits.target == digit]
        count = COMMON if position < 2 else max(1, round(COMMON / rare_every))
        name = f"digit{digit}"
        counts[name] = count
        for split, chosen in (("train", images[:count]), ("held-out", images[-HELD_OUT:])):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for index, image in enumerate(chosen):
                pixels = cv2.resize((image * 255 / 16).astype(np.uint8), (32, 32), interpolation=cv2.INTER_CUBIC)
                cv2.imwrite(str(folder / f"{index:03d}.png"), cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR))
    return root / "train", root / "held-out", counts


def score(run_dir: Path, held_out: Path, counts: dict[str, int]) -> dict:
    from edgecls.runtime.folders import labelled_files
    from edgecls.runtime.images import load_and_resize
    from edgecls.trainer.saving import load_keras_model

    model = load_keras_model(run_dir / "model.keras")
    classes = json.loads((run_dir / "split.json").read_text())["classes"]
    pairs = list(labelled_files(held_out, classes))
    images = np.stack([load_and_resize(path, (32, 32)) for path, _ in pairs])
    predicted = model.predict(images, verbose=0).argmax(axis=1)
    truth = np.array([classes.index(name) for _, name in pairs])
    recall = {name: float((predicted[truth == i] == i).mean()) for i, name in enumerate(classes)}
    total = sum(counts.values())
    return {
        "accuracy": float((predicted == truth).mean()),
        "rare_recall": recall[min(counts, key=counts.get)],  # type: ignore[arg-type]
        "accuracy_training_mix": sum(recall[name] * counts[name] / total for name in classes),
        "recall": recall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--rare-every", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from edgecls.console import import_tensorflow_quietly

    import_tensorflow_quietly()
    from edgecls.trainer.config import TrainConfig
    from edgecls.trainer.run import train

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        data, held_out, counts = write_sets(Path(folder), args.rare_every)
        print(f"training images per class: {counts}; held out: {HELD_OUT} each")
        for seed in args.seeds:
            for choice in ("auto", "none"):
                run_dir = Path(folder) / f"run-{seed}-{choice}"
                config = TrainConfig(
                    data=data, seed=seed, backbone="compactcnn", weights="none", image_size=32, flip=False,
                    class_weight=choice, out=run_dir,
                )  # fmt: skip
                train(config)
                figures = score(run_dir, held_out, counts)
                epochs = len((run_dir / "history.csv").read_text().splitlines()) - 1
                weights = json.loads((run_dir / "metrics.json").read_text())["class_weights"]
                rows.append({"seed": seed, "class_weight": choice, "weights": weights, "epochs": epochs, **figures})
                print(
                    f"seed {seed} {choice:>4}: held-out {figures['accuracy']:.2%}, rare class recall "
                    f"{figures['rare_recall']:.2%}, training mix {figures['accuracy_training_mix']:.2%}",
                    flush=True,
                )
    for choice in ("auto", "none"):
        chosen = [row for row in rows if row["class_weight"] == choice]
        values = np.array([row["accuracy"] for row in chosen])
        rare = np.array([row["rare_recall"] for row in chosen])
        print(
            f"{choice:>4}: held-out mean {values.mean():.2%} (min {values.min():.2%}, max {values.max():.2%}); "
            f"rare recall mean {rare.mean():.2%} (min {rare.min():.2%})"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
