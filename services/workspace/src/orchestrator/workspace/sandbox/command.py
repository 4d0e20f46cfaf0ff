"""The command line that runs one workspace file inside the sandbox.

``prlimit`` sets the resource limits and execs ``bwrap``, which builds an empty filesystem out of
read-only binds (``/usr``, the interpreter's packages, a snapshot of the workspace), a size-capped
``/tmp``, and new user, PID, IPC, UTS, cgroup and network namespaces, then execs the code under
seccomp. The process itself is started by the service as the dedicated sandbox uid with a small
explicit environment, so nothing of the service's own environment is inherited or readable.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import PurePosixPath

from .profile import SandboxProfile

SITE_PACKAGES = "/opt/site-packages"
# The plugins installed next to pytest are the orchestrator's own test tooling, not the generated
# project's: loading them all costs seconds of the run's CPU budget.
PYTEST_ENV = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
WORKSPACE = "/workspace"


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int
    memory_bytes: int
    file_size_bytes: int
    open_files: int
    processes: int
    tmp_bytes: int


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    env: dict[str, str]
    cwd: str
    seccomp: bool


def base_env(profile: SandboxProfile, *, home: str) -> dict[str, str]:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": home,
        "TMPDIR": "/tmp",  # noqa: S108 (the sandbox's own size-capped tmpfs)
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    if profile.site_packages:
        env["PYTHONPATH"] = SITE_PACKAGES if profile.mode == "bubblewrap" else profile.site_packages
    return env


def program(command: str, profile: SandboxProfile) -> list[str]:
    """``command`` as the file list shows it, with ``python`` the sandbox's interpreter."""
    argv = shlex.split(command)
    if argv and argv[0] in ("python", "python3"):
        argv[0] = profile.python
        if argv[1:3] == ["-m", "pytest"]:
            argv[3:3] = ["-p", "no:cacheprovider"]  # the workspace is read-only in there
    elif argv and argv[0] == "sh":
        argv[0] = "/bin/sh"
    return argv


def prlimit(limits: Limits, *, per_uid: bool) -> list[str]:
    argv = [
        "prlimit",
        f"--as={limits.memory_bytes}",
        f"--cpu={limits.cpu_seconds}",
        f"--fsize={limits.file_size_bytes}",
        f"--nofile={limits.open_files}",
        "--core=0",
    ]
    if per_uid:
        # RLIMIT_NPROC counts every process of the uid: only meaningful for a dedicated one.
        argv.append(f"--nproc={limits.processes}")
    return [*argv, "--"]


def build(
    profile: SandboxProfile,
    limits: Limits,
    *,
    stage: str,
    file_path: str,
    command: str,
    allow_network: bool,
    seccomp_fd: int | None = None,
) -> Launch:
    """How to run ``command`` for ``file_path`` (relative to the workspace snapshot ``stage``)."""
    folder = str(PurePosixPath(file_path).parent)
    folder = "" if folder == "." else folder
    code = program(command, profile)
    limit = prlimit(limits, per_uid=profile.as_root) if profile.rlimits else []
    if profile.mode != "bubblewrap":
        cwd = f"{stage}/{folder}" if folder else stage
        env = base_env(profile, home=cwd)
        if code[1:3] == ["-m", "pytest"]:
            env.update(PYTEST_ENV)
        return Launch([*limit, *code], env, cwd, seccomp=False)
    inside_cwd = f"{WORKSPACE}/{folder}" if folder else WORKSPACE
    env = base_env(profile, home="/tmp")  # noqa: S108 (the sandbox's own tmpfs)
    if code[1:3] == ["-m", "pytest"]:
        env.update(PYTEST_ENV)
    argv = [
        *limit,
        profile.bwrap,
        "--ro-bind", "/usr", "/usr",
        "--symlink", "usr/bin", "/bin",
        "--symlink", "usr/sbin", "/sbin",
        "--symlink", "usr/lib", "/lib",
        "--symlink", "usr/lib64", "/lib64",
        "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
        "--ro-bind-try", "/etc/ssl", "/etc/ssl",
        "--ro-bind-try", "/etc/alternatives", "/etc/alternatives",
        "--ro-bind-try", "/etc/localtime", "/etc/localtime",
        "--ro-bind-try", "/etc/mime.types", "/etc/mime.types",
    ]  # fmt: skip
    if allow_network:
        argv += ["--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf"]
        argv += ["--ro-bind-try", "/etc/hosts", "/etc/hosts"]
    if profile.site_packages:
        argv += ["--ro-bind", profile.site_packages, SITE_PACKAGES]
    argv += [
        "--ro-bind", stage, WORKSPACE,
        "--chdir", inside_cwd,
        "--proc", "/proc",
        "--dev", "/dev",
        "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp",  # noqa: S108
        "--unshare-all",
    ]  # fmt: skip
    if allow_network:
        argv.append("--share-net")
    argv += ["--unshare-user"]
    if profile.disable_userns:
        argv.append("--disable-userns")
    argv += [
        "--uid", "1000",
        "--gid", "1000",
        "--hostname", "sandbox",
        "--die-with-parent",
        "--new-session",
        "--cap-drop", "ALL",
        "--clearenv",
    ]  # fmt: skip
    for key, value in env.items():
        argv += ["--setenv", key, value]
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    return Launch([*argv, "--", *code], env, "/", seccomp=seccomp_fd is not None)
