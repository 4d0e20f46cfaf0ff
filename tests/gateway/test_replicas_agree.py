"""Replicas agree (issue 10, item 3): a write answered 2xx by one gateway replica is reflected by
the next read on the other, with or without the client naming its write (``X-After-Seq``).

Two real gateways on one real NATS. Every write on A is read back on B at once: B either has
folded the write already or waits for it (the stream's end when the read came, or the named
sequence), never answers without it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import nats
import pytest

from orchestrator.events import subjects
from orchestrator.events.catalog import ApprovalRequested
from orchestrator.events.catalog.workspace import FileWritten
from orchestrator.events.envelope import Envelope, encode
from orchestrator.launcher.nats_server import free_port
from orchestrator.launcher.supervisor import ServiceProcess
from orchestrator_client import Client
from tests.harness import System, running, wait_until

READ_WAIT = "2"
FLOOD = 5_000
"""Events another writer appends before each write on A: what B is still folding when the read
on B comes, so that a B that did not wait would answer without the write."""


@dataclass
class Pair:
    system: System
    a: str
    b: str
    b_process: ServiceProcess


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
        system.start("archive")  # for the reset
        a = start_gateway(system, "gateway-a")
        b = start_gateway(system, "gateway-b")
        yield Pair(system, a, b, system.processes[-1])
    finally:
        system.stop()


def event_seq(reply: httpx.Response) -> int:
    assert reply.status_code < 300, reply.text
    return int(reply.headers["X-Event-Seq"])


def flood(system: System, n: int = FLOOD) -> int:
    """``n`` file events appended straight to the stream (another writer, pipelined: the replicas
    fold them after the fact); the last one's sequence."""

    async def append() -> int:
        assert system.nats is not None
        nc = await nats.connect(system.nats.url)
        try:
            # A fresh envelope each: the stream drops a repeated message id as a duplicate.
            event = FileWritten(path="flood.txt", digest="0" * 64, size=1)
            messages = [encode(Envelope.wrap(event)) for _ in range(n)]
            for body, headers in messages[:-1]:
                await nc.publish(subjects.WORKSPACE, body, headers=headers)
            body, headers = messages[-1]
            ack = await nc.jetstream().publish(subjects.WORKSPACE, body, headers=headers)
            return int(ack.seq)
        finally:
            await nc.close()

    return asyncio.run(append())


def read_on_b_right_after(
    pair: Pair,
    write: Callable[[], httpx.Response],
    path: str | Callable[[httpx.Response], str],
    after_seq: bool = False,
) -> tuple[int, bytes]:
    """``write()`` on A, then ``GET path`` on B, while B is behind by a flood of events.

    B is paused (SIGSTOP) while another writer floods the stream and A answers the write, and
    the read is sent to B before it resumes: when B runs again it has both the flood and the
    read to handle, so a B that answered reads without waiting would answer without the write.
    With ``after_seq`` the read names the write's ``X-Event-Seq``. ``path`` may be made from
    the write's answer.
    """
    port = httpx.URL(pair.b).port
    assert port is not None
    pair.b_process.signal(signal.SIGSTOP)
    try:
        flood(pair.system)
        written = write()
        headers = {"X-After-Seq": str(event_seq(written))} if after_seq else {}
        if callable(path):
            path = path(written)
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        request = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
        request += [f"{name}: {value}" for name, value in headers.items()]
        sock.sendall("\r\n".join([*request, "", ""]).encode())
    finally:
        pair.b_process.signal(signal.SIGCONT)
    with sock:
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_a_write_on_one_replica_is_read_on_the_other_at_once(pair: Pair) -> None:
    with httpx.Client(timeout=30) as http:

        def submit() -> httpx.Response:
            return http.post(f"{pair.a}/api/requirements", json={"requirement": "say hello"})

        def task_path(submitted: httpx.Response) -> str:
            return f"/api/tasks/{submitted.json()['task_id']}"

        status, body = read_on_b_right_after(pair, submit, task_path)
        assert status == 200, body
        task_id = json.loads(body)["id"]
        submitted: list[str] = []

        def listed(answer: httpx.Response) -> str:
            submitted.append(answer.json()["task_id"])
            return "/api/tasks"

        status, body = read_on_b_right_after(pair, submit, listed)
        assert status == 200, body
        assert submitted[0] in {t["id"] for t in json.loads(body)["tasks"]}

        def cancel() -> httpx.Response:
            return http.post(f"{pair.a}/api/tasks/{task_id}/cancel")

        status, body = read_on_b_right_after(pair, cancel, f"/api/tasks/{task_id}")
        assert status == 200, body
        assert json.loads(body)["status"] == "cancelled"

        def write_file() -> httpx.Response:
            return http.put(f"{pair.a}/api/workspace/files/agree.py", content=b"print('agree')")

        status, body = read_on_b_right_after(pair, write_file, "/api/workspace/files/agree.py")
        assert (status, body) == (200, b"print('agree')")

        # A reset on A (the archive service archives the workspace): the archive listed on B.
        archived: list[str] = []

        def reset() -> httpx.Response:
            answer = http.post(f"{pair.a}/api/project/reset")
            archived.append(answer.json().get("archive_name", answer.text))
            return answer

        status, body = read_on_b_right_after(pair, reset, "/api/archive")
        assert status == 200, body
        assert archived[0] in {a["name"] for a in json.loads(body)["archives"]}

        # Settings saved on A (read from the settings bucket, not a projection).
        event_seq(http.post(f"{pair.a}/api/settings", json={"default_priority": 9}))
        assert http.get(f"{pair.b}/api/settings").json()["default_priority"] == 9


def ask_approval(system: System, task_id: str, round_: int) -> None:
    """The task waits at its plan gate (what the agents append when ``approve_plan`` is set)."""

    async def append() -> None:
        assert system.nats is not None
        nc = await nats.connect(system.nats.url)
        try:
            event = ApprovalRequested(task_id=task_id, gate="plan", round=round_)
            body, headers = encode(Envelope.wrap(event))
            await nc.jetstream().publish(subjects.task(task_id), body, headers=headers)
        finally:
            await nc.close()

    asyncio.run(append())


def test_approve_and_feedback_on_one_replica_are_read_on_the_other_at_once(pair: Pair) -> None:
    with httpx.Client(timeout=30) as http:
        submitted = http.post(f"{pair.a}/api/requirements", json={"requirement": "gate me"})
        task_id = submitted.json()["task_id"]
        path = f"/api/tasks/{task_id}"

        def waiting(round_: int) -> bool:
            task = http.get(f"{pair.b}{path}").json()
            return bool(
                task["status"] == "awaiting_approval" and task["approval"]["round"] == round_
            )

        ask_approval(pair.system, task_id, 1)
        wait_until(lambda: waiting(1), "the task to wait at its plan gate on B")

        def feedback() -> httpx.Response:
            return http.post(f"{pair.a}{path}/feedback", json={"message": "smaller, please"})

        status, body = read_on_b_right_after(pair, feedback, path)
        assert status == 200, body
        task = json.loads(body)
        assert task["status"] == "in_progress" and task["approval"] is None
        assert task["approvals"][-1]["status"] == "revise"
        assert task["approvals"][-1]["feedback"] == "smaller, please"

        ask_approval(pair.system, task_id, 2)
        wait_until(lambda: waiting(2), "the revised plan to wait on B")

        def approve() -> httpx.Response:
            return http.post(f"{pair.a}{path}/approve")

        status, body = read_on_b_right_after(pair, approve, path, after_seq=True)
        assert status == 200, body
        task = json.loads(body)
        assert task["status"] == "in_progress"
        assert [a["status"] for a in task["approvals"]] == ["revise", "approved"]


def test_a_read_naming_a_write_waits_for_it(pair: Pair) -> None:
    with httpx.Client(timeout=30) as http:
        for i in range(3):  # how far behind B is when the read comes varies: three chances

            def write_file(i: int = i) -> httpx.Response:
                return http.put(f"{pair.a}/api/workspace/files/named.txt", content=b"v%d" % i)

            status, body = read_on_b_right_after(
                pair, write_file, "/api/workspace/files/named.txt", after_seq=True
            )
            assert (status, body) == (200, b"v%d" % i)


def test_after_seq_past_the_stream_end_waits_for_the_end_only(pair: Pair) -> None:
    """No write was answered with it (every acknowledged one is at or before the stream's end):
    the answer reflects the whole stream, no wait for an event that may never come."""
    with httpx.Client(timeout=10) as http:
        seq = event_seq(http.put(f"{pair.a}/api/workspace/files/end.txt", content=b"end"))
        reply = http.get(
            f"{pair.b}/api/workspace/files/end.txt", headers={"X-After-Seq": str(seq + 10**15)}
        )
        assert (reply.status_code, reply.content) == (200, b"end")


def test_a_replica_cut_off_from_nats_answers_what_it_has_unless_a_write_is_named(
    tmp_path: Path,
) -> None:
    """NATS gone: the replica cannot learn where the stream ends, and nothing can be written
    through it. A read naming a write it has not seen is a 503 with Retry-After (it may be
    stale); a read naming none is answered from what it has, and the log says so."""
    with running(tmp_path, ("gateway",), {"GATEWAY_READ_WAIT": READ_WAIT}) as system:
        url = f"{system.base_url}/api/workspace/files/seen.txt"
        seq = event_seq(httpx.put(url, content=b"seen", timeout=10))
        assert httpx.get(url, headers={"X-After-Seq": str(seq)}, timeout=10).content == b"seen"
        assert system.nats is not None
        system.nats.stop()
        unseen = {"X-After-Seq": str(seq + 1)}
        reply = httpx.get(f"{system.base_url}/api/tasks", headers=unseen, timeout=30)
        assert reply.status_code == 503, reply.text
        assert reply.headers["Retry-After"] == "1"
        assert reply.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
        listing = f"{system.base_url}/api/workspace/files"
        wait_until(
            lambda: "seen.txt" in httpx.get(listing, timeout=30).text,
            "a read naming no write to be answered from what the replica has",
        )
        assert "read(s) answered from the read models as they are" in system.log("gateway")


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
    with Client(pair.a, transport=balancer) as client:
        for i in range(3):
            flood(pair.system, 1_000)
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
