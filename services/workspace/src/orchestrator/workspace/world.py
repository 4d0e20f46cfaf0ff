"""The world executed code runs in here, as the heartbeat tells the agents service (which never
runs code and never reads this service's settings): the sandbox interpreter's version, the
packages it can import, whether the network is reachable, and where a server must listen.

Read once at start, from the settings and the probe's findings: the interpreter is asked its
version, the site packages are listed from their distribution metadata.
"""

from __future__ import annotations

import importlib.metadata
import logging
import subprocess

from orchestrator.events.messages import SandboxWorld

from .sandbox.profile import SandboxProfile
from .settings import WorkspaceSettings

log = logging.getLogger(__name__)

DEFAULT_SERVER_PORT = 8000
"""The port the smoke check expects a server on when the plan names none."""
MAX_PACKAGES = 300
VERSION_TIMEOUT = 10.0


def describe(settings: WorkspaceSettings, profile: SandboxProfile) -> SandboxWorld:
    return SandboxWorld(
        python=_python_version(profile.python),
        packages=_packages(profile.site_packages),
        # Off only where the probe proved a connection is denied: a weak sandbox shares the
        # host's network whatever the settings say.
        network=settings.sandbox_allow_network
        or not profile.layers.get("no_outbound_network", False),
        # In a network namespace of its own the relay reaches the server on its loopback;
        # sharing the host's network, it is reached where previews listen.
        server_host="127.0.0.1" if profile.own_network else settings.preview_host,
        default_port=DEFAULT_SERVER_PORT,
    )


def _python_version(python: str) -> str:
    try:
        done = subprocess.run(
            [python, "-c", "import platform; print(platform.python_version())"],
            capture_output=True,
            text=True,
            timeout=VERSION_TIMEOUT,
            check=False,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("the sandbox interpreter %s did not tell its version: %s", python, exc)
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _packages(site_packages: str | None) -> tuple[str, ...]:
    if not site_packages:
        return ()
    found = {
        f"{dist.metadata['Name']} {dist.version}"
        for dist in importlib.metadata.distributions(path=[site_packages])
        if dist.metadata["Name"]
    }
    return tuple(sorted(found, key=str.lower)[:MAX_PACKAGES])
