"""``python -m orchestrator.archive``: run the archive service until SIGTERM."""

from __future__ import annotations

from orchestrator.events.service import run_service

from .bootstrap import start


def main() -> None:
    run_service("archive", start)


if __name__ == "__main__":
    main()
