"""The official `anthropic` Python SDK against tollgated --dev: the
Anthropic Messages ingress (`/api/v1/messages`) to OpenAI-, Anthropic- and
Gemini-dialect upstreams."""

from decimal import Decimal

import anthropic
import pytest

from conftest import WORKSPACE

MODELS = ["mock/echo", "mock/echo-anthropic", "mock/echo-gemini"]
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"query": {"type": "string"}},
        "required": ["query"],
    },
}
THINKING = {"type": "enabled", "budget_tokens": 1024}


def api_base(gateway):
    # The SDK appends /v1/messages: its base_url is the gateway's /api.
    return gateway.base_url.removesuffix("/v1")


@pytest.fixture(scope="module")
def client(gateway):
    return anthropic.Anthropic(base_url=api_base(gateway), api_key=gateway.api_key)


def user(text):
    return [{"role": "user", "content": text}]


def cost_of(message):
    # `usage.cost` is ours (as OpenRouter's); the SDK keeps unknown fields.
    return Decimal(str(message.usage.cost))


def test_readme_snippet(gateway, capsys):
    text = (WORKSPACE / "tests" / "clients" / "snippets" / "anthropic.py").read_text()
    assert 'base_url="http://127.0.0.1:8080/api"' in text
    code = text.replace("http://127.0.0.1:8080/api", api_base(gateway)).replace(
        "sk-tg-v1-demo", gateway.api_key
    )
    exec(compile(code, "snippets/anthropic.py", "exec"), {})
    out = capsys.readouterr().out
    assert "echo: Hello" in out


@pytest.mark.parametrize("model", MODELS)
def test_create_text(client, gateway, model):
    message = client.messages.create(model=model, max_tokens=100, messages=user("Hello there"))
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.model == model
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "echo: Hello there"
    assert message.stop_reason == "end_turn"
    # 2 words + 3 per message + 3 priming; "echo", ":", "Hello", "there".
    assert message.usage.input_tokens == 8
    assert message.usage.output_tokens == 4
    generation = gateway.generation(message.id)
    assert generation["api_type"] == "messages"
    assert Decimal(str(generation["total_cost"])) == cost_of(message)
    assert cost_of(message) > 0


@pytest.mark.parametrize("model", MODELS)
def test_stream_text(client, gateway, model):
    with client.messages.stream(
        model=model, max_tokens=100, messages=user("Stream me, please")
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "echo: Stream me, please"
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens == 10
    assert final.usage.output_tokens == 6
    generation = gateway.generation(final.id)
    assert generation["streamed"] is True
    assert generation["api_type"] == "messages"


@pytest.mark.parametrize("model", MODELS)
def test_tools_round_trip(client, model):
    message = client.messages.create(
        model=model,
        max_tokens=200,
        tools=[WEATHER],
        tool_choice={"type": "auto"},
        messages=user("use the tool for Boston"),
    )
    assert message.stop_reason == "tool_use"
    call = next(b for b in message.content if b.type == "tool_use")
    assert call.name == "get_weather"
    assert call.input == {"query": "use the tool for Boston"}
    follow = client.messages.create(
        model=model,
        max_tokens=200,
        tools=[WEATHER],
        messages=[
            *user("use the tool for Boston"),
            {"role": "assistant", "content": message.content},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": call.id, "content": "22 degrees"}
                ],
            },
        ],
    )
    assert follow.content[0].text == "echo: tool result: 22 degrees"
    assert follow.stop_reason == "end_turn"


@pytest.mark.parametrize("model", MODELS)
def test_streamed_tool_call(client, model):
    with client.messages.stream(
        model=model, max_tokens=200, tools=[WEATHER], messages=user("use the tool for Paris")
    ) as stream:
        final = stream.get_final_message()
    call = next(b for b in final.content if b.type == "tool_use")
    assert call.name == "get_weather"
    assert call.input == {"query": "use the tool for Paris"}
    assert final.stop_reason == "tool_use"


def test_thinking_round_trip_through_anthropic(client):
    message = client.messages.create(
        model="mock/echo-anthropic", max_tokens=4000, thinking=THINKING, messages=user("Hi there")
    )
    thinking = message.content[0]
    assert thinking.type == "thinking"
    assert thinking.thinking == "thinking about: Hi there"
    assert thinking.signature
    assert message.content[1].text == "echo: Hi there"

    with client.messages.stream(
        model="mock/echo-anthropic", max_tokens=4000, thinking=THINKING, messages=user("Hi there")
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "thinking"
    assert final.content[0].thinking == thinking.thinking
    assert final.content[0].signature == thinking.signature

    # The signed thinking is sent back with the next turn.
    follow = client.messages.create(
        model="mock/echo-anthropic",
        max_tokens=4000,
        thinking=THINKING,
        messages=[
            *user("Hi there"),
            {"role": "assistant", "content": message.content},
            *user("And now?"),
        ],
    )
    assert follow.content[-1].text == "echo: And now?"


def test_streamed_thinking_from_gemini(client):
    with client.messages.stream(
        model="mock/echo-gemini",
        max_tokens=4000,
        thinking=THINKING,
        messages=user("Hi there"),
    ) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking == "thinking about: Hi there"
    assert final.content[1].text == "echo: Hi there"


def test_errors_are_the_sdks_exceptions(client, gateway, broke_key):
    with pytest.raises(anthropic.BadRequestError) as e:
        client.messages.create(
            model="mock/echo-anthropic", max_tokens=100, messages=user("[mock:status=400] bad")
        )
    assert e.value.body["error"]["type"] == "invalid_request_error"
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=api_base(gateway), api_key="sk-tg-v1-wrong").messages.create(
            model="mock/echo", max_tokens=10, messages=user("hi")
        )
    broke = anthropic.Anthropic(base_url=api_base(gateway), api_key=broke_key, max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as e:
        broke.messages.create(model="mock/echo", max_tokens=10, messages=user("hi"))
    assert e.value.status_code == 402
    assert e.value.body["error"]["type"] == "billing_error"


def test_a_failure_mid_stream_raises(client):
    with pytest.raises(anthropic.APIStatusError) as e:
        with client.messages.stream(
            model="mock/echo-gemini",
            max_tokens=100,
            messages=user("[mock:stream_error=2] one two three four"),
        ) as stream:
            for _ in stream.text_stream:
                pass
    assert e.value.body["type"] == "error"
