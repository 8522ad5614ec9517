// The official `@anthropic-ai/sdk` against tollgated --dev: the Anthropic
// Messages ingress (`/api/v1/messages`), streamed, to each upstream dialect.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import Anthropic from "@anthropic-ai/sdk";

import { startGateway } from "./gateway.mjs";

const MODELS = ["mock/echo", "mock/echo-anthropic", "mock/echo-gemini"];
const WEATHER = {
  name: "get_weather",
  description: "The weather in a city",
  input_schema: { type: "object", properties: { query: { type: "string" } }, required: ["query"] },
};

let gw;
let client;

before(async () => {
  gw = await startGateway();
  // The SDK appends /v1/messages: its baseURL is the gateway's /api.
  client = new Anthropic({ baseURL: gw.baseURL.replace(/\/v1$/, ""), apiKey: gw.apiKey });
});

after(async () => {
  await gw?.stop();
});

const user = (text) => [{ role: "user", content: text }];

for (const model of MODELS) {
  test(`messages.stream text: ${model}`, async () => {
    const stream = client.messages.stream({
      model,
      max_tokens: 100,
      messages: user("Stream me, please"),
    });
    let text = "";
    stream.on("text", (t) => {
      text += t;
    });
    const final = await stream.finalMessage();
    assert.equal(text, "echo: Stream me, please");
    assert.equal(final.content[0].text, text);
    assert.equal(final.stop_reason, "end_turn");
    assert.equal(final.usage.output_tokens, 6);
    const generation = await gw.generation(final.id);
    assert.equal(generation.api_type, "messages");
    assert.equal(generation.streamed, true);
  });

  test(`create({stream: true}) with a tool: ${model}`, async () => {
    const events = await client.messages.create({
      model,
      max_tokens: 200,
      tools: [WEATHER],
      messages: user("use the tool for Paris"),
      stream: true,
    });
    const types = [];
    let input = "";
    let stop;
    for await (const event of events) {
      types.push(event.type);
      if (event.type === "content_block_start" && event.content_block.type === "tool_use") {
        assert.equal(event.content_block.name, "get_weather");
      }
      if (event.type === "content_block_delta" && event.delta.type === "input_json_delta") {
        input += event.delta.partial_json;
      }
      if (event.type === "message_delta") stop = event.delta.stop_reason;
    }
    assert.equal(types[0], "message_start");
    assert.equal(types.at(-1), "message_stop");
    assert.deepEqual(JSON.parse(input), { query: "use the tool for Paris" });
    assert.equal(stop, "tool_use");
  });
}

test("streamed thinking from Anthropic keeps its signature", async () => {
  const final = await client.messages
    .stream({
      model: "mock/echo-anthropic",
      max_tokens: 4000,
      thinking: { type: "enabled", budget_tokens: 1024 },
      messages: user("Hi there"),
    })
    .finalMessage();
  assert.equal(final.content[0].type, "thinking");
  assert.equal(final.content[0].thinking, "thinking about: Hi there");
  assert.ok(final.content[0].signature.length > 0);
  assert.equal(final.content[1].text, "echo: Hi there");
});

test("the cost in the usage is /generation's total_cost", async () => {
  const message = await client.messages.create({
    model: "mock/echo-gemini",
    max_tokens: 100,
    messages: user("Hello there"),
  });
  const generation = await gw.generation(message.id);
  assert.equal(message.usage.cost, generation.total_cost);
  assert.ok(message.usage.cost > 0);
});
