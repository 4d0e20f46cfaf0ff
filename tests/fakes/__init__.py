"""Fakes at the edge of the world: the LLM providers' HTTP APIs, served on loopback."""

from .fake_llm import FakeLLM
from .script import (
    ANTHROPIC,
    OPENAI,
    Error,
    Hang,
    RecordedRequest,
    Reply,
    Responder,
    Text,
    ToolCall,
)

__all__ = [
    "ANTHROPIC",
    "OPENAI",
    "Error",
    "FakeLLM",
    "Hang",
    "RecordedRequest",
    "Reply",
    "Responder",
    "Text",
    "ToolCall",
]
