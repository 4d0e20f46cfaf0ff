"""What every sandbox mode shares: the limits of a run, the launch it becomes, the small
environment executed code gets, and the program line with absolute paths."""

from __future__ import annotations

import shlex
import shutil
from dataclasses import dataclass

from .policy import Policy
from .profile import SandboxProfile

SITE_PACKAGES = "/opt/site-packages"
DEPENDENCIES = "/opt/dependencies"  # the project's installed requirements, read-only
# The plugins installed next to pytest are the orchestrator's own test tooling, not the generated
# project's: loading them all costs seconds of the run's CPU budget.
PYTEST_ENV = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
PATH = "/usr/local/bin:/usr/bin:/bin"
NETWORK_FILES = ("/etc/resolv.conf", "/etc/hosts")


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int
    memory_bytes: int
    file_size_bytes: int
    open_files: int
    processes: int
    tmp_bytes: int
    shm_bytes: int = 64 << 20
    work_bytes: int = 64 << 20

    def rlimits(self, *, nproc: bool) -> dict[str, int]:
        """The rlimits of a run; RLIMIT_NPROC only when ``nproc``: it counts the processes of a
        uid within a user namespace, so it means something for the dedicated sandbox uid (when
        the service is root: all its runs together) or set inside the run's own user namespace
        (when it is not: that run alone), never for the service's own uid on the host."""
        limits = {
            "RLIMIT_AS": self.memory_bytes,
            "RLIMIT_CPU": self.cpu_seconds,
            "RLIMIT_FSIZE": self.file_size_bytes,
            "RLIMIT_NOFILE": self.open_files,
            "RLIMIT_CORE": 0,
        }
        if nproc:
            limits["RLIMIT_NPROC"] = self.processes
        return limits


@dataclass(frozen=True)
class Run:
    """What one run asks of the sandbox, whichever mode launches it: its limits, its run
    directory ``stage`` (``project/`` is its snapshot), the folder it starts in (inside the
    project), the program line, whether it may use the network, and ``deps`` (the installed
    environment of the project's requirements, if any)."""

    limits: Limits
    stage: str
    folder: str
    code: list[str]
    allow_network: bool
    deps: str | None = None

    def env(self, profile: SandboxProfile, *, home: str) -> dict[str, str]:
        """The run's whole environment, with ``home`` its home and temporary directory."""
        return code_env(base_env(profile, home=home, tmp=home, deps=self.deps), self.code)


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    env: dict[str, str]
    cwd: str
    seccomp: bool
    policy: Policy | None = None  # the landlock mode's: written next to the run before start
    lifeline: bool = False
    """The run's stdin must stay open, past the gate, until it has ended: closing it ends the
    run (bubblewrap's mode, see :mod:`.bubblewrap`)."""


def base_env(
    profile: SandboxProfile, *, home: str, tmp: str, deps: str | None = None
) -> dict[str, str]:
    env = {
        "PATH": PATH,
        "LANG": "C.UTF-8",
        "HOME": home,
        "TMPDIR": tmp,
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    inside = profile.mode == "bubblewrap"
    paths = [DEPENDENCIES if inside else deps] if deps else []
    if profile.site_packages:
        paths.append(SITE_PACKAGES if inside else profile.site_packages)
    if paths:
        env["PYTHONPATH"] = ":".join(p for p in paths if p)
    return env


def code_env(base: dict[str, str], code: list[str]) -> dict[str, str]:
    """``base``, plus what the program needs (pytest: no plugin autoloading)."""
    return {**base, **PYTEST_ENV} if code[1:3] == ["-m", "pytest"] else base


def program(command: str, profile: SandboxProfile) -> list[str]:
    """``command`` as the file list shows it, with ``python`` the sandbox's interpreter and the
    program an absolute path (the Landlock mode ``execve``s it without a PATH search)."""
    argv = shlex.split(command)
    if argv and argv[0] in ("python", "python3"):
        argv[0] = profile.python
        if argv[1:3] == ["-m", "pytest"]:
            argv[3:3] = ["-p", "no:cacheprovider"]
    elif argv and argv[0] == "sh":
        argv[0] = "/bin/sh"
    elif argv and not argv[0].startswith("/"):
        argv[0] = shutil.which(argv[0], path=PATH) or argv[0]
    return argv
