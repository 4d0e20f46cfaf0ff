"""``GET /metrics`` in the Prometheus text format (``prometheus-client``).

Every figure is read at scrape time from what the gateway already holds (its read models, its
WebSocket hub, the heartbeats) and from JetStream (the durable consumers' pending counts), so
nothing on a request's path counts anything and every replica reports the same task figures.
The registry is built per scrape, never the library's global one, so gateways in one process
(tests) do not share figures.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import nats.errors
from nats.js import JetStreamContext
from nats.js.errors import APIError
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from orchestrator.events import subjects
from orchestrator.events.catalog import STAGE_AGENT

from .health_monitor import SERVICES, HealthMonitor
from .projections import ReadModels

log = logging.getLogger(__name__)

DURABLES = (
    subjects.AGENTS_DURABLE,
    subjects.WORKSPACE_DURABLE,
    subjects.WORKSPACE_EXEC_DURABLE,
    subjects.WORKSPACE_CHECKS_DURABLE,
    subjects.ARCHIVE_DURABLE,
)
STAGE_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
CONSUMER_INFO_TIMEOUT = 2.0
_STAGE_AGENT: dict[str, str] = {stage: agent for stage, agent in STAGE_AGENT.items()}


@dataclass
class Snapshot:
    """What one scrape reports, gathered before the (synchronous) collector runs."""

    models: ReadModels
    health: HealthMonitor
    ws_clients: int
    pending: dict[str, int] = field(default_factory=dict)


class _Collector(Collector):
    def __init__(self, snapshot: Snapshot) -> None:
        self.s = snapshot

    def collect(self) -> Iterator[Metric]:
        yield from self._tasks()
        yield from self._usage()
        yield self._executions()
        yield from self._services()
        clients = GaugeMetricFamily(
            "orchestrator_websocket_clients", "WebSocket clients connected to this gateway"
        )
        clients.add_metric([], self.s.ws_clients)
        yield clients
        pending = GaugeMetricFamily(
            "orchestrator_consumer_pending",
            "Messages a durable consumer has not delivered yet (the queue length)",
            labels=["consumer"],
        )
        for durable, count in sorted(self.s.pending.items()):
            pending.add_metric([durable], count)
        yield pending

    def _tasks(self) -> Iterator[Metric]:
        board = self.s.models.tasks
        tasks = GaugeMetricFamily("orchestrator_tasks", "Tasks by status", labels=["status"])
        counts = Counter(t.status for t in board.tasks.values())
        for status in ("created", "in_progress", "completed", "failed", "cancelled"):
            tasks.add_metric([status], counts.pop(status, 0))
        for status, count in sorted(counts.items()):
            tasks.add_metric([status], count)
        yield tasks
        durations: dict[str, list[float]] = {}
        for agent, seconds in board.stage_durations():
            durations.setdefault(agent, []).append(seconds)
        histogram = HistogramMetricFamily(
            "orchestrator_stage_duration_seconds",
            "Time from a stage's start to its end, by agent",
            labels=["agent"],
        )
        for agent, values in sorted(durations.items()):
            buckets = [(_le(b), sum(1 for v in values if v <= b)) for b in STAGE_BUCKETS]
            buckets.append(("+Inf", len(values)))
            histogram.add_metric([agent], buckets, sum_value=sum(values))
        yield histogram

    def _usage(self) -> Iterator[Metric]:
        tokens = CounterMetricFamily(
            "orchestrator_tokens",
            "Model tokens used, by agent, provider and direction",
            labels=["agent", "provider", "direction"],
        )
        cost = CounterMetricFamily(
            "orchestrator_cost_usd",
            "Model cost in USD, by agent and provider",
            labels=["agent", "provider"],
        )
        # The priced calls' cost: Prometheus has no "unknown"; /api/usage says which are.
        for key, totals in sorted(self.s.models.usage.by_agent_provider().items()):
            tokens.add_metric([*key, "input"], totals.input_tokens)
            tokens.add_metric([*key, "output"], totals.output_tokens)
            cost.add_metric(list(key), round(totals.cost_usd, 6))
        yield tokens
        yield cost

    def _executions(self) -> Metric:
        executions = GaugeMetricFamily(
            "orchestrator_executions",
            "Executions by status (their outcome once done)",
            labels=["status"],
        )
        counts = Counter(r.status for r in self.s.models.executions.listing())
        for status, count in sorted(counts.items()):
            executions.add_metric([status], count)
        return executions

    def _services(self) -> Iterator[Metric]:
        restarts = GaugeMetricFamily(
            "orchestrator_service_restarts",
            "Restarts of each service by its supervisor, as its heartbeats report",
            labels=["service"],
        )
        up = GaugeMetricFamily(
            "orchestrator_service_instances", "Live instances of each service", labels=["service"]
        )
        for service in SERVICES:
            restarts.add_metric([service], self.s.health.restarts(service))
            up.add_metric([service], len(self.s.health.instances(service)))
        yield restarts
        yield up


def _le(bound: float) -> str:
    return f"{bound:g}" if bound != int(bound) else f"{bound:.1f}"


async def pending_counts(js: JetStreamContext) -> dict[str, int]:
    """``num_pending`` of each durable that exists (a service never started has none yet)."""

    async def one(durable: str) -> tuple[str, int] | None:
        try:
            info = await asyncio.wait_for(
                js.consumer_info(subjects.EVENTS_STREAM, durable), CONSUMER_INFO_TIMEOUT
            )
        except (TimeoutError, nats.errors.Error, APIError) as exc:
            log.debug("no consumer info for %s: %r", durable, exc)
            return None
        return durable, int(info.num_pending or 0)

    found = await asyncio.gather(*(one(d) for d in DURABLES))
    return dict(f for f in found if f is not None)


def render(snapshot: Snapshot) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(snapshot))
    return generate_latest(registry)
