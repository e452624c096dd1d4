"""How often a worker sweeps for lost sends (worker.steps.sweeping): often enough that a lost
send still goes out within its send window, never more than every few seconds per worker."""

from __future__ import annotations

from worker.settings import Settings
from worker.steps.sweeping import SWEEP_INTERVAL_MAX_SECONDS, sweep_interval_seconds


def test_the_default_grace_is_swept_every_five_seconds() -> None:
    settings = Settings()
    assert settings.pending_send_grace_ms == 45_000  # half the 90 s send window
    assert sweep_interval_seconds(settings) == SWEEP_INTERVAL_MAX_SECONDS == 5.0


def test_a_short_send_window_is_swept_within_it() -> None:
    for deadline in (1, 4, 12):
        settings = Settings().replace(OTP_SEND_DEADLINE_SECONDS=deadline)
        grace = settings.pending_send_grace_ms / 1000
        interval = sweep_interval_seconds(settings)
        assert interval == grace / 2
        assert grace + interval <= 0.75 * deadline  # the latest a lost send is enqueued again
