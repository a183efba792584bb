"""The timing rules, exactly: when the next fetch happens and how retries back off."""

from __future__ import annotations

import random

import pytest

from token_refresher.schedule import LAPSED_RETRY_MAX, backoff_delay, failure_delay, refresh_delay


class Fixed(random.Random):
    """A random source that always draws the same point of the interval (0 = low, 1 = high)."""

    def __init__(self, share: float) -> None:
        super().__init__()
        self.share = share

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.share


def test_fetch_is_margin_before_expiry_minus_jitter() -> None:
    now = 1000.0
    assert refresh_delay(now + 3600, now, 60, 6, Fixed(0.0)) == pytest.approx(3540)
    assert refresh_delay(now + 3600, now, 60, 6, Fixed(1.0)) == pytest.approx(3534)


def test_jitter_never_moves_the_fetch_into_the_past() -> None:
    now = 1000.0
    # 62 s left, margin 60, jitter 10: at most 2 s of jitter can be taken.
    assert refresh_delay(now + 62, now, 60, 10, Fixed(1.0), min_delay=0) == pytest.approx(0)
    assert refresh_delay(now + 62, now, 60, 10, Fixed(1.0)) == pytest.approx(1.0)


def test_short_lived_token_is_fetched_at_half_its_remaining_life() -> None:
    now = 1000.0
    assert refresh_delay(now + 40, now, 60, 6, Fixed(1.0)) == pytest.approx(20)
    assert refresh_delay(now + 3, now, 5, 0.5, Fixed(0.5)) == pytest.approx(1.5)


def test_delay_has_a_floor_even_for_expired_tokens() -> None:
    now = 1000.0
    assert refresh_delay(now - 10, now, 60, 6, Fixed(0.5)) == 1.0
    assert refresh_delay(now + 0.5, now, 60, 6, Fixed(0.5), min_delay=0.1) == pytest.approx(0.25)


def test_backoff_doubles_up_to_the_cap() -> None:
    top = Fixed(1.0)
    assert [backoff_delay(n, 1, 60, top) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff_delay(10_000, 1, 60, top) == 60


def test_backoff_jitter_stays_below_the_nominal_delay() -> None:
    rng = random.Random(7)
    for failures in range(1, 12):
        nominal = min(60, 2 ** (failures - 1))
        for _ in range(50):
            assert 0.8 * nominal <= backoff_delay(failures, 1, 60, rng) <= nominal


def test_a_failing_hub_is_retried_before_the_token_in_place_expires() -> None:
    now, top = 1000.0, Fixed(1.0)
    # The 6th failure would wait 32 s; with 20 s left the next try comes after 10.
    assert failure_delay(6, 1, 60, top, now + 20, now) == pytest.approx(10)
    # Early failures keep their short backoff.
    assert failure_delay(1, 1, 60, top, now + 20, now) == pytest.approx(1)
    # Close to expiry: the floor still holds.
    assert failure_delay(6, 1, 60, top, now + 0.5, now) == pytest.approx(1)


def test_a_lapsed_or_missing_token_is_retried_every_few_seconds_at_most() -> None:
    now, top = 1000.0, Fixed(1.0)
    for expires_at in (now - 5, now, None):
        assert failure_delay(20, 1, 60, top, expires_at, now) == pytest.approx(LAPSED_RETRY_MAX)
        assert failure_delay(2, 1, 60, top, expires_at, now) == pytest.approx(2)
    # A cap below the lapsed one is kept.
    assert failure_delay(20, 1, 4, top, None, now) == pytest.approx(4)
