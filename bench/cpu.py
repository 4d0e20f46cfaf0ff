"""Where the CPU goes: each process's CPU time per task, for the system bench.pipeline runs.

    python -m bench.cpu [--tasks 100] [--concurrency 10]

Same system as :mod:`bench.pipeline` (real nats-server, gateway, agents, workspace, the fake LLM
in its own process), tasks submitted ``--concurrency`` at a time. Prints, for each process, the
CPU milliseconds (user + system) it spent per task between the first submission and the last
completion, beside the wall time per task. On two cores, a system that needs more than two CPU
milliseconds per wall millisecond is CPU-bound: that, not the floor, limits throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

import psutil  # type: ignore[import-untyped]

from tests.harness import System

from .pipeline import FakeProcess, SystemClient, measure


def _cpu(processes: dict[str, psutil.Process]) -> dict[str, float]:
    out = {}
    for name, proc in processes.items():
        times = proc.cpu_times()
        out[name] = times.user + times.system
    return out


async def main(tasks: int, concurrency: int) -> None:
    with FakeProcess() as fake, tempfile.TemporaryDirectory() as tmp:
        system = System(root=Path(tmp) / "system")
        server = system.start_nats()
        system.env.update(
            {
                **fake.env(),
                "RATE_LIMIT_REQUIREMENTS": "1000000",
                "AGENTS_MAX_CONCURRENCY": str(concurrency),
                "AGENTS_PREFETCH": str(concurrency * 2),
                "AGENTS_STREAM_OUTPUT": "true",
                "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
            }
        )
        client = SystemClient(system)
        try:
            started = system.start_all(("gateway", "agents", "workspace"))
            await client.start()
            await measure(client.run, concurrency, max(concurrency, 10))  # warm up
            procs = {name: psutil.Process(p.pid) for name, p in started.items() if p.pid}
            nats_pid = server._process.pid if server._process else None
            if nats_pid:
                procs["nats-server"] = psutil.Process(nats_pid)
            procs["fake LLM"] = psutil.Process(fake._process.pid)
            procs["bench client"] = psutil.Process()
            before = _cpu(procs)
            wall = time.perf_counter()
            await measure(client.run, concurrency, tasks)
            wall = time.perf_counter() - wall
            after = _cpu(procs)
        finally:
            await client.close()
            system.stop()
    print(f"CPU per task, {tasks} tasks at concurrency {concurrency} (ms of CPU per task)")
    total = 0.0
    for name in procs:
        spent = (after[name] - before[name]) * 1000 / tasks
        total += spent
        print(f"  {name:14} {spent:8.1f}")
    print(f"  {'all':14} {total:8.1f}   wall per task {wall * 1000 / tasks:.1f} ms")
    print(f"  CPU ms per wall ms: {total / (wall * 1000 / tasks):.2f} (of {os.cpu_count()} cores)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(main(args.tasks, args.concurrency))
