"""The OpenAI Agents SDK (`openai-agents`) on its default model class, the
Responses API (`OpenAIResponsesModel`), against tollgated --dev: an agent
with a function tool runs the tool and answers with its result."""

import asyncio

import pytest
from agents import Agent, RunConfig, Runner, function_tool, set_tracing_disabled
from agents.models.multi_provider import MultiProvider
from agents.models.openai_responses import OpenAIResponsesModel
from openai import AsyncOpenAI

from conftest import snippet

calls = []


@function_tool
def get_weather(query: str) -> str:
    """The weather in a city."""
    calls.append(query)
    return "22 degrees"


def config(gateway):
    """A run config on the gateway (its async client is bound to the event
    loop it first runs in: one per run)."""
    set_tracing_disabled(True)
    client = AsyncOpenAI(base_url=gateway.base_url, api_key=gateway.api_key)
    # Tollgate's model ids have a provider prefix (`mock/echo`): the SDK
    # sends them as they are with `unknown_prefix_mode="model_id"`.
    provider = MultiProvider(openai_client=client, unknown_prefix_mode="model_id")
    return RunConfig(model_provider=provider, tracing_disabled=True)


@pytest.fixture
def run_config(gateway):
    return config(gateway)


@pytest.mark.parametrize("model", ["mock/echo", "mock/echo-anthropic"])
def test_an_agent_runs_its_function_tool(gateway, run_config, model):
    calls.clear()
    agent = Agent(name="Weather", instructions="Answer with the tool.", model=model,
                  tools=[get_weather])
    result = Runner.run_sync(agent, "use the tool for Boston", run_config=run_config)
    assert calls == ["use the tool for Boston"]
    assert result.final_output == "echo: tool result: 22 degrees"
    # Two model calls through the Responses model class, each a generation.
    assert isinstance(agent.model, str)
    responses = result.raw_responses
    assert len(responses) == 2
    for r in responses:
        gen = gateway.generation(r.response_id)
        assert gen["api_type"] == "responses"
        assert gen["model"] == model


def test_the_default_model_class_is_the_responses_model(run_config):
    model = run_config.model_provider.get_model("mock/echo")
    assert isinstance(model, OpenAIResponsesModel)


def test_an_agent_streams(gateway):
    calls.clear()
    agent = Agent(name="Weather", instructions="Answer with the tool.", model="mock/echo-gemini",
                  tools=[get_weather])

    async def run():
        result = Runner.run_streamed(agent, "use the tool for Paris", run_config=config(gateway))
        deltas = []
        async for event in result.stream_events():
            if event.type == "raw_response_event" and event.data.type == "response.output_text.delta":
                deltas.append(event.data.delta)
        return result, "".join(deltas)

    result, text = asyncio.run(run())
    assert calls == ["use the tool for Paris"]
    assert result.final_output == "echo: tool result: 22 degrees"
    assert text == result.final_output


def test_readme_snippet(gateway, capsys):
    _, code = snippet("openai-agents.py", gateway)
    exec(compile(code, "snippets/openai-agents.py", "exec"), {})
    assert capsys.readouterr().out.strip() == "echo: tool result: 22 degrees"
