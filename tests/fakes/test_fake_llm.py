"""The fake LLM server speaks the providers' wire protocols: the real SDKs parse what it sends."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest

from tests.fakes import Error, FakeLLM, Text, ToolCall


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


def _anthropic(fake: FakeLLM, key: str = "sk-ant-1") -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key=key, base_url=fake.anthropic_base_url, max_retries=0)


def _openai(fake: FakeLLM, key: str = "sk-1") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key=key, base_url=fake.openai_base_url, max_retries=0)


async def test_anthropic_plain_and_streamed_text_with_usage(fake: FakeLLM) -> None:
    fake.anthropic.push(Text("hello world", input_tokens=7, output_tokens=3))
    fake.anthropic.push(Text("streamed answer here", input_tokens=5, chunk_size=4))
    client = _anthropic(fake)
    msg = await client.messages.create(
        model="claude-x", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    )
    assert msg.content[0].type == "text" and msg.content[0].text == "hello world"
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == (7, 3)

    pieces: list[str] = []
    async with client.messages.stream(
        model="claude-x", max_tokens=50, messages=[{"role": "user", "content": "go"}]
    ) as stream:
        async for text in stream.text_stream:
            pieces.append(text)
        final = await stream.get_final_message()
    assert "".join(pieces) == "streamed answer here" and len(pieces) == 5
    assert final.usage.output_tokens == 5 and final.stop_reason == "end_turn"
    assert [r.api_key for r in fake.requests] == ["sk-ant-1", "sk-ant-1"]
    assert fake.requests[1].stream


async def test_anthropic_streamed_tool_use(fake: FakeLLM) -> None:
    fake.anthropic.push(ToolCall("plan", {"files": ["a.py"], "n": 2}, chunk_size=5))
    async with _anthropic(fake).messages.stream(
        model="m",
        max_tokens=50,
        messages=[{"role": "user", "content": "x"}],
        tools=[{"name": "plan", "input_schema": {"type": "object"}}],
    ) as stream:
        final = await stream.get_final_message()
    block = final.content[0]
    assert block.type == "tool_use" and block.input == {"files": ["a.py"], "n": 2}


async def test_anthropic_errors_have_the_real_shape(fake: FakeLLM) -> None:
    fake.anthropic.required_key = "right"
    with pytest.raises(anthropic.AuthenticationError) as auth:
        await _anthropic(fake, "wrong").messages.create(
            model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert auth.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    fake.anthropic.push(Error(429), Error(500))
    client = _anthropic(fake, "right")
    with pytest.raises(anthropic.RateLimitError):
        await client.messages.create(
            model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    with pytest.raises(anthropic.InternalServerError):
        await client.messages.create(
            model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )


async def test_openai_plain_streamed_and_tool_calls(fake: FakeLLM) -> None:
    fake.openai.push(
        Text('{"a": 1}', input_tokens=4, output_tokens=2),
        Text("abcdefgh", chunk_size=3),
        ToolCall("write_files", {"files": []}),
    )
    client = _openai(fake)
    done = await client.chat.completions.create(
        model="gpt-x",
        messages=[{"role": "user", "content": "hi"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "r", "schema": {"type": "object"}},
        },
    )
    assert done.choices[0].message.content == '{"a": 1}'
    assert done.usage is not None and done.usage.total_tokens == 6

    stream = await client.chat.completions.create(
        model="gpt-x",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage = "", None
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        if chunk.usage:
            usage = chunk.usage
    assert text == "abcdefgh" and usage is not None and usage.completion_tokens == 3

    tool = await client.chat.completions.create(
        model="gpt-x", messages=[{"role": "user", "content": "hi"}]
    )
    calls = tool.choices[0].message.tool_calls
    assert calls and calls[0].function.name == "write_files"  # type: ignore[union-attr]
    assert fake.requests[0].headers["authorization"] == "Bearer sk-1"


async def test_openai_errors_have_the_real_shape(fake: FakeLLM) -> None:
    fake.openai.push(Error(429), Error(500))
    client = _openai(fake)
    with pytest.raises(openai.RateLimitError) as limited:
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert limited.value.code == "rate_limit_exceeded"
    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    fake.openai.required_key = "good"
    with pytest.raises(openai.AuthenticationError) as auth:
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert auth.value.code == "invalid_api_key"


async def test_slow_reply_trips_the_client_timeout(fake: FakeLLM) -> None:
    fake.openai.push(Text("late", delay=2.0))
    client = openai.AsyncOpenAI(
        api_key="k", base_url=fake.openai_base_url, max_retries=0, timeout=0.3
    )
    with pytest.raises(openai.APITimeoutError):
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])


async def test_an_answer_longer_than_max_tokens_is_cut_and_says_so_on_both_wires(
    fake: FakeLLM,
) -> None:
    fake.anthropic.push(Text("x" * 100, output_tokens=50))
    message = await _anthropic(fake).messages.create(
        model="m", max_tokens=10, messages=[{"role": "user", "content": "x"}]
    )
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 10
    assert message.content[0].type == "text" and message.content[0].text == "x" * 20

    fake.openai.push(Text("y" * 64, chunk_size=16))  # 4 tokens, one per chunk
    stream = await _openai(fake).chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "x"}],
        max_completion_tokens=2,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, used = "", None, None
    async for chunk in stream:
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
        used = chunk.usage or used
    assert (text, finish) == ("y" * 32, "length")
    assert used is not None and used.completion_tokens == 2
