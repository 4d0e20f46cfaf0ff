"""Finding out, at start, which sandbox mode works on this machine and which layers it gives.

Each mode is tried for real: a proving child runs in it exactly as code would, and attempts a
read and a write that only the sandbox forbids (the target is world-writable), a TCP connection
to a listener of the service, and a UDP socket. A layer is reported on when its denial happened,
never because a binary or a syscall exists. The result is logged layer by layer and reported in
the heartbeat (``GET /api/health`` under ``sandbox``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import socket
import stat
import subprocess
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..settings import WorkspaceSettings
from . import cgroups, command, landlock
from .profile import SandboxProfile
from .seccomp_filter import SocketPolicy, compile_filter

log = logging.getLogger(__name__)

PROVE = r"""
import json, os, resource, socket, sys
secret, port, result = sys.argv[1], int(sys.argv[2]), {"uid": os.getuid()}
result["nproc"] = resource.getrlimit(resource.RLIMIT_NPROC)[0]
def denied(attempt):
    try:
        attempt()
    except OSError:
        return True
    return False
result["read"] = denied(lambda: open(secret).read())
result["write"] = denied(lambda: open(os.path.dirname(secret) + "/written", "w").close())
result["connect"] = denied(lambda: socket.create_connection(("127.0.0.1", port), timeout=2))
result["udp"] = denied(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
result["tcp_socket"] = denied(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
result["unix_socket"] = denied(lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
print(json.dumps(result))
"""


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
    """Who executed code is started as: the dedicated sandbox uid when the service is root, else
    the service's own uid (None: no switch). The Landlock entry point starts as the service and
    switches itself, after making its namespaces."""

    user: int | None = None
    group: int | None = None
    extra_groups: list[int] | None = None


def identity(settings: WorkspaceSettings, profile: SandboxProfile) -> Identity:
    if not profile.as_root or profile.mode == "landlock":
        return Identity()
    return Identity(settings.sandbox_uid, settings.sandbox_gid, [])


def limits_of(settings: WorkspaceSettings) -> command.Limits:
    return command.Limits(
        cpu_seconds=settings.sandbox_cpu_seconds,
        memory_bytes=settings.sandbox_memory_bytes,
        file_size_bytes=settings.sandbox_file_size_bytes,
        open_files=settings.sandbox_open_files,
        processes=settings.sandbox_processes,
        tmp_bytes=settings.sandbox_tmp_bytes,
        shm_bytes=settings.sandbox_shm_bytes,
        work_bytes=settings.sandbox_work_bytes,
    )


@dataclass
class Findings:
    """What the probe learnt so far: the base profile, the layers proven, why others are off."""

    base: SandboxProfile
    settings: WorkspaceSettings
    notes: dict[str, str] = field(default_factory=dict)
    proofs: dict[str, dict[str, Any]] = field(default_factory=dict)  # mode -> proving result


def probe(settings: WorkspaceSettings) -> SandboxProfile:
    findings = _environment(settings)
    wanted = settings.sandbox_mode
    candidates: list[SandboxProfile] = []
    if wanted in ("auto", "bwrap"):
        candidates += _bubblewrap(findings)
    if wanted == "landlock" or (wanted == "auto" and not candidates):
        candidates += _landlock(findings)
    elif wanted == "auto":
        findings.notes["landlock"] = "not tried: bubblewrap works"
    profile = _choose(findings, candidates[0] if candidates else None)
    profile = replace(profile, layers=_layers(findings, profile), notes=findings.notes)
    for name, on in profile.layers.items():
        log.info("sandbox layer %-24s %s%s", name, "ON " if on else "OFF", _note(profile, name))
    log.info("sandbox mode: %s", profile.mode)
    return profile


def _environment(settings: WorkspaceSettings) -> Findings:
    """The machine-wide facts: root or not, where runs go, packages, cgroups, the filter."""
    as_root = os.geteuid() == 0
    notes: dict[str, str] = {}
    stage_root = stage_root_for(settings)
    stage_root.mkdir(parents=True, exist_ok=True)
    stage_root.chmod(0o711)
    wanted = Path(settings.sandbox_site_packages)
    site = str(wanted) if wanted.is_dir() and traversable_by_others(wanted) else None
    if site is None:
        notes["site_packages"] = f"{wanted} unreadable by the sandbox uid: no extra packages"
    if not settings.sandbox_python.startswith("/usr/"):
        notes["python"] = f"{settings.sandbox_python} is outside /usr: bubblewrap cannot see it"
    placement, why = cgroups.detect()
    if placement is None:
        notes["cgroups"] = why
    if not as_root:
        notes["separate_uid"] = "not root: code runs as the service's uid inside its namespaces"
    base = SandboxProfile(
        mode="refused",
        as_root=as_root,
        layers={},
        site_packages=site,
        python=settings.sandbox_python,
        bwrap=shutil.which(settings.sandbox_bwrap) or settings.sandbox_bwrap,
        rlimits=shutil.which("prlimit") is not None,
        stage_root=stage_root,
        limits={
            **vars(limits_of(settings)),
            "wall_clock_s": settings.exec_timeout,
            "server_lifetime_s": settings.exec_server_lifetime,
        },
        cgroup_placement=placement,
        sandbox_uid=settings.sandbox_uid,
        sandbox_gid=settings.sandbox_gid,
    )
    return Findings(base=base, settings=settings, notes=notes)


def _bubblewrap(findings: Findings) -> list[SandboxProfile]:
    """bubblewrap, proven; [] (with the reason in the notes) when it does not work."""
    settings, base = findings.settings, findings.base
    if shutil.which(settings.sandbox_bwrap) is None:
        findings.notes["bubblewrap"] = f"{settings.sandbox_bwrap} not found"
        return []
    if not base.rlimits:
        findings.notes["bubblewrap"] = "prlimit (util-linux) not found"
        return []
    bpf = settings.sandbox_dir / "seccomp.bpf"
    sockets: SocketPolicy = "any" if settings.sandbox_allow_network else "tcp"
    seccomp_error = compile_filter(bpf, sockets)
    if seccomp_error is not None:
        findings.notes["seccomp"] = seccomp_error
    for seccomp in (True, False) if seccomp_error is None else (False,):
        for disable in (True, False):
            candidate = replace(
                base,
                mode="bubblewrap",
                disable_userns=disable,
                seccomp_bpf=bpf if seccomp else None,
                layers={"seccomp": seccomp},
            )
            proof, error = _prove(findings, candidate)
            if proof is not None:
                findings.proofs["bubblewrap"] = proof
                findings.notes.pop("bubblewrap", None)
                return [candidate]
            findings.notes["bubblewrap"] = f"bwrap failed: {error}"
    return []


def _landlock(findings: Findings) -> list[SandboxProfile]:
    """The Landlock entry point, proven; [] (with the reason) when it does not work."""
    abi = landlock.abi_version()
    if abi < 1:
        findings.notes["landlock"] = "the kernel has no Landlock (5.13+, enabled at boot)"
        return []
    for seccomp in (True, False):
        candidate = replace(
            findings.base, mode="landlock", landlock_abi=abi, layers={"seccomp": seccomp}
        )
        proof, error = _prove(findings, candidate)
        if proof is not None:
            findings.proofs["landlock"] = proof
            findings.notes.pop("landlock", None)
            if not seccomp:
                findings.notes["seccomp"] = "the filter did not load with Landlock"
            return [candidate]
        findings.notes["landlock"] = f"the Landlock entry point failed: {error}"
    return []


def _prove(findings: Findings, candidate: SandboxProfile) -> tuple[dict[str, Any] | None, str]:
    """Run the proving child in ``candidate``; its findings, or None and why it did not run."""
    settings, root = findings.settings, candidate.stage_root
    stage, open_dir = root / f"probe-{candidate.mode}", root / "probe-open"
    shutil.rmtree(stage, ignore_errors=True)
    (stage / "project").mkdir(parents=True)
    for path in (stage, stage / "project"):
        path.chmod(0o755)
    (stage / "project" / "prove.py").write_text(PROVE)
    (stage / "project" / "prove.py").chmod(0o644)
    open_dir.mkdir(exist_ok=True)
    open_dir.chmod(0o1777)  # world-writable: only the sandbox itself can deny the write
    secret = open_dir / "secret"
    secret.write_text("not for executed code\n")
    secret.chmod(0o644)
    bpf_fd = os.open(candidate.seccomp_bpf, os.O_RDONLY) if candidate.seccomp_bpf else None
    try:
        with socket.create_server(("127.0.0.1", 0)) as listener:
            launch = command.build(
                candidate,
                limits_of(settings),
                stage=str(stage),
                file_path="prove.py",
                command=f"python prove.py {secret} {listener.getsockname()[1]}",
                allow_network=settings.sandbox_allow_network,
                seccomp_fd=bpf_fd,
            )
            command.prepare(stage, launch)
            return _run_proof(launch, identity(settings, candidate), bpf_fd)
    finally:
        if bpf_fd is not None:
            os.close(bpf_fd)
        shutil.rmtree(stage, ignore_errors=True)
        shutil.rmtree(open_dir, ignore_errors=True)


def _run_proof(
    launch: command.Launch, who: Identity, bpf_fd: int | None
) -> tuple[dict[str, Any] | None, str]:
    try:
        with subprocess.Popen(
            launch.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=launch.env,
            cwd=launch.cwd,
            pass_fds=() if bpf_fd is None else (bpf_fd,),
            user=who.user,
            group=who.group,
            extra_groups=who.extra_groups,
        ) as proc:
            assert proc.stdin is not None
            proc.stdin.write(b"\n")  # through the gate
            proc.stdin.flush()
            # Held open until the proof has ended, as a run's is (the lifeline: closing it
            # ends a bubblewrap sandbox); communicate() would close it first.
            lifeline, proc.stdin = proc.stdin, None
            try:
                stdout, stderr = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
            finally:
                lifeline.close()
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, str(exc)
    error = stderr.decode(errors="replace").strip()[-300:]
    lines = stdout.decode(errors="replace").strip().splitlines()
    if proc.returncode != 0 or not lines:
        return None, error or f"exit {proc.returncode}"
    try:
        proof: dict[str, Any] = json.loads(lines[-1])
    except ValueError:
        return None, f"unexpected output: {lines[-1][:200]}"
    return proof, ""


def _choose(findings: Findings, proven: SandboxProfile | None) -> SandboxProfile:
    settings = findings.settings
    if settings.sandbox_mode == "weak":
        log.warning("SANDBOX: WEAK mode (SANDBOX_MODE=weak): code can read the filesystem")
        return replace(findings.base, mode="weak")
    if proven is not None:
        return proven
    if settings.sandbox_mode == "auto" and settings.sandbox_allow_weak:
        log.warning(
            "SANDBOX: no isolation mode works here; WEAK mode (opted in): executed code "
            "can read the filesystem and reach the network"
        )
        return replace(findings.base, mode="weak")
    log.error(
        "SANDBOX: no isolation mode works here (SANDBOX_MODE=%s); executions will be REFUSED "
        "(SANDBOX_MODE=weak runs with rlimits and a separate uid only)",
        settings.sandbox_mode,
    )
    return findings.base


def _layers(findings: Findings, profile: SandboxProfile) -> dict[str, bool]:
    """Each layer of the chosen mode, on only where the proving child showed it."""
    settings, mode = findings.settings, profile.mode
    proof = findings.proofs.get(mode, {})
    contained = mode in ("bubblewrap", "landlock")
    isolated = contained and not settings.sandbox_allow_network and proof.get("connect", False)
    seccomp = contained and profile.layers.get("seccomp", False)
    seccomp = seccomp and (settings.sandbox_allow_network or proof.get("udp", False))
    if profile.as_root and contained and proof.get("uid") == 0:
        findings.notes["separate_uid"] = "the proving child ran as uid 0"
    nproc = _nproc_limit(findings, profile, proof)
    return {
        "scrubbed_env": True,
        "wall_clock": True,
        "process_tree_kill": True,
        "separate_uid": profile.as_root and proof.get("uid", -1) != 0,
        "rlimits": mode == "landlock" or profile.rlimits,
        "nproc_limit": nproc,
        "bubblewrap": "bubblewrap" in findings.proofs,
        "landlock": "landlock" in findings.proofs,
        "filesystem_confined": contained and proof.get("read", False) and proof["write"],
        "pid_namespace": contained,
        "network_namespace": isolated,
        "no_outbound_network": isolated,
        "seccomp": seccomp,
        "no_unix_sockets": seccomp and proof.get("unix_socket", False),
        "nested_userns_disabled": (mode == "bubblewrap" and profile.disable_userns) or seccomp,
        "cgroups": contained and profile.cgroups is not None,
        "sized_writable_mounts": contained,
    }


def _nproc_limit(findings: Findings, profile: SandboxProfile, proof: dict[str, Any]) -> bool:
    """Whether runs get RLIMIT_NPROC (a contained mode: the proving child saw it), and, in the
    notes, what it counts."""
    wanted = findings.settings.sandbox_processes
    if profile.contained:
        on = proof.get("nproc") == wanted
    else:
        on = profile.mode == "weak" and profile.as_root and profile.rlimits
    if not on and profile.contained:
        findings.notes["nproc_limit"] = f"the proving child's RLIMIT_NPROC was {proof.get('nproc')}"
    elif not on:
        findings.notes["nproc_limit"] = "no namespaces of its own: it would count the service's uid"
    elif profile.as_root:
        findings.notes["nproc_limit"] = f"{wanted} processes of the sandbox uid, all runs together"
    else:
        findings.notes["nproc_limit"] = f"{wanted} processes per run (its own user namespace)"
    return on


def _note(profile: SandboxProfile, name: str) -> str:
    return f" ({profile.notes[name]})" if name in profile.notes else ""
