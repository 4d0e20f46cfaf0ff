"""Every line a run prints is recorded before its finish, however output batching is timed
against the process's exit.

The recorder appends a batch every ``EXEC_BATCH_INTERVAL``. It used to be cancelled when the
process exited, in the middle of an append: the batch was stored, but the lines behind it were
then appended under the same event id and dropped as a duplicate (the last line of a run, now
and then, under load). A 2 ms interval and a large batch just before the last line make that
moment likely.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from nats.js import JetStreamContext

from tests.harness import System, running

from .conftest import TEST_ENV, jetstream_of, run_output, start_run, wait_finished

EAGER = {**TEST_ENV, "EXEC_BATCH_INTERVAL": "0.002", "EXEC_MAX_OUTPUT_BYTES": "1000000"}

# 200 lines of 1.2 kB (one full batch, a slow append), a pause of 0 to 3.5 ms, one more line.
BURST = """\
import time
for i in range(1, 201):
    print(f"line {{i}} " + "x" * 1200)
time.sleep({pause})
print("last")
"""
EXPECTED = [f"line {i} " + "x" * 1200 for i in range(1, 201)] + ["last"]


@pytest.fixture(scope="module")
def eager_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with running(tmp_path_factory.mktemp("eager"), ("gateway", "workspace"), EAGER) as system:
        yield system


@pytest.fixture
async def ejs(eager_system: System) -> AsyncIterator[JetStreamContext]:
    async with jetstream_of(eager_system) as js:
        yield js


async def test_the_last_line_is_recorded_whenever_the_process_exits(
    eager_system: System, ejs: JetStreamContext
) -> None:
    for attempt in range(16):
        program = BURST.format(pause=0.0005 * (attempt % 8)).encode()
        path = f"implementation/burst_{attempt}.py"
        body = await start_run(eager_system, ejs, path, program)
        record = await wait_finished(eager_system, body["execution_id"])
        lines, final = await run_output(eager_system, body["execution_id"])
        assert final["exit_code"] == 0, (attempt, final)
        assert lines == EXPECTED, (attempt, len(lines), lines[-1][:20])
        assert record["output_lines"] == len(EXPECTED), (attempt, record)
