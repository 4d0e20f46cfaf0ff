"""The command line that runs one workspace file inside the sandbox, in either mode.

Both modes start from the run's directory ``<stage_root>/<execution>``: ``project/`` is the
snapshot of the workspace taken for the run, which the code gets as a writable, size-capped copy.

- bubblewrap: ``prlimit`` sets the resource limits and execs ``bwrap``, which builds a root of
  read-only binds (``/usr``, the interpreter's packages, the snapshot at ``/snapshot``) that is
  remounted read-only, sized tmpfs mounts for ``/workspace`` (the copy), ``/tmp`` and
  ``/dev/shm``, and new user, PID, IPC, UTS, cgroup and network namespaces; it copies the
  snapshot into ``/workspace`` and execs the code under seccomp.
- landlock: the service's own interpreter runs :mod:`.enter` with a policy file; see there.

Either way the first process waits at a gate (one byte on stdin) so the service can put it in the
run's cgroup first, and it is started with a small explicit environment.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .policy import Policy
from .profile import SandboxProfile
from .seccomp_filter import SocketPolicy

SITE_PACKAGES = "/opt/site-packages"
DEPENDENCIES = "/opt/dependencies"  # the project's installed requirements, read-only
# The plugins installed next to pytest are the orchestrator's own test tooling, not the generated
# project's: loading them all costs seconds of the run's CPU budget.
PYTEST_ENV = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
WORKSPACE = "/workspace"
SNAPSHOT = "/snapshot"
PATH = "/usr/local/bin:/usr/bin:/bin"
GATE = ["/bin/sh", "-c", 'read -r _ && exec "$@" </dev/null', "gate"]
# Copies the snapshot into the sized /workspace tmpfs, then goes to the file's folder ($0).
COPY_THEN_RUN = (
    f'cp -RP --preserve=mode,timestamps {SNAPSHOT}/. {WORKSPACE}/ && cd "$0" && exec "$@"'
)
SYSTEM_READ_ONLY = (
    "/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc/ld.so.cache", "/etc/ssl",
    "/etc/alternatives", "/etc/localtime", "/etc/mime.types", "/proc", "/dev/urandom",
    "/dev/random",
)  # fmt: skip
NETWORK_FILES = ("/etc/resolv.conf", "/etc/hosts")
DEVICES_READ_WRITE = ("/dev/null", "/dev/zero", "/dev/shm")  # noqa: S108 (the run's own tmpfs)


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

    def rlimits(self, *, per_uid: bool) -> dict[str, int]:
        limits = {
            "RLIMIT_AS": self.memory_bytes,
            "RLIMIT_CPU": self.cpu_seconds,
            "RLIMIT_FSIZE": self.file_size_bytes,
            "RLIMIT_NOFILE": self.open_files,
            "RLIMIT_CORE": 0,
        }
        if per_uid:
            # RLIMIT_NPROC counts every process of the uid: only meaningful for a dedicated one.
            limits["RLIMIT_NPROC"] = self.processes
        return limits


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    env: dict[str, str]
    cwd: str
    seccomp: bool
    policy: Policy | None = None  # the landlock mode's: written next to the run before start


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


def prlimit(limits: Limits, *, per_uid: bool) -> list[str]:
    flags = {"RLIMIT_AS": "as", "RLIMIT_CPU": "cpu", "RLIMIT_FSIZE": "fsize"}
    flags |= {"RLIMIT_NOFILE": "nofile", "RLIMIT_CORE": "core", "RLIMIT_NPROC": "nproc"}
    pairs = limits.rlimits(per_uid=per_uid).items()
    return ["prlimit", *(f"--{flags[name]}={value}" for name, value in pairs), "--"]


def prepare(stage: Path, launch: Launch) -> None:
    """What the launch needs in the run directory besides the snapshot (``project/``)."""
    if launch.policy is not None:
        for name in ("work", "tmp"):
            (stage / name).mkdir(exist_ok=True)
            (stage / name).chmod(0o755)
        launch.policy.write(stage / "policy.json")


def socket_policy(*, allow_network: bool, server: bool) -> SocketPolicy:
    """A server may open TCP sockets (to listen in its own empty network namespace); other code
    only UNIX ones, unless the network is allowed."""
    if allow_network:
        return "any"
    return "tcp" if server else "unix"


def build(
    profile: SandboxProfile,
    limits: Limits,
    *,
    stage: str,
    file_path: str,
    command: str,
    allow_network: bool,
    seccomp_fd: int | None = None,
    server: bool = False,
    deps: str | None = None,
) -> Launch:
    """How to run ``command`` for ``file_path`` in the run directory ``stage`` (``deps``: the
    installed environment of the project's requirements)."""
    folder = str(PurePosixPath(file_path).parent)
    folder = "" if folder == "." else folder
    code = program(command, profile)
    if profile.mode == "landlock":
        return _landlock(
            profile,
            limits=limits,
            stage=stage,
            folder=folder,
            code=code,
            allow_network=allow_network,
            server=server,
            deps=deps,
        )
    if profile.mode == "bubblewrap":
        return _bubblewrap(
            profile,
            limits=limits,
            stage=stage,
            folder=folder,
            code=code,
            allow_network=allow_network,
            seccomp_fd=seccomp_fd,
            deps=deps,
        )
    limit = prlimit(limits, per_uid=profile.as_root) if profile.rlimits else []
    project = f"{stage}/project"
    cwd = f"{project}/{folder}" if folder else project
    env = base_env(profile, home=cwd, tmp=cwd, deps=deps)
    if code[1:3] == ["-m", "pytest"]:
        env.update(PYTEST_ENV)
    return Launch([*limit, *code], env, cwd, seccomp=False)


def _landlock(
    profile: SandboxProfile,
    *,
    limits: Limits,
    stage: str,
    folder: str,
    code: list[str],
    allow_network: bool,
    server: bool,
    deps: str | None,
) -> Launch:
    work, tmp = f"{stage}/work", f"{stage}/tmp"  # noqa: S108 (the run's own tmpfs mounts)
    env = base_env(profile, home=tmp, tmp=tmp, deps=deps)
    if code[1:3] == ["-m", "pytest"]:
        env.update(PYTEST_ENV)
    read_only = [*SYSTEM_READ_ONLY, *(NETWORK_FILES if allow_network else ())]
    read_only += [p for p in (profile.site_packages, deps) if p]
    prefix = Path(profile.python).resolve().parent.parent
    if not str(prefix).startswith("/usr"):
        read_only.append(str(prefix))
    policy = Policy(
        env=env,
        cwd=f"{work}/{folder}" if folder else work,
        snapshot=f"{stage}/project",
        work=work,
        tmp=tmp,
        work_bytes=limits.work_bytes,
        tmp_bytes=limits.tmp_bytes,
        shm_bytes=limits.shm_bytes,
        read_only=read_only,
        read_write=[work, tmp, *DEVICES_READ_WRITE],
        sockets=socket_policy(allow_network=allow_network, server=server),
        uid=profile.sandbox_uid if profile.as_root else None,
        gid=profile.sandbox_gid if profile.as_root else None,
        rlimits=limits.rlimits(per_uid=profile.as_root),
        seccomp=profile.layers.get("seccomp", True),
        own_network=not allow_network,
    )
    enter = [sys.executable, "-I", "-m", "orchestrator.workspace.sandbox.enter"]
    argv = [*enter, "--policy", f"{stage}/policy.json", "--", *code]
    return Launch(argv, {"PATH": PATH, "LANG": "C.UTF-8"}, "/", policy.seccomp, policy)


def _bubblewrap(
    profile: SandboxProfile,
    *,
    limits: Limits,
    stage: str,
    folder: str,
    code: list[str],
    allow_network: bool,
    seccomp_fd: int | None,
    deps: str | None,
) -> Launch:
    inside_cwd = f"{WORKSPACE}/{folder}" if folder else WORKSPACE
    tmp = "/tmp"  # noqa: S108 (the sandbox's own tmpfs)
    env = base_env(profile, home=tmp, tmp=tmp, deps=deps)
    if code[1:3] == ["-m", "pytest"]:
        env.update(PYTEST_ENV)
    limit = prlimit(limits, per_uid=profile.as_root) if profile.rlimits else []
    argv = [
        *GATE,
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
        for path in NETWORK_FILES:
            argv += ["--ro-bind-try", path, path]
    if profile.site_packages:
        argv += ["--ro-bind", profile.site_packages, SITE_PACKAGES]
    if deps:
        argv += ["--ro-bind", deps, DEPENDENCIES]
    argv += [
        "--ro-bind", f"{stage}/project", SNAPSHOT,
        "--size", str(limits.work_bytes), "--perms", "0755", "--tmpfs", WORKSPACE,
        "--chdir", WORKSPACE,
        "--proc", "/proc",
        "--dev", "/dev",
        "--size", str(limits.shm_bytes), "--perms", "1777", "--tmpfs", "/dev/shm",  # noqa: S108
        "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp",  # noqa: S108
        "--remount-ro", "/dev",
        "--remount-ro", "/",
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
    argv += ["--", "/bin/sh", "-c", COPY_THEN_RUN, inside_cwd, *code]
    return Launch(argv, env, "/", seccomp=seccomp_fd is not None)
