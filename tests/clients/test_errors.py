"""Each error of the gateway's envelope reaches the caller as its own exception class."""

from __future__ import annotations

import json

import httpx
import pytest

import orchestrator_client
from orchestrator.launcher.nats_server import free_port
from orchestrator_client import (
    ArchiveNotFound,
    Client,
    ConnectionFailed,
    ExecutionNotFound,
    FileNotFound,
    Forbidden,
    InvalidRequest,
    NotFound,
    OrchestratorError,
    RateLimited,
    TaskNotFound,
    Unauthorized,
)
from orchestrator_client._exceptions import BY_CODE
from tests.harness import within_one_minute

from .conftest import TOKEN


def test_an_unknown_task_is_task_not_found(client: Client) -> None:
    with pytest.raises(TaskNotFound) as caught:
        client.task("task_0123456789abcdef")
    error = caught.value
    assert isinstance(error, NotFound)
    assert (error.code, error.status) == ("TASK_NOT_FOUND", 404)
    assert error.details == {"task_id": "task_0123456789abcdef"}
    assert "does not exist" in error.message


def test_a_bad_request_is_invalid_request_with_the_field(client: Client) -> None:
    with pytest.raises(InvalidRequest) as caught:
        client.submit("print hello", priority=99)
    assert caught.value.status == 400
    assert caught.value.details["field"] == "priority"


def test_unknown_files_archives_and_executions_have_their_own_classes(client: Client) -> None:
    with pytest.raises(FileNotFound):
        client.read_file("no/such/file.py")
    with pytest.raises(ArchiveNotFound):
        client.archive_files("project_19700101_000000")
    with pytest.raises(ExecutionNotFound):
        client.execution("exec_0000000000000000")
    with pytest.raises(ExecutionNotFound):  # the WebSocket's error frame, too
        list(client.execution_output("exec_0000000000000000"))


def test_too_many_requests_is_rate_limited_with_retry_after(guarded: str) -> None:
    within_one_minute()
    with Client(guarded, token=TOKEN) as client:
        client.archives()
        client.archives()
        with pytest.raises(RateLimited) as caught:
            client.archives()
    assert caught.value.status == 429
    assert caught.value.retry_after is not None and 0 < caught.value.retry_after <= 60
    assert caught.value.details["category"] == "archive"


def test_a_wrong_token_is_unauthorized(guarded: str) -> None:
    with Client(guarded, token="wrong") as client, pytest.raises(Unauthorized) as caught:
        client.tasks()
    assert caught.value.status == 401


def test_the_websocket_sends_the_token_and_a_wrong_one_is_refused_not_retried(
    guarded: str,
) -> None:
    with Client(guarded, token=TOKEN) as client:
        now = client.health().nats.projection_seq
        first = next(iter(client.events(since=now)))  # a system_health frame within a second
    assert first.type
    with Client(guarded, token="wrong") as client, pytest.raises(Forbidden):
        next(iter(client.events(since=now, give_up_after=30)))


def test_the_token_comes_from_the_environment(guarded: str) -> None:
    env = {"ORCHESTRATOR_URL": guarded, "ORCHESTRATOR_TOKEN": TOKEN}
    with Client(environ=env) as client:
        assert client.base_url == guarded
        assert client.health().security["token_required"] is True


def test_a_gateway_that_is_not_there_is_connection_failed_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with Client(url) as client, pytest.raises(ConnectionFailed) as caught:
        client.tasks()
    assert url in str(caught.value)


def test_an_unknown_code_is_the_base_class_with_its_code() -> None:
    body = {"error": {"code": "SOMETHING_NEW", "message": "a code from a newer gateway"}}

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(418, content=json.dumps(body).encode())

    transport = httpx.MockTransport(answer)
    with (
        Client("http://gateway.test", transport=transport) as client,
        pytest.raises(OrchestratorError) as caught,
    ):
        client.tasks()
    assert type(caught.value) is OrchestratorError
    assert (caught.value.code, caught.value.status) == ("SOMETHING_NEW", 418)


def test_every_code_class_is_in_the_tree_of_the_module_docstring() -> None:
    tree = orchestrator_client._exceptions.__doc__ or ""
    for code, cls in BY_CODE.items():
        assert f"{cls.__name__}" in tree and code in tree, code
