from openai import OpenAI

client = OpenAI(base_url="http://127.0.0.1:8080/api/v1", api_key="sk-tg-v1-demo")
reply = client.chat.completions.create(
    model="mock/echo",
    messages=[{"role": "user", "content": "Hello"}],
    extra_body={"provider": {"sort": "price"}},  # OpenRouter fields go in extra_body
)
print(reply.choices[0].message.content, reply.usage.cost)

for chunk in client.chat.completions.create(
    model="mock/echo", messages=[{"role": "user", "content": "Hello"}], stream=True
):
    if chunk.choices and chunk.choices[0].delta.content:
        print(chunk.choices[0].delta.content, end="")
