"""The official OpenRouter Python SDK (`openrouter` on PyPI) against tollgated --dev.

It validates responses with pydantic against OpenRouter's OpenAPI document,
so it is the strictest client of the suite.
"""

import json
import time

import openai
import pytest
from openrouter import OpenRouter, errors
from openrouter.utils import RetryConfig

from conftest import snippet
from test_openai import PNG_1PX, WEATHER_TOOL, user


@pytest.fixture(scope="module")
def client(gateway):
    return OpenRouter(api_key=gateway.api_key, server_url=gateway.base_url)


def test_readme_snippet(gateway, capsys):
    _, code = snippet("openrouter.py", gateway)
    exec(compile(code, "snippets/openrouter.py", "exec"), {})
    assert "echo: Hello" in capsys.readouterr().out


def test_list_models(client):
    resp = client.models.list()
    assert "mock/echo" in [m.id for m in resp.result.data]
    assert resp.result.total_count == len(resp.result.data)


def test_chat_non_streaming(client):
    resp = client.chat.send(model="mock/echo", messages=user("Hello, world"))
    assert resp.id.startswith("gen-")
    assert resp.choices[0].message.content == "echo: Hello, world"
    assert resp.choices[0].finish_reason == "stop"
    assert isinstance(resp.usage.cost, float) and resp.usage.cost > 0


@pytest.mark.parametrize("model", ["mock/echo", "mock/echo-anthropic", "mock/echo-gemini"])
def test_chat_streaming_matches_non_streaming(client, gateway, model):
    prompt = user("The quick brown fox, jumps over the lazy dog!")
    # (through the openai SDK: this SDK's non-streamed result from the
    # Anthropic/Gemini mocks hits the system_fingerprint bug, see test_image_input)
    full = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.api_key).chat.completions.create(
        model=model, messages=prompt)
    with client.chat.send(model=model, messages=prompt, stream=True) as stream:
        chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == full.choices[0].message.content
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == full.usage.completion_tokens
    assert isinstance(chunks[-1].usage.cost, float) and chunks[-1].usage.cost > 0


def test_tool_calling_round_trip(client):
    messages = user("What is the weather in Paris? Use the tool.")
    first = client.chat.send(model="mock/echo", messages=messages, tools=[WEATHER_TOOL])
    assert first.choices[0].finish_reason == "tool_calls"
    (call,) = first.choices[0].message.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"query": messages[0]["content"]}
    messages += [
        {"role": "assistant", "content": None, "tool_calls": [{
            "id": call.id, "type": "function",
            "function": {"name": call.function.name, "arguments": call.function.arguments}}]},
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    second = client.chat.send(model="mock/echo", messages=messages, tools=[WEATHER_TOOL])
    assert second.choices[0].message.content == "echo: tool result: sunny"


def test_structured_output_accepted(client):
    resp = client.chat.send(
        model="mock/echo", messages=user("as JSON"),
        response_format={"type": "json_schema", "json_schema": {
            "name": "answer", "strict": True,
            "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}})
    # the mock obeys: the schema filled with the message's words, or the
    # message echoed in an object
    assert json.loads(resp.choices[0].message.content) == {"a": "as"}
    resp = client.chat.send(model="mock/echo", messages=user("as JSON"),
                            response_format={"type": "json_object"})
    assert json.loads(resp.choices[0].message.content) == {"echo": "as JSON"}


def test_image_input(client):
    resp = client.chat.send(model="mock/echo-gemini", messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is in it?"},
        {"type": "image_url", "image_url": {"url": PNG_1PX}},
    ]}])
    assert resp.choices[0].message.content == "echo: What is in it?"


def test_embeddings(client):
    resp = client.embeddings.generate(model="mock/embed", input=["hello", "world"])
    assert len(resp.data) == 2 and len(resp.data[0].embedding) == 8
    assert resp.usage.cost > 0
    b64 = client.embeddings.generate(model="mock/embed", input="hello", encoding_format="base64")
    assert isinstance(b64.data[0].embedding, str)


def test_model_fallbacks_and_provider_preferences(client):
    # mock/reasoner has no endpoint on mock-beta, so with `only: [mock-beta]`
    # the gateway falls back to the next model of `models`.
    resp = client.chat.send(model="mock/reasoner", models=["mock/no-tools"],
                            provider={"only": ["mock-beta"]}, messages=user("Hi"))
    assert resp.model == "mock/no-tools"
    assert resp.choices[0].message.content == "echo: Hi"
    for slug in ["mock-gamma", "mock-beta"]:
        resp = client.chat.send(model="mock/echo", messages=user("Hi"),
                                provider={"order": [slug], "allow_fallbacks": False})
        assert resp.choices[0].message.content == "echo: Hi"


def test_generation_lookup(client):
    resp = client.chat.send(model="mock/echo", messages=user("Hi"))
    deadline = time.monotonic() + 10
    while True:
        try:
            gen = client.generations.get_generation(id=resp.id)
            break
        except errors.NotFoundResponseError:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    assert gen.data.id == resp.id
    assert gen.data.total_cost == pytest.approx(resp.usage.cost)


# ---- errors: typed OpenRouter SDK errors with the gateway's message ----

def test_invalid_key(gateway):
    bad = OpenRouter(api_key="sk-tg-v1-wrong", server_url=gateway.base_url)
    with pytest.raises(errors.UnauthorizedResponseError) as e:
        bad.chat.send(model="mock/echo", messages=user("Hi"))
    assert e.value.status_code == 401
    assert "Invalid API key" in e.value.data.error.message


def test_no_credits(gateway, broke_key):
    broke = OpenRouter(api_key=broke_key, server_url=gateway.base_url)
    with pytest.raises(errors.PaymentRequiredResponseError) as e:
        broke.chat.send(model="mock/echo", messages=user("Hi"))
    assert e.value.status_code == 402
    assert "Insufficient credits" in e.value.data.error.message


def test_unknown_model(client):
    with pytest.raises(errors.BadRequestResponseError) as e:
        client.chat.send(model="mock/no-such-model", messages=user("Hi"))
    assert "mock/no-such-model" in e.value.data.error.message


def test_invalid_parameter(client):
    with pytest.raises(errors.BadRequestResponseError) as e:
        client.chat.send(model="mock/echo", messages=user("Hi"), temperature=5)
    assert "temperature" in e.value.data.error.message


def test_upstream_failure_after_fallbacks(client):
    # This SDK retries every 5XX by default (backoff up to an hour; it does
    # not read x-should-retry), so turn its retries off as its docs show.
    start = time.monotonic()
    with pytest.raises(errors.BadGatewayResponseError) as e:
        client.chat.send(model="mock/echo", messages=user("Hi [mock:status=503]"),
                         retries=RetryConfig("none", None, False))
    assert e.value.status_code == 502
    assert "overloaded" in e.value.data.error.message
    assert time.monotonic() - start < 1.0


def test_mid_stream_error_is_an_error_chunk(client):
    # This SDK does not raise on an in-stream error: it hands over the chunk
    # with its typed `error` (OpenRouter's documented mid-stream error shape).
    with client.chat.send(model="mock/echo", stream=True,
                          messages=user("one two three [mock:drop_after=2]")) as stream:
        chunks = list(stream)
    err = [c for c in chunks if c.error is not None]
    assert len(err) == 1 and err[0] is chunks[-1]
    assert "upstream" in err[0].error.message
    assert err[0].choices[0].finish_reason == "error"


def test_cancelled_stream(client, gateway):
    words = " ".join(f"w{i}" for i in range(30))
    stream = client.chat.send(model="mock/echo", stream=True,
                              messages=user(f"{words} [mock:slow]"),
                              provider={"order": ["mock-alpha"], "allow_fallbacks": False})
    n = 0
    for chunk in stream:
        gen_id = chunk.id
        if chunk.choices and chunk.choices[0].delta.content:
            n += 1
            if n == 2:
                break
    stream.close()
    deadline = time.monotonic() + 10
    while not (gen := gateway.generation(gen_id))["cancelled"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gen["cancelled"] is True
    assert 0 < gen["tokens_completion"] < 30
