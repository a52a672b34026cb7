from __future__ import annotations

import hashlib
import shutil

import cv2
import numpy as np
import pytest

from edgecls.core.errors import DataError
from edgecls.trainer.data import list_class_folders, load_dataset, stratified_split

from datasets import color_squares


def test_missing_empty_and_classless_folders(tmp_path):
    with pytest.raises(DataError, match="folder not found"):
        list_class_folders(tmp_path / "nope")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.png").write_bytes(b"x")
    with pytest.raises(DataError, match="no class subfolders"):
        list_class_folders(tmp_path / "flat")
    color_squares(tmp_path / "data", per_class=2)
    (tmp_path / "data" / "purple").mkdir()
    with pytest.raises(DataError, match="purple hold no images"):
        list_class_folders(tmp_path / "data")
    color_squares(tmp_path / "one", per_class=4)
    for name in ("green", "blue"):
        shutil.rmtree(tmp_path / "one" / name)
    with pytest.raises(DataError, match=r"one class subfolder \(red\); a classifier needs two or more"):
        load_dataset(tmp_path / "one", None, 0.2, 0, (32, 32), 10**7)


def test_stratified_split_is_per_class_and_seeded():
    labels = [0] * 10 + [1] * 5 + [2] * 2
    train, val = stratified_split(labels, 0.2, seed=3)
    assert sorted(train + val) == list(range(17))
    assert [labels[i] for i in val].count(0) == 2
    assert [labels[i] for i in val].count(1) == 1
    assert [labels[i] for i in val].count(2) == 1
    assert stratified_split(labels, 0.2, seed=3) == (train, val)
    assert stratified_split(labels, 0.2, seed=4) != (train, val)


def test_prescan_skips_corrupt_files_without_touching_them(tmp_path, capsys):
    root = color_squares(tmp_path / "data", per_class=6)
    corrupt = {
        root / "red" / "truncated.png": (root / "red" / "000.png").read_bytes()[:40],
        root / "green" / "notes.jpg": b"not an image at all",
        root / "blue" / "empty.png": b"",
    }
    for path, data in corrupt.items():
        path.write_bytes(data)
    before = {path: hashlib.sha1(path.read_bytes()).hexdigest() for path in corrupt}
    shutil.copy(root / "red" / "001.png", root / "red" / "copy of 001.png")
    dataset = load_dataset(str(root), None, 0.5, 0, (32, 32), 10**8)
    assert dataset.classes == ["blue", "green", "red"]
    assert {path for path, _ in dataset.skipped} == {str(path) for path in corrupt}
    assert len(dataset.train) + len(dataset.val) == 19
    assert dataset.train.images.dtype == np.uint8 and dataset.train.images.shape[1:] == (32, 32, 3)
    assert all(hashlib.sha1(path.read_bytes()).hexdigest() == digest for path, digest in before.items())
    assert any("few training images" in message for message in dataset.warnings)


def test_duplicates_across_split_are_reported(tmp_path):
    root = color_squares(tmp_path / "data", per_class=4)
    for index in range(4):
        shutil.copy(root / "red" / "000.png", root / "red" / f"dup{index}.png")
    dataset = load_dataset(str(root), None, 0.5, 0, (32, 32), 10**8)
    assert any("byte-identical" in message for message in dataset.warnings)


def test_the_prescan_names_files_it_cannot_read_label_conflicts_and_unchecked_classes(tmp_path):
    """A HEIC photo and a file without a suffix are listed as skipped with why (they were left out in
    silence); the same picture in two classes is a label conflict; a class of one image has none held
    out, which is said, since the export gate cannot check it."""
    root = color_squares(tmp_path / "data", per_class=6)
    (root / "red" / "IMG_0001.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic")
    (root / "green" / "README").write_text("photos from the north camera")
    shutil.copy(root / "red" / "002.png", root / "green" / "red-or-green.png")
    (root / "purple").mkdir()
    cv2.imwrite(str(root / "purple" / "only.png"), np.full((40, 40, 3), (200, 0, 200), np.uint8))
    dataset = load_dataset(str(root), None, 0.3, 0, (32, 32), 10**8)
    reasons = dict(dataset.skipped)
    assert set(reasons) == {str(root / "red" / "IMG_0001.HEIC"), str(root / "green" / "README")}
    assert "a .heic file, not an image edgecls reads" in reasons[str(root / "red" / "IMG_0001.HEIC")]
    assert "a file without a suffix" in reasons[str(root / "green" / "README")]
    warnings = " | ".join(dataset.warnings)
    assert "1 label conflict(s)" in warnings and "red-or-green.png (green)" in warnings
    assert "no validation image of purple" in warnings


def test_validation_folder_must_have_the_same_classes(tmp_path):
    color_squares(tmp_path / "train", per_class=3)
    color_squares(tmp_path / "val", per_class=2)
    shutil.rmtree(tmp_path / "val" / "blue")
    with pytest.raises(DataError, match="differ from `data`"):
        load_dataset(str(tmp_path / "train"), str(tmp_path / "val"), 0.2, 0, (32, 32), 10**8)


def test_the_decoded_file_reads_like_the_array_it_holds(tmp_path):
    from edgecls.trainer.image_source import DecodedFileWriter

    images = np.random.default_rng(0).integers(0, 256, (20, 4, 5, 3), dtype=np.uint8)
    writer = DecodedFileWriter(tmp_path / "images.rgb", (4, 5))
    for image in images:
        writer.append(image)
    decoded = writer.finish()
    for indices in ([3, 4, 5, 9, 1, 2, 19], [7], [5, 5, 6], list(range(20)), []):
        assert np.array_equal(decoded[np.array(indices, dtype=np.int64)], images[indices])
    assert np.array_equal(decoded[2:9], images[2:9]) and np.array_equal(decoded[3], images[3])
    with pytest.raises(IndexError, match="image 20 of 20"):
        decoded[np.array([1, 20])]
    decoded.close()
