"""A scripted fake LLM for gateway tests: every stage gets a valid answer for a hello script."""

from __future__ import annotations

import json

from tests.fakes import RecordedRequest, Reply, Text
from tests.pipeline.conftest import stage_of

REPLIES = {
    "analysis": {
        "summary": "A script that prints hello.",
        "requirements": ["print hello"],
        "design": "One file.",
        "files": [{"path": "hello.py", "purpose": "the program"}],
        "run_command": "python hello.py",
    },
    "implementation": {
        "summary": "wrote it",
        "files": [{"path": "hello.py", "content": "print('hello')\n"}],
    },
    "validation": {"passed": True, "summary": "fine", "findings": []},
}


def happy(request: RecordedRequest) -> Reply:
    return Text(json.dumps(REPLIES.get(stage_of(request) or "", {})))
