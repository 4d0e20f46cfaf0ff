"""The contract's rate limits on real gateways: the eleventh requirement in a minute is a 429,
whichever gateway replica serves it, for a client told apart by its token or its address."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from orchestrator.gateway.ratelimit import category
from orchestrator.launcher.nats_server import free_port
from tests.harness import System, running, wait_until, within_one_minute

TOKEN = "rate-limit-test-token-0123456789"


def statuses(url: str, n: int, headers: dict[str, str] | None = None) -> list[int]:
    return [httpx.get(url, headers=headers, timeout=10).status_code for _ in range(n)]


@pytest.fixture(scope="module")
def limited_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with running(
        tmp_path_factory.mktemp("limits"), ("gateway",), {"RATE_LIMIT_ARCHIVE": "3"}
    ) as system:
        yield system


def test_eleventh_requirement_within_a_minute_gets_429_with_retry_after(
    limited_system: System,
) -> None:
    within_one_minute()
    url = f"{limited_system.base_url}/api/requirements"
    for n in range(10):
        reply = httpx.post(url, json={"requirement": f"app {n}", "priority": 5}, timeout=10)
        assert reply.status_code == 200, reply.text
    eleventh = httpx.post(url, json={"requirement": "one too many"}, timeout=10)
    assert eleventh.status_code == 429
    assert eleventh.json()["error"]["code"] == "RATE_LIMITED"
    assert eleventh.json()["error"]["details"] == {
        "category": "requirements",
        "limit": 10,
        "window_seconds": 60,
    }
    retry_after = int(eleventh.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    # Other categories keep their own budget.
    assert httpx.get(f"{limited_system.base_url}/api/tasks", timeout=10).status_code == 200


def test_archive_limit_is_configurable(limited_system: System) -> None:
    within_one_minute()
    assert statuses(f"{limited_system.base_url}/api/archive", 4) == [200, 200, 200, 429]


def test_a_request_the_server_fails_does_not_spend_the_clients_budget(tmp_path: Path) -> None:
    """Without the archive service a reset is a 503 (it will be done when the service is back):
    a client told to retry must not run out of budget by retrying."""
    env = {"RATE_LIMIT_ARCHIVE": "2", "GATEWAY_REQUEST_TIMEOUT": "0.3"}
    with running(tmp_path, ("gateway",), env) as system:
        within_one_minute(15)
        reset = f"{system.base_url}/api/project/reset"
        failed = [httpx.post(reset, timeout=10) for _ in range(3)]
        assert [r.status_code for r in failed] == [503, 503, 503]
        assert {r.json()["error"]["code"] for r in failed} == {"WORKSPACE_ERROR"}
        assert statuses(f"{system.base_url}/api/archive", 3) == [200, 200, 429]


def test_categories() -> None:
    assert category("POST", "/api/requirements") == "requirements"
    assert category("GET", "/api/tasks") is None
    assert category("GET", "/api/workspace/files") == "files"
    assert category("POST", "/api/workspace/run/app.py") == "files"
    assert category("GET", "/api/archive") == "archive"
    assert category("POST", "/api/archive/p/restore/a.py") == "archive"
    assert category("POST", "/api/project/reset") == "archive"


@dataclass
class Fleet:
    """Gateways on one NATS, as replicas behind a balancer would be, configured apart so that one
    test client (127.0.0.1) can be seen with and without a proxy or a token."""

    system: System
    plain: str
    """No trusted proxy, no token: every client is its TCP address."""
    proxied: str
    """Behind trusted proxies (127.0.0.1 and 10.0.0.0/8): X-Forwarded-For names the client."""
    with_token: str
    """GATEWAY_TOKEN set, behind the same proxies: the client is its token."""


def start_gateway(system: System, name: str, **env: str) -> str:
    port = free_port()
    system.start("gateway", log_name=name, GATEWAY_PORT=str(port), **env)
    return f"http://127.0.0.1:{port}"


def ready(system: System, base: str, name: str) -> None:
    wait_until(
        lambda: httpx.get(f"{base}/readyz", timeout=2).status_code == 200,
        f"{name} to be ready:\n{system.log(name)}",
        timeout=60,
    )


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    root: Path = tmp_path_factory.mktemp("replicas")
    system = System(root=root, env={"RATE_LIMIT_ARCHIVE": "3", "RATE_LIMIT_FILES": "3"})
    system.start_nats()
    proxies = "127.0.0.1,10.0.0.0/8"
    try:
        gateways = {
            "gateway-plain": start_gateway(system, "gateway-plain"),
            "gateway-proxied": start_gateway(
                system, "gateway-proxied", GATEWAY_TRUSTED_PROXIES=proxies
            ),
            "gateway-token": start_gateway(
                system, "gateway-token", GATEWAY_TRUSTED_PROXIES=proxies, GATEWAY_TOKEN=TOKEN
            ),
        }
        for name, base in gateways.items():
            ready(system, base, name)
        yield Fleet(system, *gateways.values())
    finally:
        system.stop()


def test_the_limit_holds_across_two_gateways_sharing_one_nats(fleet: Fleet) -> None:
    """16 submissions at once from one client, alternating between two replicas: exactly the
    contract's 10 are accepted, as one gateway alone would accept."""
    within_one_minute()
    bases = [fleet.plain, fleet.proxied] * 8

    def submit(n: int) -> tuple[str, httpx.Response]:
        body = {"requirement": f"app {n}", "priority": 5}
        return bases[n], httpx.post(f"{bases[n]}/api/requirements", json=body, timeout=30)

    with ThreadPoolExecutor(max_workers=16) as pool:
        replies = list(pool.map(submit, range(16)))
    accepted = [base for base, reply in replies if reply.status_code == 200]
    refused = [reply for _, reply in replies if reply.status_code != 200]
    assert len(accepted) == 10, [r.text for _, r in replies]
    assert set(accepted) == {fleet.plain, fleet.proxied}  # both replicas admitted some
    assert len(refused) == 6
    for reply in refused:
        assert reply.status_code == 429
        assert reply.json()["error"]["code"] == "RATE_LIMITED"
        assert reply.json()["error"]["details"]["limit"] == 10
        assert 1 <= int(reply.headers["Retry-After"]) <= 60
    for base in (fleet.plain, fleet.proxied):  # and the next one, on either, is refused too
        again = httpx.post(f"{base}/api/requirements", json={"requirement": "more"}, timeout=10)
        assert again.status_code == 429


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(fleet: Fleet) -> None:
    within_one_minute()
    url = f"{fleet.plain}/api/archive"
    got = [
        httpx.get(url, headers={"X-Forwarded-For": f"203.0.113.{n}"}, timeout=10).status_code
        for n in range(4)
    ]
    assert got == [200, 200, 200, 429]  # four "clients", one address, one budget of 3


def test_x_forwarded_for_from_a_trusted_proxy_names_the_client(fleet: Fleet) -> None:
    within_one_minute()
    url = f"{fleet.proxied}/api/archive"
    client = {"X-Forwarded-For": "198.51.100.7"}
    assert statuses(url, 4, client) == [200, 200, 200, 429]
    # The same client through two trusted proxies, or prepending an address of its own choice
    # in front of what the proxy appended, is still 198.51.100.7.
    for chain in ("198.51.100.7, 10.1.2.3", "198.51.100.8, 198.51.100.7"):
        assert statuses(url, 1, {"X-Forwarded-For": chain}) == [429]
    # Another client behind the same proxy has a budget of its own.
    assert statuses(url, 1, {"X-Forwarded-For": "198.51.100.8"}) == [200]


def test_a_token_identified_client_is_limited_apart_from_its_address(fleet: Fleet) -> None:
    within_one_minute()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    # 127.0.0.1 spends its address's budget on a gateway that checks no token...
    assert statuses(f"{fleet.plain}/api/workspace/files", 4) == [200, 200, 200, 429]
    # ...and the same address with the token, where tokens are checked, has the token's own.
    url = f"{fleet.with_token}/api/workspace/files"
    assert statuses(url, 4, auth) == [200, 200, 200, 429]
    # The token is the client whatever address it comes from.
    assert statuses(url, 1, {**auth, "X-Forwarded-For": "192.0.2.50"}) == [429]
    # Where tokens are not checked, a bearer header buys no budget of its own: made-up tokens
    # would otherwise be a fresh budget each.
    fresh = {"Authorization": "Bearer made-up-0001"}
    assert statuses(f"{fleet.plain}/api/workspace/files", 1, fresh) == [429]


def test_without_nats_the_limits_let_requests_through_and_say_so(tmp_path: Path) -> None:
    """The counts are in NATS; when it is gone a request gets what it would get without the
    limiter (here a read answered from the projections), never a 429, and the log says so."""
    with running(tmp_path, ("gateway",), {"RATE_LIMIT_ARCHIVE": "1"}) as system:
        within_one_minute(10)  # the two counted requests; the unchecked ones are in the log
        url = f"{system.base_url}/api/archive"
        assert statuses(url, 2) == [200, 429]
        assert system.nats is not None
        system.nats.stop()
        wait_until(lambda: statuses(url, 1) == [200], "the unchecked request to be answered")
        assert statuses(url, 3) == [200, 200, 200]
        log = system.log("gateway")
        assert "rate limits not checked" in log
        assert "127.0.0.1" not in log.split("rate limits not checked", 1)[1].splitlines()[0]
