"""The bubblewrap command line: ``prlimit`` sets the resource limits and execs ``bwrap``, which
builds a root of read-only binds (``/usr``, the interpreter's packages, the run's snapshot at
``/snapshot``) that it remounts read-only, sized tmpfs mounts for ``/workspace`` (the run's
writable copy), ``/tmp`` and ``/dev/shm``, and new user, PID, IPC, UTS, cgroup and network
namespaces; inside, ``sh`` starts the lifeline's watcher (see ``LIFELINE_THEN_RUN``), copies the
snapshot into ``/workspace`` and execs the code under seccomp. The whole line starts behind the
gate (see :mod:`.command`)."""

from __future__ import annotations

from .launch import (
    DEPENDENCIES,
    NETWORK_FILES,
    SITE_PACKAGES,
    Launch,
    Limits,
    Run,
)
from .profile import SandboxProfile

WORKSPACE = "/workspace"
SNAPSHOT = "/snapshot"
GATE = ["/bin/sh", "-c", 'read -r _ && exec "$@"', "gate"]
# The run's stdin stays open past the gate: the service holds its other end for the run's whole
# life (the lifeline). Inside, first of all, a watcher waits on it; when it closes (the service
# died, however abruptly, or is stopping the run) the watcher kills every process of the
# sandbox's PID namespace. bwrap's --die-with-parent alone leaves a race: killed while bwrap is
# still setting up, before its inner process asks for PDEATHSIG, the service leaves a sandbox
# that outlives it (seen: a preview server running on, its parent pid 1). Then the snapshot is
# copied into the sized /workspace tmpfs and the code starts in the file's folder ($0), with
# /dev/null as its stdin.
LIFELINE_THEN_RUN = (
    "exec 3<&0 </dev/null; (read -r _ <&3; kill -9 -1) & exec 3<&-; "
    f'cp -RP --preserve=mode,timestamps {SNAPSHOT}/. {WORKSPACE}/ && cd "$0" && exec "$@"'
)


def prlimit(limits: Limits, *, nproc: bool) -> list[str]:
    flags = {"RLIMIT_AS": "as", "RLIMIT_CPU": "cpu", "RLIMIT_FSIZE": "fsize"}
    flags |= {"RLIMIT_NOFILE": "nofile", "RLIMIT_CORE": "core", "RLIMIT_NPROC": "nproc"}
    pairs = limits.rlimits(nproc=nproc).items()
    return ["prlimit", *(f"--{flags[name]}={value}" for name, value in pairs), "--"]


def nproc_inside(limits: Limits) -> list[str]:
    """RLIMIT_NPROC set inside the sandbox, in the run's own user namespace, where it counts that
    run's processes alone (not every process of the service's uid on the host)."""
    return ["prlimit", f"--nproc={limits.processes}", "--"]


SYSTEM = [
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
IDENTITY = [
    "--uid", "1000",
    "--gid", "1000",
    "--hostname", "sandbox",
    "--die-with-parent",
    "--new-session",
    "--cap-drop", "ALL",
    "--clearenv",
]  # fmt: skip


def launch(profile: SandboxProfile, run: Run, *, seccomp_fd: int | None) -> Launch:
    limits, code = run.limits, run.code
    inside_cwd = f"{WORKSPACE}/{run.folder}" if run.folder else WORKSPACE
    env = run.env(profile, home="/tmp")  # noqa: S108 (the sandbox's own tmpfs)
    argv = [*GATE, *(prlimit(limits, nproc=profile.as_root) if profile.rlimits else [])]
    argv += [profile.bwrap, *filesystem(profile, run)]
    argv += ["--unshare-all", *(["--share-net"] if run.allow_network else []), "--unshare-user"]
    if profile.disable_userns:
        argv.append("--disable-userns")
    argv += IDENTITY
    for key, value in env.items():
        argv += ["--setenv", key, value]
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    # As root, the sandbox uid's RLIMIT_NPROC is set outside (above); otherwise inside.
    inside = code if profile.as_root or not profile.rlimits else [*nproc_inside(limits), *code]
    argv += ["--", "/bin/sh", "-c", LIFELINE_THEN_RUN, inside_cwd, *inside]
    return Launch(argv, env, "/", seccomp=seccomp_fd is not None, lifeline=True)


def filesystem(profile: SandboxProfile, run: Run) -> list[str]:
    """The mounts, in order: read-only binds, then the sized tmpfs mounts, then the root and
    ``/dev`` remounted read-only, so no writable tmpfs is left without a size."""
    limits, deps = run.limits, run.deps
    argv = list(SYSTEM)
    if run.allow_network:
        for path in NETWORK_FILES:
            argv += ["--ro-bind-try", path, path]
    if profile.site_packages:
        argv += ["--ro-bind", profile.site_packages, SITE_PACKAGES]
    if deps:
        argv += ["--ro-bind", deps, DEPENDENCIES]
    return [
        *argv,
        "--ro-bind", f"{run.stage}/project", SNAPSHOT,
        "--size", str(limits.work_bytes), "--perms", "0755", "--tmpfs", WORKSPACE,
        "--chdir", WORKSPACE,
        "--proc", "/proc",
        "--dev", "/dev",
        "--size", str(limits.shm_bytes), "--perms", "1777", "--tmpfs", "/dev/shm",  # noqa: S108
        "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp",  # noqa: S108
        "--remount-ro", "/dev",
        "--remount-ro", "/",
    ]  # fmt: skip
