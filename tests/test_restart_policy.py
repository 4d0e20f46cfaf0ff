"""The launcher's restart policy: back-off that doubles, forgets old crashes, and gives up."""

from __future__ import annotations

from orchestrator.launcher.restarts import RestartPolicy


def test_the_delay_doubles_per_crash_up_to_the_maximum() -> None:
    policy = RestartPolicy(max_restarts=10, window=60, initial=0.5, maximum=3)
    assert [policy.crashed(float(t)) for t in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_more_crashes_than_the_bound_within_the_window_give_up() -> None:
    policy = RestartPolicy(max_restarts=2, window=60, initial=1, maximum=30)
    assert policy.crashed(0) == 1
    assert policy.crashed(1) == 2
    assert policy.crashed(2) is None


def test_crashes_older_than_the_window_are_forgotten() -> None:
    policy = RestartPolicy(max_restarts=2, window=60, initial=1, maximum=30)
    policy.crashed(0)
    policy.crashed(10)
    assert policy.crashed(100) == 1  # ran well for a while: the shortest delay again
    assert policy.recent_crashes == 1
