"""Pure parts of secret redaction: log lines and the settings view's base URLs."""

from __future__ import annotations

import logging

from orchestrator.events.service import RedactUrlCredentials
from orchestrator.events.settings_document import StoredSettings, redact_url
from orchestrator.gateway.routes.settings import SettingsUpdate, merge, view

SECRET = "pw-CANARY-123"


def _record(msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc else None
    return logging.LogRecord("httpx", logging.INFO, __file__, 1, msg, args, exc_info)


def test_a_log_line_never_carries_url_credentials() -> None:
    record = _record("HTTP Request: %s %s", "POST", f"http://user:{SECRET}@host:1/v1/messages")
    assert RedactUrlCredentials().filter(record)
    assert record.getMessage() == "HTTP Request: POST http://***@host:1/v1/messages"

    try:
        raise ValueError(f"cannot reach https://{SECRET}@example.com/v1")
    except ValueError as exc:
        failed = _record("call failed", exc=exc)
    RedactUrlCredentials().filter(failed)
    text = logging.Formatter().format(failed)
    assert SECRET not in text and "https://***@example.com/v1" in text


def test_a_plain_line_is_left_alone() -> None:
    record = _record("user %s logged in at %s", "bob@example.com", "http://host/path")
    RedactUrlCredentials().filter(record)
    assert record.getMessage() == "user bob@example.com logged in at http://host/path"


def test_settings_show_a_base_url_without_its_credentials_and_keep_it_on_round_trip() -> None:
    url = f"https://user:{SECRET}@llm.example.com/v1"
    stored, _ = merge(
        StoredSettings(), SettingsUpdate.model_validate({"agents": {"codex": {"base_url": url}}})
    )
    shown = view(stored).agents["codex"].base_url
    assert shown == "https://***@llm.example.com/v1" == redact_url(url)
    # A client that saves back what it was shown keeps the real URL.
    again, changed = merge(
        stored, SettingsUpdate.model_validate({"agents": {"codex": {"base_url": shown}}})
    )
    assert again.agents["codex"].base_url == url and changed == []
