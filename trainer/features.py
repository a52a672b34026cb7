"""Stage 1 inputs: bottleneck features of every image, extracted once and cached on disk.

The cache holds one file per (backbone, weights, image size); inside it, features are keyed by
each image's content hash, so a second run on the same data extracts nothing, and a run on a
changed folder extracts only the new images. The file is written as extraction goes, a chunk at a
time (a header, then fixed-size records: the 20-byte SHA-1 of the image file, then its features as
float32), so an interrupted extraction keeps what it finished and a record cut short is ignored.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from edgecls.core.errors import EdgeclsError
from edgecls.core.progress import track
from edgecls.runtime.model import predict_in_batches

from .evaluate import batch_predictor

logger = logging.getLogger(__name__)

CACHE_FORMAT = "2"
MAGIC = b"edgecls-features-2\n"
DIGEST_BYTES = 20  # SHA-1
CHUNK = 1024  # images extracted (and appended to the cache) at a time


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "edgecls" / "features"


def cache_file(cache_dir: Path, backbone: str, weights_identity: str, image_size: int) -> Path:
    key = f"{CACHE_FORMAT}|{backbone}|{weights_identity}|{image_size}"
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    return cache_dir / f"{backbone}-{image_size}px-{digest}.features"


def _header(dimension: int) -> bytes:
    return MAGIC + dimension.to_bytes(4, "little")


def load_cache(path: Path, dimension: int) -> dict[str, np.ndarray]:
    """Every whole record of the cache file; an unreadable file (another format, another feature
    width, garbage) counts as empty, and is started anew by the next `append_cache`."""
    if not path.is_file():
        return {}
    data = path.read_bytes()
    header = _header(dimension)
    if not data.startswith(header):
        logger.info(f"feature cache {path} is unreadable (not a cache of {dimension} features); it will be rebuilt")
        return {}
    record = DIGEST_BYTES + 4 * dimension
    count = (len(data) - len(header)) // record
    if len(data) != len(header) + count * record:
        logger.info(f"feature cache {path}: its last record was cut short and is ignored")
    records = np.frombuffer(data, np.uint8, count * record, len(header)).reshape(count, record)
    features = records[:, DIGEST_BYTES:].copy().view(np.float32)
    return {bytes(row[:DIGEST_BYTES]).hex(): features[index] for index, row in enumerate(records)}


def append_cache(path: Path, hashes: list[str], features: np.ndarray, fresh: bool) -> None:
    """Append records to the cache file (`fresh`: start it anew, header first)."""
    dimension = int(features.shape[1])
    body = b"".join(
        bytes.fromhex(digest) + np.asarray(row, np.float32).tobytes() for digest, row in zip(hashes, features, strict=True)
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb" if fresh else "r+b") as handle:
            if fresh:
                handle.write(_header(dimension))
            else:  # after the last whole record: one cut short by a crash would misalign every record after it
                size = handle.seek(0, os.SEEK_END)
                whole = size - (size - len(_header(dimension))) % (DIGEST_BYTES + 4 * dimension)
                handle.truncate(whole)
                handle.seek(whole)
            handle.write(body)
    except OSError as error:
        raise EdgeclsError(
            f"could not write the feature cache {path} ({error.strerror}); free some space or pass `cache_dir` DIR."
        ) from None


def cached_features(extractor, splits: dict[str, tuple], cache_path: Path, batch_size: int) -> tuple[dict[str, np.ndarray], int]:
    """Features for each named split of (images, content hashes), reusing and filling the cache.
    `images` (an ImageSource, or an array) is read CHUNK images at a time, and each chunk's features
    are appended to the cache before the next chunk is read.

    Returns the features per split and how many images had to be extracted.
    """
    dimension = int(extractor.output_shape[-1])
    cache = load_cache(cache_path, dimension)
    fresh = not cache
    todo: list[tuple[Any, list[tuple[int, str]]]] = []  # per split: (images, [(index, hash)]), each image once
    seen: set[str] = set()
    for images, hashes in splits.values():
        missing = [(index, digest) for index, digest in enumerate(hashes) if digest not in cache and digest not in seen]
        seen.update(digest for _, digest in missing)
        todo.append((images, missing))
    if seen:
        with track(len(seen), "extracting features") as progress:
            for images, missing in todo:
                for start in range(0, len(missing), CHUNK):
                    chunk = missing[start : start + CHUNK]
                    batch = np.asarray(images[np.array([index for index, _ in chunk], dtype=np.int64)])
                    extracted = predict_in_batches(batch_predictor(extractor), batch, batch_size, progress)
                    digests = [digest for _, digest in chunk]
                    append_cache(cache_path, digests, extracted, fresh)
                    fresh = False
                    cache.update(zip(digests, extracted, strict=True))
        logger.info(f"feature cache: extracted {len(seen)} image(s), saved to {cache_path}")
    else:
        logger.info(f"feature cache: all {sum(len(h) for _, h in splits.values())} image(s) found in {cache_path}")
    features = {name: np.stack([cache[digest] for digest in hashes]) for name, (_, hashes) in splits.items()}
    return features, len(seen)
