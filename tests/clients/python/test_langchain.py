"""LangChain's `ChatOpenAI` (langchain-openai) against tollgated --dev."""

import openai
import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI, OpenAIEmbeddings

from conftest import snippet


@pytest.fixture(scope="module")
def llm(gateway):
    return ChatOpenAI(model="mock/echo", base_url=gateway.base_url, api_key=gateway.api_key)


def test_readme_snippet(gateway, capsys):
    _, code = snippet("langchain.py", gateway)
    exec(compile(code, "snippets/langchain.py", "exec"), {})
    assert "echo: Hello" in capsys.readouterr().out


def test_invoke(llm):
    msg = llm.invoke("Hello, world")
    assert msg.content == "echo: Hello, world"
    assert msg.usage_metadata["input_tokens"] > 0
    assert msg.usage_metadata["output_tokens"] == 5
    assert msg.response_metadata["finish_reason"] == "stop"
    assert msg.response_metadata["id"].startswith("gen-")


def test_stream_matches_invoke(llm):
    full = llm.invoke("The quick brown fox, jumps!")
    chunks = list(llm.stream("The quick brown fox, jumps!"))
    assert "".join(c.content for c in chunks) == full.content
    total = chunks[0]
    for c in chunks[1:]:
        total = total + c
    assert total.usage_metadata["output_tokens"] == full.usage_metadata["output_tokens"]


def test_tool_calling_round_trip(llm):
    @tool
    def get_weather(query: str) -> str:
        """The weather in a city."""
        return "sunny"

    bound = llm.bind_tools([get_weather])
    messages = [HumanMessage("What is the weather in Paris? Use the tool.")]
    ai = bound.invoke(messages)
    (call,) = ai.tool_calls
    assert call["name"] == "get_weather"
    assert call["args"] == {"query": "What is the weather in Paris? Use the tool."}
    messages += [ai, ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"])]
    assert bound.invoke(messages).content == "echo: tool result: sunny"


def test_extra_body_fallbacks_and_provider(gateway):
    llm = ChatOpenAI(model="mock/reasoner", base_url=gateway.base_url, api_key=gateway.api_key,
                     extra_body={"models": ["mock/no-tools"], "provider": {"only": ["mock-beta"]}})
    msg = llm.invoke("Hi")
    assert msg.content == "echo: Hi"
    assert msg.response_metadata["model_name"] == "mock/no-tools"


def test_embeddings(gateway):
    emb = OpenAIEmbeddings(model="mock/embed", base_url=gateway.base_url,
                           api_key=gateway.api_key, check_embedding_ctx_length=False)
    vectors = emb.embed_documents(["hello", "world"])
    assert len(vectors) == 2 and len(vectors[0]) == 8
    assert len(emb.embed_query("hello")) == 8


def test_errors_are_openai_errors(gateway):
    bad = ChatOpenAI(model="mock/echo", base_url=gateway.base_url, api_key="sk-tg-v1-wrong",
                     max_retries=0)
    with pytest.raises(openai.AuthenticationError, match="Invalid API key"):
        bad.invoke("Hi")
    llm = ChatOpenAI(model="mock/echo", base_url=gateway.base_url, api_key=gateway.api_key)
    with pytest.raises(openai.BadRequestError, match="temperature"):
        llm.invoke("Hi", temperature=5)


def test_mid_stream_error_raises(llm):
    with pytest.raises(openai.APIError, match="upstream"):
        for _ in llm.stream("one two three [mock:drop_after=2]"):
            pass
