"""Each error of the gateway's envelope reaches the caller as its own exception class."""

from __future__ import annotations

import json

import httpx
import pytest

import orchestrator_client
from orchestrator.events.error_codes import ErrorCode
from orchestrator.gateway.errors import STATUS_OF
from orchestrator.launcher.nats_server import free_port
from orchestrator_client import (
    ArchiveNotFound,
    Client,
    ConnectionFailed,
    ExecutionNotFound,
    FileNotFound,
    Forbidden,
    InvalidGatewayUrl,
    InvalidRequest,
    NotFound,
    OrchestratorError,
    RateLimited,
    TaskNotFound,
    Unauthorized,
)
from orchestrator_client._exceptions import BY_CODE, MESSAGE_LIMIT, RAISED_HERE, UnexpectedResponse
from tests.harness import within_one_minute

from .conftest import TOKEN
from .error_page import FILLER, STATUS, proxy_error_page


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


def test_every_code_the_gateway_answers_has_its_own_class_and_no_class_is_stale() -> None:
    answered = {str(code) for code in STATUS_OF}  # the gateway's codes -> statuses
    vocabulary = {str(code) for code in ErrorCode}
    assert answered == vocabulary, "the gateway gives every code of the vocabulary a status"
    for code in vocabulary:
        cls = BY_CODE.get(code)
        assert cls is not None, f"{code} has no exception class in orchestrator_client"
        assert cls.code == code and cls.__name__ in orchestrator_client.__all__, code
    assert len(set(BY_CODE.values())) == len(BY_CODE), "two codes share one class"
    assert set(BY_CODE) <= vocabulary, f"stale: {set(BY_CODE) - vocabulary}"

    exported = {
        obj
        for name in orchestrator_client.__all__
        if isinstance(obj := getattr(orchestrator_client, name), type)
        and issubclass(obj, OrchestratorError)
        and obj is not OrchestratorError
    }
    for cls in exported - set(BY_CODE.values()):
        assert cls in RAISED_HERE, f"{cls.__name__} ({cls.code}) is no code of the gateway's"
    for cls in RAISED_HERE:
        assert cls in exported and cls.code not in vocabulary, cls.__name__


def test_every_code_class_is_in_the_tree_of_the_module_docstring() -> None:
    tree = orchestrator_client._exceptions.__doc__ or ""
    for code, cls in BY_CODE.items():
        assert f"{cls.__name__}" in tree and code in tree, code


def test_a_page_that_is_not_the_envelope_becomes_one_bounded_line_of_its_text() -> None:
    with (
        proxy_error_page() as url,
        Client(url) as client,
        pytest.raises(UnexpectedResponse) as caught,
    ):
        client.tasks()

    error = caught.value
    assert error.status == STATUS
    assert "\n" not in error.message and "<" not in error.message
    assert error.message.startswith("HTTP 502: 502 Bad Gateway 502 Bad Gateway nginx/1.22.1")
    assert error.message.endswith("...")  # the page is longer than a message carries
    assert len(error.message) <= len("HTTP 502: ") + MESSAGE_LIMIT
    assert FILLER.split(".")[0] in error.message


@pytest.mark.parametrize("url", ["localhost:8100", "http://[::1", "https://", "http://h:99999"])
def test_a_gateway_url_that_is_not_one_is_refused_when_the_client_is_made(url: str) -> None:
    with pytest.raises(InvalidGatewayUrl) as caught:
        Client(url)
    assert caught.value.url == url
    assert repr(url) in str(caught.value)
    assert isinstance(caught.value, ValueError)
    env = {"ORCHESTRATOR_URL": url}
    with pytest.raises(InvalidGatewayUrl):
        Client(environ=env)
