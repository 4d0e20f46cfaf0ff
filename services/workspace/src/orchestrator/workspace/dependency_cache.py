"""Installed environments of projects' requirements, keyed by what the requirements resolve to.

Each run resolves its requirements first (``requests`` and ``requests>=2`` resolving to the same
version share one environment; a new upstream release makes a new one), then installs exactly
the pinned set, wheels only, outside the sandbox, into ``<root>/<key>``; a finished environment
is never changed and is mounted read-only into runs. Wheels only because installing a wheel runs
none of its code, while building an sdist would run an untrusted package's build script outside
the sandbox.

Where the index cannot be reached, the environment the same requirements resolved to last time
is used (and the run's output says so): a cached project keeps running offline.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import platform
import shutil
import sys
import time
import uuid
from pathlib import Path

from . import install_failures, installers
from .dependencies import DependencyError, Requirements, install_env
from .installers import Installer, InstallFailed, OnLine, Pin
from .settings import WorkspaceSettings

COMPLETE = ".complete"
PINS = ".pins"
RESOLVED_BEFORE = "resolved"  # <written requirements' key> -> the key they resolved to


def _quiet(line: str) -> None:
    del line


class DependencyCache:
    """One per service instance, shared by executions and validation's checks."""

    @classmethod
    def configured(cls, settings: WorkspaceSettings, stage_root: Path) -> DependencyCache:
        """The cache next to the runs' stage directories, installing with the installer the
        settings ask for, this interpreter's, with the service's index settings."""
        work = (settings.data_dir / "installer").resolve()
        installer = installers.find(settings.deps_installer, sys.executable, install_env(), work)
        root = stage_root.parent / f"{stage_root.name}-deps"
        return cls(root, installer, settings.deps_install_timeout)

    def __init__(self, root: Path, installer: Installer, timeout: float) -> None:
        self.root = root
        self.installer = installer
        self.timeout = timeout
        self._locks: dict[str, asyncio.Lock] = {}

    @staticmethod
    def key(pins: tuple[Pin, ...]) -> str:
        """The environment of exactly these pins, for this Python on this machine."""
        material = json.dumps([sys.version_info[:2], platform.machine(), sorted(pins)])
        return hashlib.sha256(material.encode()).hexdigest()[:20]

    async def environment(self, requirements: Requirements, on_line: OnLine = _quiet) -> Path:
        """The installed environment's directory; what happens on the way is said to
        ``on_line`` as it happens (raises DependencyError naming the package and the reason)."""
        deadline = time.monotonic() + self.timeout
        header = f"[dependencies from {requirements.source}"
        try:
            pins = await self.installer.resolve(requirements.specifiers, deadline=deadline)
        except InstallFailed as exc:
            before = self._resolved_before(requirements)
            if exc.failure.reason != "index unreachable" or before is None:
                raise DependencyError(exc.failure.message(requirements.source)) from exc
            shown = (before / PINS).read_text().split()
            on_line(
                f"{header}: cached ({', '.join(shown)}): the index is unreachable, so the "
                "environment these requirements resolved to before is used]"
            )
            return before
        except TimeoutError as exc:
            failure = install_failures.timed_out(requirements.specifiers, self.timeout)
            raise DependencyError(failure.message(requirements.source)) from exc
        key = self.key(pins)
        target = self.root / key
        async with self._locks.setdefault(key, asyncio.Lock()):
            if (target / COMPLETE).exists():
                on_line(f"{header}: cached ({', '.join(pins)})]")
            else:
                on_line(f"{header}: installing {', '.join(pins)} with {self.installer.name}]")
                await self._install(requirements, pins, target, deadline, on_line)
        await asyncio.to_thread(self._remember, requirements, key)
        return target

    async def _install(
        self,
        requirements: Requirements,
        pins: tuple[Pin, ...],
        target: Path,
        deadline: float,
        on_line: OnLine,
    ) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o711)
        partial = self.root / f"{target.name}.partial-{uuid.uuid4().hex[:8]}"
        started = time.monotonic()
        try:
            await self.installer.install(pins, partial, deadline=deadline, on_line=on_line)
        except InstallFailed as exc:
            await asyncio.to_thread(shutil.rmtree, partial, True)
            raise DependencyError(exc.failure.message(requirements.source)) from exc
        except TimeoutError as exc:
            await asyncio.to_thread(shutil.rmtree, partial, True)
            failure = install_failures.timed_out(pins, self.timeout)
            raise DependencyError(failure.message(requirements.source)) from exc
        await asyncio.to_thread(_publish, partial, target, pins)
        on_line(f"[installed in {time.monotonic() - started:.2f}s]")

    def _requested_key(self, requirements: Requirements) -> str:
        material = json.dumps([sys.version_info[:2], platform.machine(), requirements.specifiers])
        return hashlib.sha256(material.encode()).hexdigest()[:20]

    def _remember(self, requirements: Requirements, key: str) -> None:
        folder = self.root / RESOLVED_BEFORE
        folder.mkdir(parents=True, exist_ok=True)
        pointer = folder / self._requested_key(requirements)
        partial = pointer.with_suffix(f".{uuid.uuid4().hex[:8]}")
        partial.write_text(key)
        partial.replace(pointer)

    def _resolved_before(self, requirements: Requirements) -> Path | None:
        pointer = self.root / RESOLVED_BEFORE / self._requested_key(requirements)
        try:
            target = self.root / pointer.read_text().strip()
        except OSError:
            return None
        return target if (target / COMPLETE).exists() else None


def _publish(partial: Path, target: Path, pins: tuple[Pin, ...]) -> None:
    """Readable by the sandbox uid, then in place in one rename (another run may have won)."""
    for dirpath, dirnames, filenames in os.walk(partial):
        os.chmod(dirpath, 0o755)  # noqa: S103 (read-only to the sandbox, which must import it)
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, 0o644)
        del dirnames
    (partial / PINS).write_text("\n".join(pins) + "\n")
    (partial / PINS).chmod(0o644)
    (partial / COMPLETE).touch()
    try:
        partial.rename(target)
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)
