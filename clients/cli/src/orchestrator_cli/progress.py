"""Watching a task: a line per stage as it starts and ends, the model's tokens with --verbose,
then the files and the cost; with --json every frame as a line, the final task last."""

from __future__ import annotations

from rich.markup import escape

from orchestrator_client import (
    ApprovalRequested,
    ApprovalResolved,
    Client,
    Frame,
    ModelOutput,
    Task,
    TaskUpdate,
)

from . import exits
from .output import Output, emit, styled, task_report


class Progress:
    """Turns a task's frames into lines for people."""

    def __init__(self, out: Output, verbose: bool) -> None:
        self.out = out
        self.verbose = verbose
        self._mid_line = False  # model tokens were written without a newline yet

    def frame(self, frame: Frame) -> None:
        if isinstance(frame, ModelOutput):
            if self.verbose and frame.text:
                self.out.console.print(escape(frame.text), end="", style="dim")
                self._mid_line = not frame.text.endswith("\n")
            return
        if isinstance(frame, ApprovalRequested):
            self._end_line()
            self.out.console.print(
                f"[yellow]waiting for your approval[/yellow] at the {frame.gate} gate "
                f"(round {frame.round}): {escape(frame.summary[:200])}\n"
                f"  orchestrator approve {frame.task_id}   or   "
                f"orchestrator feedback {frame.task_id} 'what to change'"
            )
            return
        if isinstance(frame, ApprovalResolved):
            self._end_line()
            self.out.console.print(f"{frame.gate} gate: {frame.decision}")
            return
        if not isinstance(frame, TaskUpdate) or frame.status == "awaiting_approval":
            return
        if self._mid_line:
            self.out.console.print()
            self._mid_line = False
        self.out.console.print(f"[{frame.progress:>3}%] {self._describe(frame)}")

    def _end_line(self) -> None:
        if self._mid_line:
            self.out.console.print()
            self._mid_line = False

    @staticmethod
    def _describe(frame: TaskUpdate) -> str:
        stage = f"{frame.stage or '':<15}{(frame.agent or ''):<9}"
        if frame.status in ("completed", "failed", "cancelled"):
            error = frame.error or {}
            reason = f": {escape(str(error.get('message', '')))}" if error else ""
            return f"{stage}{styled(frame.status)}{reason}"
        if frame.findings is not None:
            findings = "; ".join(frame.findings)
            return f"{stage}[yellow]rejected[/yellow] (round {frame.round}): {escape(findings)}"
        if frame.summary is not None:
            return f"{stage}[green]done[/green]  {escape(frame.summary[:100])}"
        if frame.status == "created":
            return "submitted"
        return f"{stage}started" + (f" (round {frame.round})" if (frame.round or 1) > 1 else "")


def watch(client: Client, task_id: str, out: Output, verbose: bool) -> int:
    """Follow ``task_id`` to its end; the exit code says how it ended."""
    progress = Progress(out, verbose)
    for frame in client.follow(task_id, from_start=True):
        if out.as_json:
            if verbose or not isinstance(frame, ModelOutput):
                emit(frame)
        else:
            progress.frame(frame)
    task = client.task(task_id)
    if out.as_json:
        emit(task)
    else:
        out.console.print()
        out.console.print(task_report(task))
    return exit_code(task)


def exit_code(task: Task) -> int:
    return exits.OK if task.status == "completed" else exits.NOT_OK
