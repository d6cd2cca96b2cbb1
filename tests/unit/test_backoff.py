"""Retry delays: exponential growth, the cap, jitter from an injected source, reset."""

from __future__ import annotations

import itertools

import pytest

from axorders.client.backoff import Backoff


def test_grows_exponentially_to_the_cap() -> None:
    backoff = Backoff(initial=0.5, maximum=5.0, jitter=0.0)
    assert [backoff.next_delay() for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert backoff.attempts == 7


def test_other_factor() -> None:
    backoff = Backoff(initial=1.0, maximum=10.0, factor=1.5, jitter=0.0)
    assert [backoff.next_delay() for _ in range(4)] == [1.0, 1.5, 2.25, 3.375]


def test_jitter_comes_from_the_injected_source() -> None:
    values = itertools.cycle([0.0, 1.0, 0.5])
    backoff = Backoff(initial=1.0, maximum=4.0, jitter=0.2, rng=lambda: next(values))
    assert [backoff.next_delay() for _ in range(4)] == pytest.approx([1.0, 2.4, 4.4, 4.0])


def test_jitter_stays_within_its_bound() -> None:
    backoff = Backoff(initial=1.0, maximum=2.0, jitter=0.1, rng=lambda: 0.999999)
    delays = [backoff.next_delay() for _ in range(10)]
    assert max(delays) < 2.0 * 1.1
    assert all(d >= 1.0 for d in delays)


def test_reset_starts_again() -> None:
    backoff = Backoff(initial=0.25, maximum=1.0, jitter=0.0)
    for _ in range(5):
        backoff.next_delay()
    backoff.reset()
    assert backoff.attempts == 0
    assert backoff.next_delay() == 0.25


def test_huge_attempt_counts_stay_capped() -> None:
    backoff = Backoff(initial=0.5, maximum=5.0, jitter=0.0)
    for _ in range(2000):
        delay = backoff.next_delay()
    assert delay == 5.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial": 0.0},
        {"initial": -1.0},
        {"initial": 2.0, "maximum": 1.0},
        {"factor": 0.5},
        {"jitter": -0.1},
    ],
)
def test_bad_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)  # type: ignore[arg-type]


def test_a_huge_factor_does_not_overflow() -> None:
    backoff = Backoff(initial=0.5, maximum=5.0, factor=1e300, jitter=0.0)
    assert [backoff.next_delay() for _ in range(5)] == [0.5, 5.0, 5.0, 5.0, 5.0]


def test_factor_one_is_constant() -> None:
    backoff = Backoff(initial=0.5, maximum=5.0, factor=1.0, jitter=0.0)
    assert [backoff.next_delay() for _ in range(3)] == [0.5, 0.5, 0.5]


def test_a_connection_that_drops_at_once_does_not_reset_the_delays() -> None:
    backoff = Backoff(initial=0.5, maximum=4.0, jitter=0.0, stable_after=5.0)
    delays = []
    now = 0.0
    for _ in range(6):
        delay = backoff.next_delay()
        delays.append(delay)
        now += delay
        backoff.connected(now)
        now += 0.2  # accepted, then dropped at once
        backoff.disconnected(now)
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_a_connection_just_short_of_stable_does_not_reset() -> None:
    backoff = Backoff(initial=1.0, maximum=8.0, jitter=0.0, stable_after=5.0)
    assert backoff.next_delay() == 1.0
    backoff.connected(10.0)
    backoff.disconnected(14.999)
    assert backoff.next_delay() == 2.0


def test_after_a_long_lived_connection_the_first_retry_goes_at_once() -> None:
    backoff = Backoff(initial=0.5, maximum=4.0, jitter=0.0, stable_after=5.0)
    for _ in range(5):
        backoff.next_delay()
    backoff.connected(100.0)
    backoff.disconnected(105.0)
    assert [backoff.next_delay() for _ in range(4)] == [0.0, 0.5, 1.0, 2.0]


def test_the_immediate_retry_is_spread_by_jitter_only() -> None:
    backoff = Backoff(initial=0.5, maximum=4.0, jitter=0.2, rng=lambda: 1.0, stable_after=1.0)
    backoff.connected(0.0)
    backoff.disconnected(60.0)
    assert backoff.next_delay() == pytest.approx(0.1)
    assert backoff.next_delay() == pytest.approx(0.6)


def test_disconnected_without_connected_changes_nothing() -> None:
    backoff = Backoff(initial=0.5, maximum=4.0, jitter=0.0)
    backoff.next_delay()
    backoff.disconnected(1000.0)
    assert backoff.next_delay() == 1.0


def test_stable_after_must_not_be_negative() -> None:
    with pytest.raises(ValueError):
        Backoff(stable_after=-1.0)
