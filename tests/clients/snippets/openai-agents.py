from agents import Agent, RunConfig, Runner, function_tool
from agents.models.multi_provider import MultiProvider
from openai import AsyncOpenAI


@function_tool
def get_weather(query: str) -> str:
    """The weather in a city."""
    return "22 degrees"


client = AsyncOpenAI(base_url="http://127.0.0.1:8080/api/v1", api_key="sk-tg-v1-demo")
# Tollgate's model ids carry a provider prefix: send them as they are.
provider = MultiProvider(openai_client=client, unknown_prefix_mode="model_id")
agent = Agent(name="Weather", instructions="Use the tool.", model="mock/echo", tools=[get_weather])
result = Runner.run_sync(agent, "use the tool for Boston",
                         run_config=RunConfig(model_provider=provider, tracing_disabled=True))
print(result.final_output)
