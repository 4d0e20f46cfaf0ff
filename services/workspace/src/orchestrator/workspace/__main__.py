"""``python -m orchestrator.workspace``: run the workspace service until SIGTERM."""

from __future__ import annotations

from orchestrator.events.service import run_service

from .bootstrap import start


def main() -> None:
    # asyncio's own loop: the sandbox starts its runs as another user and group, which
    # uvloop's subprocess_exec refuses (ValueError), so every check would fail.
    run_service("workspace", start, uvloop=False)


if __name__ == "__main__":
    main()
