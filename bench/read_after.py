"""What "replicas agree" costs a read: ``GET /api/tasks/{id}`` with and without its wait.

    python -m bench.read_after [--requests 500] [--concurrency 1,16]

One real gateway on the launcher's embedded nats-server, one task. Three ways to read it, in
the same run, interleaved in rounds so that drift hits all alike:

- ``X-After-Seq`` already reached: the replica answers at once, no request to NATS (the cost of
  a read before this feature: the baseline);
- no header: the replica asks NATS where the stream ends (one STREAM.INFO, shared by the reads
  in flight at once) and waits to have applied it;
- ``X-After-Seq`` of the last write: what the Python client sends, reached here, so at once.

Each figure is the p50 and p99 of the client-side latency (HTTP round trip included) over
``--requests`` reads, sequential and with ``--concurrency`` readers at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx

from tests.harness import System


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


async def measure(
    http: httpx.AsyncClient, path: str, headers: dict[str, str], requests: int, concurrency: int
) -> list[float]:
    latencies: list[float] = []
    left = requests

    async def reader() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            start = time.perf_counter()
            reply = await http.get(path, headers=headers)
            latencies.append(time.perf_counter() - start)
            assert reply.status_code == 200, reply.text

    await asyncio.gather(*(reader() for _ in range(concurrency)))
    return latencies


async def run(base: str, requests: int, concurrencies: list[int], rounds: int) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        submitted = await http.post("/api/requirements", json={"requirement": "bench read"})
        seq = submitted.headers["X-Event-Seq"]
        path = f"/api/tasks/{submitted.json()['task_id']}"
        ways = {
            "X-After-Seq reached (baseline)": {"X-After-Seq": "1"},
            "no header (waits for stream end)": {},
            f"X-After-Seq: {seq} (the client)": {"X-After-Seq": seq},
        }
        await measure(http, path, {}, 100, 4)  # warm-up
        for concurrency in concurrencies:
            results: dict[str, list[float]] = {name: [] for name in ways}
            for _ in range(rounds):
                for name, headers in ways.items():
                    results[name] += await measure(
                        http, path, headers, requests // rounds, concurrency
                    )
            print(f"GET /api/tasks/{{id}}, concurrency {concurrency}:")
            for name, latencies in results.items():
                p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
                print(
                    f"  {name:36s} p50 {p50 * 1000:7.2f} ms   p99 {p99 * 1000:7.2f} ms"
                    f"   ({len(latencies)} reads)"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", default="1,16")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        system = System(root=Path(root))
        system.start_nats()
        try:
            system.start_all(("gateway",))
            asyncio.run(
                run(
                    system.base_url,
                    args.requests,
                    [int(c) for c in args.concurrency.split(",")],
                    args.rounds,
                )
            )
        finally:
            system.stop()


if __name__ == "__main__":
    main()
