"""Replicas agree (issue 10, item 3): a write answered 2xx by one gateway replica is reflected by
the next read on the other, with or without the client naming its write (``X-After-Seq``).

Two real gateways on one real NATS. Every write on A is read back on B at once: B either has
folded the write already or waits for it (the stream's end when the read came, or the named
sequence), never answers without it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from orchestrator.launcher.nats_server import free_port
from orchestrator_client import Client
from tests.harness import System, wait_until

READ_WAIT = "0.5"
BURST = 200
"""Writes made on A before each read on B: enough that B cannot have folded them all by chance."""


@dataclass
class Pair:
    system: System
    a: str
    b: str


def start_gateway(system: System, name: str) -> str:
    port = free_port()
    system.start("gateway", log_name=name, GATEWAY_PORT=str(port), GATEWAY_READ_WAIT=READ_WAIT)
    base = f"http://127.0.0.1:{port}"
    wait_until(
        lambda: httpx.get(f"{base}/readyz", timeout=2).status_code == 200,
        lambda: f"{name} to be ready:\n{system.log(name)}",
        timeout=60,
    )
    return base


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    root: Path = tmp_path_factory.mktemp("agree")
    system = System(root=root, env={"RATE_LIMIT_FILES": "100000"})
    system.start_nats()
    try:
        yield Pair(system, start_gateway(system, "gateway-a"), start_gateway(system, "gateway-b"))
    finally:
        system.stop()


def event_seq(reply: httpx.Response) -> int:
    assert reply.status_code < 300, reply.text
    return int(reply.headers["X-Event-Seq"])


def burst_of_writes(http: httpx.Client, base: str, n: int = BURST) -> int:
    """``n`` file writes on ``base`` (keeping every replica's follower busy); the last seq."""
    seq = 0
    for i in range(n):
        seq = event_seq(http.put(f"{base}/api/workspace/files/burst/{i}.txt", content=b"x"))
    return seq


def test_a_write_on_one_replica_is_read_on_the_other_at_once(pair: Pair) -> None:
    with httpx.Client(timeout=10) as http:
        # A task submitted on A, after a burst B is still folding: there at once on B.
        burst_of_writes(http, pair.a)
        submitted = http.post(f"{pair.a}/api/requirements", json={"requirement": "say hello"})
        seq = event_seq(submitted)
        task_id = submitted.json()["task_id"]
        on_b = http.get(f"{pair.b}/api/tasks/{task_id}")
        assert on_b.status_code == 200, on_b.text
        listed = http.get(f"{pair.b}/api/tasks").json()
        assert task_id in {t["id"] for t in listed["tasks"]}

        # Its cancellation, the same way.
        burst_of_writes(http, pair.a)
        cancelled = http.post(f"{pair.a}/api/tasks/{task_id}/cancel")
        assert event_seq(cancelled) > seq
        assert http.get(f"{pair.b}/api/tasks/{task_id}").json()["status"] == "cancelled"

        # A workspace file written on A.
        burst_of_writes(http, pair.a)
        written = http.put(f"{pair.a}/api/workspace/files/agree.py", content=b"print('agree')\n")
        event_seq(written)
        read = http.get(f"{pair.b}/api/workspace/files/agree.py")
        assert read.status_code == 200, read.text
        assert read.content == b"print('agree')\n"

        # Settings saved on A.
        saved = http.post(f"{pair.a}/api/settings", json={"default_priority": 9})
        event_seq(saved)
        assert http.get(f"{pair.b}/api/settings").json()["default_priority"] == 9


def test_a_read_naming_a_write_waits_for_it(pair: Pair) -> None:
    with httpx.Client(timeout=10) as http:
        seq = burst_of_writes(http, pair.a)
        reply = http.get(
            f"{pair.b}/api/workspace/files/burst/{BURST - 1}.txt",
            headers={"X-After-Seq": str(seq)},
        )
        assert reply.status_code == 200, reply.text


def test_after_seq_beyond_the_stream_is_503_after_the_bound(pair: Pair) -> None:
    reply = httpx.get(f"{pair.b}/api/tasks", headers={"X-After-Seq": str(10**15)}, timeout=10)
    assert reply.status_code == 503
    assert reply.headers["Retry-After"] == "1"
    error = reply.json()["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert error["details"]["after_seq"] == 10**15
    assert error["details"]["projection_seq"] < 10**15


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "1" * 20, ""])
def test_a_malformed_after_seq_is_refused_in_the_envelope(pair: Pair, value: str) -> None:
    reply = httpx.get(f"{pair.a}/api/tasks", headers={"X-After-Seq": value}, timeout=10)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["code"] == "INVALID_REQUEST"
    assert error["details"]["field"] == "X-After-Seq"


@dataclass
class RoundRobin(httpx.BaseTransport):
    """A balancer in the client: each request to the next gateway, as seen."""

    bases: list[str]
    sent: list[tuple[str, str, str | None]] = field(default_factory=list)
    _next: Iterator[str] = field(init=False)
    _inner: httpx.HTTPTransport = field(default_factory=httpx.HTTPTransport)

    def __post_init__(self) -> None:
        self._next = itertools.cycle(self.bases)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        target = httpx.URL(next(self._next))
        request.url = request.url.copy_with(port=target.port)
        request.headers["Host"] = f"127.0.0.1:{target.port}"
        self.sent.append((request.method, str(request.url), request.headers.get("X-After-Seq")))
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def test_the_client_reads_its_writes_across_round_robin_replicas(pair: Pair) -> None:
    balancer = RoundRobin([pair.a, pair.b])
    with httpx.Client(timeout=10) as http, Client(pair.a, transport=balancer) as client:
        for i in range(3):
            burst_of_writes(http, pair.a if i % 2 else pair.b, 50)
            written = client.write_file(f"round/{i}.txt", f"v{i}".encode())
            assert written.name == f"{i}.txt"
            assert client.read_file(f"round/{i}.txt") == f"v{i}".encode()
        task = client.submit("round robin")
        assert client.task(task.task_id).id == task.task_id
    ports = {httpx.URL(url).port for _, url, _ in balancer.sent}
    assert ports == {httpx.URL(pair.a).port, httpx.URL(pair.b).port}
    reads = [after for method, _, after in balancer.sent if method == "GET"]
    assert reads and all(after is not None and int(after) > 0 for after in reads)


def test_the_headers_are_documented_as_plain_strings(pair: Pair) -> None:
    schema = httpx.get(f"{pair.a}/openapi.json", timeout=10).json()
    get_task = schema["paths"]["/api/tasks/{task_id}"]["get"]
    (after,) = [p for p in get_task["parameters"] if p["name"] == "X-After-Seq"]
    assert after["in"] == "header" and not after.get("required", False)
    assert {k: after["schema"][k] for k in ("type", "pattern")} == {
        "type": "string",
        "pattern": "^[0-9]{1,19}$",
    }
    assert "anyOf" not in after["schema"] and "nullable" not in after["schema"]
    submit = schema["paths"]["/api/requirements"]["post"]["responses"]["200"]
    assert submit["headers"]["X-Event-Seq"]["schema"]["pattern"] == "^[0-9]{1,19}$"
