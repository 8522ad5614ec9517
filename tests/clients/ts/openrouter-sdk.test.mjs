// The official OpenRouter TypeScript SDK (@openrouter/sdk) against tollgated --dev.
// It validates every response with zod against OpenRouter's OpenAPI document.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { OpenRouter } from "@openrouter/sdk";
import * as errors from "@openrouter/sdk/models/errors";
import { PNG_1PX, runSnippet, startGateway } from "./gateway.mjs";

const WEATHER_TOOL = {
  type: "function",
  function: { name: "get_weather", description: "The weather in a city",
    parameters: { type: "object", properties: { query: { type: "string" } }, required: ["query"] } },
};
const user = (text) => [{ role: "user", content: text }];
const NO_RETRIES = { retries: { strategy: "none" } };

let gw, client;
before(async () => {
  gw = await startGateway();
  client = new OpenRouter({ apiKey: gw.apiKey, serverURL: gw.baseURL });
});
after(async () => gw && (await gw.stop()));
const send = (chatRequest, opts) => client.chat.send({ chatRequest }, opts);

test("README snippet", async () => {
  assert.match(await runSnippet("openrouter-sdk.mjs", gw), /echo: Hello/);
});

test("list models", async () => {
  const page = await client.models.list();
  assert.ok(page.result.data.some((m) => m.id === "mock/echo"));
});

test("non-streaming chat with usage.cost", async () => {
  const r = await send({ model: "mock/echo", messages: user("Hello, world") });
  assert.match(r.id, /^gen-/);
  assert.equal(r.choices[0].message.content, "echo: Hello, world");
  assert.equal(r.choices[0].finishReason, "stop");
  assert.equal(typeof r.usage.cost, "number");
  assert.ok(r.usage.cost > 0);
});

test("streaming equals non-streaming, usage with cost in the last chunk", async () => {
  const messages = user("The quick brown fox, jumps over the lazy dog!");
  const full = await send({ model: "mock/echo", messages });
  const chunks = [];
  for await (const c of await send({ model: "mock/echo", messages, stream: true })) chunks.push(c);
  assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? "").join(""), full.choices[0].message.content);
  const last = chunks.at(-1);
  assert.equal(last.usage.completionTokens, full.usage.completionTokens);
  assert.ok(last.usage.cost > 0);
});

test("tool calling round trip", async () => {
  const messages = user("What is the weather in Paris? Use the tool.");
  const first = await send({ model: "mock/echo", messages, tools: [WEATHER_TOOL] });
  assert.equal(first.choices[0].finishReason, "tool_calls");
  const [call] = first.choices[0].message.toolCalls;
  assert.equal(call.function.name, "get_weather");
  messages.push(
    { role: "assistant", content: null, toolCalls: [call] },
    { role: "tool", toolCallId: call.id, content: "sunny" },
  );
  const second = await send({ model: "mock/echo", messages, tools: [WEATHER_TOOL] });
  assert.equal(second.choices[0].message.content, "echo: tool result: sunny");
});

test("json_object and json_schema are accepted", async () => {
  for (const responseFormat of [
    { type: "json_object" },
    { type: "json_schema", jsonSchema: { name: "answer", strict: true, schema: { type: "object" } } },
  ]) {
    const r = await send({ model: "mock/echo", messages: user("as JSON"), responseFormat });
    // the mock obeys; an object of any shape echoes the message
    assert.deepEqual(JSON.parse(r.choices[0].message.content), { echo: "as JSON" });
  }
});

test("image input (data: URL)", async () => {
  const r = await send({ model: "mock/echo-gemini", messages: [{ role: "user", content: [
    { type: "text", text: "What is in it?" },
    { type: "image_url", imageUrl: { url: PNG_1PX } },
  ] }] });
  assert.equal(r.choices[0].message.content, "echo: What is in it?");
});

test("image input (data: URL), streamed", async () => {
  let text = "";
  for await (const c of await send({ model: "mock/echo-gemini", stream: true, messages: [{ role: "user", content: [
    { type: "text", text: "What is in it?" },
    { type: "image_url", imageUrl: { url: PNG_1PX } },
  ] }] })) text += c.choices[0]?.delta?.content ?? "";
  assert.equal(text, "echo: What is in it?");
});

test("embeddings, float and base64", async () => {
  const f = await client.embeddings.generate({ requestBody: { model: "mock/embed", input: ["hello", "world"] } });
  assert.equal(f.data.length, 2);
  assert.equal(f.data[0].embedding.length, 8);
  assert.ok(f.usage.cost > 0);
  const b = await client.embeddings.generate({ requestBody: { model: "mock/embed", input: "hello", encodingFormat: "base64" } });
  assert.equal(typeof b.data[0].embedding, "string");
});

test("model fallbacks and provider preferences", async () => {
  const r = await send({ model: "mock/reasoner", models: ["mock/no-tools"],
    provider: { only: ["mock-beta"] }, messages: user("Hi") });
  assert.equal(r.model, "mock/no-tools");
  for (const slug of ["mock-gamma", "mock-beta"]) {
    const o = await send({ model: "mock/echo", messages: user("Hi"), provider: { order: [slug], allowFallbacks: false } });
    assert.equal(o.choices[0].message.content, "echo: Hi");
  }
});

test("generation lookup", async () => {
  const r = await send({ model: "mock/echo", messages: user("Hi") });
  await gw.generation(r.id);
  const g = await client.generations.getGeneration({ id: r.id });
  assert.equal(g.data.id, r.id);
  assert.equal(g.data.totalCost, r.usage.cost);
});

test("invalid key → UnauthorizedResponseError", async () => {
  const bad = new OpenRouter({ apiKey: "sk-tg-v1-wrong", serverURL: gw.baseURL });
  await assert.rejects(bad.chat.send({ chatRequest: { model: "mock/echo", messages: user("Hi") } }), (e) => {
    assert.ok(e instanceof errors.UnauthorizedResponseError, e.constructor.name);
    assert.equal(e.statusCode, 401);
    assert.match(e.error.message, /Invalid API key/);
    return true;
  });
});

test("no credits → PaymentRequiredResponseError", async () => {
  const broke = new OpenRouter({ apiKey: await gw.brokeKey(), serverURL: gw.baseURL });
  await assert.rejects(broke.chat.send({ chatRequest: { model: "mock/echo", messages: user("Hi") } }), (e) => {
    assert.ok(e instanceof errors.PaymentRequiredResponseError, e.constructor.name);
    assert.equal(e.statusCode, 402);
    assert.match(e.error.message, /Insufficient credits/);
    return true;
  });
});

test("unknown model and invalid parameter → BadRequestResponseError", async () => {
  await assert.rejects(send({ model: "mock/no-such-model", messages: user("Hi") }), (e) => {
    assert.ok(e instanceof errors.BadRequestResponseError, e.constructor.name);
    assert.match(e.error.message, /mock\/no-such-model/);
    return true;
  });
  await assert.rejects(send({ model: "mock/echo", messages: user("Hi"), temperature: 5 }), (e) => {
    assert.ok(e instanceof errors.BadRequestResponseError, e.constructor.name);
    assert.match(e.error.message, /temperature/);
    return true;
  });
});

test("upstream failure after fallbacks → BadGatewayResponseError", async () => {
  // This SDK retries 5XX by default (it does not read x-should-retry): turn that off.
  const start = Date.now();
  await assert.rejects(send({ model: "mock/echo", messages: user("Hi [mock:status=503]") }, NO_RETRIES), (e) => {
    assert.ok(e instanceof errors.BadGatewayResponseError, e.constructor.name);
    assert.equal(e.statusCode, 502);
    assert.match(e.error.message, /overloaded/);
    return true;
  });
  assert.ok(Date.now() - start < 1000);
});

test("mid-stream error arrives as a typed error chunk", async () => {
  const chunks = [];
  for await (const c of await send({ model: "mock/echo", stream: true, messages: user("one two three [mock:drop_after=2]") })) chunks.push(c);
  const last = chunks.at(-1);
  assert.match(last.error.message, /upstream/);
  assert.equal(last.choices[0].finishReason, "error");
});

test("cancelling a stream half-way bills only what was produced", async () => {
  const words = Array.from({ length: 30 }, (_, i) => `w${i}`).join(" ");
  let id, n = 0;
  for await (const c of await send({ model: "mock/echo", stream: true, messages: user(`${words} [mock:slow]`),
    provider: { order: ["mock-alpha"], allowFallbacks: false } })) {
    id = c.id;
    if (c.choices[0]?.delta?.content && ++n === 2) break;
  }
  const gen = await gw.generation(id, (g) => g.cancelled);
  assert.equal(gen.cancelled, true);
  assert.ok(gen.tokens_completion > 0 && gen.tokens_completion < 30);
});
