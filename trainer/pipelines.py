"""The input pipelines of training: batches of images (decoded, or read from the pre-scan file) and
of cached features, sharded over the workers of a cluster, augmented statelessly from their indices."""

from __future__ import annotations

import numpy as np

from .distribute import Shard
from .image_source import ImageSource

SHIFT = 0.1  # of the side, each way
ROTATION = 0.04  # of a full turn, each way (about 14 degrees)
ZOOM = 0.1  # scale from 0.9 to 1.1
BRIGHTNESS = 0.15  # of the full range, added
BLUR = 0.5  # the share of images softened


def augment_batch(batch, seed, flip: bool = True):
    """A random shift, rotation and zoom (one affine warp per image, so one resampling), an optional
    left-right flip, some softening and a brightness offset, on a float batch in [0, 255]; returns
    the same shape. `seed` is a pair of integers (a tensor): the same batch and seed give the same
    result, whatever order the pipeline's threads run in (stateless random numbers).
    Nothing here changes hue: a colour that defines a class stays that colour. Three separate Keras
    layers would resample the image three times, blurring the few pixels a small lamp has."""
    import math

    import tensorflow as tf

    shape = tf.shape(batch)
    count, height, width = shape[0], tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)

    def draw(offset: int, low: float = 0.0, high: float = 1.0):
        return tf.random.stateless_uniform([count], seed + tf.constant([0, offset], tf.int64), low, high)

    def uniform(limit: float, offset: int):
        return draw(offset, -limit, limit)

    angle = uniform(ROTATION * 2 * math.pi, 1)
    scale = 1.0 + uniform(ZOOM, 2)
    shift_x, shift_y = uniform(SHIFT, 3) * width, uniform(SHIFT, 4) * height
    mirror = tf.where(draw(5) < 0.5, -1.0, 1.0) if flip else tf.ones([count])
    # The warp maps each output pixel back to where it is read from: about the centre, undo the
    # shift, then the rotation and zoom (and the mirror, which reads x from the other side).
    center_x, center_y = (width - 1) / 2, (height - 1) / 2
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    a0, a1 = cos * mirror, sin * mirror
    b0, b1 = -sin, cos
    x, y = center_x + shift_x, center_y + shift_y  # where the output centre comes from
    a2 = center_x - a0 * x - a1 * y
    b2 = center_y - b0 * x - b1 * y
    zeros = tf.zeros([count])
    transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    warped = tf.raw_ops.ImageProjectiveTransformV3(
        images=batch,
        transforms=transforms,
        output_shape=shape[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )
    softened = _soften(warped, draw(7), draw(8))
    offset = uniform(BRIGHTNESS * 255.0, 6)[:, None, None, None]
    return tf.clip_by_value(softened + offset, 0.0, 255.0)


def _soften(images, amount, chance):
    """Half the images blended with a blurred copy of themselves (a binomial filter, sigma about
    1 px) by a random `amount` (0-1 per image, where `chance` < BLUR), as a camera out of focus or an
    upscaled crop gives them."""
    import tensorflow as tf

    channels = tf.shape(images)[3]
    taps = tf.constant([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
    rows = tf.tile(tf.reshape(taps, [5, 1, 1, 1]), [1, 1, channels, 1])
    columns = tf.tile(tf.reshape(taps, [1, 5, 1, 1]), [1, 1, channels, 1])
    padded = tf.pad(images, [[0, 0], [2, 2], [2, 2], [0, 0]], mode="REFLECT")
    blurred = tf.nn.depthwise_conv2d(padded, rows, [1, 1, 1, 1], "VALID")
    blurred = tf.nn.depthwise_conv2d(blurred, columns, [1, 1, 1, 1], "VALID")
    amount = (amount * tf.cast(chance < BLUR, tf.float32))[:, None, None, None]
    return images * (1 - amount) + blurred * amount


def image_batches(
    images: ImageSource,
    labels: np.ndarray,
    batch_size: int,
    augment: bool,
    seed: int,
    flip: bool = True,
    shuffle: bool = True,
    replicas: int = 1,
    shard: Shard | None = None,
):
    """A tf.data pipeline of (uint8 images, labels) batches read from `images` a batch at a time, in
    parallel: shuffled anew each epoch (`shuffle`) and augmented on the fly (`augment`); the model
    still sees uint8. Only the batches in flight are in memory, whatever the dataset's size.

    Split between `replicas`, every batch must divide evenly: a shuffled (training) pipeline drops
    its last, short batch (other images each epoch), and an ordered (validation) one pads its last
    with copies weighted 0, so every image counts once and the copies not at all. With `shard` (one
    worker of a cluster) the pipeline is this worker's share, batches of `batch_size` per replica
    with a weight each, and every worker gets the same number of them.
    """
    import tensorflow as tf

    height, width = images.size
    count = len(images)

    def read(indices: np.ndarray):
        weights = (indices < count).astype(np.float32)
        indices = np.where(indices < count, indices, 0)
        return images.read(indices), labels[indices], weights

    def load(indices):
        batch, batch_labels, weights = tf.numpy_function(read, [indices], (tf.uint8, tf.int64, tf.float32), stateful=False)
        batch.set_shape((None, height, width, 3))
        batch_labels.set_shape((None,))
        weights.set_shape((None,))
        return batch, batch_labels, weights

    def load_and_augment(indices):
        batch, *rest = load(indices)[: 3 if weighted else 2]
        if augment:
            # The batch's own random numbers, from the run's seed and which images it holds (the
            # seeded shuffle makes that differ each epoch): the same on every run, in any thread.
            key = tf.reduce_sum(tf.cast(indices, tf.int64) * 2654435761 % 1000003)
            changed = augment_batch(tf.cast(batch, tf.float32), tf.stack([tf.constant(seed, tf.int64), key]), flip)
            batch = tf.cast(tf.round(changed), tf.uint8)
        return (batch, *rest)

    dataset, weighted = index_batches(count, batch_size, seed, shuffle, replicas, shard)
    dataset = dataset.map(load_and_augment, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def array_batches(inputs: np.ndarray, labels: np.ndarray, batch_size: int, seed: int, shuffle: bool, shard: Shard):
    """`image_batches` for arrays held in memory (the bottleneck stage's features), one worker's share."""
    import tensorflow as tf

    count = len(inputs)
    inputs_tensor, labels_tensor = tf.constant(inputs), tf.constant(labels, dtype=tf.int64)

    def load(indices):
        real = indices < count
        indices = tf.where(real, indices, 0)
        return tf.gather(inputs_tensor, indices), tf.gather(labels_tensor, indices), tf.cast(real, tf.float32)

    dataset, _ = index_batches(count, batch_size, seed, shuffle, 1, shard)
    return dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def index_batches(count: int, batch_size: int, seed: int, shuffle: bool, replicas: int, shard: Shard | None):
    """Batches of indices into `count` items (indices >= count stand for padding), and whether there
    is padding to weigh out. See `image_batches` for how batches are split between replicas and workers."""
    import tensorflow as tf

    if shard is None:
        padding = (-count) % batch_size if replicas > 1 and not shuffle else 0
        order = tf.data.Dataset.range(count + padding)
        if shuffle:
            order = order.shuffle(count, seed=seed, reshuffle_each_iteration=True)
        return order.batch(batch_size, drop_remainder=replicas > 1 and shuffle), padding > 0
    local = shard.global_batch // (shard.workers * batch_size)  # this worker's batches per step
    padding = 0 if shuffle else (-count) % shard.global_batch
    order = tf.data.Dataset.range(count + padding).shard(shard.workers, shard.index)
    if not shuffle:
        return order.batch(batch_size), True
    order = order.shuffle(count // shard.workers + 1, seed=seed + shard.index, reshuffle_each_iteration=True)
    return order.batch(batch_size, drop_remainder=True).take(count // shard.global_batch * local), True
