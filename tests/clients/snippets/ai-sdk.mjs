import { createOpenRouter } from "@openrouter/ai-sdk-provider";
import { generateText, streamText } from "ai";

const openrouter = createOpenRouter({ baseURL: "http://127.0.0.1:8080/api/v1", apiKey: "sk-tg-v1-demo" });
const model = openrouter("mock/echo", { provider: { sort: "price" } });
const { text, providerMetadata } = await generateText({ model, prompt: "Hello" });
console.log(text, providerMetadata.openrouter.usage.cost);

for await (const delta of streamText({ model, prompt: "Hello" }).textStream) process.stdout.write(delta);
