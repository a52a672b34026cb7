"""Dataset scan, pre-scan and split: a folder of class subfolders into train/val image sources.

The pre-scan decodes every file once with the runtime's image loader (the same pixels the device
will see): unreadable files are listed with their reason and skipped, never modified, and nowhere
else. The decoded images are not kept in memory: they go to a file at model size that training
reads a batch at a time (or, without one, training decodes the files again), so memory does not
grow with the dataset.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecls.core.errors import DataError, ImageError
from edgecls.core.progress import track
from edgecls.runtime.classify import bounded_map
from edgecls.runtime.folders import list_class_folders
from edgecls.runtime.images import decode_image, read_image_file, resize_image

from .image_source import DecodedFileWriter, ImageFiles, ImageSource

logger = logging.getLogger(__name__)

FEW_IMAGES_WARNING = 10


@dataclass
class Split:
    """One split's images (read on demand, at model size) with their paths, labels and content hashes."""

    paths: list[str]
    labels: np.ndarray  # int64 [N]
    images: ImageSource  # source[indices] -> uint8 [n, H, W, 3]
    hashes: list[str]

    def __len__(self) -> int:
        return len(self.paths)


@dataclass
class Dataset:
    classes: list[str]
    train: Split
    val: Split
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    warnings: list[str] = field(default_factory=list)


def _decode(item: tuple[Path, int], size: tuple[int, int], max_pixels: int):
    path, label = item
    try:
        data = read_image_file(path)  # read once: decoded here and hashed for the cache and duplicates
        image = resize_image(decode_image(data, name=str(path), max_pixels=max_pixels), size)
    except ImageError as error:
        return path, label, None, None, str(error).removeprefix(f"{path}: ")
    return path, label, image, hashlib.sha1(data.data).hexdigest(), None


def decode_files(
    items: list[tuple[Path, int]], size: tuple[int, int], max_pixels: int, label: str, decoded: Path | None = None
) -> tuple[Split, list[tuple[str, str]]]:
    """Decode and resize every (path, label) once; returns the good ones as a Split and the skipped ones.

    The good images are written to the file `decoded` (read back a batch at a time), or, when it is
    None, left to be decoded again from their files; either way none is kept in memory.
    """
    paths, labels, hashes, skipped = [], [], [], []
    writer = DecodedFileWriter(decoded, size) if decoded is not None else None
    workers = min(4, os.cpu_count() or 1)
    with track(len(items), label) as progress:
        for path, class_index, image, digest, error in bounded_map(
            lambda item: _decode(item, size, max_pixels), items, workers, window=64
        ):
            progress.update()
            if error is not None:
                skipped.append((str(path), error))
                continue
            paths.append(str(path))
            labels.append(class_index)
            hashes.append(digest)
            if writer is not None:
                writer.append(image)
    images = writer.finish() if writer is not None else ImageFiles(paths, size, max_pixels)
    return Split(paths, np.array(labels, dtype=np.int64), images, hashes), skipped


def stratified_split(labels: list[int], val_split: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices for train and validation: `val_split` of each class (at least one where a class has two)."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    by_class: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        by_class.setdefault(label, []).append(index)
    for label in sorted(by_class):
        indices = by_class[label]
        rng.shuffle(indices)
        count = int(round(len(indices) * val_split))
        count = min(max(count, 1), len(indices) - 1) if len(indices) >= 2 else 0
        val += indices[:count]
        train += indices[count:]
    return sorted(train), sorted(val)


def load_dataset(
    data: str | os.PathLike[str],
    val_data: str | os.PathLike[str] | None,
    val_split: float,
    seed: int,
    size: tuple[int, int],
    max_pixels: int,
    decoded_dir: Path | None = None,
    classes: list[str] | None = None,
) -> Dataset:
    """Scan, decode and split the data folder(s). The decoded images go to files in `decoded_dir`
    (None: decoded again from the files whenever they are read). `classes`: the labels, in order, of
    a run being refined (`train --from`): the folders must be among them, and a class without a
    folder or an image is a warning, not an error.

    Raises:
        DataError: a folder is missing, has no classes, a class has no readable image, or the
            validation folder's classes differ from the training folder's.
    """
    if not 0.0 < val_split < 1.0 and val_data is None:
        raise DataError(f"`val_split` must be between 0 and 1 (exclusive); received {val_split}.")
    left_out: list[tuple[str, str]] = []
    train_files = list_class_folders(Path(data), left_out=left_out)
    fixed = classes is not None
    if classes is not None:
        unknown = [name for name in train_files if name not in classes]
        if unknown:
            raise DataError(
                f"`data` {data}: class folder(s) {', '.join(unknown)} are not among the run's classes "
                f"({', '.join(classes)}); a refined model keeps its labels. Move those images into the right "
                "class folders, or train a new model for new classes."
            )
        train_files = {name: train_files.get(name, []) for name in classes}
    classes = list(train_files)
    if len(classes) < 2:
        raise DataError(
            f"`data` {data}: one class subfolder ({classes[0]}); a classifier needs two or more, one folder per "
            "class (for 'is it X or not', add a folder of images that are not X)."
        )
    items = [(path, index) for index, name in enumerate(classes) for path in train_files[name]]

    def decoded(name: str) -> Path | None:
        return Path(decoded_dir) / f"{name}-{size[0]}x{size[1]}.rgb" if decoded_dir is not None else None

    everything, skipped = decode_files(items, size, max_pixels, "pre-scan", decoded("data"))
    warnings = _label_conflicts(everything, classes)
    if val_data is not None:
        val_files = list_class_folders(Path(val_data), role="`val_data`", left_out=left_out)
        if list(val_files) != classes:
            raise DataError(
                f"`val_data` {val_data}: classes {list(val_files)} differ from `data`'s {classes}. "
                "Both folders need the same class subfolders."
            )
        val_items = [(path, index) for index, name in enumerate(classes) for path in val_files[name]]
        val, val_skipped = decode_files(val_items, size, max_pixels, "pre-scan (validation)", decoded("val_data"))
        skipped += val_skipped
        warnings += _label_conflicts(val, classes)
        train = everything
    else:
        train_index, val_index = stratified_split(everything.labels.tolist(), val_split, seed)
        train, val = (_take(everything, train_index), _take(everything, val_index))

    warnings += _check_split(train, val, classes, len(skipped), every_class=not fixed)
    return Dataset(classes, train, val, skipped + left_out, warnings)


def _check_split(train: Split, val: Split, classes: list[str], skipped: int, every_class: bool = True) -> list[str]:
    """What the split lacks: a class without a readable training image or no validation image at all
    (errors), and small classes, classes without a validation image and files in both (warnings).
    Without `every_class` (a run refined on new images), a class without images is a warning.

    Raises:
        DataError: a class has no readable training image, or there is no validation image.
    """
    warnings: list[str] = []
    counts = Counter(train.labels.tolist())
    unreadable = [name for index, name in enumerate(classes) if counts[index] == 0]
    if unreadable and not every_class:
        warnings.append(
            f"no new training images of {', '.join(unreadable)}: the refined model learns nothing new of them "
            "(and may lose some of what it knew); add a few if you have them"
        )
    elif unreadable:
        raise DataError(
            f"class(es) {', '.join(unreadable)} have no readable training image "
            f"({skipped} file(s) skipped, listed above). Add readable images."
        )
    few = [
        f"{name} ({counts[index]})"
        for index, name in enumerate(classes)
        if counts[index] < FEW_IMAGES_WARNING and name not in unreadable
    ]
    if few:
        warnings.append(f"few training images in: {', '.join(few)}; expect a weak model for those classes")
    if len(val) == 0:
        raise DataError("no validation images: add images, raise `val_split`, or pass `val_data`.")
    held = Counter(val.labels.tolist())
    unseen = [name for index, name in enumerate(classes) if held[index] == 0 and name not in unreadable]
    if unseen:
        warnings.append(
            f"no validation image of {', '.join(unseen)} (a class needs two images or more to have one held out): "
            "its accuracy is not measured, and export cannot check it. Add images of it, or pass `val_data`."
        )
    shared = set(train.hashes) & set(val.hashes)
    if shared:
        examples = [path for path, digest in zip(val.paths, val.hashes, strict=True) if digest in shared][:5]
        warnings.append(
            f"{len(shared)} byte-identical file(s) are in both training and validation, which inflates "
            f"validation accuracy; e.g. {', '.join(examples)}"
        )
    return warnings


def _label_conflicts(split: Split, classes: list[str]) -> list[str]:
    """A warning for files of the same content in two classes: one of them is mislabelled."""
    first: dict[str, tuple[str, int]] = {}
    conflicts = []
    for path, label, digest in zip(split.paths, split.labels.tolist(), split.hashes, strict=True):
        seen = first.setdefault(digest, (path, label))
        if seen[1] != label:
            conflicts.append(f"{seen[0]} ({classes[seen[1]]}) = {path} ({classes[label]})")
    if not conflicts:
        return []
    return [
        f"{len(conflicts)} label conflict(s): the same picture in two classes, e.g. {'; '.join(conflicts[:3])}. "
        "Keep each picture in the one class it shows."
    ]


def _take(split: Split, indices: list[int]) -> Split:
    return Split(
        [split.paths[index] for index in indices],
        split.labels[indices],
        split.images.subset(indices),
        [split.hashes[index] for index in indices],
    )


def report_scan(dataset: Dataset) -> None:
    """Print what the pre-scan skipped and warned about, once."""
    if dataset.skipped:
        logger.warning(f"skipped {len(dataset.skipped)} file(s) that are not readable images (left unchanged):")
        for path, reason in dataset.skipped:
            logger.info(f"  {path}: {reason}")
    for message in dataset.warnings:
        logger.warning(message)
