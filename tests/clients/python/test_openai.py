"""The official `openai` Python SDK against tollgated --dev."""

import base64
import json
import struct
import time

import openai
import pytest

from conftest import snippet

PNG_1PX = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8"
    "BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}},
            "required": ["query"],
        },
    },
}


@pytest.fixture(scope="module")
def client(gateway):
    return openai.OpenAI(base_url=gateway.base_url, api_key=gateway.api_key)


def user(text):
    return [{"role": "user", "content": text}]


def test_readme_snippet(gateway, capsys):
    _, code = snippet("openai.py", gateway)
    exec(compile(code, "snippets/openai.py", "exec"), {})
    out = capsys.readouterr().out
    assert "echo: Hello" in out


def test_list_models(client):
    ids = [m.id for m in client.models.list()]
    for want in ["mock/echo", "mock/embed", "mock/echo-anthropic", "mock/echo-gemini"]:
        assert want in ids


def test_chat_non_streaming(client):
    resp = client.chat.completions.create(model="mock/echo", messages=user("Hello, world"))
    assert resp.id.startswith("gen-")
    assert resp.object == "chat.completion"
    assert resp.model == "mock/echo"
    choice = resp.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "echo: Hello, world"
    assert choice.finish_reason == "stop"
    assert resp.usage.prompt_tokens > 0 and resp.usage.completion_tokens > 0
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens
    assert isinstance(resp.usage.cost, float) and resp.usage.cost > 0
    assert isinstance(resp.provider, str)  # OpenRouter extra, kept by the SDK


def test_chat_raw_response_headers(client):
    raw = client.chat.completions.with_raw_response.create(model="mock/echo", messages=user("Hi"))
    resp = raw.parse()
    assert raw.headers["x-generation-id"] == resp.id


@pytest.mark.parametrize("model", ["mock/echo", "mock/echo-anthropic", "mock/echo-gemini"])
def test_chat_streaming_matches_non_streaming(client, model):
    prompt = user("The quick brown fox, jumps over the lazy dog!")
    full = client.chat.completions.create(model=model, messages=prompt)
    chunks = list(client.chat.completions.create(model=model, messages=prompt, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == full.choices[0].message.content
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("gen-")
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    last = chunks[-1]
    assert last.usage is not None, "usage must be in the final chunk"
    assert last.usage.completion_tokens == full.usage.completion_tokens
    assert last.usage.prompt_tokens == full.usage.prompt_tokens
    assert isinstance(last.usage.cost, float) and last.usage.cost > 0
    assert all(c.usage is None for c in chunks[:-1])


def test_stream_options_include_usage_accepted(client):
    chunks = list(client.chat.completions.create(
        model="mock/echo", messages=user("Hi"), stream=True,
        stream_options={"include_usage": True}))
    assert chunks[-1].usage is not None and chunks[-1].choices == []


def test_tool_calling_round_trip(client):
    messages = user("What is the weather in Paris? Use the tool.")
    first = client.chat.completions.create(model="mock/echo", messages=messages, tools=[WEATHER_TOOL])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "get_weather"
    assert call.id.startswith("call_")
    args = json.loads(call.function.arguments)
    assert args == {"query": "What is the weather in Paris? Use the tool."}

    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"})
    second = client.chat.completions.create(model="mock/echo", messages=messages, tools=[WEATHER_TOOL])
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == "echo: tool result: sunny, 21 C"


def test_tool_call_streaming(client):
    messages = user("Use the tool for Paris")
    full = client.chat.completions.create(model="mock/echo", messages=messages, tools=[WEATHER_TOOL])
    calls = {}
    finish = None
    for chunk in client.chat.completions.create(
            model="mock/echo", messages=messages, tools=[WEATHER_TOOL], stream=True):
        if not chunk.choices:
            continue
        for tc in chunk.choices[0].delta.tool_calls or []:
            slot = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
            slot["id"] = tc.id or slot["id"]
            if tc.function:
                slot["name"] += tc.function.name or ""
                slot["arguments"] += tc.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    want = full.choices[0].message.tool_calls[0]
    assert finish == "tool_calls"
    assert calls == {0: {"id": want.id, "name": "get_weather", "arguments": want.function.arguments}}


@pytest.mark.parametrize("response_format", [
    {"type": "json_object"},
    {"type": "json_schema", "json_schema": {
        "name": "answer", "strict": True,
        "schema": {"type": "object", "properties": {"a": {"type": "string"}},
                   "required": ["a"], "additionalProperties": False}}},
])
def test_structured_output_accepted(client, response_format):
    # The mock obeys: a JSON object echoing the message, or JSON made from
    # the schema with the message's words.
    resp = client.chat.completions.create(
        model="mock/echo", messages=user('Reply {"a": "b"} as JSON'),
        response_format=response_format)
    answer = json.loads(resp.choices[0].message.content)
    if response_format["type"] == "json_object":
        assert answer == {"echo": 'Reply {"a": "b"} as JSON'}
    else:
        assert list(answer) == ["a"]
        assert answer["a"] in ["Reply", "a", "b", "as", "JSON"]
    assert resp.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("model", ["mock/echo-anthropic", "mock/echo-gemini"])
def test_image_input(client, model):
    text_only = client.chat.completions.create(model=model, messages=user("What is in it?"))
    resp = client.chat.completions.create(model=model, messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is in it?"},
        {"type": "image_url", "image_url": {"url": PNG_1PX, "detail": "low"}},
    ]}])
    assert resp.choices[0].message.content == "echo: What is in it?"
    # the mock counts 85 prompt tokens per image
    assert resp.usage.prompt_tokens == text_only.usage.prompt_tokens + 85


def test_image_input_to_text_only_model_is_refused(client):
    # 503: no provider meets the request's requirements (api-reference.txt).
    with pytest.raises(openai.InternalServerError) as e:
        client.chat.completions.create(model="mock/echo", messages=[{"role": "user", "content": [
            {"type": "text", "text": "What is in it?"},
            {"type": "image_url", "image_url": {"url": PNG_1PX}},
        ]}])
    assert e.value.status_code == 503
    assert "image input" in e.value.message


def test_embeddings_float_and_base64(client):
    f = client.embeddings.create(model="mock/embed", input=["hello", "world"], encoding_format="float")
    assert [d.index for d in f.data] == [0, 1]
    assert all(len(d.embedding) == 8 for d in f.data)
    assert abs(sum(x * x for x in f.data[0].embedding) - 1.0) < 1e-4  # unit vectors
    assert f.usage.prompt_tokens == 2
    assert isinstance(f.usage.cost, float) and f.usage.cost > 0

    b = client.embeddings.create(model="mock/embed", input=["hello", "world"], encoding_format="base64")
    raw = b.data[0].embedding
    assert isinstance(raw, str)
    floats = struct.unpack("<8f", base64.b64decode(raw))
    assert floats == pytest.approx(f.data[0].embedding, abs=1e-6)


def test_embeddings_default_encoding(client):
    # Without encoding_format the SDK asks for base64 and decodes it itself.
    plain = client.embeddings.create(model="mock/embed", input="hello")
    f = client.embeddings.create(model="mock/embed", input="hello", encoding_format="float")
    assert plain.data[0].embedding == pytest.approx(f.data[0].embedding, abs=1e-6)


def test_model_fallbacks_via_extra_body(client):
    # 5000 tokens do not fit mock/small-context (4096, middle-out turned off
    # with `transforms: []`), so the gateway falls back to the next model.
    long_text = "word " * 5000
    resp = client.chat.completions.create(
        model="mock/small-context", messages=user(long_text),
        extra_body={"models": ["mock/echo-gemini"], "transforms": []})
    assert resp.model == "mock/echo-gemini"
    assert resp.provider == "Mock Gemini"
    assert resp.choices[0].message.content == "echo: " + long_text


def test_unknown_model_in_fallback_list_is_bad_request(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(
            model="mock/echo", messages=user("Hi"),
            extra_body={"models": ["mock/echo", "mock/does-not-exist"]})
    assert "mock/does-not-exist" in e.value.message


def test_provider_order_via_extra_body(client):
    for slug, name in [("mock-gamma", "Mock Gamma"), ("mock-beta", "Mock Beta")]:
        resp = client.chat.completions.create(
            model="mock/echo", messages=user("Hi"),
            extra_body={"provider": {"order": [slug], "allow_fallbacks": False}})
        assert resp.provider == name


def test_provider_only_and_sort_via_extra_body(client):
    resp = client.chat.completions.create(
        model="mock/echo", messages=user("Hi"),
        extra_body={"provider": {"only": ["mock-beta", "mock-gamma"], "sort": "price"}})
    assert resp.provider == "Mock Beta"


# ---- errors: each a typed openai exception carrying the gateway's message ----

def test_invalid_key_is_authentication_error(gateway):
    bad = openai.OpenAI(base_url=gateway.base_url, api_key="sk-tg-v1-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as e:
        bad.chat.completions.create(model="mock/echo", messages=user("Hi"))
    assert e.value.status_code == 401
    assert e.value.message == "Invalid API key" or "Invalid API key" in e.value.message
    assert e.value.body["code"] == 401


def test_no_credits_is_402(gateway, broke_key):
    broke = openai.OpenAI(base_url=gateway.base_url, api_key=broke_key)
    with pytest.raises(openai.APIStatusError) as e:
        broke.chat.completions.create(model="mock/echo", messages=user("Hi"))
    assert e.value.status_code == 402
    assert "Insufficient credits" in e.value.message
    assert e.value.body["metadata"]["error_type"] == "payment_required"


def test_free_model_works_without_credits(gateway, broke_key):
    broke = openai.OpenAI(base_url=gateway.base_url, api_key=broke_key)
    resp = broke.chat.completions.create(model="mock/echo:free", messages=user("Hi"))
    assert resp.choices[0].message.content == "echo: Hi"
    assert resp.usage.cost == 0


def test_unknown_model_is_bad_request(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="mock/no-such-model", messages=user("Hi"))
    assert "mock/no-such-model" in e.value.message
    assert "is not a valid model id" in e.value.message


def test_invalid_parameter_is_bad_request(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="mock/echo", messages=user("Hi"), temperature=5)
    assert "temperature" in e.value.message
    assert e.value.body["metadata"]["field"] == "temperature"


def test_upstream_failure_after_fallbacks_is_502_not_retried(gateway):
    c = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.api_key)  # default max_retries=2
    start = time.monotonic()
    with pytest.raises(openai.InternalServerError) as e:
        c.chat.completions.create(model="mock/echo", messages=user("Hi [mock:status=503]"))
    elapsed = time.monotonic() - start
    assert e.value.status_code == 502
    assert "overloaded" in e.value.message
    resp = e.value.response
    assert resp.headers["x-should-retry"] == "false"
    # The SDK made one HTTP request (no retry): its retry counter is still 0 ...
    assert resp.request.headers["x-stainless-retry-count"] == "0"
    # ... and the gateway tried each provider of mock/echo exactly once.
    attempts = sorted(resp.headers["x-tollgate-attempts"].split(","))
    assert attempts == ["mock-alpha=503", "mock-beta=503", "mock-gamma=503"]
    assert elapsed < 1.0  # a retry would have waited the 1 s retry-after


def test_mid_stream_error_raises_api_error(client):
    stream = client.chat.completions.create(
        model="mock/echo", messages=user("one two three four five [mock:drop_after=2]"), stream=True)
    got = []
    with pytest.raises(openai.APIError) as e:
        for chunk in stream:
            if chunk.choices:
                got.append(chunk.choices[0].delta.content or "")
    assert "".join(got) == "echo:"  # the two content chunks before the drop
    assert "upstream" in e.value.message
    assert e.value.body["code"] == 502


def test_in_stream_provider_error_raises_api_error(client):
    stream = client.chat.completions.create(
        model="mock/echo", messages=user("one two three [mock:stream_error]"), stream=True)
    with pytest.raises(openai.APIError) as e:
        for _ in stream:
            pass
    assert "The server had an error" in e.value.message


def test_cancelled_stream_is_billed_for_what_was_produced(client, gateway):
    words = " ".join(f"w{i}" for i in range(30))
    pin = {"provider": {"order": ["mock-alpha"], "allow_fallbacks": False}}
    stream = client.chat.completions.create(
        model="mock/echo", messages=user(f"{words} [mock:slow]"), stream=True, extra_body=pin)
    content_chunks = 0
    gen_id = None
    for chunk in stream:
        gen_id = chunk.id
        if chunk.choices and chunk.choices[0].delta.content:
            content_chunks += 1
            if content_chunks == 2:
                break
    stream.close()

    full = client.chat.completions.create(model="mock/echo", messages=user(words), extra_body=pin)
    full_gen = gateway.generation(full.id)

    deadline = time.monotonic() + 10
    while True:
        gen = gateway.generation(gen_id)
        if gen["cancelled"] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert gen["cancelled"] is True
    assert gen["streamed"] is True
    assert gen["tokens_completion"] < full_gen["tokens_completion"]
    assert gen["total_cost"] < full_gen["total_cost"]
    assert gen["total_cost"] > 0


@pytest.mark.parametrize("model", ["mock/echo", "mock/echo-anthropic", "mock/echo-gemini", "mock/reasoner"])
def test_strict_response_validation(gateway, model):
    # With _strict_response_validation the SDK checks every field it models
    # (required ones, enums such as finish_reason) with pydantic.
    strict = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.api_key,
                           _strict_response_validation=True)
    for text in ["Hi", "Hi, use the tool"]:
        strict.chat.completions.create(model=model, messages=user(text), tools=[WEATHER_TOOL])
        list(strict.chat.completions.create(model=model, messages=user(text), tools=[WEATHER_TOOL],
                                            stream=True))
    strict.embeddings.create(model="mock/embed", input="x", encoding_format="float")
    # (models.list() is not checked: OpenRouter's model objects have no
    # `object`/`owned_by`, which openai's strict Model requires.)
