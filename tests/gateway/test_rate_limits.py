"""The contract's rate limits on the real gateway: the eleventh requirement in a minute is a 429."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from orchestrator.gateway.ratelimit import SlidingWindowLimiter, category
from tests.harness import System, running


@pytest.fixture(scope="module")
def limited_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with running(
        tmp_path_factory.mktemp("limits"), ("gateway",), {"RATE_LIMIT_ARCHIVE": "3"}
    ) as system:
        yield system


def test_eleventh_requirement_within_a_minute_gets_429_with_retry_after(
    limited_system: System,
) -> None:
    url = f"{limited_system.base_url}/api/requirements"
    for n in range(10):
        reply = requests.post(url, json={"requirement": f"app {n}", "priority": 5}, timeout=10)
        assert reply.status_code == 200, reply.text
    eleventh = requests.post(url, json={"requirement": "one too many"}, timeout=10)
    assert eleventh.status_code == 429
    assert eleventh.json()["error"]["code"] == "RATE_LIMITED"
    assert eleventh.json()["error"]["details"]["limit"] == 10
    retry_after = int(eleventh.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    # Other categories keep their own budget.
    assert requests.get(f"{limited_system.base_url}/api/tasks", timeout=10).status_code == 200


def test_archive_limit_is_configurable(limited_system: System) -> None:
    url = f"{limited_system.base_url}/api/archive"
    statuses = [requests.get(url, timeout=10).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_sliding_window_frees_a_slot_when_the_oldest_hit_ages_out() -> None:
    now = [0.0]
    limiter = SlidingWindowLimiter(2, window=60, clock=lambda: now[0])
    assert limiter.hit("a") == 0
    now[0] = 10
    assert limiter.hit("a") == 0
    assert limiter.hit("a") == pytest.approx(50)
    assert limiter.hit("b") == 0  # keys are independent
    now[0] = 60.5
    assert limiter.hit("a") == 0
    assert limiter.hit("a") == pytest.approx(9.5)


def test_categories() -> None:
    assert category("POST", "/api/requirements") == "requirements"
    assert category("GET", "/api/tasks") is None
    assert category("GET", "/api/workspace/files") == "files"
    assert category("POST", "/api/workspace/run/app.py") == "files"
    assert category("GET", "/api/archive") == "archive"
    assert category("POST", "/api/archive/p/restore/a.py") == "archive"
    assert category("POST", "/api/project/reset") == "archive"
