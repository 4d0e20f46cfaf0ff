"""The ``orchestrator`` command: every operation of the gateway from a terminal.

Built on ``orchestrator_client``; the gateway is ``--url`` or ``ORCHESTRATOR_URL`` and its token
``--token`` or ``ORCHESTRATOR_TOKEN``. Every command takes ``--json``. Exit codes are listed in
``exits``; a failure is one line on stderr, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated, TypeVar

import typer

from orchestrator_client import Budget, Client, OrchestratorError, RunStarted

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
    usage_table,
)
from .progress import watch
from .settings_commands import settings_app

T = TypeVar("T")

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


MaxCostOption = Annotated[
    float | None, typer.Option("--max-cost", min=0.000001, help="Budget: at most this many USD")
]
MaxTokensOption = Annotated[
    int | None, typer.Option("--max-tokens", min=1, help="Budget: at most this many tokens")
]


def _budget(max_cost: float | None, max_tokens: int | None) -> Budget | None:
    if max_cost is None and max_tokens is None:
        return None
    return Budget(max_cost_usd=max_cost, max_tokens=max_tokens)


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


def _steer(
    ctx: typer.Context,
    task_id: str,
    send: Callable[[Client], T],
    out: Output,
    *,
    watch_it: bool,
    verbose: bool,
) -> T:
    """Send one step of a task's control; with ``--watch``, follow the task on and exit with
    its outcome."""
    with _client(ctx) as client:
        result = send(client)
        if watch_it:
            raise typer.Exit(watch(client, task_id, out, verbose))
    return result


@app.command()
def submit(
    ctx: typer.Context,
    requirement: Annotated[str, typer.Argument(help="What you want built, in plain language.")],
    *,
    priority: Annotated[int | None, typer.Option(min=1, max=10, help="1 (low) to 10")] = None,
    max_cost: MaxCostOption = None,
    max_tokens: MaxTokensOption = None,
    approval: Annotated[
        str | None,
        typer.Option(
            help="Stop for your approval: plan, changes, plan,changes or none "
            "(default: the settings')"
        ),
    ] = None,
    approval_timeout: Annotated[
        float | None,
        typer.Option(min=0.001, help="Cancel the task if a gate waits this many seconds"),
    ] = None,
    watch_it: Annotated[
        bool, typer.Option("--watch", "-w", help="Follow the task until it ends.")
    ] = False,
    verbose: VerboseOption = False,
    as_json: JsonOption = False,
) -> None:
    """Submit a requirement; with --watch follow it stage by stage to its files and cost."""
    out = Output(as_json)
    gates: str | list[str] | None = approval
    if approval is not None and "," in approval:
        gates = [g.strip() for g in approval.split(",") if g.strip()]
    with _client(ctx) as client:
        submitted = client.submit(
            requirement,
            priority=priority,
            budget=_budget(max_cost, max_tokens),
            approval=gates,
            approval_timeout_s=approval_timeout,
        )
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
        str | None,
        typer.Option(
            help="created, in_progress, awaiting_approval, completed, failed or cancelled"
        ),
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
    *,
    max_cost: MaxCostOption = None,
    max_tokens: MaxTokensOption = None,
    watch_it: Annotated[bool, typer.Option("--watch", "-w", help="Follow the retry.")] = False,
    verbose: VerboseOption = False,
    as_json: JsonOption = False,
) -> None:
    """Retry a failed task from the stage that failed (with a new budget, if given)."""
    out = Output(as_json)
    budget = _budget(max_cost, max_tokens)
    result = _steer(
        ctx, task_id, lambda c: c.retry(task_id, budget), out, watch_it=watch_it, verbose=verbose
    )
    out.show(result, f"{result.task_id} is {result.status} again from {result.stage}")


@app.command()
def approve(
    ctx: typer.Context,
    task_id: str,
    *,
    watch_it: Annotated[bool, typer.Option("--watch", "-w", help="Follow it on.")] = False,
    verbose: VerboseOption = False,
    as_json: JsonOption = False,
) -> None:
    """Let a task waiting at an approval gate go on."""
    out = Output(as_json)
    result = _steer(
        ctx, task_id, lambda c: c.approve(task_id), out, watch_it=watch_it, verbose=verbose
    )
    out.show(result, f"{result.task_id}: {result.approved} approved, {result.status}")


@app.command()
def feedback(
    ctx: typer.Context,
    task_id: str,
    message: Annotated[str, typer.Argument(help="What to change, in plain language.")],
    as_json: JsonOption = False,
) -> None:
    """Send a waiting task back with what to change; on a completed task, submit a follow-up."""
    with _client(ctx) as client:
        result = client.feedback(task_id, message)
    if result.follow_up is not None:
        text = f"Submitted {result.follow_up.task_id}, a follow-up on {result.task_id}"
    else:
        text = f"{result.task_id}: sent back at the {result.revising} gate"
    Output(as_json).show(result, text)


@app.command()
def usage(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help="First UTC day, YYYY-MM-DD")] = None,
    until: Annotated[str | None, typer.Option(help="Last UTC day, YYYY-MM-DD")] = None,
    as_json: JsonOption = False,
) -> None:
    """Tokens and cost by agent, provider and model."""
    with _client(ctx) as client:
        report = client.usage(since, until)
    Output(as_json).show(report, usage_table(report))


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
