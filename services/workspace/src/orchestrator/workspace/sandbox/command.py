"""The command line that runs one workspace file inside the sandbox, in whichever mode the probe
chose (:mod:`.bubblewrap`, :mod:`.landlock_launch`, or weak: rlimits only).

Each run has its directory ``<stage_root>/<execution>``: ``project/`` is the snapshot of the
workspace taken for it, which the code gets as a writable, size-capped copy. Either contained
mode starts behind a gate (one byte on stdin) so the service can put the first process in the
run's cgroup before anything runs, and with a small explicit environment.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from . import bubblewrap, landlock_launch
from .bubblewrap import GATE, prlimit
from .launch import Launch, Limits, Run, program
from .profile import SandboxProfile

__all__ = ["GATE", "Launch", "Limits", "build", "prepare"]


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
    run = Run(
        limits,
        stage,
        "" if folder == "." else folder,
        program(command, profile),
        allow_network,
        deps,
    )
    if profile.mode == "landlock":
        return landlock_launch.launch(profile, run, server=server)
    if profile.mode == "bubblewrap":
        return bubblewrap.launch(profile, run, seccomp_fd=seccomp_fd)
    limit = prlimit(limits, nproc=profile.as_root) if profile.rlimits else []
    project = f"{stage}/project"
    cwd = f"{project}/{run.folder}" if run.folder else project
    return Launch([*limit, *run.code], run.env(profile, home=cwd), cwd, seccomp=False)


def prepare(stage: Path, launch: Launch) -> None:
    """What the launch needs in the run directory besides the snapshot (``project/``)."""
    if launch.policy is not None:
        for name in ("work", "tmp"):
            (stage / name).mkdir(exist_ok=True)
            (stage / name).chmod(0o755)
        launch.policy.write(stage / "policy.json")
