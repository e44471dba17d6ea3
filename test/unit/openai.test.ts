// tracedOpenAI with the real `openai` client, talking to the demo's deterministic
// OpenAI-compatible endpoint through the client's fetch option (no network, no key).
import OpenAI from "openai";
import { beforeEach, describe, expect, it } from "vitest";
import * as mlflow from "../../core/index.js";
import { fakeLlm } from "../../demo/llm/fake-llm.js";
import { tracedOpenAI } from "../../openai/index.js";

let exporter: mlflow.InMemoryExporter;
beforeEach(() => {
  exporter = new mlflow.InMemoryExporter();
  mlflow.init({ exporter, silent: true });
});

const raw = () =>
  new OpenAI({ apiKey: "unused", baseURL: "http://llm.local/v1", maxRetries: 0, fetch: (url, init) => fakeLlm(new Request(url as string, init as RequestInit), { chunkDelayMs: 1 }) });
const system = { role: "system" as const, content: "Context:\n[edge] mlflow-edge traces browsers and Workers." };

async function traces() {
  await mlflow.flushTraces();
  return exporter.drain();
}

describe("tracedOpenAI: chat completions", () => {
  it("records a CHAT_MODEL span with the request as inputs, the completion as outputs, and token usage", async () => {
    const client = tracedOpenAI(raw());
    const res = await client.chat.completions.create({ model: "demo-mini", messages: [system, { role: "user", content: "What is mlflow-edge?" }] });
    expect(res.choices[0]!.message.content).toBe("From [edge]: mlflow-edge traces browsers and Workers.");
    const [t] = await traces();
    const span = t!.data.spans[0]!;
    expect(span).toMatchObject({ name: "Completions", spanType: "CHAT_MODEL", parentId: null });
    expect(span.inputs).toEqual({ model: "demo-mini", messages: [system, { role: "user", content: "What is mlflow-edge?" }] });
    expect((span.outputs as { choices: { message: { content: string } }[] }).choices[0]!.message.content).toBe(res.choices[0]!.message.content);
    expect(span.attributes["mlflow.chat.tokenUsage"]).toEqual({ input_tokens: res.usage!.prompt_tokens, output_tokens: res.usage!.completion_tokens, total_tokens: res.usage!.total_tokens });
    expect(span.attributes.model).toBe("demo-mini");
    expect(t!.info.requestPreview).toBe("What is mlflow-edge?");
    expect(t!.info.responsePreview).toBe("From [edge]: mlflow-edge traces browsers and Workers.");
    expect(t!.info.traceMetadata["mlflow.trace.tokenUsage"]).toBeDefined();
  });

  it("streams: every chunk is an event, the outputs are one aggregated completion with usage, the span ends when iteration ends", async () => {
    const client = tracedOpenAI(raw());
    const stream = await client.chat.completions.create({
      model: "demo-mini",
      messages: [system, { role: "user", content: "What is mlflow-edge?" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta?.content ?? "";
    }
    expect(text).toBe("From [edge]: mlflow-edge traces browsers and Workers.");
    const [t] = await traces();
    const span = t!.data.spans[0]!;
    expect(span.events.map((e) => e.name)).toEqual(Array.from({ length: chunks }, (_, i) => `mlflow.chunk.item.${i}`));
    const out = span.outputs as { object: string; choices: { message: { role: string; content: string }; finish_reason: string }[]; usage: { total_tokens: number } };
    expect(out.object).toBe("chat.completion");
    expect(out.choices).toEqual([{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }]);
    expect(span.attributes["mlflow.chat.tokenUsage"]).toMatchObject({ total_tokens: out.usage.total_tokens });
    expect(t!.info.responsePreview).toBe(text);
  });

  it("merges streamed tool-call deltas into one tool call", async () => {
    const client = tracedOpenAI(raw());
    const tools = [{ type: "function" as const, function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } }];
    const stream = await client.chat.completions.create({ model: "demo-mini", messages: [{ role: "user", content: "weather in Paris?" }], tools, stream: true });
    for await (const _ of stream) void _;
    const [t] = await traces();
    const out = t!.data.spans[0]!.outputs as { choices: { message: { content: null; tool_calls: { function: { name: string; arguments: string } }[] }; finish_reason: string }[] };
    expect(out.choices[0]!.finish_reason).toBe("tool_calls");
    expect(out.choices[0]!.message.content).toBeNull();
    expect(out.choices[0]!.message.tool_calls.map((c) => [c.function.name, JSON.parse(c.function.arguments)])).toEqual([["get_weather", { city: "Paris" }]]);
  });

  it("breaking out of a stream ends the span with the chunks read so far", async () => {
    const client = tracedOpenAI(raw());
    const stream = await client.chat.completions.create({ model: "demo-mini", messages: [system, { role: "user", content: "What is mlflow-edge?" }], stream: true });
    let n = 0;
    for await (const _ of stream) if (++n === 3) break;
    const [t] = await traces();
    expect(t!.data.spans[0]!.events).toHaveLength(3);
    expect(t!.data.spans[0]!.endTime).not.toBeNull();
  });

  it("an API error is recorded with ERROR status and rethrown unchanged", async () => {
    const client = tracedOpenAI(raw());
    const error = await client.chat.completions.create({ model: "demo-mini", messages: [{ role: "user", content: "please fail" }] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(500);
    const [t] = await traces();
    const span = t!.data.spans[0]!;
    expect(span.status.statusCode).toBe("STATUS_CODE_ERROR");
    expect(span.events[0]).toMatchObject({ name: "exception", attributes: { "exception.type": "InternalServerError" } });
    expect(t!.info.state).toBe("ERROR");
  });

  it("nests under the caller's span, keeps concurrent calls apart, and leaves the client's own promise intact", async () => {
    const client = tracedOpenAI(raw());
    await mlflow.withSpan(
      async () => {
        const ask = (q: string) => client.chat.completions.create({ model: "demo-mini", messages: [{ role: "user", content: q }] });
        const [a, b] = await Promise.all([ask("first"), ask("second")]);
        expect(a.choices[0]!.message.content).toContain("first");
        expect(b.choices[0]!.message.content).toContain("second");
        const { data, response } = await ask("third").withResponse();
        expect(response.status).toBe(200);
        expect(data.choices[0]!.message.content).toContain("third");
      },
      { name: "agent", spanType: mlflow.SpanType.AGENT },
    );
    const [t] = await traces();
    const names = new Map(t!.data.spans.map((s) => [s.spanId, s.name]));
    expect(t!.data.spans.map((s) => [s.name, s.parentId ? names.get(s.parentId) : null])).toEqual([
      ["agent", null],
      ["Completions_1", "agent"],
      ["Completions_2", "agent"],
      ["Completions_3", "agent"],
    ]);
    expect(t!.data.spans.slice(1).map((s) => ((s.inputs as { messages: { content: string }[] }).messages[0]!.content))).toEqual(["first", "second", "third"]);
  });
});

describe("tracedOpenAI: responses and embeddings; untraced methods pass through", () => {
  it("traces responses.create (CHAT_MODEL) and embeddings.create (EMBEDDING)", async () => {
    const client = tracedOpenAI(raw());
    const r = await client.responses.create({ model: "demo-mini", input: "hello there" });
    expect(r.output_text).toContain("hello there");
    const e = await client.embeddings.create({ model: "demo-embed", input: ["a", "b"] });
    expect(e.data.map((d) => d.embedding.length)).toEqual([8, 8]);
    const [tr, te] = await traces();
    expect(tr!.data.spans[0]).toMatchObject({ name: "Responses", spanType: "CHAT_MODEL" });
    expect(tr!.data.spans[0]!.attributes["mlflow.chat.tokenUsage"]).toMatchObject({ input_tokens: r.usage!.input_tokens });
    expect(te!.data.spans[0]).toMatchObject({ name: "Embeddings", spanType: "EMBEDDING", inputs: { model: "demo-embed", input: ["a", "b"] } });
  });

  it("other methods and properties are the client's own", async () => {
    const original = raw();
    const client = tracedOpenAI(original);
    expect(client.baseURL).toBe("http://llm.local/v1");
    expect(typeof client.models.list).toBe("function");
    expect(client.chat.completions.create).not.toBe(original.chat.completions.create);
    expect(await traces()).toHaveLength(0);
  });
});

describe("the demo's OpenAI-compatible endpoint", () => {
  const call = (path: string, body: unknown) => fakeLlm(new Request(`http://llm.local/v1${path}`, { method: "POST", body: JSON.stringify(body) }), { chunkDelayMs: 0 });

  it("answers the same question the same way, and streams SSE ending in [DONE]", async () => {
    const body = { model: "m", messages: [{ role: "user", content: "hi" }] };
    expect(await (await call("/chat/completions", body)).text()).toBe(await (await call("/chat/completions", body)).text());
    const sse = await (await call("/chat/completions", { ...body, stream: true })).text();
    const events = sse.split("\n\n").filter(Boolean);
    expect(events.every((e) => e.startsWith("data: "))).toBe(true);
    expect(events[events.length - 1]).toBe("data: [DONE]");
  });

  it("refuses bad requests in OpenAI's error shape, and fails or rate-limits on request", async () => {
    const bad = await fakeLlm(new Request("http://llm.local/v1/chat/completions", { method: "POST", body: "{" }));
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { type: string } }).error.type).toBe("invalid_request_error");
    expect((await call("/chat/completions", { model: "m", messages: [] })).status).toBe(400);
    expect((await call("/chat/completions", { messages: [{ role: "user", content: "x" }] })).status).toBe(400);
    expect((await call("/chat/completions", { model: "m", messages: [{ role: "user", content: "fail now" }] })).status).toBe(500);
    expect((await call("/chat/completions", { model: "m", messages: [{ role: "user", content: "hit the rate limit" }] })).status).toBe(429);
    expect((await call("/embeddings", { model: "m", input: [1] })).status).toBe(400);
    expect((await call("/nothing", { model: "m" })).status).toBe(404);
  });
});
