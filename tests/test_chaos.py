"""Chaos on ``make cluster``'s topology: three NATS nodes (the deploy configs, R3 streams,
``sync_interval: always``) and two replicas of every service, while 100 tasks are submitted
across both gateways and a NATS node and one replica of each service are SIGKILLed and restarted
in turn, over and over.

What must hold at the end: every accepted task completed; no stage completed twice; the two
gateways answer the task list identically; and one client's 11 requirements within a minute,
sent to both gateways in turn, are accepted exactly 10 times. The figures (tasks, kills by victim,
completed, doubled stages) are printed; ``pytest -s tests/test_chaos.py`` shows them.

The rate-limit count is checked once every replica is back: a request whose gateway dies after
counting it and before answering is counted again when the client retries it elsewhere, which no
limiter shared by replicas can tell from a new request.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import nats
import pytest

from orchestrator.events import EventStore, subjects
from orchestrator.events.catalog import StageCompleted, TaskCompleted
from orchestrator.launcher.cluster import NODES, LocalCluster
from orchestrator.launcher.nats_server import free_port
from orchestrator.launcher.supervisor import SERVICES, ServiceProcess
from tests.fakes import FakeLLM, RecordedRequest, Reply, Text
from tests.harness import eventually, within_one_minute
from tests.pipeline.conftest import FAST_ENV, REVIEW_OK, stage_of, task_of
from tests.pipeline.conftest import PLAN as PIPELINE_PLAN

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "nats"
REPLICAS = 2
CLIENTS = 20  # each sends 5: well inside the 10 per minute, retries included
PER_CLIENT = 5
SUBMIT_INTERVAL = 0.3  # about 30 s of submissions, all of them under fire
KILL_PAUSE = 1.0  # a victim stays down this long before it is restarted
BETWEEN_KILLS = 1.5
# The pipeline's plan, with nothing to run: the sandbox is not what this test is about.
PLAN = {**PIPELINE_PLAN, "run_command": "", "entry_point": "", "entry_kind": "none"}
# The pipeline tests' quick timings, but the real rate limit: it is one of the checks.
QUICK_ENV = {k: v for k, v in FAST_ENV.items() if k != "RATE_LIMIT_REQUIREMENTS"}


def answer(request: RecordedRequest) -> Reply:
    """Each task writes a file named after it, so concurrent tasks never touch the same file."""
    stage = stage_of(request)
    if stage == "implementation":
        name = f"{task_of(request)}.py"
        files = {"summary": "wrote it", "files": [{"path": name, "content": "VALUE = 1\n"}]}
        return Text(json.dumps(files))
    return Text(json.dumps(REVIEW_OK if stage == "validation" else PLAN))


@dataclass
class Topology:
    root: Path
    llm_env: dict[str, str]
    cluster: LocalCluster = field(init=False)
    ports: list[int] = field(default_factory=lambda: [free_port() for _ in range(REPLICAS)])
    replicas: dict[tuple[str, int], ServiceProcess] = field(default_factory=dict)
    exits: Counter[str] = field(default_factory=Counter)
    """Replicas that exited by themselves and were started again, by service and status."""

    @property
    def gateways(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    def start(self) -> None:
        logs = self.root / "logs"
        logs.mkdir(parents=True)
        self.cluster = LocalCluster(DEPLOY, self.root, logs).start()
        for service in SERVICES:
            for i in range(REPLICAS):
                process = ServiceProcess(
                    service, self._env(i), log_file=logs / f"{service}-{i}.log"
                )
                self.replicas[service, i] = process.start()

    def _env(self, i: int) -> dict[str, str]:
        return {
            **self.llm_env,
            "NATS_URL": ",".join(self.cluster.urls),
            "NATS_REPLICAS": "3",
            "DATA_DIR": str(self.root / f"replica-{i}"),
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(self.ports[i]),
            # The chaos clients are told apart by X-Forwarded-For, as behind a proxy.
            "GATEWAY_TRUSTED_PROXIES": "127.0.0.1",
            **QUICK_ENV,
            "LOG_LEVEL": "INFO",
        }

    def supervise(self) -> None:
        """As the launcher, compose or Kubernetes would: start again a replica that exited by
        itself (a start NATS did not answer exits with 75 for exactly that, on a fresh cluster
        electing its leaders too)."""
        for (service, _), process in self.replicas.items():
            if not process.running():
                self.exits[f"{service} (exit {process.returncode()})"] += 1
                process.start()

    def report(self) -> str:
        """For a failure: which replicas run, what exited, and the gateways' last log lines."""
        states = {
            f"{s}-{i}": p.pid if p.running() else p.returncode()
            for (s, i), p in self.replicas.items()
        }
        tails = "".join(
            f"\n== gateway-{i} (port {self.ports[i]})\n"
            + (self.root / "logs" / f"gateway-{i}.log").read_text(errors="replace")[-3000:]
            for i in range(REPLICAS)
        )
        return f"pids (or exit codes) {states}; exits {dict(self.exits)}{tails}"

    def stop(self) -> None:
        for process in self.replicas.values():
            process.terminate()
        for process in self.replicas.values():
            if not process.wait(10):
                process.kill()
        self.cluster.stop()


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[Topology]:
    with FakeLLM() as fake:
        fake.anthropic.responder = fake.openai.responder = answer
        topology = Topology(tmp_path, fake.env())
        topology.start()
        try:
            yield topology
        finally:
            topology.stop()


async def all_up(http: httpx.AsyncClient, topology: Topology) -> bool:
    topology.supervise()
    for url in topology.gateways:
        report = (await http.get(f"{url}/api/health")).json()
        if any(report["services"][s]["instances"] != REPLICAS for s in SERVICES):
            return False
    return True


class Chaos:
    """Kill a NATS node or one replica of a service, restart it, move to the next victim."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.kills: Counter[str] = Counter()
        self._victims = [*(f"nats-{n}" for n in NODES), *SERVICES]
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        turn = 0
        while not self._stopping.is_set():
            victim = self._victims[turn % len(self._victims)]
            replica = (turn // len(self._victims)) % REPLICAS
            self.topology.supervise()
            await asyncio.to_thread(self._kill_and_restart, victim, replica)
            self.kills[victim] += 1
            turn += 1
            await asyncio.sleep(BETWEEN_KILLS)

    def _kill_and_restart(self, victim: str, replica: int) -> None:
        if victim.startswith("nats-"):
            node = victim.removeprefix("nats-")
            self.topology.cluster.kill(node)
            time.sleep(KILL_PAUSE)
            self.topology.cluster.restart(node)
            return
        process = self.topology.replicas[victim, replica]
        process.kill()
        time.sleep(KILL_PAUSE)
        process.start()

    def stop(self) -> None:
        self._stopping.set()


async def submit(
    http: httpx.AsyncClient, gateways: list[str], client: int, k: int
) -> tuple[str, int]:
    """One client's requirement, sent to one gateway and, while it fails, to the other: the same
    Idempotency-Key makes a retry of an accepted submission answer with the same task."""
    headers = {"X-Forwarded-For": f"10.0.{client}.1", "Idempotency-Key": f"chaos-{client}-{k}"}
    body = {"requirement": f"chaos task {client}-{k}: write a module", "priority": 5}
    attempts = 0
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        url = gateways[(client + k + attempts) % len(gateways)]
        attempts += 1
        try:
            response = await http.post(f"{url}/api/requirements", json=body, headers=headers)
        except httpx.HTTPError:
            await asyncio.sleep(0.3)
            continue
        if response.status_code == 200:
            return response.json()["task_id"], attempts
        if response.status_code == 429 and attempts > 1:
            # A failed attempt is taken back from the counts, but only when NATS could be
            # reached to do it: a client whose retries still pass its limit waits as told.
            await asyncio.sleep(float(response.headers["Retry-After"]))
            continue
        assert response.status_code >= 500, response.text  # a first attempt is never a 4xx
        await asyncio.sleep(min(0.3 * attempts, 2.0))
    raise AssertionError(f"chaos task {client}-{k} was never accepted")


async def test_a_hundred_tasks_complete_while_nodes_and_replicas_are_killed(
    topology: Topology,
) -> None:
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=10) as http:
        await eventually(lambda: all_up(http, topology), "every replica up", timeout=90)
        chaos = Chaos(topology)
        chaos_task = asyncio.create_task(chaos.run())
        orders = [(c, k) for k in range(PER_CLIENT) for c in range(CLIENTS)]
        random.Random(7).shuffle(orders)
        submissions = []
        for client, k in orders:
            submissions.append(asyncio.create_task(submit(http, topology.gateways, client, k)))
            await asyncio.sleep(SUBMIT_INTERVAL)
        accepted = await asyncio.gather(*submissions)
        # A last round of kills after the last submission, then every victim is back.
        await asyncio.sleep(BETWEEN_KILLS * 4)
        chaos.stop()
        await chaos_task
        task_ids = {task_id for task_id, _ in accepted}
        assert len(task_ids) == CLIENTS * PER_CLIENT

        async def every_task_completed() -> dict[str, int]:
            topology.supervise()
            tasks = (await http.get(f"{topology.gateways[0]}/api/tasks")).json()["tasks"]
            statuses = Counter(t["status"] for t in tasks if t["id"] in task_ids)
            failed = [(t["id"], t.get("error")) for t in tasks if t["status"] == "failed"]
            if failed:  # an end state: no use waiting
                pytest.fail(f"{len(failed)} task(s) failed: {failed[:3]}")
            assert statuses["completed"] == len(task_ids), dict(statuses)
            return dict(statuses)

        statuses = await eventually(
            every_task_completed,
            lambda: f"every task completed; {topology.report()}",
            timeout=240,
        )
        await eventually(
            lambda: all_up(http, topology),
            lambda: f"every replica back; {topology.report()}",
            timeout=60,
        )

        async def same_lists() -> bool:
            a, b = [(await http.get(f"{url}/api/tasks")).content for url in topology.gateways]
            return a == b

        await eventually(same_lists, "both gateways' task lists identical", timeout=30)

        completions, doubled = await stage_completions(topology)
        assert doubled == [], doubled
        assert set(completions) == task_ids

        answers = await _one_clients_eleven_requirements(http, topology)
        assert sorted(answers) == [200] * 10 + [429], answers

    retries = sum(attempts - 1 for _, attempts in accepted)
    print(
        f"\nchaos: {len(task_ids)} tasks submitted across {REPLICAS} gateways "
        f"({retries} submission retries); kills by victim {dict(sorted(chaos.kills.items()))} "
        f"({sum(chaos.kills.values())} in all); replicas that exited by themselves and were "
        f"started again {dict(topology.exits)}; completed {statuses.get('completed', 0)}; "
        f"doubled stages {len(doubled)}; one client's 11 requirements: {answers.count(200)} "
        f"accepted, {answers.count(429)} refused; {time.monotonic() - started:.0f} s"
    )


async def _one_clients_eleven_requirements(
    http: httpx.AsyncClient, topology: Topology
) -> list[int]:
    """One client's 11 requirements over both gateways, within one rate-limit minute: their
    statuses (the limit is shared, so 10 are accepted)."""
    within_one_minute(seconds=30)
    answers = []
    for i in range(11):
        url = topology.gateways[i % REPLICAS]
        headers = {"X-Forwarded-For": "10.9.9.9", "Idempotency-Key": f"eleven-{i}"}
        body = {"requirement": f"one client's requirement {i}"}
        # A 503 asks to retry (a cluster just through its kills may still be electing leaders):
        # retried as a client does, with the same key; the failed attempt is not counted.
        for _ in range(20):
            response = await http.post(f"{url}/api/requirements", json=body, headers=headers)
            if response.status_code != 503:
                break
            await asyncio.sleep(0.5)
        answers.append(response.status_code)
    return answers


async def stage_completions(topology: Topology) -> tuple[dict[str, int], list[str]]:
    """Per task, how many StageCompleted it has; and every (task, stage, round) completed more
    than once, and every task completed more than once."""
    client = await nats.connect(servers=topology.cluster.urls)
    try:
        events = await EventStore(client.jetstream(timeout=10)).read(subjects.TASK_ALL)
    finally:
        await client.close()
    stages: Counter[tuple[str, str, int]] = Counter()
    finished: Counter[str] = Counter()
    for recorded in events:
        event = recorded.event
        if isinstance(event, StageCompleted):
            stages[event.task_id, event.stage, event.round] += 1
        elif isinstance(event, TaskCompleted):
            finished[event.task_id] += 1
    doubled = [f"{t} {s} round {r}" for (t, s, r), n in stages.items() if n > 1]
    doubled += [f"{t} completed {n} times" for t, n in finished.items() if n > 1]
    per_task = Counter(task_id for task_id, _, _ in stages)
    return dict(per_task), doubled
