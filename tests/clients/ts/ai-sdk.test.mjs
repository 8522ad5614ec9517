// The Vercel AI SDK (`ai`) with @openrouter/ai-sdk-provider against tollgated --dev.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createOpenRouter } from "@openrouter/ai-sdk-provider";
import { APICallError, embed, embedMany, generateText, jsonSchema, stepCountIs, streamText, tool } from "ai";
import { PNG_1PX, runSnippet, startGateway } from "./gateway.mjs";

let gw, openrouter;
before(async () => {
  gw = await startGateway();
  openrouter = createOpenRouter({ baseURL: gw.baseURL, apiKey: gw.apiKey });
});
after(async () => gw && (await gw.stop()));

const isApiCallError = (status, pattern) => (e) => {
  assert.ok(APICallError.isInstance(e), `${e?.constructor?.name}: ${e?.message}`);
  assert.equal(e.statusCode, status);
  assert.match(e.message, pattern);
  return true;
};

test("README snippet", async () => {
  assert.match(await runSnippet("ai-sdk.mjs", gw), /echo: Hello/);
});

test("generateText with usage and cost", async () => {
  const r = await generateText({ model: openrouter("mock/echo"), prompt: "Hello, world" });
  assert.equal(r.text, "echo: Hello, world");
  assert.equal(r.finishReason, "stop");
  assert.equal(r.usage.outputTokens, 5);
  assert.ok(r.usage.inputTokens > 0);
  const cost = r.providerMetadata.openrouter.usage.cost;
  assert.equal(typeof cost, "number");
  assert.ok(cost > 0);
  assert.match(r.response.id, /^gen-/);
});

for (const model of ["mock/echo", "mock/echo-anthropic", "mock/echo-gemini"]) {
  test(`streamText equals generateText (${model})`, async () => {
    const prompt = "The quick brown fox, jumps over the lazy dog!";
    const full = await generateText({ model: openrouter(model), prompt });
    const s = streamText({ model: openrouter(model), prompt, onError: () => {} });
    let text = "";
    for await (const part of s.textStream) text += part;
    assert.equal(text, full.text);
    assert.equal((await s.usage).outputTokens, full.usage.outputTokens);
    assert.equal(await s.finishReason, "stop");
    const meta = await s.providerMetadata;
    assert.ok(meta.openrouter.usage.cost > 0);
  });
}

test("tool calling round trip (the SDK runs the tool)", async () => {
  const r = await generateText({
    model: openrouter("mock/echo"),
    prompt: "What is the weather in Paris? Use the tool.",
    tools: {
      get_weather: tool({
        description: "The weather in a city",
        inputSchema: jsonSchema({ type: "object", properties: { query: { type: "string" } }, required: ["query"] }),
        execute: async ({ query }) => `sunny (${query.length})`,
      }),
    },
    stopWhen: stepCountIs(3),
  });
  assert.equal(r.steps.length, 2);
  assert.equal(r.steps[0].finishReason, "tool-calls");
  assert.deepEqual(r.steps[0].toolCalls[0].input, { query: "What is the weather in Paris? Use the tool." });
  assert.equal(r.text, "echo: tool result: sunny (43)");
});

test("structured output (json_schema) is accepted", async () => {
  const r = await generateText({
    model: openrouter("mock/echo", { extraBody: { response_format: {
      type: "json_schema", json_schema: { name: "answer", schema: { type: "object" } } } } }),
    prompt: "as JSON",
  });
  // an object of any shape: the mock answers as for json_object
  assert.deepEqual(JSON.parse(r.text), { echo: "as JSON" });
});

test("image input (data: URL)", async () => {
  for (const model of ["mock/echo-anthropic", "mock/echo-gemini"]) {
    const r = await generateText({ model: openrouter(model), messages: [{ role: "user", content: [
      { type: "text", text: "What is in it?" },
      { type: "image", image: PNG_1PX },
    ] }] });
    assert.equal(r.text, "echo: What is in it?");
  }
});

test("embeddings", async () => {
  const one = await embed({ model: openrouter.textEmbeddingModel("mock/embed"), value: "hello" });
  assert.equal(one.embedding.length, 8);
  const many = await embedMany({ model: openrouter.textEmbeddingModel("mock/embed"), values: ["hello", "world"] });
  assert.equal(many.embeddings.length, 2);
  assert.deepEqual(many.embeddings[0], one.embedding);
});

test("model fallbacks (`models`) and provider preferences", async () => {
  const r = await generateText({
    model: openrouter("mock/reasoner", { models: ["mock/no-tools"], provider: { only: ["mock-beta"] } }),
    prompt: "Hi",
  });
  assert.equal(r.text, "echo: Hi");
  assert.equal(r.response.modelId, "mock/no-tools");
  const o = await generateText({
    model: openrouter("mock/echo", { provider: { order: ["mock-gamma"], allow_fallbacks: false } }),
    prompt: "Hi",
  });
  assert.equal(o.providerMetadata.openrouter.provider, "Mock Gamma");
});

test("invalid key → APICallError 401", async () => {
  const bad = createOpenRouter({ baseURL: gw.baseURL, apiKey: "sk-tg-v1-wrong" });
  await assert.rejects(generateText({ model: bad("mock/echo"), prompt: "Hi", maxRetries: 0 }),
    isApiCallError(401, /Invalid API key/));
});

test("no credits → APICallError 402", async () => {
  const broke = createOpenRouter({ baseURL: gw.baseURL, apiKey: await gw.brokeKey() });
  await assert.rejects(generateText({ model: broke("mock/echo"), prompt: "Hi", maxRetries: 0 }),
    isApiCallError(402, /Insufficient credits/));
});

test("unknown model and invalid parameter → APICallError 400", async () => {
  await assert.rejects(generateText({ model: openrouter("mock/no-such-model"), prompt: "Hi", maxRetries: 0 }),
    isApiCallError(400, /mock\/no-such-model/));
  await assert.rejects(generateText({ model: openrouter("mock/echo"), prompt: "Hi", temperature: 5, maxRetries: 0 }),
    isApiCallError(400, /temperature/));
});

test("upstream failure after fallbacks → APICallError 502", async () => {
  // The AI SDK retries every 5xx (it does not read x-should-retry): maxRetries: 0.
  await assert.rejects(generateText({ model: openrouter("mock/echo"), prompt: "Hi [mock:status=503]", maxRetries: 0 }),
    (e) => isApiCallError(502, /overloaded/)(e) && e.responseHeaders["x-should-retry"] === "false");
});

test("mid-stream error → an error part, finishReason error", async () => {
  const errors = [];
  const s = streamText({ model: openrouter("mock/echo"), prompt: "one two three [mock:drop_after=2]",
    onError: ({ error }) => errors.push(error) });
  let text = "";
  for await (const part of s.fullStream) {
    if (part.type === "text-delta") text += part.text;
  }
  assert.equal(text, "echo:");
  assert.equal(await s.finishReason, "error");
  assert.equal(errors.length, 1);
  assert.match(JSON.stringify(errors[0]), /upstream/);
});

test("cancelling a stream half-way bills only what was produced", async () => {
  const words = Array.from({ length: 30 }, (_, i) => `w${i}`).join(" ");
  const abort = new AbortController();
  const s = streamText({
    model: openrouter("mock/echo", { provider: { order: ["mock-alpha"], allow_fallbacks: false } }),
    prompt: `${words} [mock:slow]`, abortSignal: abort.signal, onError: () => {},
    includeRawChunks: true,
  });
  let n = 0, id;
  try {
    for await (const part of s.fullStream) {
      if (part.type === "raw" && part.rawValue?.id) id = part.rawValue.id;
      if (part.type === "text-delta" && ++n === 2) abort.abort();
    }
  } catch { /* the abort ends the stream */ }
  assert.match(id, /^gen-/);
  const gen = await gw.generation(id, (g) => g.cancelled);
  assert.equal(gen.cancelled, true);
  assert.ok(gen.tokens_completion > 0 && gen.tokens_completion < 30);
});
