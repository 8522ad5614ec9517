"""The official `openai` Python SDK's Responses API (`client.responses`)
against tollgated --dev: plain, streamed, a tool round trip, `text.format`
json_schema, and an Anthropic upstream behind the Responses ingress."""

import json

import openai
import pytest

from conftest import snippet

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"query": {"type": "string"}},
        "required": ["query"],
    },
    "strict": False,
}


@pytest.fixture(scope="module")
def client(gateway):
    return openai.OpenAI(base_url=gateway.base_url, api_key=gateway.api_key)


@pytest.mark.parametrize("model", ["mock/echo", "mock/echo-anthropic", "mock/echo-gemini"])
def test_responses_create(client, gateway, model):
    resp = client.responses.create(model=model, input="Hello, world", instructions="Be brief.")
    assert resp.id.startswith("gen-")
    assert resp.object == "response"
    assert resp.status == "completed"
    assert resp.model == model
    assert resp.instructions == "Be brief."
    assert resp.output_text == "echo: Hello, world"
    assert resp.output[0].type == "message"
    assert resp.output[0].content[0].type == "output_text"
    usage = resp.usage
    assert usage.input_tokens > 0 and usage.output_tokens == 5  # echo : Hello , world
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_tokens_details.cached_tokens == 0
    assert usage.output_tokens_details.reasoning_tokens == 0
    # The exact charge, as /generation records it.
    cost = resp.usage.model_extra["cost"]
    gen = gateway.generation(resp.id)
    assert gen["api_type"] == "responses"
    assert cost == pytest.approx(gen["total_cost"], abs=0) and cost > 0


def test_responses_stream(client, gateway):
    stream = client.responses.create(model="mock/echo", input="Stream me, please", stream=True)
    events = list(stream)
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[1] == "response.in_progress"
    assert kinds[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "echo: Stream me, please"
    done = next(e for e in events if e.type == "response.output_text.done")
    assert done.text == text
    final = events[-1].response
    assert final.output_text == text
    assert final.usage.output_tokens == 6
    gen = gateway.generation(final.id)
    assert gen["streamed"] is True
    assert final.usage.model_extra["cost"] == pytest.approx(gen["total_cost"], abs=0)


def test_responses_stream_helper_accumulates(client):
    # The SDK's own accumulating helper checks the event sequence as it goes.
    with client.responses.stream(model="mock/echo-gemini", input="Hi there") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == "echo: Hi there"
    assert final.output_text == "echo: Hi there"


@pytest.mark.parametrize("model", ["mock/echo", "mock/echo-anthropic"])
def test_responses_tool_round_trip(client, model):
    question = "use the tool for Boston"
    first = client.responses.create(model=model, input=question, tools=[WEATHER_TOOL])
    calls = [o for o in first.output if o.type == "function_call"]
    assert len(calls) == 1, first.output
    call = calls[0]
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"query": question}
    followup = [{"role": "user", "content": question}, *first.output,
                {"type": "function_call_output", "call_id": call.call_id, "output": "22 degrees"}]
    second = client.responses.create(model=model, input=followup, tools=[WEATHER_TOOL])
    assert second.output_text == "echo: tool result: 22 degrees"


def test_responses_streamed_tool_call(client):
    events = list(client.responses.create(model="mock/echo-anthropic", input="use the tool for Paris",
                                          tools=[WEATHER_TOOL], stream=True))
    args = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert json.loads(args) == {"query": "use the tool for Paris"}
    done = next(e for e in events if e.type == "response.output_item.done" and e.item.type == "function_call")
    assert done.item.arguments == args and done.item.name == "get_weather"


def test_responses_text_format_json_schema(client):
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
              "additionalProperties": False}
    resp = client.responses.create(
        model="mock/echo", input="Name a city",
        text={"format": {"type": "json_schema", "name": "city", "schema": schema, "strict": True}},
    )
    assert resp.status == "completed"
    assert resp.text.format.type == "json_schema"
    assert resp.text.format.name == "city"
    # The mock answers JSON valid against the schema.
    answer = json.loads(resp.output_text)
    assert set(answer) == {"city"} and isinstance(answer["city"], str)


def test_responses_stateless_errors(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model="mock/echo", input="hi", previous_response_id="resp_123")
    assert "stateless" in str(e.value)


def test_readme_snippet(gateway, capsys):
    _, code = snippet("openai-responses.py", gateway)
    exec(compile(code, "snippets/openai-responses.py", "exec"), {})
    out = capsys.readouterr().out
    assert out.startswith("echo: Hello ")  # then the cost
    assert out.endswith("echo: Hello")  # the streamed text


@pytest.mark.parametrize("model", ["mock/echo-anthropic", "mock/echo-gemini"])
def test_responses_reasoning_items_round_trip(client, model):
    first = client.responses.create(model=model, input="Hi there", max_output_tokens=4000,
                                    reasoning={"effort": "high", "summary": "auto"})
    reasoning = first.output[0]
    assert reasoning.type == "reasoning"
    assert [s.text for s in reasoning.summary] == ["thinking about: Hi there"]
    if model == "mock/echo-anthropic":
        assert reasoning.encrypted_content  # the thinking's signature, to send back
    assert first.output_text == "echo: Hi there"
    assert first.usage.output_tokens_details.reasoning_tokens >= 0
    # The output items go back as they came, with the next question.
    second = client.responses.create(
        model=model, max_output_tokens=4000, reasoning={"effort": "high"},
        input=[{"role": "user", "content": "Hi there"}, *first.output,
               {"role": "user", "content": "And again?"}],
    )
    assert second.status == "completed"
    assert second.output_text == "echo: And again?"


def test_responses_failure_mid_stream_is_response_failed(client):
    events = list(client.responses.create(model="mock/echo-anthropic", stream=True,
                                          input="[mock:stream_error=2] one two three four five"))
    assert events[0].type == "response.created"
    assert any(e.type == "response.output_text.delta" for e in events)
    assert events[-1].type == "response.failed"
    assert events[-1].response.status == "failed"
    assert events[-1].response.error.message


def test_responses_errors_before_the_stream(gateway, broke_key):
    broke = openai.OpenAI(base_url=gateway.base_url, api_key=broke_key, max_retries=0)
    with pytest.raises(openai.APIStatusError) as e:
        broke.responses.create(model="mock/echo", input="hi", stream=True)
    assert e.value.status_code == 402
