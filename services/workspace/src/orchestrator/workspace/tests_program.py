"""The ``tests`` check's program: run inside the sandbox by its interpreter as
``python3 -c <this file's source> COMMAND LIMIT CHUNK``. Standard library only (nothing of the
service is importable in there), and kept to what Python 3.8 understands.

It runs the test COMMAND under ``/bin/sh`` in the project's root, where ``python``, ``python3``
and ``pytest`` are the sandbox's interpreter, and pytest (however the command starts it) writes
its JUnit report to the run's temporary directory (``PYTEST_ADDOPTS``). It keeps only the last
bytes of the command's output, kills the command's whole process group at LIMIT seconds (so a
hung test leaves its output tail and the report of what it got to, before the run's own wall
clock kills everything), and prints, in this order:

    @@ORCHESTRATOR-TESTS@@ exit=<status>      or  timeout=<LIMIT>
    @@ORCHESTRATOR-JUNIT@@                    (when pytest wrote a report)
    <the report, zlib-compressed, base64, CHUNK characters a line>
    @@ORCHESTRATOR-JUNIT-END@@
    <the tail of the command's output>

The report comes before the output, whose tail is bounded, so however much the tests print, and
however many tests there are, neither pushes it past the run's output line or byte limits (the
report itself is cut only past what the run's output limit carries: megabytes of XML once
compressed). The service reads it back with :func:`orchestrator.workspace.checks.read_tests_output`.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import zlib
from typing import IO

STATUS_MARK = "@@ORCHESTRATOR-TESTS@@"
JUNIT_MARK = "@@ORCHESTRATOR-JUNIT@@"
JUNIT_END = "@@ORCHESTRATOR-JUNIT-END@@"
TAIL_BYTES = 32 * 1024
REPORT_NAME = "orchestrator-junit.xml"


def prelude(python: str) -> str:
    """Shell functions that make the command's ``python``/``pytest`` the sandbox's interpreter
    (``/usr/bin/python`` may not exist, and pytest has no script on the sandbox's PATH)."""
    exe = shlex.quote(python)
    return (
        f'python() {{ {exe} "$@"; }}\n'
        f'python3() {{ {exe} "$@"; }}\n'
        f'pytest() {{ {exe} -m pytest "$@"; }}\n'
    )


class Tail:
    """The last ``TAIL_BYTES`` of a stream, read on a thread until it ends."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.data = bytearray()
        self._stream = stream
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while True:
            chunk = self._stream.read(65536)
            if not chunk:
                return
            self.data += chunk
            if len(self.data) > 2 * TAIL_BYTES:
                del self.data[: len(self.data) - TAIL_BYTES]

    def text(self) -> bytes:
        data = bytes(self.data[-TAIL_BYTES:])
        if len(self.data) > TAIL_BYTES and b"\n" in data:
            data = data[data.index(b"\n") + 1 :]  # start at a line
        return data if data.endswith(b"\n") or not data else data + b"\n"


def run(command: str, limit: float, report: str) -> tuple[str, bytes]:
    """Run ``command``; its status line and the tail of its output."""
    env = dict(os.environ)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # the service's test plugins are not the project's
    env["PYTEST_ADDOPTS"] = " ".join(
        ["-p", "no:cacheprovider", "-o", "junit_family=xunit1", shlex.quote(f"--junitxml={report}")]
    )
    child = subprocess.Popen(
        ["/bin/sh", "-c", prelude(sys.executable) + command],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    assert child.stdout is not None
    tail = Tail(child.stdout)
    try:
        status = f"exit={child.wait(timeout=limit)}"
    except subprocess.TimeoutExpired:
        status = f"timeout={limit:g}"
        with contextlib.suppress(OSError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    tail.thread.join(1.0)  # a process left in the background may hold the pipe open
    return status, tail.text()


def emit_report(path: str, chunk: int, out: list[str]) -> None:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return
    encoded = base64.b64encode(zlib.compress(data, 9)).decode("ascii")
    out.append(JUNIT_MARK)
    out.extend(encoded[i : i + chunk] for i in range(0, len(encoded), chunk))
    out.append(JUNIT_END)


def main(argv: list[str]) -> int:
    command, limit, chunk = argv[0], float(argv[1]), int(argv[2])
    report = os.path.join(tempfile.gettempdir(), REPORT_NAME)
    with contextlib.suppress(OSError):
        os.unlink(report)
    status, text = run(command, limit, report)
    lines = [f"{STATUS_MARK} {status}"]
    emit_report(report, chunk, lines)
    sys.stdout.write("".join(f"{line}\n" for line in lines))
    sys.stdout.flush()
    sys.stdout.buffer.write(text)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
