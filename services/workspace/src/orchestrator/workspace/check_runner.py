"""Running validation's checks on a round's candidate files, in the sandbox, and saying how
they went. I/O: the decisions and the report reading are :mod:`.checks`.

The candidate project is written to a directory of its own (never the workspace), and each check
is an unrecorded :class:`~.run.Run` of it: the same sandbox, limits and kill of the whole process
tree as any execution. A server's smoke check waits for its port through the preview relay, asks
for its health path and stops it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import shlex
import shutil
import time
import uuid
from collections.abc import Awaitable
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path

import httpx
from nats.js import JetStreamContext
from nats.js.object_store import ObjectStore

from orchestrator.events import EventStore
from orchestrator.events.catalog import CheckOutcome, ExecutionFinished, FileRef, RunPlan
from orchestrator.events.objects import fetch_content
from orchestrator.events.runnables import Runnable, Runtimes, inspect_file

from . import checks, dependencies, disk, tests_program
from .dependencies import DependencyError
from .dependency_cache import DependencyCache
from .sandbox.profile import SandboxProfile
from .sandboxed_run import Run
from .settings import WorkspaceSettings

log = logging.getLogger(__name__)

REPORT_CHUNK = 1024
"""Characters per line of the JUnit report's base64 (at most the run's line limit)."""
KILL_MARGIN = 2.0
"""Seconds the tests program keeps, after killing a test command at its limit, to print what
it has before the run's wall clock kills everything."""


@dataclass(eq=False)
class CheckRunner:
    settings: WorkspaceSettings
    profile: SandboxProfile
    store: EventStore
    _: KW_ONLY
    js: JetStreamContext
    files: ObjectStore
    deps: DependencyCache
    runtimes: Runtimes
    _slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2), init=False)

    async def run(self, files: tuple[FileRef, ...], plan: RunPlan) -> tuple[CheckOutcome, ...]:
        if not self.profile.can_run:
            reason = f"no sandbox is available here ({self.profile.mode})"
            return (checks.not_run("tests", reason), checks.not_run("smoke", reason))
        contents = dict(
            zip(
                [ref.path for ref in files],
                await asyncio.gather(
                    *(fetch_content(self.js, self.files, ref.digest) for ref in files)
                ),
                strict=True,
            )
        )
        entry = plan.entry_point
        runnable = (
            inspect_file(entry, contents[entry], runtimes=self.runtimes)
            if entry in contents
            else None
        )
        decided = checks.plan_checks(
            files, plan, server_entry=runnable is not None and runnable.role == "server"
        )
        root = self.settings.data_dir.resolve() / "checks" / uuid.uuid4().hex
        async with self._slots:
            try:
                await asyncio.to_thread(_write_project, root, contents)
                return await self._run_checks(root, decided, runnable)
            finally:
                await asyncio.to_thread(shutil.rmtree, root, True)

    async def _run_checks(
        self, root: Path, decided: checks.CheckPlan, runnable: Runnable | None
    ) -> tuple[CheckOutcome, ...]:
        try:
            env = await self._dependencies(root, decided)
        except DependencyError as exc:
            reason = f"the project's dependencies could not be installed: {exc}"
            return (checks.failed("tests", reason), checks.failed("smoke", reason))
        outcomes: list[CheckOutcome] = []
        if decided.tests:
            tests = self._tests(root, decided.test_command, env)
            outcomes.append(await _started(tests, "tests"))
        else:
            outcomes.append(checks.not_run("tests", decided.not_run["tests"]))
        if decided.smoke is not None:
            smoke = self._smoke(root, decided.smoke, runnable, env)
            outcomes.append(await _started(smoke, "smoke"))
        elif "smoke" in decided.failed:
            outcomes.append(checks.failed("smoke", decided.failed["smoke"]))
        else:
            outcomes.append(checks.not_run("smoke", decided.not_run["smoke"]))
        return tuple(outcomes)

    async def _dependencies(self, root: Path, decided: checks.CheckPlan) -> str | None:
        """The installed environment of the candidate's requirements (wheels only), if any."""
        near = decided.smoke.entry if decided.smoke is not None else "pytest"
        found = await asyncio.to_thread(dependencies.find, root, near)
        if found is None:
            return None
        return str(await self.deps.environment(found))

    def _run(self, path: str, runnable: Runnable, env: str | None) -> Run:
        return Run(
            execution_id=f"check_{uuid.uuid4().hex[:16]}",
            path=path,
            runnable=runnable,
            settings=self.settings,
            profile=self.profile,
            store=self.store,
            deps=env,
        )

    async def _tests(self, root: Path, test_command: str, env: str | None) -> CheckOutcome:
        lifetime = self.settings.exec_timeout
        limit = max(lifetime - KILL_MARGIN, lifetime / 2)
        chunk = min(REPORT_CHUNK, self.settings.exec_max_line_chars)
        program = f"python3 -c {shlex.quote(_tests_program())} "
        program += f"{shlex.quote(test_command)} {limit:g} {chunk}"
        run = self._run("pytest", Runnable(True, "python_tests", program), env)
        finished, output, duration = await _to_the_end(run, root)
        if finished.status == "timed_out":
            reason = f"the tests ran past {run.lifetime:g}s and were killed ({test_command})"
            return checks.failed("tests", reason, output, duration)
        return checks.outcome_of_tests(output, finished.exit_code, duration, test_command)

    async def _smoke(
        self, root: Path, smoke: checks.Smoke, runnable: Runnable | None, env: str | None
    ) -> CheckOutcome:
        if smoke.kind == "server":
            return await self._serve(root, smoke, runnable, env)
        name = smoke.entry.rsplit("/", 1)[-1]
        script = (
            runnable
            if runnable and runnable.role == "script" and runnable.command
            else Runnable(True, "python_script", f"python {name}")
        )
        run = self._run(smoke.entry, script, env)
        finished, output, duration = await _to_the_end(run, root)
        if finished.status == "completed":
            return checks.passed("smoke", f"{smoke.entry} exited 0", output, duration)
        if finished.status == "timed_out":
            reason = f"{smoke.entry} did not finish within {run.lifetime:g}s"
        else:
            reason = f"{smoke.entry} exited {finished.exit_code}"
        return checks.failed("smoke", reason, output, duration)

    async def _serve(
        self, root: Path, smoke: checks.Smoke, runnable: Runnable | None, env: str | None
    ) -> CheckOutcome:
        port = (runnable.port if runnable else None) or smoke.port
        name = smoke.entry.rsplit("/", 1)[-1]
        command = runnable.command if runnable and runnable.command else f"python {name}"
        run = self._run(smoke.entry, Runnable(True, "python_server", command, port), env)
        started = time.monotonic()
        await run.start(root)
        supervised = asyncio.create_task(run.supervise(record=False))
        startup = self.settings.check_server_startup
        status = await _first_answer(run, smoke.health_path, supervised, startup)
        run.stop("smoke check done")
        finished = await supervised
        output = "\n".join(run.output())
        duration = round(time.monotonic() - started, 3)
        where = f"GET {smoke.health_path} on port {port}"
        if status is None:
            reason = f"{smoke.entry} never answered {where} ({finished.status})"
            return checks.failed("smoke", reason, output, duration)
        if status >= 500:
            return checks.failed("smoke", f"{where} answered {status}", output, duration)
        return checks.passed("smoke", f"{where} answered {status}", output, duration)


async def _to_the_end(run: Run, root: Path) -> tuple[ExecutionFinished, str, float]:
    """Run a script check to its end: how it finished, its output, its duration."""
    started = time.monotonic()
    await run.start(root)
    finished = await run.supervise(record=False)
    return finished, "\n".join(run.output()), round(time.monotonic() - started, 3)


async def _started(check: Awaitable[CheckOutcome], name: str) -> CheckOutcome:
    """A check whose process the sandbox could not even start has failed (recorded so), rather
    than leaving the task waiting for an outcome that a retry would never bring."""
    try:
        return await check
    except OSError as exc:
        log.warning("check %s could not start: %s", name, exc)
        return checks.failed(name, f"the sandbox could not start it: {exc}")


async def _first_answer(
    run: Run, path: str, supervised: asyncio.Task[object], startup: float
) -> int | None:
    """The status of the first HTTP answer the server gives on ``path`` within ``startup``
    seconds, or None."""
    if run.preview_url is None:
        return None
    url = run.preview_url.rstrip("/") + path
    deadline = time.monotonic() + startup
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline and not supervised.done():
            try:
                return (await client.get(url)).status_code
            except httpx.HTTPError:
                await asyncio.sleep(0.2)
    return None


def _write_project(root: Path, contents: dict[str, bytes]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    for path, data in contents.items():
        disk.write_file(root, path, data)


@functools.cache
def _tests_program() -> str:
    """The source of :mod:`.tests_program`, which the sandbox's interpreter runs (``-c``)."""
    return Path(tests_program.__file__).read_text()
