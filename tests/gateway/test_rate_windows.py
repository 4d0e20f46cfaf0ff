"""The window arithmetic of the rate limits, without NATS: counts and clock passed in."""

from __future__ import annotations

import re

import pytest

from orchestrator.gateway.rate_windows import WindowCounts, counter_key, decide

MINUTE_10 = 600.0  # the start of minute 10 since the epoch


def admit_all(stored: WindowCounts | None, now: float, limit: int) -> tuple[int, WindowCounts]:
    """Hits at ``now`` until one is refused: how many were admitted, and the counts left."""
    admitted = 0
    counts = stored
    while (decision := decide(counts, now, limit)).allowed:
        admitted += 1
        counts = decision.counts
    return admitted, decision.counts


def test_a_fresh_client_gets_exactly_the_limit_then_waits_for_the_next_minute() -> None:
    admitted, counts = admit_all(None, MINUTE_10 + 10, limit=3)
    assert admitted == 3
    assert counts == WindowCounts(window=10, current=3, previous=0)
    refused = decide(counts, MINUTE_10 + 10, limit=3)
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(50)  # the minute's end, no later
    assert decide(counts, MINUTE_10 + 60 + 0.01, limit=3).allowed


def test_the_previous_minute_counts_by_how_much_of_it_the_last_60s_still_cover() -> None:
    spent = WindowCounts(window=10, current=3)
    # Half-way through minute 11, half of minute 10's three still count: 1.5, so one more
    # brings 2.5 and the next would make 3.5.
    admitted, counts = admit_all(spent, MINUTE_10 + 90, limit=3)
    assert admitted == 2
    assert counts == WindowCounts(window=11, current=2, previous=3)
    refused = decide(counts, MINUTE_10 + 90, limit=3)
    assert refused.retry_after == pytest.approx(10)  # when 3 * (1 - e/60) + 2 drops below 3
    assert not decide(counts, MINUTE_10 + 99.9, limit=3).allowed
    assert decide(counts, MINUTE_10 + 100.1, limit=3).allowed


def test_counts_two_minutes_old_are_forgotten() -> None:
    old = WindowCounts(window=10, current=3, previous=3)
    decision = decide(old, MINUTE_10 + 120, limit=3)
    assert decision.allowed
    assert decision.counts == WindowCounts(window=12, current=1, previous=0)


def test_counts_written_by_a_replica_whose_clock_runs_ahead_are_not_rolled_back() -> None:
    ahead = WindowCounts(window=11, current=3, previous=0)
    refused = decide(ahead, MINUTE_10 + 59.5, limit=3)
    assert not refused.allowed
    assert refused.counts == ahead
    assert 60 <= refused.retry_after <= 60.5  # its minute 11 from its start, as this clock sees it


@pytest.mark.parametrize("limit", [1, 3, 10, 100])
def test_retry_after_is_never_beyond_a_minute_and_is_when_the_next_hit_is_admitted(
    limit: int,
) -> None:
    for previous in (0, 1, limit // 2, limit):
        for offset in (0.0, 1.0, 29.5, 59.9):
            now = MINUTE_10 + 60 + offset
            _, counts = admit_all(WindowCounts(window=10, current=previous), now, limit)
            refused = decide(counts, now, limit)
            assert not refused.allowed
            assert 0 <= refused.retry_after <= 60
            assert not decide(counts, now + refused.retry_after - 0.01, limit).allowed
            assert decide(counts, now + refused.retry_after + 0.01, limit).allowed


def test_a_failed_request_is_taken_back_from_the_minute_that_counted_it() -> None:
    counts = WindowCounts(window=10, current=3, previous=5)
    assert counts.without_one_of(10) == WindowCounts(window=10, current=2, previous=5)
    assert counts.without_one_of(9) == WindowCounts(window=10, current=3, previous=4)
    assert counts.without_one_of(8) == counts  # no longer counted: nothing to take back
    assert counts.without_one_of(11) == counts  # a minute these counts never saw
    assert WindowCounts(window=10).without_one_of(10) == WindowCounts(window=10)  # never below 0
    spent, refused = admit_all(None, MINUTE_10 + 10, limit=3)
    assert spent == 3
    assert decide(refused.without_one_of(10), MINUTE_10 + 10, limit=3).allowed


def test_counts_survive_the_bucket_and_garbage_counts_as_nothing() -> None:
    counts = WindowCounts(window=29_000_000, current=7, previous=2)
    assert WindowCounts.decode(counts.encode()) == counts
    for garbage in (b"", b"{", b"[]", b'{"window": 1}', b'{"window":1,"current":-1,"previous":0}'):
        assert WindowCounts.decode(garbage) is None


def test_a_counter_key_is_a_valid_kv_key_that_hides_the_client() -> None:
    key = counter_key("files", "address:203.0.113.7")
    assert re.fullmatch(r"[-/_=.a-zA-Z0-9]+", key)
    assert key.startswith("files.")
    assert "203.0.113.7" not in key
    assert key != counter_key("archive", "address:203.0.113.7")
    assert key != counter_key("files", "address:203.0.113.8")
