"""Stage 1 inputs: bottleneck features of every image, extracted once and cached on disk.

The cache holds one file per (backbone, weights, image size); inside it, features are keyed by
each image's content hash, so a second run on the same data extracts nothing, and a run on a
changed folder extracts only the new images.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np

from edgecls.core.files import atomic_path
from edgecls.core.progress import track
from edgecls.runtime.model import predict_in_batches

logger = logging.getLogger(__name__)

CACHE_FORMAT = "1"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "edgecls" / "features"


def cache_file(cache_dir: Path, backbone: str, weights_identity: str, image_size: int) -> Path:
    key = f"{CACHE_FORMAT}|{backbone}|{weights_identity}|{image_size}"
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    return cache_dir / f"{backbone}-{image_size}px-{digest}.npz"


def load_cache(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        return {}
    try:
        with np.load(path) as stored:
            return dict(zip(stored["hashes"].tolist(), stored["features"], strict=True))
    except Exception as error:  # noqa: BLE001 - truncated, garbage, or another format: all rebuilt
        logger.info(
            f"feature cache {path} is unreadable ({type(error).__name__}: {str(error)[:120]}); it will be rebuilt"
        )
        return {}


def save_cache(path: Path, cache: dict[str, np.ndarray]) -> None:
    hashes = sorted(cache)
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        np.savez(handle, hashes=np.array(hashes), features=np.stack([cache[h] for h in hashes]))


def extract_features(extractor, images: np.ndarray, batch_size: int, label: str) -> np.ndarray:
    """Run `extractor` (uint8 images -> feature vectors) over `images` in batches, with progress."""
    if len(images) == 0:
        return np.zeros((0, extractor.output_shape[-1]), np.float32)
    with track(len(images), label) as progress:
        return predict_in_batches(extractor.predict_on_batch, images, batch_size, progress)


def cached_features(
    extractor, splits: dict[str, tuple[np.ndarray, list[str]]], cache_path: Path, batch_size: int
) -> tuple[dict[str, np.ndarray], int]:
    """Features for each named split of (images, content hashes), reusing and filling the cache.

    Returns the features per split and how many images had to be extracted.
    """
    cache = load_cache(cache_path)
    missing_images, missing_hashes, seen = [], [], set()
    for images, hashes in splits.values():
        for image, digest in zip(images, hashes, strict=True):
            if digest not in cache and digest not in seen:
                seen.add(digest)
                missing_images.append(image)
                missing_hashes.append(digest)
    if missing_images:
        extracted = extract_features(extractor, np.stack(missing_images), batch_size, "extracting features")
        cache.update(zip(missing_hashes, extracted, strict=True))
        save_cache(cache_path, cache)
        logger.info(f"feature cache: extracted {len(missing_images)} image(s), saved to {cache_path}")
    else:
        logger.info(f"feature cache: all {sum(len(h) for _, h in splits.values())} image(s) found in {cache_path}")
    features = {name: np.stack([cache[digest] for digest in hashes]) for name, (_, hashes) in splits.items()}
    return features, len(missing_images)
