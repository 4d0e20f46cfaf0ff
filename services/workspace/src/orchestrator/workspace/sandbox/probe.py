"""Finding out, at start, which isolation layers actually work on this machine.

Each layer is tried for real (a sandboxed ``true`` as the sandbox uid, with and without
``--disable-userns`` and seccomp), never assumed from the presence of a binary. The result is
logged layer by layer and reported in the heartbeat.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..settings import WorkspaceSettings
from . import command
from .profile import Mode, SandboxProfile
from .seccomp_filter import compile_filter

log = logging.getLogger(__name__)


def traversable_by_others(path: Path) -> bool:
    """Whether a uid that is neither owner nor group can reach ``path`` (o+x on every parent)."""
    path = path.resolve()
    for part in [path, *path.parents]:
        try:
            mode = part.stat().st_mode
        except OSError:
            return False
        if not mode & stat.S_IXOTH:
            return False
    return True


def stage_root_for(settings: WorkspaceSettings) -> Path:
    """Where per-run workspace snapshots go: under DATA_DIR if the sandbox uid can reach it,
    else a private directory in the system temp dir."""
    preferred = settings.sandbox_dir.resolve() / "runs"
    if traversable_by_others(preferred.parent.parent):
        return preferred
    tag = hashlib.sha256(str(settings.data_dir.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"orchestrator-runs-{tag}"


@dataclass(frozen=True)
class Identity:
    """Who executed code runs as: the dedicated sandbox uid when the service is root, else the
    service's own uid (None: no switch)."""

    user: int | None = None
    group: int | None = None
    extra_groups: list[int] | None = None


def identity(settings: WorkspaceSettings, as_root: bool) -> Identity:
    if not as_root:
        return Identity()
    return Identity(settings.sandbox_uid, settings.sandbox_gid, [])


def _try(argv: list[str], who: Identity, fds: tuple[int, ...] = ()) -> tuple[bool, str]:
    try:
        result = subprocess.run(
            argv,
            capture_output=True,
            timeout=20,
            env={"PATH": "/usr/bin:/bin"},
            cwd="/",
            pass_fds=fds,
            check=False,
            user=who.user,
            group=who.group,
            extra_groups=who.extra_groups,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    return result.returncode == 0, result.stderr.decode(errors="replace").strip()[-300:]


def probe(settings: WorkspaceSettings) -> SandboxProfile:  # noqa: PLR0912, PLR0915 (one linear report)
    as_root = os.geteuid() == 0
    notes: dict[str, str] = {}
    layers: dict[str, bool] = {
        "scrubbed_env": True,
        "wall_clock": True,
        "process_tree_kill": True,
    }
    layers["separate_uid"] = as_root
    if not as_root:
        notes["separate_uid"] = "not root: code runs as the service's uid inside bubblewrap"
    layers["rlimits"] = shutil.which("prlimit") is not None
    if not layers["rlimits"]:
        notes["rlimits"] = "prlimit (util-linux) not found"
    layers["nproc_limit"] = as_root and layers["rlimits"]

    stage_root = stage_root_for(settings)
    stage_root.mkdir(parents=True, exist_ok=True)
    stage_root.chmod(0o711)
    site = settings.sandbox_site_packages
    if not (Path(site).is_dir() and traversable_by_others(Path(site))):
        notes["site_packages"] = f"{site} unreadable by the sandbox uid: no extra packages"
        site_packages: str | None = None
    else:
        site_packages = site
    python = settings.sandbox_python
    if not python.startswith("/usr/"):
        notes["python"] = f"{python} is outside /usr and is not visible inside the sandbox"

    limits = command.Limits(
        cpu_seconds=settings.sandbox_cpu_seconds,
        memory_bytes=settings.sandbox_memory_bytes,
        file_size_bytes=settings.sandbox_file_size_bytes,
        open_files=settings.sandbox_open_files,
        processes=settings.sandbox_processes,
        tmp_bytes=settings.sandbox_tmp_bytes,
    )
    probe_stage = stage_root / "probe"
    probe_stage.mkdir(exist_ok=True)
    probe_stage.chmod(0o755)

    bpf_path = settings.sandbox_dir / "seccomp.bpf"
    seccomp_error = compile_filter(
        python if Path(python).exists() else "/usr/bin/python3",
        bpf_path,
        block_udp=not settings.sandbox_allow_network,
    )
    mode: Mode = "refused"
    disable_userns = True
    bwrap_ok = False
    seccomp_ok = False
    bwrap = shutil.which(settings.sandbox_bwrap)
    if bwrap is None:
        notes["bubblewrap"] = f"{settings.sandbox_bwrap} not found (apt-get install bubblewrap)"
    else:

        def try_bwrap(disable: bool, seccomp_fd: int | None = None) -> tuple[bool, str]:
            """Start ``/usr/bin/true`` in the sandbox as it would run code."""
            candidate = SandboxProfile(
                mode="bubblewrap",
                as_root=as_root,
                layers={},
                disable_userns=disable,
                site_packages=site_packages,
                python=python,
                bwrap=bwrap,
                rlimits=layers["rlimits"],
            )
            launch = command.build(
                candidate,
                limits,
                stage=str(probe_stage),
                file_path="probe",
                command="/usr/bin/true",
                allow_network=settings.sandbox_allow_network,
                seccomp_fd=seccomp_fd,
            )
            fds = () if seccomp_fd is None else (seccomp_fd,)
            return _try(launch.argv, identity(settings, as_root), fds)

        for disable in (True, False):
            ok, err = try_bwrap(disable)
            if ok:
                bwrap_ok, disable_userns = True, disable
                break
            notes["bubblewrap"] = f"bwrap failed: {err}"
        if bwrap_ok:
            notes.pop("bubblewrap", None)
            mode = "bubblewrap"
            if seccomp_error is None:
                fd = os.open(bpf_path, os.O_RDONLY)
                try:
                    seccomp_ok, err = try_bwrap(disable_userns, fd)
                finally:
                    os.close(fd)
                if not seccomp_ok:
                    notes["seccomp"] = f"filter did not load: {err}"
            else:
                notes["seccomp"] = seccomp_error
    shutil.rmtree(probe_stage, ignore_errors=True)
    layers["bubblewrap"] = bwrap_ok
    layers["filesystem_confined"] = bwrap_ok
    layers["pid_namespace"] = bwrap_ok
    layers["network_namespace"] = bwrap_ok and not settings.sandbox_allow_network
    layers["no_outbound_network"] = layers["network_namespace"]
    layers["seccomp"] = seccomp_ok
    layers["nested_userns_disabled"] = bwrap_ok and disable_userns
    layers["cgroups"] = False
    notes["cgroups"] = "not used: RLIMIT_NPROC of the dedicated uid and RLIMIT_AS bound them"
    if settings.sandbox_allow_network:
        notes["network"] = "SANDBOX_ALLOW_NETWORK is on: executed code may connect out"
    if not bwrap_ok:
        if settings.sandbox_allow_weak:
            mode = "weak"
            log.warning(
                "SANDBOX: no isolation layer works here; WEAK mode (opted in): executed code "
                "can read the filesystem and reach the network"
            )
        else:
            log.error(
                "SANDBOX: no isolation layer works here; executions will be REFUSED "
                "(set SANDBOX_ALLOW_WEAK=true to run with rlimits and a separate uid only)"
            )
    profile = SandboxProfile(
        mode=mode,
        as_root=as_root,
        layers=layers,
        notes=notes,
        seccomp_bpf=bpf_path if seccomp_ok else None,
        disable_userns=disable_userns,
        site_packages=site_packages,
        python=python,
        bwrap=bwrap or settings.sandbox_bwrap,
        rlimits=layers["rlimits"],
        stage_root=stage_root,
        limits={
            "cpu_seconds": settings.sandbox_cpu_seconds,
            "memory_bytes": settings.sandbox_memory_bytes,
            "file_size_bytes": settings.sandbox_file_size_bytes,
            "open_files": settings.sandbox_open_files,
            "processes": settings.sandbox_processes,
            "tmp_bytes": settings.sandbox_tmp_bytes,
            "wall_clock_s": settings.exec_timeout,
            "server_lifetime_s": settings.exec_server_lifetime,
        },
    )
    for name, on in layers.items():
        log.info("sandbox layer %-24s %s%s", name, "ON " if on else "OFF", _note(notes, name))
    log.info("sandbox mode: %s", mode)
    return profile


def _note(notes: dict[str, str], name: str) -> str:
    return f" ({notes[name]})" if name in notes else ""
