from openai import OpenAI

client = OpenAI(base_url="http://127.0.0.1:8080/api/v1", api_key="sk-tg-v1-demo")
response = client.responses.create(
    model="mock/echo-anthropic",  # any model: OpenAI, Anthropic or Gemini upstreams
    instructions="Be brief.",
    input="Hello",
)
print(response.output_text, response.usage.model_extra["cost"])  # cost: the exact charge, USD

for event in client.responses.create(model="mock/echo", input="Hello", stream=True):
    if event.type == "response.output_text.delta":
        print(event.delta, end="")
