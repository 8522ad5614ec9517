// The official `openai` Node SDK against tollgated --dev.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import OpenAI from "openai";
import { PNG_1PX, runSnippet, startGateway } from "./gateway.mjs";

const WEATHER_TOOL = {
  type: "function",
  function: {
    name: "get_weather",
    description: "The weather in a city",
    parameters: { type: "object", properties: { query: { type: "string" } }, required: ["query"] },
  },
};
const user = (text) => [{ role: "user", content: text }];

let gw, client;
before(async () => {
  gw = await startGateway();
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: gw.apiKey });
});
after(async () => gw && (await gw.stop()));

test("README snippet", async () => {
  const out = await runSnippet("openai.mjs", gw);
  assert.match(out, /echo: Hello/);
});

test("list models", async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  for (const want of ["mock/echo", "mock/embed", "mock/echo-anthropic", "mock/echo-gemini"]) {
    assert.ok(ids.includes(want), want);
  }
});

test("non-streaming chat with usage.cost", async () => {
  const { data: resp, response } = await client.chat.completions
    .create({ model: "mock/echo", messages: user("Hello, world") })
    .withResponse();
  assert.match(resp.id, /^gen-/);
  assert.equal(response.headers.get("x-generation-id"), resp.id);
  assert.equal(resp.choices[0].message.content, "echo: Hello, world");
  assert.equal(resp.choices[0].finish_reason, "stop");
  assert.equal(typeof resp.usage.cost, "number");
  assert.ok(resp.usage.cost > 0);
});

for (const model of ["mock/echo", "mock/echo-anthropic", "mock/echo-gemini"]) {
  test(`streaming equals non-streaming (${model})`, async () => {
    const messages = user("The quick brown fox, jumps over the lazy dog!");
    const full = await client.chat.completions.create({ model, messages });
    const chunks = [];
    for await (const c of await client.chat.completions.create({ model, messages, stream: true })) chunks.push(c);
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("");
    assert.equal(text, full.choices[0].message.content);
    const last = chunks.at(-1);
    assert.deepEqual(last.choices, []);
    assert.equal(last.usage.completion_tokens, full.usage.completion_tokens);
    assert.equal(typeof last.usage.cost, "number");
    assert.ok(last.usage.cost > 0);
    assert.equal(new Set(chunks.map((c) => c.id)).size, 1);
  });
}

test("tool calling round trip", async () => {
  const messages = user("What is the weather in Paris? Use the tool.");
  const first = await client.chat.completions.create({ model: "mock/echo", messages, tools: [WEATHER_TOOL] });
  assert.equal(first.choices[0].finish_reason, "tool_calls");
  const [call] = first.choices[0].message.tool_calls;
  assert.equal(call.function.name, "get_weather");
  assert.deepEqual(JSON.parse(call.function.arguments), { query: messages[0].content });
  messages.push(first.choices[0].message, { role: "tool", tool_call_id: call.id, content: "sunny" });
  const second = await client.chat.completions.create({ model: "mock/echo", messages, tools: [WEATHER_TOOL] });
  assert.equal(second.choices[0].message.content, "echo: tool result: sunny");
});

test("streamed tool call via the runner helpers", async () => {
  const stream = client.chat.completions.stream({
    model: "mock/echo", messages: user("Use the tool for Paris"), tools: [WEATHER_TOOL],
  });
  const final = await stream.finalChatCompletion();
  const [call] = final.choices[0].message.tool_calls;
  assert.equal(call.function.name, "get_weather");
  assert.deepEqual(JSON.parse(call.function.arguments), { query: "Use the tool for Paris" });
  assert.equal(final.choices[0].finish_reason, "tool_calls");
});

test("json_object and json_schema are accepted", async () => {
  for (const response_format of [
    { type: "json_object" },
    { type: "json_schema", json_schema: { name: "answer", strict: true,
      schema: { type: "object", properties: { a: { type: "string" } }, required: ["a"], additionalProperties: false } } },
  ]) {
    const resp = await client.chat.completions.create({ model: "mock/echo", messages: user("as JSON"), response_format });
    // the mock obeys: the message echoed in an object, or the schema filled
    // with the message's words
    const expected = response_format.type === "json_object" ? { echo: "as JSON" } : { a: "as" };
    assert.deepEqual(JSON.parse(resp.choices[0].message.content), expected);
  }
});

test("image input (data: URL)", async () => {
  for (const model of ["mock/echo-anthropic", "mock/echo-gemini"]) {
    const resp = await client.chat.completions.create({ model, messages: [{ role: "user", content: [
      { type: "text", text: "What is in it?" },
      { type: "image_url", image_url: { url: PNG_1PX } },
    ] }] });
    assert.equal(resp.choices[0].message.content, "echo: What is in it?");
  }
});

test("embeddings, float and base64", async () => {
  const f = await client.embeddings.create({ model: "mock/embed", input: ["hello", "world"], encoding_format: "float" });
  assert.equal(f.data.length, 2);
  assert.equal(f.data[0].embedding.length, 8);
  assert.ok(f.usage.cost > 0);
  const b = await client.embeddings.create({ model: "mock/embed", input: ["hello", "world"], encoding_format: "base64" });
  const floats = new Float32Array(Uint8Array.from(Buffer.from(b.data[0].embedding, "base64")).buffer);
  f.data[0].embedding.forEach((x, i) => assert.ok(Math.abs(x - floats[i]) < 1e-6));
  // Without encoding_format the SDK asks for base64 and decodes it.
  const d = await client.embeddings.create({ model: "mock/embed", input: "hello" });
  d.data[0].embedding.forEach((x, i) => assert.ok(Math.abs(x - f.data[0].embedding[i]) < 1e-6));
});

test("model fallbacks and provider preferences as extra body fields", async () => {
  const resp = await client.chat.completions.create({
    model: "mock/small-context", messages: user("word ".repeat(5000)),
    // extra fields: the SDK sends unknown body keys as they are
    models: ["mock/echo-gemini"], transforms: [],
  });
  assert.equal(resp.model, "mock/echo-gemini");
  for (const [slug, name] of [["mock-gamma", "Mock Gamma"], ["mock-beta", "Mock Beta"]]) {
    const r = await client.chat.completions.create({
      model: "mock/echo", messages: user("Hi"), provider: { order: [slug], allow_fallbacks: false },
    });
    assert.equal(r.provider, name);
  }
});

test("invalid key → AuthenticationError", async () => {
  const bad = new OpenAI({ baseURL: gw.baseURL, apiKey: "sk-tg-v1-wrong", maxRetries: 0 });
  await assert.rejects(bad.chat.completions.create({ model: "mock/echo", messages: user("Hi") }), (e) => {
    assert.ok(e instanceof OpenAI.AuthenticationError);
    assert.equal(e.status, 401);
    assert.match(e.message, /Invalid API key/);
    return true;
  });
});

test("no credits → 402 APIError", async () => {
  const broke = new OpenAI({ baseURL: gw.baseURL, apiKey: await gw.brokeKey() });
  await assert.rejects(broke.chat.completions.create({ model: "mock/echo", messages: user("Hi") }), (e) => {
    assert.ok(e instanceof OpenAI.APIError);
    assert.equal(e.status, 402);
    assert.match(e.message, /Insufficient credits/);
    return true;
  });
});

test("unknown model and invalid parameter → BadRequestError", async () => {
  await assert.rejects(client.chat.completions.create({ model: "mock/no-such-model", messages: user("Hi") }), (e) => {
    assert.ok(e instanceof OpenAI.BadRequestError);
    assert.match(e.message, /mock\/no-such-model/);
    return true;
  });
  await assert.rejects(client.chat.completions.create({ model: "mock/echo", messages: user("Hi"), temperature: 5 }), (e) => {
    assert.ok(e instanceof OpenAI.BadRequestError);
    assert.match(e.message, /temperature/);
    return true;
  });
});

test("upstream failure after fallbacks → InternalServerError 502, not retried", async () => {
  const start = Date.now();
  await assert.rejects(client.chat.completions.create({ model: "mock/echo", messages: user("Hi [mock:status=503]") }), (e) => {
    assert.ok(e instanceof OpenAI.InternalServerError);
    assert.equal(e.status, 502);
    assert.match(e.message, /overloaded/);
    assert.equal(e.headers.get("x-should-retry"), "false");
    assert.deepEqual(e.headers.get("x-tollgate-attempts").split(",").sort(),
      ["mock-alpha=503", "mock-beta=503", "mock-gamma=503"]);
    return true;
  });
  assert.ok(Date.now() - start < 1000, "a retry would have waited the 1 s retry-after");
});

test("mid-stream error → APIError during iteration", async () => {
  const stream = await client.chat.completions.create({
    model: "mock/echo", messages: user("one two three [mock:drop_after=2]"), stream: true,
  });
  let text = "";
  await assert.rejects(async () => {
    for await (const c of stream) text += c.choices[0]?.delta?.content ?? "";
  }, (e) => {
    assert.ok(e instanceof OpenAI.APIError);
    assert.match(e.message, /upstream/);
    return true;
  });
  assert.equal(text, "echo:");
});

test("cancelling a stream half-way bills only what was produced", async () => {
  const words = Array.from({ length: 30 }, (_, i) => `w${i}`).join(" ");
  const provider = { order: ["mock-alpha"], allow_fallbacks: false };
  const stream = await client.chat.completions.create({
    model: "mock/echo", messages: user(`${words} [mock:slow]`), stream: true, provider,
  });
  let id, n = 0;
  for await (const c of stream) {
    id = c.id;
    if (c.choices[0]?.delta?.content && ++n === 2) break; // break aborts the request
  }
  const full = await client.chat.completions.create({ model: "mock/echo", messages: user(words), provider });
  const fullGen = await gw.generation(full.id);
  const gen = await gw.generation(id, (g) => g.cancelled);
  assert.equal(gen.cancelled, true);
  assert.ok(gen.tokens_completion < fullGen.tokens_completion);
  assert.ok(gen.total_cost > 0 && gen.total_cost < fullGen.total_cost);
});

test("responses.create streamed (Responses API)", async () => {
  const stream = await client.responses.create({
    model: "mock/echo-anthropic",
    input: "Stream me, please",
    instructions: "Be brief.",
    stream: true,
  });
  const events = [];
  for await (const e of stream) events.push(e);
  assert.equal(events[0].type, "response.created");
  assert.equal(events.at(-1).type, "response.completed");
  assert.deepEqual(events.map((e) => e.sequence_number), events.map((_, i) => i));
  const text = events.filter((e) => e.type === "response.output_text.delta").map((e) => e.delta).join("");
  assert.equal(text, "echo: Stream me, please");
  const final = events.at(-1).response;
  assert.equal(final.output[0].content[0].text, text);
  assert.equal(final.usage.output_tokens, 6);
  const gen = await gw.generation(final.id);
  assert.equal(gen.api_type, "responses");
  assert.equal(final.usage.cost, gen.total_cost);
});
