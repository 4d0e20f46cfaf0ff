"""The stream-end request that reads without X-After-Seq share (replicas agree).

A read may only use an answer to a STREAM.INFO request sent after it arrived: an earlier one
might have been answered before a write the read must see was acknowledged. A stand-in for
nats-py's JetStream context answers when the test says, so the order is the test's.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

from nats.js import JetStreamContext

from orchestrator.gateway.read_after import StreamEnd


@dataclass
class HeldStreamInfo:
    """``stream_info`` that answers the n-th request with ``n`` once released."""

    released: list[asyncio.Event] = field(default_factory=list)

    async def stream_info(self, name: str) -> Any:
        self.released.append(asyncio.Event())
        n = len(self.released)
        await self.released[-1].wait()
        return SimpleNamespace(state=SimpleNamespace(last_seq=n))


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_reads_arriving_meanwhile_share_the_next_request_not_the_one_in_flight() -> None:
    js = HeldStreamInfo()
    end = StreamEnd(cast(JetStreamContext, js), "EVENTS")
    first = asyncio.create_task(end.last_seq())
    await settle()
    later = [asyncio.create_task(end.last_seq()) for _ in range(10)]
    await settle()
    assert len(js.released) == 1  # the later reads wait for the next request, not sent yet
    js.released[0].set()
    assert await first == 1
    await settle()
    assert len(js.released) == 2  # sent once the first answered, for all ten
    js.released[1].set()
    assert await asyncio.gather(*later) == [2] * 10
    assert len(js.released) == 2


async def test_a_failed_request_fails_its_reads_and_the_next_one_is_asked_afresh() -> None:
    class Failing:
        calls = 0

        async def stream_info(self, name: str) -> Any:
            Failing.calls += 1
            if Failing.calls == 1:
                raise TimeoutError
            return SimpleNamespace(state=SimpleNamespace(last_seq=7))

    end = StreamEnd(cast(JetStreamContext, Failing()), "EVENTS")
    try:
        await end.last_seq()
    except TimeoutError:
        pass
    else:
        raise AssertionError("the failure was not handed to the read")
    assert await end.last_seq() == 7
