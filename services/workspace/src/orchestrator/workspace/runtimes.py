"""What this machine has to run programs with besides Python and ``sh``: found once at start by
the service that runs code, reported in its heartbeat, and so what every gateway lists as
runnable (a file list never guesses from the gateway's own machine)."""

from __future__ import annotations

import logging
import shutil
import subprocess

from orchestrator.events.messages import RuntimeReport, WorkspaceDetails
from orchestrator.events.runnables import Runtimes

from .sandbox.launch import PATH as SANDBOX_PATH
from .settings import WorkspaceSettings

log = logging.getLogger(__name__)


def find_node(executable: str) -> RuntimeReport:
    """``executable`` as a run finds it: on the sandbox's PATH (or at the path given)."""
    found = shutil.which(executable, path=SANDBOX_PATH)
    if found is None:
        reason = f"Node.js ({executable}) is not installed on the machine that runs code"
        log.info("runtime node: not found (%s on %s)", executable, SANDBOX_PATH)
        return RuntimeReport(available=False, reason=reason)
    try:
        version = subprocess.run(
            [found, "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("runtime node: %s does not run: %s", found, exc)
        return RuntimeReport(available=False, reason=f"Node.js ({found}) does not run: {exc}")
    log.info("runtime node: %s %s", found, version)
    return RuntimeReport(available=True, version=version or None)


def this_machine(settings: WorkspaceSettings) -> tuple[dict[str, RuntimeReport], Runtimes]:
    """What the heartbeat reports, and what runnable metadata here needs of it."""
    reports = {"node": find_node(settings.exec_node)}
    return reports, Runtimes(WorkspaceDetails(runtimes=reports).missing_runtimes())
