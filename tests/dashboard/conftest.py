"""The dashboard in a real Chromium (Debian's, driven by Playwright) against the real system:
NATS, gateway, agents (talking to the fake LLM), workspace and archive processes.

Every page is watched: a console error, an uncaught exception or a request to another origin
fails the test. The only tolerated console errors are the connection failures Chromium logs
while a test has deliberately stopped the gateway (``guard.gateway_down()``), and the refusals a
test provokes on purpose and names, status by status (``guard.expect_refusal(409)``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from orchestrator.events import Event
from tests.fakes import FakeLLM, RecordedRequest, Reply
from tests.harness import System, running
from tests.pipeline.conftest import FAST_ENV, happy
from tests.workspace.conftest import TEST_ENV, jetstream_of, write_file_at

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# What Chromium logs when a fetch or a WebSocket finds nobody listening.
CONNECTION_FAILED = re.compile(
    r"net::ERR_CONNECTION_REFUSED|net::ERR_CONNECTION_RESET|net::ERR_EMPTY_RESPONSE"
    r"|WebSocket connection to '.*' failed"
)
# What Chromium logs for any response with an error status, whatever the page does with it.
REFUSED = re.compile(r"Failed to load resource: the server responded with a status of (\d+)")


def run_async(make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run a coroutine on a loop of its own, away from Playwright's (sync API) loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result(timeout=60)


@pytest.fixture(scope="package")
def fake_llm() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server.answer_with(happy)


Script = Callable[[Callable[[RecordedRequest], Reply]], None]


@pytest.fixture
def script(fake_llm: FakeLLM) -> Iterator[Script]:
    """Give both fake providers a responder for one test; ``happy`` again afterwards."""

    def use(responder: Callable[[RecordedRequest], Reply]) -> None:
        fake_llm.answer_with(responder)

    yield use
    use(happy)


@pytest.fixture(scope="package")
def dash_system(tmp_path_factory: pytest.TempPathFactory, fake_llm: FakeLLM) -> Iterator[System]:
    env = {**TEST_ENV, **fake_llm.env(), **FAST_ENV, "RATE_LIMIT_ARCHIVE": "100000"}
    services = ("gateway", "agents", "workspace", "archive")
    with running(tmp_path_factory.mktemp("dashboard"), services, env) as system:
        yield system


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing (apt-get install chromium; .ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Guard:
    """What a page did that it must not: console errors, exceptions, other origins."""

    origin: str
    problems: list[str] = field(default_factory=list)
    tolerated: list[str] = field(default_factory=list)
    down: bool = False
    refusals: list[int] = field(default_factory=list)
    """Error statuses the test provokes, one entry per response."""

    def console(self, message: Any) -> None:
        if message.type != "error":
            return
        text = f"console error: {message.text}"
        refused = REFUSED.search(message.text)
        if self.down and CONNECTION_FAILED.search(message.text):
            self.tolerated.append(text)
        elif refused and int(refused.group(1)) in self.refusals:
            self.refusals.remove(int(refused.group(1)))
            self.tolerated.append(text)
        else:
            self.problems.append(text)

    def expect_refusal(self, status: int) -> None:
        """The page is about to get one response with ``status``, on purpose."""
        self.refusals.append(status)

    def request(self, url: str) -> None:
        same = url.startswith(self.origin + "/") or url == self.origin
        ws_same = url.startswith(self.origin.replace("http://", "ws://", 1) + "/")
        if not (same or ws_same or url.startswith("data:")):
            self.problems.append(f"request to another origin: {url}")

    @contextmanager
    def gateway_down(self) -> Iterator[None]:
        self.down = True
        try:
            yield
        finally:
            self.down = False

    def check(self) -> None:
        assert not self.problems, "\n".join(self.problems)


@dataclass
class Dashboard:
    page: Any
    guard: Guard
    system: System

    def open(self, fragment: str = "#/") -> Any:
        self.page.goto(f"{self.system.base_url}/{fragment}")
        self.page.wait_for_selector("#connection[data-state=live]")
        return self.page

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@contextmanager
def watched_page(browser: Any, system: System) -> Iterator[Dashboard]:
    """A page in a fresh context (its own sessionStorage), failing on anything it must not do."""
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    guard = Guard(origin=system.base_url)
    page.on("console", guard.console)
    page.on("pageerror", lambda error: guard.problems.append(f"page error: {error}"))
    page.on("request", lambda request: guard.request(request.url))
    page.on("websocket", lambda ws: guard.request(ws.url))
    try:
        yield Dashboard(page=page, guard=guard, system=system)
    finally:
        context.close()
    guard.check()


@pytest.fixture
def dashboard(browser: Any, dash_system: System) -> Iterator[Dashboard]:
    # ``browser`` first: without Chromium the test is skipped before a system is started.
    with watched_page(browser, dash_system) as dashboard:
        yield dashboard


async def _append(
    system: System, files: dict[str, bytes], events: Sequence[tuple[str, Event]]
) -> list[int]:
    from orchestrator.events import EventStore

    async with jetstream_of(system) as js:
        seqs = [(await write_file_at(js, path, data))[1] for path, data in files.items()]
        store = EventStore(js)
        for subject, event in events:
            seqs.append(await store.append(subject, event))
        return seqs


def write_files(system: System, files: dict[str, bytes]) -> list[int]:
    """Write workspace files the way the system does (bytes by digest, then the event), even
    with the gateway down; the events' sequence numbers."""
    seqs: list[int] = run_async(lambda: _append(system, files, ()))
    return seqs


def append_events(system: System, events: Sequence[tuple[str, Event]]) -> list[int]:
    """Append ``(subject, event)`` pairs to the stream, even with the gateway down; their
    sequence numbers."""
    seqs: list[int] = run_async(lambda: _append(system, {}, events))
    return seqs
