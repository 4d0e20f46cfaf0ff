"""The ``orchestrator`` command: every operation of the gateway from a terminal.

Built on ``orchestrator_client``; the gateway is ``--url`` or ``ORCHESTRATOR_URL`` and its token
``--token`` or ``ORCHESTRATOR_TOKEN``. Every command takes ``--json``. Exit codes are listed in
``exits``; a failure is one line on stderr, never a traceback.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from orchestrator_client import Client, OrchestratorError, RunStarted

from . import exits
from .output import (
    Output,
    archive_files_table,
    archives_table,
    emit,
    files_table,
    health_table,
    task_report,
    tasks_table,
)
from .progress import watch
from .settings_commands import settings_app

app = typer.Typer(
    name="orchestrator",
    help="Turn a plain-language requirement into code, and manage what the agents wrote.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(settings_app, name="settings")

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output (JSON lines).")]
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Stream the model's tokens as it writes them.")
]


class Context:
    """What the global options say, for the commands to build their client from."""

    def __init__(self, url: str | None, token: str | None) -> None:
        self.url = url
        self.token = token

    def client(self) -> Client:
        return Client(self.url, token=self.token)


@app.callback()
def main_options(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option(help="Gateway URL (env ORCHESTRATOR_URL; default http://127.0.0.1:8100)"),
    ] = None,
    token: Annotated[
        str | None, typer.Option(help="Gateway token (env ORCHESTRATOR_TOKEN)", show_default=False)
    ] = None,
) -> None:
    ctx.obj = Context(url, token)


def _client(ctx: typer.Context) -> Client:
    context: Context = ctx.obj
    return context.client()


@app.command()
def submit(
    ctx: typer.Context,
    requirement: Annotated[str, typer.Argument(help="What you want built, in plain language.")],
    *,
    priority: Annotated[int | None, typer.Option(min=1, max=10, help="1 (low) to 10")] = None,
    watch_it: Annotated[
        bool, typer.Option("--watch", "-w", help="Follow the task until it ends.")
    ] = False,
    verbose: VerboseOption = False,
    as_json: JsonOption = False,
) -> None:
    """Submit a requirement; with --watch follow it stage by stage to its files and cost."""
    out = Output(as_json)
    with _client(ctx) as client:
        submitted = client.submit(requirement, priority=priority)
        if not watch_it:
            out.show(submitted, f"Submitted {submitted.task_id} (priority {submitted.priority})")
            return
        if not as_json:
            out.console.print(f"Submitted {submitted.task_id} (priority {submitted.priority})")
        raise typer.Exit(watch(client, submitted.task_id, out, verbose))


@app.command("watch")
def watch_command(
    ctx: typer.Context, task_id: str, verbose: VerboseOption = False, as_json: JsonOption = False
) -> None:
    """Follow a task until it completes, fails or is cancelled."""
    with _client(ctx) as client:
        raise typer.Exit(watch(client, task_id, Output(as_json), verbose))


@app.command()
def tasks(
    ctx: typer.Context,
    status: Annotated[
        str | None, typer.Option(help="created, in_progress, completed, failed or cancelled")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List the tasks."""
    with _client(ctx) as client:
        listed = client.tasks(status)
    Output(as_json).show(listed, tasks_table(listed))


@app.command()
def show(ctx: typer.Context, task_id: str, as_json: JsonOption = False) -> None:
    """One task: its stages with tokens and cost, its files, its error."""
    with _client(ctx) as client:
        task = client.task(task_id)
    Output(as_json).show(task, task_report(task))


@app.command()
def cancel(ctx: typer.Context, task_id: str, as_json: JsonOption = False) -> None:
    """Cancel a task that has not finished."""
    with _client(ctx) as client:
        result = client.cancel(task_id)
    Output(as_json).show(result, f"{result.task_id} is {result.status}")


@app.command()
def retry(
    ctx: typer.Context,
    task_id: str,
    watch_it: Annotated[bool, typer.Option("--watch", "-w", help="Follow the retry.")] = False,
    verbose: VerboseOption = False,
    as_json: JsonOption = False,
) -> None:
    """Retry a failed task from the stage that failed."""
    out = Output(as_json)
    with _client(ctx) as client:
        result = client.retry(task_id)
        if watch_it:
            raise typer.Exit(watch(client, task_id, out, verbose))
    out.show(result, f"{result.task_id} is {result.status} again from {result.stage}")


@app.command()
def files(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the workspace's files."""
    with _client(ctx) as client:
        listed = client.files()
    Output(as_json).show(listed, files_table(listed))


@app.command()
def cat(ctx: typer.Context, path: str, as_json: JsonOption = False) -> None:
    """Print a workspace file."""
    with _client(ctx) as client:
        content = client.read_file(path)
    if as_json:
        emit({"path": path, "content": content.decode("utf-8", errors="replace")})
    else:
        sys.stdout.buffer.write(content)
        sys.stdout.flush()


@app.command()
def run(ctx: typer.Context, path: str, as_json: JsonOption = False) -> None:
    """Run a workspace file, streaming its output; Ctrl-C stops it. Exits with its exit code."""

    def started(run: RunStarted) -> None:
        if as_json:
            emit(run)
        else:
            preview = f", preview {run.preview_url}" if run.preview_url else ""
            print(f"# {run.execution_id}: {run.command or path}{preview}", file=sys.stderr)

    def line(text: str) -> None:
        if as_json:
            emit({"type": "execution_output", "output": text})
        else:
            print(text, flush=True)

    with _client(ctx) as client:
        try:
            result = client.run(path, on_line=line, on_start=started)
        except KeyboardInterrupt:
            print("# interrupted: the execution was stopped", file=sys.stderr)
            raise typer.Exit(exits.INTERRUPTED) from None
    if as_json:
        emit(result)
    else:
        print(f"# {result.status}, exit code {result.exit_code}", file=sys.stderr)
    raise typer.Exit(result.exit_code if result.exit_code is not None else exits.REFUSED)


@app.command()
def reset(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Archive the workspace and start an empty one."""
    with _client(ctx) as client:
        result = client.reset()
    Output(as_json).show(
        result, f"Archived {result.files_archived} file(s) to {result.archive_path}"
    )


@app.command()
def archives(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="An archive: list its files.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List the archives, or the files of one."""
    out = Output(as_json)
    with _client(ctx) as client:
        if name is None:
            listed = client.archives()
            out.show(listed, archives_table(listed))
        else:
            contents = client.archive_files(name)
            out.show(contents, archive_files_table(contents))


@app.command()
def restore(ctx: typer.Context, archive: str, file: str, as_json: JsonOption = False) -> None:
    """Put one archived file back in the workspace."""
    with _client(ctx) as client:
        result = client.restore(archive, file)
    Output(as_json).show(result, f"Restored {result.workspace_path} from {result.archive_name}")


@app.command()
def health(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Every service, NATS, and the host's load. Exits 1 when degraded."""
    with _client(ctx) as client:
        report = client.health()
    Output(as_json).show(report, health_table(report))
    if report.status != "ok":
        raise typer.Exit(exits.NOT_OK)


def main() -> None:
    """The console script: run the app, turning client errors into one line and an exit code."""
    try:
        app()
    except OrchestratorError as error:
        sys.exit(exits.fail(error))


__all__ = ["app", "main"]
