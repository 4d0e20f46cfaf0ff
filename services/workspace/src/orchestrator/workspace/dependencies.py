"""A project's Python dependencies: found next to the file being run, installed outside the
sandbox as wheels only, into a cache keyed by the requirements, mounted read-only into runs.

Wheels only (``--only-binary=:all:``) because installing a wheel runs none of its code, while
building an sdist would run an untrusted package's build script outside the sandbox. Only plain
requirement specifiers are accepted: a requirements file is generated code, so its pip options
(``--index-url``, ``-e``, ``-r``) and direct URLs are refused rather than obeyed. pip gets the
service's index settings (``PIP_*``, ``UV_*``, proxies) and nothing else of its environment;
none of it ever reaches the sandbox.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import sys
import tomllib
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from packaging.requirements import InvalidRequirement, Requirement

PASSED_ENV_PREFIXES = ("PIP_", "UV_")
PASSED_ENV = (
    "PATH", "HOME", "LANG", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
)  # fmt: skip
COMPLETE = ".complete"


class DependencyError(Exception):
    """The project's dependencies cannot be had: the message names the package and why."""


@dataclass(frozen=True)
class Requirements:
    source: str  # the workspace path of the file that declared them
    specifiers: tuple[str, ...]


def find(root: Path, file_path: str) -> Requirements | None:
    """The requirements closest to ``file_path``: its folder first, then each parent up to the
    workspace root; ``requirements.txt`` before ``pyproject.toml``'s ``[project].dependencies``."""
    folder = PurePosixPath(file_path).parent
    for candidate in (folder, *folder.parents):
        for name in ("requirements.txt", "pyproject.toml"):
            path = root / candidate / name
            if path.is_symlink() or not path.is_file():
                continue
            source = str(candidate / name).removeprefix("./")
            text = path.read_text(errors="replace")
            specifiers = (
                _from_requirements(text) if name.endswith(".txt") else _from_pyproject(text)
            )
            if specifiers is not None:
                return (
                    Requirements(source, tuple(_checked(source, specifiers)))
                    if specifiers
                    else None
                )
    return None


def _from_requirements(text: str) -> list[str]:
    lines = (line.split(" #")[0].strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _from_pyproject(text: str) -> list[str] | None:
    try:
        project = tomllib.loads(text).get("project", {})
    except tomllib.TOMLDecodeError:
        return None
    dependencies = project.get("dependencies") if isinstance(project, dict) else None
    if not isinstance(dependencies, list):
        return None
    return [str(d) for d in dependencies]


def _checked(source: str, specifiers: list[str]) -> list[str]:
    checked = []
    for line in specifiers:
        if line.startswith("-"):
            raise DependencyError(f"{source}: pip options are not allowed ({line.split()[0]})")
        try:
            requirement = Requirement(line)
        except InvalidRequirement as exc:
            raise DependencyError(f"{source}: not a requirement: {line!r} ({exc})") from exc
        if requirement.url:
            raise DependencyError(f"{source}: {requirement.name}: direct URLs are not allowed")
        checked.append(str(requirement))
    return sorted(set(checked))


def install_env() -> dict[str, str]:
    """The service's index settings for pip, and nothing else of its environment."""
    return {
        key: value
        for key, value in os.environ.items()
        if key.startswith(PASSED_ENV_PREFIXES) or key in PASSED_ENV
    }


class DependencyCache:
    """Installed environments under ``root``, one per key; a finished one is never changed.

    One per service instance, shared by executions and validation's checks.
    """

    @classmethod
    def beside(cls, stage_root: Path, timeout: float) -> DependencyCache:
        """The cache next to the runs' stage directories, installing with this interpreter."""
        return cls(stage_root.parent / f"{stage_root.name}-deps", sys.executable, timeout)

    def __init__(self, root: Path, python: str, timeout: float) -> None:
        self.root = root
        self.python = python
        self.timeout = timeout
        self._locks: dict[str, asyncio.Lock] = {}

    def key(self, requirements: Requirements) -> str:
        env = install_env()
        index = {k: v for k, v in env.items() if k.startswith(PASSED_ENV_PREFIXES)}
        material = json.dumps([sys.version_info[:2], requirements.specifiers, index])
        return hashlib.sha256(material.encode()).hexdigest()[:20]

    async def environment(self, requirements: Requirements) -> tuple[Path, list[str]]:
        """The installed environment's directory, and the lines to show as the run's output."""
        key = self.key(requirements)
        target = self.root / key
        async with self._locks.setdefault(key, asyncio.Lock()):
            if (target / COMPLETE).exists():
                names = ", ".join(requirements.specifiers)
                return target, [f"[dependencies from {requirements.source}: cached ({names})]"]
            lines = await self._install(requirements, target)
        return target, lines

    async def _install(self, requirements: Requirements, target: Path) -> list[str]:
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o711)
        partial = self.root / f"{target.name}.partial-{uuid.uuid4().hex[:8]}"
        argv = [self.python, "-m", "pip", "install", "--target", str(partial)]
        argv += ["--only-binary=:all:", "--no-input", "--disable-pip-version-check"]
        argv += ["--no-warn-script-location", "--progress-bar", "off", "--no-compile"]
        proc = await asyncio.create_subprocess_exec(
            *argv,
            *requirements.specifiers,
            env=install_env(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            output, _ = await asyncio.wait_for(proc.communicate(), self.timeout)
        except TimeoutError as exc:
            proc.kill()
            await proc.wait()
            await asyncio.to_thread(shutil.rmtree, partial, True)
            names = ", ".join(requirements.specifiers)
            raise DependencyError(
                f"installing {names} did not finish within {self.timeout:g}s"
            ) from exc
        lines = [f"[dependencies from {requirements.source}: installing]"]
        lines += output.decode(errors="replace").splitlines()
        if proc.returncode != 0:
            await asyncio.to_thread(shutil.rmtree, partial, True)
            raise DependencyError(_why(lines))
        await asyncio.to_thread(_publish, partial, target)
        return lines


def _why(lines: list[str]) -> str:
    errors = [line.removeprefix("ERROR: ") for line in lines if line.startswith("ERROR:")]
    why = "could not install the dependencies: " + ("; ".join(errors) or lines[-1])[:600]
    if any("No matching distribution" in line for line in errors):
        why += " (only wheels are installed: a package without a wheel for here is not built)"
    return why


def _publish(partial: Path, target: Path) -> None:
    """Readable by the sandbox uid, then in place in one rename (another run may have won)."""
    for dirpath, dirnames, filenames in os.walk(partial):
        os.chmod(dirpath, 0o755)  # noqa: S103 (read-only to the sandbox, which must import it)
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, 0o644)
        del dirnames
    (partial / COMPLETE).touch()
    try:
        partial.rename(target)
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)
