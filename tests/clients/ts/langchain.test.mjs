// LangChain JS (`@langchain/openai`) against tollgated --dev: structured
// output with `withStructuredOutput`'s default method, through each wire
// dialect of the demo, and reasoning from mock/reasoner.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ChatOpenAI } from "@langchain/openai";
import { z } from "zod";
import { startGateway } from "./gateway.mjs";

const City = z.object({
  name: z.string(),
  population: z.number().int().min(1000),
  capital: z.boolean(),
  kind: z.enum(["town", "city"]),
  districts: z.array(z.object({ name: z.string(), area: z.number().max(10) })).min(2),
});
const PROMPT = "Tell me about Paris";

let gw;
before(async () => {
  gw = await startGateway();
});
after(async () => gw && (await gw.stop()));

const llm = (model) =>
  new ChatOpenAI({ model, apiKey: gw.apiKey, configuration: { baseURL: gw.baseURL } });

for (const model of ["mock/echo", "mock/echo-anthropic", "mock/echo-gemini"]) {
  test(`withStructuredOutput, default method: ${model}`, async () => {
    const city = await llm(model).withStructuredOutput(City).invoke(PROMPT);
    // withStructuredOutput validated it against the zod schema already
    assert.ok(city.population >= 1000);
    assert.ok(city.districts.length >= 2);
    assert.ok(PROMPT.split(" ").includes(city.name), city.name);
  });
}

test("withStructuredOutput, function calling", async () => {
  const city = await llm("mock/echo")
    .withStructuredOutput(City, { method: "functionCalling" })
    .invoke(PROMPT);
  assert.equal(city.kind, "town");
});
