"""``orchestrator settings show`` and ``orchestrator settings set``.

``set`` sends only the options given (the gateway's update is partial); ``--agent`` names the
agent that ``--provider``, ``--model``, ``--base-url`` and ``--agent-api-key`` apply to. A value
given as ``""`` is cleared (an agent's field goes back to its default). Keys are never shown
back, only whether they are set.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from orchestrator_client import AgentSettingsUpdate, Client, SettingsUpdate

from .output import Output, settings_table

settings_app = typer.Typer(help="Show or change the settings (API keys, per-agent models).")

AGENTS = ("claude", "codex", "claude2")
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output (JSON lines).")]


def _client(ctx: typer.Context) -> Client:
    client: Client = ctx.obj.client()
    return client


@settings_app.command("show")
def show(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """The settings, keys masked."""
    with _client(ctx) as client:
        settings = client.settings()
    Output(as_json).show(settings, settings_table(settings))


@settings_app.command("set")
def set_(
    ctx: typer.Context,
    *,
    anthropic_api_key: Annotated[str | None, typer.Option(show_default=False)] = None,
    openai_api_key: Annotated[str | None, typer.Option(show_default=False)] = None,
    default_priority: Annotated[int | None, typer.Option(min=1, max=10)] = None,
    auto_save: Annotated[bool | None, typer.Option("--auto-save/--no-auto-save")] = None,
    agent: Annotated[str | None, typer.Option(help=f"One of {', '.join(AGENTS)}")] = None,
    provider: Annotated[
        str | None, typer.Option(help="anthropic, openai or openai_compatible (with --agent)")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model name (with --agent)")] = None,
    base_url: Annotated[str | None, typer.Option(help="Provider base URL (with --agent)")] = None,
    agent_api_key: Annotated[
        str | None, typer.Option(help="The agent's own key (with --agent)", show_default=False)
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Change some settings; options left out keep their value."""
    fields: dict[str, Any] = {
        name: value
        for name, value in (
            ("anthropic_api_key", anthropic_api_key),
            ("openai_api_key", openai_api_key),
            ("default_priority", default_priority),
            ("auto_save", auto_save),
        )
        if value is not None
    }
    # "" sends null: back to the agent's default (the gateway refuses an empty model or URL).
    per_agent = {
        name: value or None
        for name, value in (
            ("provider", provider),
            ("model", model),
            ("base_url", base_url),
            ("api_key", agent_api_key),
        )
        if value is not None
    }
    if per_agent and agent is None:
        raise typer.BadParameter("--provider, --model, --base-url and --agent-api-key need --agent")
    if agent is not None:
        if agent not in AGENTS:
            raise typer.BadParameter(f"--agent must be one of {', '.join(AGENTS)}")
        fields["agents"] = {agent: AgentSettingsUpdate(**per_agent)}
    if not fields:
        raise typer.BadParameter("nothing to set: give at least one option")
    with _client(ctx) as client:
        saved = client.save_settings(SettingsUpdate(**fields))
    out = Output(as_json)
    if as_json:
        out.show(saved)
    else:
        out.console.print(f"Saved: {', '.join(saved.updated) or 'nothing changed'}")
        out.console.print(settings_table(saved.settings))
