"""The two ways to install a project's requirements: uv where it is (the workspace service
depends on it, so it normally is), else pip. Either one resolves first (the pinned set is what
the cache is keyed by) and then installs exactly those pins, wheels only, into a directory.

Each gets the user's index settings in its own spelling: ``PIP_INDEX_URL`` reaches uv as
``UV_INDEX_URL`` and ``UV_INDEX_URL`` reaches pip as ``PIP_INDEX_URL`` (likewise the extra index,
find-links and no-index), the installer's own variable winning when both are set. What either
prints is streamed line by line to ``on_line``; a failure is raised as :class:`InstallFailed`
with the reason told apart (:mod:`.install_failures`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from packaging.utils import canonicalize_name

from . import install_failures
from .install_failures import Failure

log = logging.getLogger(__name__)

OnLine = Callable[[str], None]
Pin = str  # "name==version", the name canonical

# (pip's variable, uv's variable, how uv separates several values where pip uses spaces)
_EQUIVALENTS = (
    ("PIP_INDEX_URL", "UV_INDEX_URL", " "),
    ("PIP_EXTRA_INDEX_URL", "UV_EXTRA_INDEX_URL", " "),
    ("PIP_FIND_LINKS", "UV_FIND_LINKS", ","),
    ("PIP_NO_INDEX", "UV_NO_INDEX", " "),
)


class InstallFailed(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.reason)
        self.failure = failure


class Installer(Protocol):
    name: str

    async def resolve(self, specifiers: Sequence[str], *, deadline: float) -> tuple[Pin, ...]:
        """The full set the specifiers resolve to (dependencies included), sorted."""
        ...

    async def install(
        self, pins: Sequence[Pin], target: Path, *, deadline: float, on_line: OnLine
    ) -> None:
        """Exactly ``pins`` (no dependency resolution) into ``target``."""
        ...


def find(
    wanted: Literal["auto", "uv", "pip"], python: str, env: dict[str, str], cwd: Path
) -> Installer:
    """uv when it is installed (and not refused), else pip of ``python``; either runs in
    ``cwd`` (made here)."""
    cwd.mkdir(parents=True, exist_ok=True)
    uv = _uv_binary() if wanted in ("auto", "uv") else None
    if uv is not None:
        return UvInstaller(uv, python, uv_env(env), cwd)
    if wanted == "uv":
        log.warning("DEPS_INSTALLER=uv but uv is not installed here: installing with pip")
    return PipInstaller(python, pip_env(env), cwd)


def _uv_binary() -> str | None:
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def uv_env(env: dict[str, str]) -> dict[str, str]:
    out = dict(env)
    for pip_name, uv_name, separator in _EQUIVALENTS:
        if uv_name not in out and pip_name in out:
            out[uv_name] = separator.join(out[pip_name].split())
    if "SSL_CERT_FILE" not in out and "PIP_CERT" in out:
        out["SSL_CERT_FILE"] = out["PIP_CERT"]
    # Never fetch an interpreter: resolve and install for the one given.
    out.update(UV_PYTHON_DOWNLOADS="never", NO_COLOR="1")
    return out


def pip_env(env: dict[str, str]) -> dict[str, str]:
    out = dict(env)
    for pip_name, uv_name, _ in _EQUIVALENTS:
        if pip_name not in out and uv_name in out:
            out[pip_name] = " ".join(out[uv_name].replace(",", " ").split())
    out["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return out


@dataclass
class UvInstaller:
    uv: str
    python: str
    env: dict[str, str]
    cwd: Path  # never the project's folder: uv would read its pyproject.toml's [tool.uv]
    name: str = "uv"

    async def resolve(self, specifiers: Sequence[str], *, deadline: float) -> tuple[Pin, ...]:
        argv = [self.uv, "pip", "compile", "-", "--only-binary", ":all:", "--python", self.python]
        argv += ["--no-header", "--no-annotate", "--quiet", "--color", "never"]
        done = await _run(argv, self.env, self.cwd, deadline, stdin="\n".join(specifiers).encode())
        if done.returncode != 0:
            raise InstallFailed(install_failures.from_uv(done.lines))
        return _pins(line for line in done.stdout.splitlines())

    async def install(
        self, pins: Sequence[Pin], target: Path, *, deadline: float, on_line: OnLine
    ) -> None:
        argv = [self.uv, "pip", "install", "--target", str(target), "--python", self.python]
        argv += ["--only-binary", ":all:", "--no-deps", "--no-progress", "--color", "never"]
        done = await _run([*argv, *pins], self.env, self.cwd, deadline, on_line=on_line)
        if done.returncode != 0:
            raise InstallFailed(install_failures.from_uv(done.lines))


@dataclass
class PipInstaller:
    python: str
    env: dict[str, str]
    cwd: Path
    name: str = "pip"

    async def resolve(self, specifiers: Sequence[str], *, deadline: float) -> tuple[Pin, ...]:
        argv = [self.python, "-m", "pip", "install", "--dry-run", "--ignore-installed"]
        argv += ["--only-binary=:all:", "--report", "-", "--quiet", "--no-input"]
        done = await _run([*argv, *specifiers], self.env, self.cwd, deadline)
        if done.returncode != 0:
            failure = install_failures.from_pip(done.lines)
            if failure.reason == "no distribution" and failure.package:
                looked_up = await self._look_up(failure.package, deadline)
                failure = install_failures.without_distribution(failure.package, looked_up)
            raise InstallFailed(failure)
        report = json.loads(done.stdout)
        return _pins(
            f"{item['metadata']['name']}=={item['metadata']['version']}"
            for item in report.get("install", [])
        )

    async def _look_up(self, requirement: str, deadline: float) -> list[str]:
        """What the index lists for the package, sdists included (nothing is built), and,
        at pip's debug level, whether its page could be fetched at all."""
        name = install_failures.requirement_name(requirement) or requirement
        argv = [self.python, "-m", "pip", "index", "versions", name, "--pre", "-vv"]
        done = await _run(argv, self.env, self.cwd, deadline)
        return [*done.stdout.splitlines(), *done.lines]

    async def install(
        self, pins: Sequence[Pin], target: Path, *, deadline: float, on_line: OnLine
    ) -> None:
        argv = [self.python, "-m", "pip", "install", "--target", str(target), "--no-deps"]
        argv += ["--only-binary=:all:", "--no-input", "--no-warn-script-location"]
        argv += ["--progress-bar", "off", "--no-compile"]
        done = await _run([*argv, *pins], self.env, self.cwd, deadline, on_line=on_line)
        if done.returncode != 0:
            raise InstallFailed(install_failures.from_pip(done.lines))


def _pins(lines: Iterable[str]) -> tuple[Pin, ...]:
    pins = set()
    for line in lines:
        text = line.split("#")[0].split(";")[0].strip()
        if "==" in text:
            name, version = text.split("==", 1)
            pins.add(f"{canonicalize_name(name.split('[')[0])}=={version.strip()}")
    return tuple(sorted(pins))


@dataclass
class _Completed:
    returncode: int
    stdout: str
    lines: list[str] = field(default_factory=list)  # what it said, stderr (and streamed stdout)


async def _run(
    argv: list[str],
    env: dict[str, str],
    cwd: Path,
    deadline: float,
    *,
    stdin: bytes | None = None,
    on_line: OnLine | None = None,
) -> _Completed:
    """Run an installer to its end or the deadline (TimeoutError, the process group killed).
    With ``on_line``, stdout is what it says too and every line is streamed as it comes."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    done = _Completed(0, "")
    stdout: list[str] = []

    async def said(stream: asyncio.StreamReader, into: list[str], stream_it: bool) -> None:
        while raw := await stream.readline():
            line = raw.decode(errors="replace").rstrip("\r\n")
            into.append(line)
            if stream_it and on_line is not None:
                on_line(line)

    async def talk() -> None:
        assert proc.stdout is not None and proc.stderr is not None
        if proc.stdin is not None and stdin is not None:
            proc.stdin.write(stdin)
            with suppress(ConnectionError):
                await proc.stdin.drain()
            proc.stdin.close()
        out_into = done.lines if on_line is not None else stdout
        await asyncio.gather(
            said(proc.stdout, out_into, on_line is not None), said(proc.stderr, done.lines, True)
        )
        await proc.wait()

    try:
        await asyncio.wait_for(talk(), max(deadline - time.monotonic(), 0.01))
    except TimeoutError:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        raise
    done.returncode = proc.returncode or 0
    done.stdout = "\n".join(stdout)
    return done
