"""The learning-rate schedules a training stage can use."""

from __future__ import annotations

import pytest

keras = pytest.importorskip("keras")

from edgecls.trainer.callbacks import learning_rate_schedule  # noqa: E402


def test_cosine_decays_from_the_base_rate_to_one_percent_over_the_epochs():
    schedule = learning_rate_schedule("cosine", patience=5, base=0.002, epochs=11)
    rates = [schedule.schedule(epoch, 0.0) for epoch in range(13)]
    assert rates[0] == pytest.approx(0.002)
    assert rates[5] == pytest.approx(0.002 * (0.01 + 0.99 * 0.5))
    assert rates[10] == pytest.approx(0.002 * 0.01)
    assert all(later < earlier for earlier, later in zip(rates[:10], rates[1:11], strict=True))
    assert rates[11] == rates[12] == rates[10]  # past the budget (a resumed or longer fit) it stays low


def test_plateau_is_the_default_cut_on_a_stall():
    schedule = learning_rate_schedule("plateau", patience=6, base=0.001, epochs=20)
    assert isinstance(schedule, keras.callbacks.ReduceLROnPlateau) and schedule.patience == 3


def _bias(model) -> float:
    return float(model.layers[-1].bias.numpy()[0])


def test_best_weights_skips_non_finite_losses_and_restores_the_best_at_any_time():
    from edgecls.trainer.callbacks import BestWeights

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    improved = []
    stopping = BestWeights(patience=2, on_improvement=lambda m: improved.append(_bias(m)))
    stopping.set_model(model)
    model.stop_training = False  # as fit() sets it
    stopping.on_train_begin()
    for epoch, (loss, bias) in enumerate([(float("nan"), 1.0), (0.5, 2.0), (0.7, 3.0), (float("inf"), 4.0)]):
        model.layers[-1].bias.assign([bias])
        stopping.on_epoch_end(epoch, {"val_loss": loss})
    assert improved == [2.0] and stopping.best_epoch == 1  # NaN was never the best, even first
    assert model.stop_training and stopping.stopped_epoch == 3  # two epochs without a better loss
    stopping.on_train_end()  # what Keras would do at the end of fit: restores nothing by itself...
    assert _bias(model) == 4.0
    stopping.restore_best()  # ...the fit loop restores, after a normal end and after Ctrl-C alike
    assert _bias(model) == 2.0


def test_fit_stage_logs_every_epoch_and_keeps_the_best_weights():
    import numpy as np

    from edgecls.trainer.fit import Stage, fit_stage

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    saved = []
    log = fit_stage(
        model,
        (x, y),
        (x, y),
        keras.optimizers.Adam(0.05),
        Stage("bottleneck", epochs=4, patience=10, lr_schedule="cosine", learning_rate=0.05),
        on_improvement=lambda m: saved.append(m.get_weights()),
        batch_size=16,
    )
    assert [row["epoch"] for row in log.rows] == [1, 2, 3, 4] and not log.interrupted and not log.nan
    losses = [row["val_loss"] for row in log.rows]
    assert log.best_epoch == int(np.argmin(losses)) and len(saved) >= 1
    kept = model.evaluate(x, y, verbose=0)[0]
    assert kept == pytest.approx(min(losses), rel=1e-4)  # the weights of the best epoch are back


def test_a_resumed_stage_keeps_the_plateau_schedules_counters(tmp_path):
    import numpy as np

    from edgecls.trainer.callbacks import BestWeights, EpochCheckpoint, EpochLog, reduce_on_plateau
    from edgecls.trainer.checkpoint import Checkpoints
    from edgecls.trainer.fit import Stage, fit_stage

    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = rng.integers(0, 2, 32)  # noise, and a tiny rate: validation loss stalls, the plateau counter climbs

    def model():
        keras.utils.set_random_seed(0)
        built = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
        built.compile(optimizer=keras.optimizers.SGD(1e-9), loss="sparse_categorical_crossentropy")
        return built

    stage = Stage("scratch", epochs=3, patience=20, lr_schedule="plateau", learning_rate=1e-9)
    checkpoints = Checkpoints(tmp_path)
    fit_stage(model(), (x, y), (x, y), keras.optimizers.SGD(1e-9), stage, checkpoints=checkpoints, batch_size=8)
    saved = checkpoints.state.progress["scratch"].plateau
    assert set(saved) == {"wait", "best", "cooldown_counter"} and saved["wait"] >= 1

    # Resuming: the schedule resets itself when training begins, then the checkpoint puts its counters back.
    resumed = Checkpoints(tmp_path)
    resumed.load()
    schedule = reduce_on_plateau(20)
    checkpoint = EpochCheckpoint(resumed, "scratch", EpochLog("scratch", 3), BestWeights(20), schedule)
    again = model()
    for callback in (schedule, checkpoint):
        callback.set_model(again)
        callback.on_train_begin()
    assert schedule.wait == saved["wait"] and schedule.best == saved["best"]
