"""Structured output through real clients against tollgated --dev: the mocks
answer `response_format` and forced tools with JSON generated from the
schema, so these libraries' validation succeeds end to end.

pydantic-ai (tool output, the default, and native structured output) and
LangChain's `with_structured_output` (JSON schema, function calling; its
`json_mode` leaves the schema to the prompt), through each wire dialect; plus reasoning, and the context-window
error as litellm and LangChain recognise it. (instructor is in
test_instructor.py, with a venv of its own.)
"""

from typing import Literal

import openai
import pytest
from pydantic import BaseModel, Field


class District(BaseModel):
    name: str
    area: float = Field(le=10)


class City(BaseModel):
    name: str
    population: int = Field(ge=1000)
    capital: bool
    kind: Literal["town", "city"]
    districts: list[District] = Field(min_length=2)


PROMPT = "Tell me about Paris"


@pytest.fixture(scope="module")
def client(gateway):
    return openai.OpenAI(base_url=gateway.base_url, api_key=gateway.api_key)


@pytest.mark.parametrize("model", ["mock/echo", "mock/echo-anthropic", "mock/echo-gemini"])
def test_pydantic_ai_output_type(gateway, model):
    from pydantic_ai import Agent, NativeOutput
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    provider = OpenAIProvider(base_url=gateway.base_url, api_key=gateway.api_key)
    model = OpenAIChatModel(model, provider=provider)
    # the default: output through a forced tool
    result = Agent(model, output_type=City).run_sync(PROMPT)
    assert isinstance(result.output, City)
    assert result.output.population >= 1000
    # native structured output (response_format json_schema)
    result = Agent(model, output_type=NativeOutput(City)).run_sync(PROMPT)
    assert isinstance(result.output, City)
    assert len(result.output.districts) >= 2


@pytest.mark.parametrize("model", ["mock/echo", "mock/echo-anthropic", "mock/echo-gemini"])
@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_langchain_with_structured_output(gateway, model, method):
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(model=model, base_url=gateway.base_url, api_key=gateway.api_key)
    city = llm.with_structured_output(City, method=method).invoke(PROMPT)
    assert isinstance(city, City), method
    assert city.population >= 1000
    assert len(city.districts) >= 2
    # strings come from the prompt's words
    assert city.name in PROMPT.split()


def test_reasoner_reasons(client):
    reply = client.chat.completions.create(
        model="mock/reasoner", messages=[{"role": "user", "content": "Hello"}]
    )
    message = reply.choices[0].message
    assert message.content == "echo: Hello"
    assert getattr(message, "reasoning", None) == "thinking about: Hello"
    # thinking|about|:|Hello
    assert reply.usage.completion_tokens_details.reasoning_tokens == 4


def test_context_window_error_is_recognisable(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="mock/small-context",
            messages=[{"role": "user", "content": "word " * 5000}],
            extra_body={"transforms": []},
        )
    error = caught.value
    # what litellm and LangChain look for to raise their context-window errors
    assert "maximum context length" in error.message
    assert "context_length_exceeded" in str(error)
