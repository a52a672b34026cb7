"""`model.fit` for a cluster (MultiWorkerMirroredStrategy): Keras 3's own `fit` cannot run under it
(its first step reduces the batch's structure across workers, which the collective strategy cannot
do), so this loop does what it does, with the strategy's own tools: each worker's pipeline from
`distribute_datasets_from_function`, a step run on every replica by `strategy.run`, the loss averaged
over the global batch (`tf.nn.compute_average_loss`), the gradients summed by the optimizer, and the
epoch's figures summed over the cluster, so every worker sees the same ones and stops at the same epoch.

The callbacks are the ones `fit` would get (epoch log, early stopping, schedule, checkpoint), called
the way `fit` calls them; the logs have `fit`'s names (loss, accuracy, val_loss, val_accuracy).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgecls.core.errors import EdgeclsError


class ClusterLost(EdgeclsError):
    """Another worker of the cluster left (stopped, crashed, or its machine cannot be reached)."""

    exit_code = 1


def fit_in_cluster(model, train: Callable, val: Callable, epochs: int, callbacks: list, class_weight: dict | None, global_batch: int) -> None:
    """Train the compiled `model` for `epochs` under the current strategy; `train` and `val` make one
    worker's pipeline of (inputs, labels, weights) batches from a `tf.distribute.InputContext`."""
    import keras
    import tensorflow as tf

    strategy = tf.distribute.get_strategy()
    with strategy.scope():
        model.optimizer.build(model.trainable_variables)
    train_data = strategy.distribute_datasets_from_function(train)
    val_data = strategy.distribute_datasets_from_function(val)
    train_step, val_step = _steps(model, strategy, class_weight, global_batch)
    synchronise = _statistics_synchroniser(model, strategy)
    callback_list = keras.callbacks.CallbackList(callbacks, model=model)
    model.stop_training = False
    model._initial_epoch = None
    callback_list.on_train_begin()
    try:
        _epochs(model, train_data, val_data, (train_step, val_step, synchronise), epochs, callback_list)
    except (tf.errors.UnavailableError, tf.errors.CancelledError, tf.errors.DeadlineExceededError) as error:
        raise ClusterLost(
            f"a worker of the cluster stopped or cannot be reached ({str(error.message).splitlines()[0][:300]}), so this one "
            "stopped too. The chief's run directory keeps the last whole epoch: start every worker again with `resume` "
            "and that directory."
        ) from None


def _epochs(model, train_data, val_data, steps: tuple, epochs: int, callback_list) -> None:
    train_step, val_step, synchronise = steps
    logs: dict = {}
    for epoch in range(model._initial_epoch or 0, epochs):  # BackupAndRestore sets the epoch to go on from
        callback_list.on_epoch_begin(epoch)
        totals = np.zeros(4)
        for step, batch in enumerate(train_data):
            figures = np.array([float(value) for value in train_step(batch)])
            totals += figures
            callback_list.on_train_batch_end(step, {"loss": figures[0] / max(figures[3], 1.0)})
            if model.stop_training:
                break
        synchronise()
        logs = _logs(totals, "")
        totals = np.zeros(4)
        for batch in val_data:
            totals += np.array([float(value) for value in val_step(batch)])
        logs.update(_logs(totals, "val_"))
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end(logs)


def _statistics_synchroniser(model, strategy):
    """A function that sets every batch normalisation's moving statistics to their mean over the
    cluster's replicas. Each replica updates them from its own batches only (they are not gradients),
    so without this the workers would validate, and the chief save, models that differ."""
    import keras
    import tensorflow as tf

    variables = [
        variable
        for layer in model._flatten_layers()
        if isinstance(layer, keras.layers.BatchNormalization)
        for variable in (layer.moving_mean, layer.moving_variance)
    ]

    @tf.function
    def synchronise():
        def replica():
            context = tf.distribute.get_replica_context()
            return context.all_reduce(tf.distribute.ReduceOp.MEAN, [tf.identity(variable.value) for variable in variables])

        means = strategy.run(replica)
        for variable, mean in zip(variables, means, strict=True):
            variable.assign(strategy.experimental_local_results(mean)[0])

    return synchronise if variables else lambda: None


def _logs(totals: np.ndarray, prefix: str) -> dict:
    loss, correct, weight, count = totals
    return {f"{prefix}accuracy": correct / max(weight, 1e-12), f"{prefix}loss": loss / max(count, 1.0)}


def _steps(model, strategy, class_weight: dict | None, global_batch: int):
    """The training and validation steps: each returns the cluster's sums over one global batch of the
    weighted loss, the weighted correct answers, the weights and the images (padding weighs 0 and is
    not counted; training weighs by class, as `fit`'s `class_weight`)."""
    import keras
    import tensorflow as tf

    classes = int(model.output_shape[-1])
    table = tf.constant([float((class_weight or {}).get(index, 1.0)) for index in range(classes)])
    cross_entropy = keras.losses.SparseCategoricalCrossentropy(reduction="none")

    def sums(labels, probabilities, losses, weights, real):
        correct = tf.cast(tf.argmax(probabilities, axis=-1) == labels, tf.float32)
        return [tf.reduce_sum(value) for value in (losses * weights, correct * weights, weights, real)]

    def train_replica(inputs, labels, real):
        weights = real * tf.gather(table, labels)
        with tf.GradientTape() as tape:
            probabilities = model(inputs, training=True)
            losses = cross_entropy(labels, probabilities)
            loss = tf.nn.compute_average_loss(losses * weights, global_batch_size=global_batch)
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
        gradients = tape.gradient(loss, model.trainable_variables)
        model.optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return sums(labels, probabilities, losses, weights, real)

    def val_replica(inputs, labels, real):
        probabilities = model(inputs, training=False)
        return sums(labels, probabilities, cross_entropy(labels, probabilities), real, real)

    def cluster_step(replica_step):
        @tf.function
        def step(batch):
            per_replica = strategy.run(replica_step, args=batch)
            return [strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None) for value in per_replica]

        return step

    return cluster_step(train_replica), cluster_step(val_replica)
