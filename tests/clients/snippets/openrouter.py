from openrouter import OpenRouter

client = OpenRouter(server_url="http://127.0.0.1:8080/api/v1", api_key="sk-tg-v1-demo")
reply = client.chat.send(
    model="mock/echo",
    messages=[{"role": "user", "content": "Hello"}],
    provider={"sort": "price"},
)
print(reply.choices[0].message.content, reply.usage.cost)

with client.chat.send(
    model="mock/echo", messages=[{"role": "user", "content": "Hello"}], stream=True
) as stream:
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            print(chunk.choices[0].delta.content, end="")
