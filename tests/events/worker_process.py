"""A worker process for the crash test: takes one message, reports it, and hangs in the handler.

Run as ``python worker_process.py NATS_URL DURABLE ACK_WAIT MARKER [MAX_DELIVER]``; the test
SIGKILLs it while the handler runs and checks that another worker gets the message.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import nats

from orchestrator.events import Delivery, RecordedEvent, Worker, WorkerConfig, subjects


def crash_config(durable: str, ack_wait: float, max_deliver: int = 5) -> WorkerConfig:
    """The one config both the killed worker and its successor use (same durable consumer)."""
    return WorkerConfig(
        durable=durable,
        filter_subjects=(subjects.TASK_ALL,),
        ack_wait=ack_wait,
        max_deliver=max_deliver,
        backoff=(0.1,),
        max_concurrency=1,
    )


async def main(url: str, durable: str, ack_wait: float, marker: Path, max_deliver: int) -> None:
    nc = await nats.connect(url, max_reconnect_attempts=-1)
    js = nc.jetstream()

    def report(recorded: RecordedEvent, delivery: Delivery) -> None:
        marker.write_text(json.dumps({"seq": recorded.seq, "attempt": delivery.attempt}))

    async def handle(recorded: RecordedEvent, delivery: Delivery) -> None:
        report(recorded, delivery)
        await asyncio.Event().wait()  # mid-message until SIGKILL

    worker = Worker(nc, js, crash_config(durable, ack_wait, max_deliver), handle)
    await worker.start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    max_deliver = int(sys.argv[5]) if len(sys.argv) > 5 else 5
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), Path(sys.argv[4]), max_deliver))
