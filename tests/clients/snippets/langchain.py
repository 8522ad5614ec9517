from langchain_openai import ChatOpenAI

llm = ChatOpenAI(
    model="mock/echo",
    base_url="http://127.0.0.1:8080/api/v1",
    api_key="sk-tg-v1-demo",
    extra_body={"provider": {"sort": "price"}},
)
print(llm.invoke("Hello").content)
for chunk in llm.stream("Hello"):
    print(chunk.content, end="")
