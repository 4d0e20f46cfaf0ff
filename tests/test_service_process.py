"""Each service as its own process: typed settings fail fast, SIGTERM drains and exits 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from orchestrator.events.service import EXIT_NATS_UNAVAILABLE
from orchestrator.launcher.nats_server import find_binary, free_port

from .harness import System, wait_until

SERVICES = ("gateway", "agents", "workspace", "archive")


def run_with_env(service: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("NATS_")}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", f"orchestrator.{service}"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize("service", SERVICES)
def test_a_bad_nats_url_stops_the_service_at_once_with_a_clear_message(service: str) -> None:
    started = time.monotonic()
    result = run_with_env(service, NATS_URL="http://x")
    assert result.returncode != 0
    assert time.monotonic() - started < 15
    assert "NATS_URL" in result.stderr and "not a NATS URL" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("service", "variable", "value"),
    [
        ("agents", "LOG_LEVEL", "chatty"),
        ("agents", "EVENT_LOOP", "trio"),
        ("gateway", "EVENT_LOOP", "x"),
    ],
)
def test_a_bad_log_level_or_event_loop_is_named_too(
    service: str, variable: str, value: str
) -> None:
    result = run_with_env(service, NATS_URL="nats://127.0.0.1:1", **{variable: value})
    assert result.returncode == 2
    assert variable in result.stderr and "Traceback" not in result.stderr


def test_event_loop_asyncio_is_chosen_for_every_service(system: System) -> None:
    name = "archive-on-asyncio"
    process = system.start("archive", log_name=name, EVENT_LOOP="asyncio")

    def ready() -> bool:
        if not process.running():
            raise RuntimeError(system.log(name))
        return " ready (event loop: " in system.log(name)

    wait_until(ready, lambda: f"archive ready:\n{system.log(name)}", timeout=30)
    assert "(event loop: asyncio)" in system.log(name), system.log(name)
    process.signal(signal.SIGTERM)
    assert process.wait(10)


@pytest.mark.parametrize("service", SERVICES)
def test_sigterm_drains_and_exits_zero_within_seconds(system: System, service: str) -> None:
    process = system.start(service)
    if service == "gateway":
        system.wait_ready({service: process})
    else:

        def ready() -> bool:
            if not process.running():
                raise RuntimeError(system.log(service))
            log = system.log(service)
            return f"{service}-" in log and " ready" in log

        wait_until(ready, lambda: f"{service} ready:\n{system.log(service)}", timeout=30)
        # uvloop for every service's own loop (the gateway's is uvicorn's, uvloop too) but the
        # workspace's: uvloop cannot start a sandboxed run as another user and group.
        loop = "asyncio" if service == "workspace" else "uvloop"
        assert f"(event loop: {loop})" in system.log(service), system.log(service)
    assert process.running()

    started = time.monotonic()
    process.signal(signal.SIGTERM)
    assert process.wait(10), f"{service} still running 10 s after SIGTERM:\n{system.log(service)}"
    assert process.returncode() == 0, system.log(service)
    assert time.monotonic() - started < 10
    assert "Traceback" not in system.log(service)


def test_a_service_started_before_nats_waits_for_it_then_runs(system: System) -> None:
    """Services may come up in any order: without NATS they keep trying, then carry on."""
    nats = system.nats
    assert nats is not None
    nats.stop()
    agents = system.start("agents")
    time.sleep(1.5)
    assert agents.running(), system.log("agents")
    nats.start()
    gateway = system.start("gateway")
    system.wait_ready({"gateway": gateway, "agents": agents})
    report = httpx.get(f"{system.base_url}/api/health", timeout=2).json()
    assert report["services"]["agents"]["status"] == "up"


@pytest.mark.parametrize("service", SERVICES)
def test_a_start_nats_cannot_answer_is_one_line_and_exit_75_for_the_supervisor(
    service: str,
) -> None:
    """A NATS server without JetStream answers no stream request, as a cluster between leaders
    does not: the service says so in a line and exits EX_TEMPFAIL, never with a traceback."""
    port = free_port()
    server = subprocess.Popen(
        [find_binary(), "-a", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        result = run_with_env(service, NATS_URL=f"nats://127.0.0.1:{port}")
    finally:
        server.terminate()
        server.wait(10)
    assert result.returncode == EXIT_NATS_UNAVAILABLE, result.stderr[-2000:]
    assert "could not start, NATS did not answer" in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
