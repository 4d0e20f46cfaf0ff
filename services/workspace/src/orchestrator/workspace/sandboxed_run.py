"""One execution: snapshot the workspace, start the sandboxed process, stream its output as
``ExecutionOutput`` batches to the ``OUTPUT`` stream (not the domain stream), enforce its wall
clock, stop it on request, and record how it finished.

The process is started in a session of its own, behind a gate: it waits until the service has
put it in the run's cgroup (where cgroups work). Killing that process group kills bubblewrap (or
the Landlock entry point), whose child then takes the whole PID namespace with it, so nothing the
code forked (daemons included) survives a stop, a timeout or the service stopping; what is left in
the cgroup is killed before it is removed.

The run's directory holds ``project/``, the snapshot of the workspace the code gets a writable,
size-capped copy of; it is removed with the run, and the workspace itself never changes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import stat
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from orchestrator.events import EventStore, subjects
from orchestrator.events.catalog import ExecutionFinished, ExecutionOutput
from orchestrator.events.runnables import Runnable

from .output import OutputLimiter
from .sandbox import command
from .sandbox.cgroups import Limits as CgroupLimits
from .sandbox.cgroups import RunCgroup
from .sandbox.probe import identity, limits_of
from .sandbox.profile import SandboxProfile
from .settings import WorkspaceSettings

log = logging.getLogger(__name__)

MAX_BATCH_BYTES = 256 * 1024  # an output event stays well under the stream's message size


@dataclass
class Run:
    execution_id: str
    path: str
    runnable: Runnable
    settings: WorkspaceSettings
    profile: SandboxProfile
    store: EventStore
    proc: asyncio.subprocess.Process | None = None
    preview_url: str | None = None
    started_at: float = 0.0
    limiter: OutputLimiter = field(init=False)
    _pending: list[str] = field(default_factory=list)
    _next_line: int = 1
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _stop_reason: str = "stopped"
    _stage: Path | None = None
    _relay: asyncio.subprocess.Process | None = None
    _listener: socket.socket | None = None
    _flush_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _cgroup: RunCgroup | None = None
    _lifeline: bool = False
    deps: str | None = None  # the installed environment of the project's requirements
    first_line: int = 1  # past what an earlier attempt at this run recorded (a redelivery)
    output_seq: int = 0
    """The output stream's sequence of the last batch recorded (by an earlier attempt, at first)."""
    _outputs: EventStore = field(init=False)

    def __post_init__(self) -> None:
        self._next_line = self.first_line
        self._outputs = EventStore(
            self.store.js,
            stream=subjects.OUTPUT_STREAM,
            retry_for=self.store.retry_for,
            request_timeout=self.store.request_timeout,
        )
        s = self.settings
        self.limiter = OutputLimiter(
            max_line=s.exec_max_line_chars,
            max_bytes=s.exec_max_output_bytes,
            max_lines=s.exec_max_output_lines,
        )

    def say(self, line: str) -> None:
        """A line of the run's own output before the code's (the install of its requirements)."""
        self._pending.extend(self.limiter.feed(f"{line}\n".encode()))

    @asynccontextmanager
    async def recording(self) -> AsyncIterator[None]:
        """Record what is said inside as it is said (batched like the code's output), all of it
        by the end: what prepares a run streams as the run's first lines."""
        done = asyncio.Event()
        flusher = asyncio.create_task(self._flush_loop(done))
        try:
            yield
        finally:
            done.set()
            await flusher
            await self._flush(everything=True)

    @property
    def is_server(self) -> bool:
        return self.runnable.serves

    @property
    def lifetime(self) -> float:
        s = self.settings
        return s.exec_server_lifetime if self.is_server else s.exec_timeout

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else 0

    def limits(self) -> command.Limits:
        s = self.settings
        cpu = s.sandbox_server_cpu_seconds if self.is_server else s.sandbox_cpu_seconds
        return replace(limits_of(s), cpu_seconds=cpu)

    async def start(self, workspace_root: Path) -> None:
        """Start the process (raises OSError when it cannot be started)."""
        stage = self.profile.stage_root / self.execution_id
        self._stage = stage
        await asyncio.to_thread(_snapshot, workspace_root, stage)
        bpf_fd = (
            os.open(self.profile.seccomp_bpf, os.O_RDONLY | os.O_CLOEXEC)
            if self.profile.seccomp_bpf
            else None
        )
        try:
            launch = command.build(
                self.profile,
                self.limits(),
                stage=str(stage),
                file_path=self.path,
                command=self.runnable.command or "",
                allow_network=self.settings.sandbox_allow_network,
                seccomp_fd=bpf_fd,
                server=self.is_server,
                deps=self.deps,
            )
            await asyncio.to_thread(command.prepare, stage, launch)
            self._lifeline = launch.lifeline
            if self.profile.cgroup_placement and self.profile.contained:
                self._cgroup = RunCgroup(self.profile.cgroup_placement, self.execution_id)
                await asyncio.to_thread(self._cgroup.create, self._cgroup_limits())
            who = identity(self.settings, self.profile)
            self.started_at = time.monotonic()
            self.proc = await asyncio.create_subprocess_exec(
                *launch.argv,
                env=launch.env,
                cwd=launch.cwd,
                stdin=asyncio.subprocess.PIPE
                if self.profile.contained
                else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                pass_fds=(bpf_fd,) if bpf_fd is not None else (),
                user=who.user,
                group=who.group,
                extra_groups=who.extra_groups,
            )
        finally:
            if bpf_fd is not None:
                os.close(bpf_fd)
        await self._open_gate()
        if self.is_server and self.runnable.port:
            try:
                await self._open_preview(self.runnable.port)
            except OSError as exc:
                # The run goes on; only its preview is missing, and the log says why.
                log.warning("%s: no preview: %s", self.execution_id, exc)

    def _cgroup_limits(self) -> CgroupLimits:
        s = self.settings
        return CgroupLimits(
            s.sandbox_cgroup_memory_bytes, s.sandbox_processes, s.sandbox_cpu_shares
        )

    async def _open_gate(self) -> None:
        """Put the waiting process in the run's cgroup, then let it through the gate."""
        assert self.proc is not None
        if self.proc.stdin is None:
            return
        if self._cgroup is not None:
            await asyncio.to_thread(self._cgroup.add, self.proc.pid)
        with suppress(ConnectionError):
            self.proc.stdin.write(b"\n")
            await self.proc.stdin.drain()
        if not self._lifeline:
            self.proc.stdin.close()
        # else held open until the run has ended: the sandbox's lifeline (see .sandbox.bubblewrap)

    def _cut_lifeline(self) -> None:
        """Close the run's stdin: in a sandbox with a lifeline, every process of it is killed."""
        if self.proc is not None and self.proc.stdin is not None:
            self.proc.stdin.close()

    async def _open_preview(self, port: int) -> None:
        host = self.settings.preview_host
        if not self.profile.own_network:
            # The server shares the host's network: it is reachable where it listens.
            self.preview_url = f"http://{host}:{port}/"
            return
        listener = _bind(host, port)
        self._listener = listener
        child = await _sandbox_child(self.pid)
        if child is None:
            log.warning("%s: no sandbox process found for the preview relay", self.execution_id)
            return
        fd = listener.fileno()
        self._relay = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "orchestrator.workspace.sandbox.relay",
            "--pid",
            str(child),
            "--port",
            str(port),
            "--fd",
            str(fd),
            "--allowed-hosts",
            self.settings.preview_allowed_hosts,
            "--parent",
            str(os.getpid()),
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            pass_fds=(fd,),
            stdin=asyncio.subprocess.DEVNULL,
        )
        self.preview_url = f"http://{host}:{listener.getsockname()[1]}/"

    def output(self) -> list[str]:
        """The lines kept so far and not yet recorded (all of them for an unrecorded run)."""
        return list(self._pending)

    def stop(self, reason: str = "stopped") -> None:
        self._stop_reason = reason
        self._stop.set()

    async def supervise(self, *, record: bool = True) -> ExecutionFinished:
        """Run to the end; return the ExecutionFinished recorded (when ``record``)."""
        assert self.proc is not None
        reader = asyncio.create_task(self._read())
        exited = asyncio.Event()
        flusher = asyncio.create_task(self._flush_loop(exited)) if record else None
        try:
            status, reason = await self._wait()
            try:
                await asyncio.wait_for(asyncio.shield(reader), 2.0)
            except TimeoutError:
                reader.cancel()
            self._pending.extend(self.limiter.close())
            # Let the flusher finish the batch it is appending: cancelled mid-append, the batch
            # might never be stored.
            exited.set()
            if flusher is not None:
                await flusher
        finally:
            if flusher is not None and not flusher.done():
                flusher.cancel()
                with suppress(asyncio.CancelledError):
                    await flusher
            reader.cancel()
            with suppress(asyncio.CancelledError):
                await reader
            await self._cleanup()
        if record:
            await self._flush(everything=True)
        finished = ExecutionFinished(
            execution_id=self.execution_id,
            status=status,
            exit_code=self.proc.returncode,
            duration_s=round(time.monotonic() - self.started_at, 3),
            truncated=self.limiter.truncated,
            reason=reason,
            output_lines=self._next_line - 1,
            output_seq=self.output_seq,
        )
        if record:
            await self.store.append(
                subjects.execution(self.execution_id),
                finished,
                event_id=f"{self.execution_id}-finished",
            )
        return finished

    async def _wait(self) -> tuple[str, str | None]:
        assert self.proc is not None
        exited = asyncio.create_task(self.proc.wait())
        stopped = asyncio.create_task(self._stop.wait())
        try:
            done, _ = await asyncio.wait(
                {exited, stopped}, timeout=self.lifetime, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stopped.cancel()
        if exited in done:
            return ("completed" if self.proc.returncode == 0 else "failed"), None
        if stopped in done:
            status, reason = "stopped", self._stop_reason
        else:
            status, reason = "timed_out", f"wall clock of {self.lifetime:g}s exceeded"
        await self._kill()
        await exited
        return status, reason

    async def _kill(self) -> None:
        assert self.proc is not None
        pgid = self.proc.pid
        if self.profile.mode != "bubblewrap":
            # The Landlock entry point passes it on; bubblewrap would only die of it.
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGTERM)
            with suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), self.settings.exec_kill_grace)
        # bwrap dies, its --die-with-parent child takes the whole PID namespace with it; and the
        # lifeline cut kills that namespace from inside, should bwrap still be setting up.
        self._cut_lifeline()
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while chunk := await self.proc.stdout.read(65536):
            self._pending.extend(self.limiter.feed(chunk))

    async def _flush_loop(self, exited: asyncio.Event) -> None:
        """Record a batch every ``exec_batch_interval`` until the process has exited."""
        while not exited.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(exited.wait(), self.settings.exec_batch_interval)
            if not exited.is_set():
                await self._flush(everything=False)

    async def _flush(self, *, everything: bool) -> None:
        async with self._flush_lock:
            while self._pending:
                batch = self._next_batch()
                first = self._next_line
                seq = await self._outputs.append(
                    subjects.output(self.execution_id),
                    ExecutionOutput(
                        execution_id=self.execution_id, first_line=first, lines=tuple(batch)
                    ),
                    event_id=f"{self.execution_id}-out-{first}",
                )
                # Only a stored batch leaves the queue: a failed append is retried whole.
                self.output_seq = max(self.output_seq, seq)
                del self._pending[: len(batch)]
                self._next_line += len(batch)
                if not everything:
                    break

    def _next_batch(self) -> list[str]:
        """The oldest pending lines that fit one output event."""
        batch: list[str] = []
        size = 0
        for line in self._pending[: self.settings.exec_batch_lines]:
            line_size = len(line.encode()) + 16
            if batch and size + line_size > MAX_BATCH_BYTES:
                break
            batch.append(line)
            size += line_size
        return batch

    async def _cleanup(self) -> None:
        self._cut_lifeline()
        if self._relay is not None and self._relay.returncode is None:
            with suppress(ProcessLookupError):
                self._relay.kill()
            await self._relay.wait()
        if self._listener is not None:
            self._listener.close()
        if self._cgroup is not None:
            await asyncio.to_thread(self._cgroup.remove)
        if self._stage is not None:
            await asyncio.to_thread(remove_run_directory, self._stage)


def sweep_stage_root(stage_root: Path) -> int:
    """Remove every run directory a previous life of this service left in ``stage_root`` (a
    service killed outright cleans up none of its runs; their lifeline ended the runs themselves).
    Called at start, before any run of this life: the stage root belongs to one data directory,
    and a data directory to one workspace service. Returns how many were removed."""
    removed = 0
    if not stage_root.is_dir():
        return removed
    for entry in stage_root.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            remove_run_directory(entry)
        else:
            entry.unlink(missing_ok=True)
        removed += 1
    return removed


def remove_run_directory(path: Path) -> None:
    """Remove a run's directory and all under it, those the code made read-only included; one
    already gone is no error, and what cannot be removed is logged (it is disk, not a reason for
    a run or a start to fail)."""
    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=_writable_then_retry)
    else:
        shutil.rmtree(path, onerror=lambda func, at, info: _writable_then_retry(func, at, info[1]))


def _writable_then_retry(func: Any, path: str, error: BaseException) -> None:
    """``rmtree``'s error hook: code running as the service's uid (where it is not root) may
    have taken write permission away from a directory of its copy. Give the owner its rwx back
    on the directory and its parent, keeping every other bit (the stage root stays traversable
    by the sandbox uid), and try once more."""
    if isinstance(error, FileNotFoundError):
        return
    if isinstance(error, PermissionError):
        for target in (os.path.dirname(path), path):
            with suppress(OSError):
                if os.path.isdir(target) and not os.path.islink(target):
                    os.chmod(target, stat.S_IMODE(os.stat(target).st_mode) | stat.S_IRWXU)
        try:
            func(path)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            error = exc
    log.warning("could not remove %s of a run: %s", path, error)


def _snapshot(root: Path, stage: Path) -> None:
    """A copy of the workspace for this run alone (``stage/project``): the code sees the files as
    they were when it started, and nothing it could do touches the materialised workspace."""
    if stage.exists():
        remove_run_directory(stage)
    stage.mkdir(parents=True)  # raises if what was there could not all be removed
    stage.chmod(0o755)
    project = stage / "project"
    shutil.copytree(root, project, symlinks=True)
    project.chmod(0o755)
    for dirpath, dirnames, filenames in os.walk(project):
        for name in dirnames:
            # readable by the sandbox uid, which only ever sees it read-only
            os.chmod(os.path.join(dirpath, name), 0o755, follow_symlinks=False)  # noqa: S103
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, 0o644)


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``port`` if free, else on any free port."""
    for candidate in (port, 0):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, candidate))
        except OSError:
            sock.close()
            continue
        sock.listen(64)
        sock.set_inheritable(True)
        return sock
    raise OSError(f"no port to listen on at {host}")


async def _sandbox_child(pid: int, timeout: float = 5.0) -> int | None:
    """The first child of bubblewrap: it lives in the sandbox's namespaces."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with suppress(OSError):
            children = _children(pid)
            if children:
                child = int(children[0])
                if os.readlink(f"/proc/{child}/ns/net") != os.readlink("/proc/self/ns/net"):
                    return child
        await asyncio.sleep(0.02)
    return None


def _children(pid: int) -> list[str]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return f.read().split()
