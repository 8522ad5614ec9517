import OpenAI from "openai";

const client = new OpenAI({ baseURL: "http://127.0.0.1:8080/api/v1", apiKey: "sk-tg-v1-demo" });
const reply = await client.chat.completions.create({
  model: "mock/echo",
  messages: [{ role: "user", content: "Hello" }],
  provider: { sort: "price" }, // OpenRouter fields go in the body as they are
});
console.log(reply.choices[0].message.content, reply.usage.cost);

const stream = await client.chat.completions.create({
  model: "mock/echo", messages: [{ role: "user", content: "Hello" }], stream: true,
});
for await (const chunk of stream) process.stdout.write(chunk.choices[0]?.delta?.content ?? "");
