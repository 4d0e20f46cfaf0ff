"""A stand-in for a workspace service that dies the instant it has let a run through the gate:
``python -m tests.workspace.orphaned_run MODE NAME`` probes the sandbox as the service does (the
settings come from the environment), starts a ``sleep.py`` sandboxed (run directory ``NAME`` in
the service's stage root), writes the gate's byte and exits at once, while the sandbox is still
being set up (for bubblewrap: before its inner process has asked for PDEATHSIG). The run must not
outlive it."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

from orchestrator.workspace.sandbox import command
from orchestrator.workspace.sandbox.probe import identity, limits_of, probe
from orchestrator.workspace.settings import WorkspaceSettings


def main() -> None:
    mode, name = sys.argv[1], sys.argv[2]
    settings = WorkspaceSettings(sandbox_mode=mode)
    profile = probe(settings)
    assert profile.contained, profile
    stage = profile.stage_root / name
    (stage / "project").mkdir(parents=True)
    (stage / "project" / "sleep.py").write_text("import time\ntime.sleep(600)\n")
    for path in (stage, stage / "project"):
        path.chmod(0o755)
    (stage / "project" / "sleep.py").chmod(0o644)
    launch = command.build(
        profile,
        replace(limits_of(settings), cpu_seconds=60),
        stage=str(stage),
        file_path="sleep.py",
        command="python sleep.py",
        allow_network=False,
    )
    command.prepare(stage, launch)
    who = identity(settings, profile)
    proc = subprocess.Popen(
        launch.argv,
        env=launch.env,
        cwd=launch.cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        user=who.user,
        group=who.group,
        extra_groups=who.extra_groups,
    )
    assert proc.stdin is not None
    proc.stdin.write(b"\n")
    proc.stdin.flush()
    print(stage, flush=True)  # for the test to remove
    os._exit(0)


if __name__ == "__main__":
    main()
