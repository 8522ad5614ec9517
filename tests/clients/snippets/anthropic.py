import anthropic

# The SDK appends /v1/messages: base_url is the gateway's /api.
client = anthropic.Anthropic(base_url="http://127.0.0.1:8080/api", api_key="sk-tg-v1-demo")
message = client.messages.create(
    model="mock/echo-anthropic",  # any model: Anthropic, OpenAI or Gemini upstreams
    max_tokens=1024,
    messages=[{"role": "user", "content": "Hello"}],
)
print(message.content[0].text, message.usage.cost)  # cost: the exact charge, USD

with client.messages.stream(
    model="mock/echo-gemini", max_tokens=1024, messages=[{"role": "user", "content": "Hello"}]
) as stream:
    for text in stream.text_stream:
        print(text, end="")
