"""``python -m orchestrator.workspace``: run the workspace service until SIGTERM."""

from __future__ import annotations

from orchestrator.events.service import run_service

from .bootstrap import start


def main() -> None:
    run_service("workspace", start)


if __name__ == "__main__":
    main()
