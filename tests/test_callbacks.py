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
