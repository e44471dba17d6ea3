// tracedOpenAI with the real `openai` client, talking to the demo's deterministic
// OpenAI-compatible endpoint through the client's fetch option (no network, no key).
import { EventEmitter } from "node:events";
import OpenAI from "openai";
import { APIPromise } from "openai/core/api-promise";
import { Stream } from "openai/core/streaming";
import { beforeEach, describe, expect, it, vi } from "vitest";
import * as mlflow from "../../core/index.js";
import { fakeLlm } from "../../demo/llm/fake-llm.js";
import { tracedOpenAI } from "../../openai/index.js";
import { sleep } from "./helpers.js";

let exporter: mlflow.InMemoryExporter;
beforeEach(() => {
  exporter = new mlflow.InMemoryExporter();
  mlflow.init({ exporter, silent: true });
});

const raw = (headers: Record<string, string> = {}) =>
  new OpenAI({
    apiKey: "unused",
    baseURL: "http://llm.local/v1",
    maxRetries: 0,
    defaultHeaders: headers,
    fetch: (url, init) => fakeLlm(new Request(url as string, init as RequestInit), { chunkDelayMs: 1 }),
  });
const system = { role: "system" as const, content: "Context:\n[edge] mlflow-edge traces browsers and Workers." };
const question = { role: "user" as const, content: "What is mlflow-edge?" };
const ANSWER = "From [edge]: mlflow-edge traces browsers and Workers.";
const json = (v: unknown) => JSON.parse(JSON.stringify(v)) as unknown;

async function only() {
  await mlflow.flushTraces();
  const traces = exporter.drain();
  expect(traces).toHaveLength(1);
  return traces[0]!;
}
const chunkValues = (span: mlflow.SpanData) => span.events.filter((e) => e.name.startsWith("mlflow.chunk.item.")).map((e) => JSON.parse(e.attributes["mlflow.chunk.value"] as string) as unknown);

describe("the traced client", () => {
  it("traced again (to add attributes) is traced once: one span with both sets of attributes (before: an empty outer span around a streamed one)", async () => {
    const shared = tracedOpenAI(raw(), { attributes: { "app.team": "search" } });
    const perRequest = tracedOpenAI(shared, { attributes: { "app.user": "u1" } });
    const stream = await perRequest.chat.completions.create({ model: "demo-mini", messages: [question], stream: true });
    for await (const _ of stream) { /* read */ }
    const span = (await only()).data.spans; // before the fix: two spans, the outer one empty
    expect(span.map((s) => [s.name, s.attributes["app.team"], s.attributes["app.user"], (s.outputs as any)?.choices?.[0]?.message?.content])).toEqual([["Completions", "search", "u1", expect.stringContaining("mlflow-edge")]]);
  });

  it("a subclass's getters and setters on private (#) fields work through the traced client", async () => {
    class MyClient extends OpenAI {
      #tag = "t1";
      get tag() { return this.#tag; }
      set tag(value: string) { this.#tag = value; }
    }
    const client = tracedOpenAI(new MyClient({ apiKey: "unused", baseURL: "http://llm.local/v1", maxRetries: 0, fetch: (url, init) => fakeLlm(new Request(url as string, init as RequestInit)) }));
    expect(client.tag).toBe("t1"); // before the fix: TypeError, cannot read private member
    client.tag = "t2";
    expect(client.tag).toBe("t2");
  });

  it("a subclass's getter that reaches one of its resources (returns it, or a function calling it) reaches the traced one", async () => {
    class MyClient extends OpenAI {
      get chatCompletions() { return this.chat.completions; }
      get ask() { const c = this.chat.completions; return (p: OpenAI.ChatCompletionCreateParamsNonStreaming) => c.create(p); }
    }
    const client = tracedOpenAI(new MyClient({ apiKey: "unused", baseURL: "http://llm.local/v1", maxRetries: 0, fetch: (url, init) => fakeLlm(new Request(url as string, init as RequestInit)) }));
    await client.chatCompletions.create({ model: "demo-mini", messages: [question] });
    await client.ask({ model: "demo-mini", messages: [question] });
    await mlflow.flushTraces();
    expect(exporter.drain().map((t) => t.data.spans.map((s) => s.name))).toEqual([["Completions"], ["Completions"]]);
  });

  it("a frozen client, or one with read-only non-configurable properties, is traced and reads as itself (before: every property read threw the proxy's TypeError)", async () => {
    const frozen = Object.freeze(raw());
    const client = tracedOpenAI(frozen);
    const completion = await client.chat.completions.create({ model: "demo-mini", messages: [system, question] });
    expect(completion.choices[0]!.message.content).toBe(ANSWER);
    expect(client).toBeInstanceOf(OpenAI);
    expect(Object.keys(client)).toEqual(Object.keys(frozen));
    expect(client.baseURL).toBe(frozen.baseURL);
    expect(client.chat.completions).toBe(client.chat.completions);
    // A stub whose own method is read-only (a test double, say), and an app method made so.
    const stub = { chat: { completions: {} }, version: "1" };
    Object.defineProperty(stub.chat.completions, "create", { value: async () => ({ id: "c1", choices: [] }), writable: false, configurable: false });
    Object.defineProperty(stub, "ping", { value: () => "pong", writable: false, configurable: false });
    const tracedStub = tracedOpenAI(stub) as typeof stub & { ping(): string; chat: { completions: { create(p: object): Promise<{ id: string }> } } };
    expect(tracedStub.ping()).toBe("pong");
    expect(() => Object.freeze(tracedStub)).toThrow(TypeError); // it stands on a stand-in: freezing fails, cleanly
    expect(tracedStub.ping()).toBe("pong");
    expect((await tracedStub.chat.completions.create({ model: "m" })).id).toBe("c1");
    await mlflow.flushTraces();
    expect(exporter.drain().map((t) => [t.data.spans[0]!.name, t.info.state])).toEqual([["Completions", "OK"], ["Completions", "OK"]]);
    // Frozen after tracing (freeze it before, to have it traced): it reads as itself, untraced, not the proxy's TypeError.
    const late = Object.freeze(tracedOpenAI(raw()));
    expect((await late.chat.completions.create({ model: "demo-mini", messages: [system, question] })).choices[0]!.message.content).toBe(ANSWER);
  });
});

describe("chat.completions.create", () => {
  it("is one CHAT_MODEL span: the params as inputs, the completion as outputs, MLflow's attributes and token usage, chat previews", async () => {
    const client = tracedOpenAI(raw());
    const res = await client.chat.completions.create({ model: "demo-mini", messages: [system, question], temperature: 0 });
    expect(res.choices[0]!.message.content).toBe(ANSWER);
    const t = await only();
    expect(t.data.spans).toHaveLength(1);
    const span = t.data.spans[0]!;
    expect(span).toMatchObject({ name: "Completions", spanType: "CHAT_MODEL", parentId: null, status: { statusCode: "STATUS_CODE_OK" }, events: [] });
    expect(span.inputs).toEqual({ model: "demo-mini", messages: [system, question], temperature: 0 });
    expect(span.outputs).toEqual(json(res));
    const usage = { input_tokens: res.usage!.prompt_tokens, output_tokens: res.usage!.completion_tokens, total_tokens: res.usage!.total_tokens };
    expect(span.attributes).toMatchObject({
      "mlflow.chat.tokenUsage": usage,
      "mlflow.message.format": "openai",
      "mlflow.llm.provider": "openai",
      "mlflow.llm.model": "demo-mini",
      model: "demo-mini",
      temperature: 0, // every request parameter but the conversation, as MLflow's autolog records them
    });
    expect(span.attributes).not.toHaveProperty("messages");
    expect(span.attributes).not.toHaveProperty("mlflow.chat.tools"); // no tools in the request
    expect(t.info.requestPreview).toBe("What is mlflow-edge?");
    expect(t.info.responsePreview).toBe(ANSWER);
    expect(JSON.parse(t.info.traceMetadata["mlflow.trace.tokenUsage"]!)).toEqual(usage);
  });

  it("streams: the client's own Stream, each chunk an event, outputs = the chunks aggregated into the completion the JSON call returns", async () => {
    const client = tracedOpenAI(raw());
    const whole = await client.chat.completions.create({ model: "demo-mini", messages: [system, question] });
    exporter.drain();
    await mlflow.flushTraces();
    exporter.drain();
    const stream = await client.chat.completions.create({ model: "demo-mini", messages: [system, question], stream: true, stream_options: { include_usage: true } });
    expect(stream).toBeInstanceOf(Stream);
    expect(typeof stream.toReadableStream).toBe("function");
    const seen: unknown[] = [];
    let text = "";
    for await (const chunk of stream) {
      seen.push(json(chunk));
      text += chunk.choices[0]?.delta?.content ?? "";
    }
    expect(text).toBe(ANSWER);
    const span = (await only()).data.spans[0]!;
    expect(span.events.map((e) => e.name)).toEqual(seen.map((_, i) => `mlflow.chunk.item.${i}`));
    expect(chunkValues(span)).toEqual(seen);
    expect(span.outputs).toEqual({
      id: whole.id,
      object: "chat.completion",
      created: whole.created,
      model: whole.model,
      choices: [{ index: 0, message: { role: "assistant", content: ANSWER }, finish_reason: "stop" }],
      usage: json(whole.usage),
    });
    expect(span.attributes["mlflow.chat.tokenUsage"]).toEqual({ input_tokens: whole.usage!.prompt_tokens, output_tokens: whole.usage!.completion_tokens, total_tokens: whole.usage!.total_tokens });
  });

  it("Azure OpenAI's stream, whose first chunk is a prompt filter result with an empty id and model: the outputs name the completion", async () => {
    const events = [
      { choices: [], created: 0, id: "", model: "", object: "", prompt_filter_results: [{ prompt_index: 0, content_filter_results: {} }] },
      { id: "chatcmpl-9", object: "chat.completion.chunk", created: 1730000000, model: "gpt-4o-2024-08-06", system_fingerprint: "fp_1", choices: [{ index: 0, delta: { role: "assistant", content: "Hi" }, finish_reason: null }] },
      { id: "chatcmpl-9", object: "chat.completion.chunk", created: 1730000000, model: "gpt-4o-2024-08-06", choices: [{ index: 0, delta: {}, finish_reason: "stop" }] },
    ];
    const sse = events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join("") + "data: [DONE]\n\n";
    const azure = tracedOpenAI(new OpenAI({
      apiKey: "unused", baseURL: "http://azure.local/v1", maxRetries: 0,
      fetch: async () => new Response(sse, { headers: { "content-type": "text/event-stream" } }),
    }));
    for await (const _ of await azure.chat.completions.create({ model: "my-gpt4o-deployment", messages: [question], stream: true })) { /* read */ }
    const span = (await only()).data.spans[0]!;
    expect(span.outputs).toEqual({
      id: "chatcmpl-9", object: "chat.completion", created: 1730000000, model: "gpt-4o-2024-08-06", system_fingerprint: "fp_1",
      choices: [{ index: 0, message: { role: "assistant", content: "Hi" }, finish_reason: "stop" }],
      // kept as the client's accumulator keeps it
      prompt_filter_results: [{ prompt_index: 0, content_filter_results: {} }],
    });
    // The model that answered, not the deployment name requested, as MLflow's autolog records it.
    expect(span.attributes).toMatchObject({ "mlflow.llm.model": "gpt-4o-2024-08-06", model: "my-gpt4o-deployment" });
  });

  it("the request's tools become mlflow.chat.tools in MLflow's chat-tool form, the other parameters attributes", async () => {
    const fn = { name: "get_weather", description: "Weather in a city", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } };
    const answer = { id: "x", object: "chat.completion", created: 1, model: "gpt-4o-2024-08-06", choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }] };
    const bodies = new Map<string, unknown>([
      ["/v1/chat/completions", answer],
      ["/v1/responses", { id: "resp_1", object: "response", created_at: 1, model: "gpt-4o-2024-08-06", status: "completed", output: [], usage: null }],
    ]);
    const client = tracedOpenAI(new OpenAI({
      apiKey: "unused", baseURL: "http://llm.local/v1", maxRetries: 0,
      fetch: async (url) => Response.json(bodies.get(new URL(url as string).pathname)),
    }));
    await client.chat.completions.create({ model: "gpt-4o", messages: [question], tools: [{ type: "function", function: fn }], tool_choice: "auto", max_tokens: 50 });
    let span = (await only()).data.spans[0]!;
    expect(span.attributes["mlflow.chat.tools"]).toEqual([{ type: "function", function: fn }]);
    expect(span.attributes).toMatchObject({ tools: [{ type: "function", function: fn }], tool_choice: "auto", max_tokens: 50, "mlflow.llm.model": "gpt-4o-2024-08-06" });

    // Responses API: a function tool's definition moves under `function`; a built-in tool is named by its type.
    await client.responses.create({ model: "gpt-4o", input: "hi", tools: [{ type: "function", strict: true, ...fn }, { type: "web_search_preview" }], instructions: "be brief" });
    span = (await only()).data.spans[0]!;
    expect(span.attributes["mlflow.chat.tools"]).toEqual([{ type: "function", function: { strict: true, ...fn } }, { type: "function", function: { name: "web_search_preview" } }]);
    expect(span.attributes).toMatchObject({ instructions: "be brief" });
    expect(span.attributes).not.toHaveProperty("input");

    // A tool type MLflow does not know, or a function without a name, leaves the attribute unset, as in MLflow.
    await client.responses.create({ model: "gpt-4o", input: "hi", tools: [{ type: "some_future_tool" } as never] });
    expect((await only()).data.spans[0]!.attributes).not.toHaveProperty("mlflow.chat.tools");
    await client.chat.completions.create({ model: "gpt-4o", messages: [question], tools: [{ type: "function" } as never] });
    expect((await only()).data.spans[0]!.attributes).not.toHaveProperty("mlflow.chat.tools");

    // A parameter named like MLflow's own attributes does not overwrite them.
    await client.chat.completions.create({ model: "gpt-4o", messages: [question], "mlflow.spanType": "TOOL" } as never);
    span = (await only()).data.spans[0]!;
    expect(span.spanType).toBe("CHAT_MODEL");
    expect(span.attributes["mlflow.spanType"]).toBe("CHAT_MODEL");
  });

  it("streamed tool-call deltas merge into one tool call (content null, finish_reason tool_calls)", async () => {
    const client = tracedOpenAI(raw());
    const tools = [{ type: "function" as const, function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } }];
    const stream = await client.chat.completions.create({ model: "demo-mini", messages: [{ role: "user", content: "weather in Paris?" }], tools, stream: true });
    let deltas = 0;
    for await (const chunk of stream) deltas += chunk.choices[0]?.delta?.tool_calls?.length ?? 0;
    expect(deltas).toBeGreaterThan(2);
    const t = await only();
    const out = t.data.spans[0]!.outputs as { choices: unknown[] };
    expect(out.choices).toEqual([
      {
        index: 0,
        message: { role: "assistant", content: null, tool_calls: [{ id: expect.stringMatching(/^call_/), type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }] },
        finish_reason: "tool_calls",
      },
    ]);
    expect(t.info.requestPreview).toBe("weather in Paris?");
  });

  it("breaking out early ends the span OK with what was read; no chunk after the break is recorded", async () => {
    const client = tracedOpenAI(raw());
    const stream = await client.chat.completions.create({ model: "demo-mini", messages: [system, question], stream: true });
    let text = "";
    let n = 0;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? "";
      if (++n === 3) break;
    }
    const span = (await only()).data.spans[0]!;
    expect(span.events).toHaveLength(3);
    expect(span.status.statusCode).toBe("STATUS_CODE_OK");
    expect((span.outputs as { choices: { message: { content: string }; finish_reason: null }[] }).choices).toEqual([{ index: 0, message: { role: "assistant", content: text }, finish_reason: null }]);
    expect(text.length).toBeLessThan(ANSWER.length);
  });

  it("a stream that breaks off mid-way: the chunks before it, then ERROR with the exception event; the error reaches the caller", async () => {
    const client = tracedOpenAI(raw());
    const stream = await client.chat.completions.create({ model: "demo-mini", messages: [{ role: "user", content: "please go mid-stream" }], stream: true });
    let got = 0;
    const error = await (async () => {
      for await (const _ of stream) got++;
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    const span = (await only()).data.spans[0]!;
    expect(span.events.map((e) => e.name)).toEqual([...Array.from({ length: got }, (_, i) => `mlflow.chunk.item.${i}`), "exception"]);
    expect(span.status.statusCode).toBe("STATUS_CODE_ERROR");
    expect(span.events.at(-1)!.attributes["exception.message"]).toBe((error as Error).message);
  });

  it("an API error: ERROR status and exception event with the client's error type, rethrown as the same object", async () => {
    const client = tracedOpenAI(raw());
    for (const [content, status, type] of [["please fail", 500, "InternalServerError"], ["hit the rate limit", 429, "RateLimitError"]] as const) {
      const error = await client.chat.completions.create({ model: "demo-mini", messages: [{ role: "user", content }] }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.APIError);
      expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(status);
      const t = await only();
      const span = t.data.spans[0]!;
      expect(span.status).toEqual({ statusCode: "STATUS_CODE_ERROR", description: `${type}: ${(error as Error).message}` });
      expect(span.events).toHaveLength(1);
      expect(span.events[0]).toMatchObject({ name: "exception", attributes: { "exception.type": type, "exception.message": (error as Error).message } });
      expect(span.outputs).toBeUndefined();
      expect(t.info.state).toBe("ERROR");
    }
  });

  // A failed call never awaited: test/unit/unhandled.test.ts (its rejection stays unhandled, as untraced).

  it("the client's own _thenUnwrap() on a traced call gets its value (before: 'Body is unusable', tracing had read the body)", async () => {
    const client = tracedOpenAI(raw());
    const call = client.chat.completions.create({ model: "demo-mini", messages: [system, question] }) as unknown as { _thenUnwrap<U>(fn: (data: OpenAI.ChatCompletion) => U): Promise<U> };
    expect(await call._thenUnwrap((data) => data.choices[0]!.message.content)).toBe(ANSWER);
  });

  it("a successful call nobody reads ends its span unread after openSpanTimeoutMs; one read before then records its outputs", async () => {
    mlflow.init({ exporter, silent: true, openSpanTimeoutMs: 300 });
    const client = tracedOpenAI(raw());
    void client.chat.completions.create({ model: "demo-mini", messages: [question] });
    const later = client.chat.completions.create({ model: "demo-mini", messages: [question] });
    await sleep(100);
    const res = await later;
    await vi.waitFor(async () => {
      await mlflow.flushTraces();
      expect(exporter.traces).toHaveLength(2);
    }, { timeout: 3_000 });
    const spans = exporter.drain().map((t) => t.data.spans[0]!);
    const unread = spans.find((s) => s.outputs === undefined)!;
    expect(unread.events).toMatchObject([{ name: "cancelled", attributes: { reason: "result not read within 300 ms" } }]);
    expect(spans.find((s) => s !== unread)!.outputs).toEqual(json(res));
  });

  it("nests under the caller's span and keeps concurrent calls (streamed and not) apart", async () => {
    const client = tracedOpenAI(raw());
    const ask = (content: string) => client.chat.completions.create({ model: "demo-mini", messages: [{ role: "user", content }] });
    const streamed = async (content: string) => {
      let text = "";
      for await (const c of await client.chat.completions.create({ model: "demo-mini", messages: [{ role: "user", content }], stream: true })) text += c.choices[0]?.delta?.content ?? "";
      return text;
    };
    const answers = await mlflow.withSpan(
      async () => Promise.all([ask("first"), streamed("second"), ask("third"), streamed("fourth")]),
      { name: "agent", spanType: mlflow.SpanType.AGENT },
    );
    const t = await only();
    const byId = new Map(t.data.spans.map((s) => [s.spanId, s]));
    const rows = t.data.spans.map((s) => {
      const q = (s.inputs as { messages?: { content: string }[] } | undefined)?.messages?.[0]?.content ?? null;
      const out = s.outputs as { choices?: { message: { content: string } }[] } | undefined;
      return [s.spanType, s.parentId ? byId.get(s.parentId)!.name : null, q, out?.choices?.[0]?.message.content ?? null, s.events.length > 0];
    });
    const texts = [answers[0].choices[0]!.message.content, answers[1], answers[2].choices[0]!.message.content, answers[3]];
    expect(texts.map((x, i) => x!.includes(["first", "second", "third", "fourth"][i]!))).toEqual([true, true, true, true]);
    expect(rows).toEqual([
      ["AGENT", null, null, null, false],
      ["CHAT_MODEL", "agent", "first", texts[0], false],
      ["CHAT_MODEL", "agent", "second", texts[1], true],
      ["CHAT_MODEL", "agent", "third", texts[2], false],
      ["CHAT_MODEL", "agent", "fourth", texts[3], true],
    ]);
  });
});

describe("the client's promise and stream keep their methods", () => {
  it("returns the client's APIPromise: withResponse() gives data and the Response, and the call is traced", async () => {
    const client = tracedOpenAI(raw());
    const p = client.chat.completions.create({ model: "demo-mini", messages: [question] });
    expect(p).toBeInstanceOf(APIPromise);
    const { data, response, request_id } = await p.withResponse();
    expect(response.status).toBe(200);
    expect(request_id).toBeNull();
    expect((await only()).data.spans[0]!.outputs).toEqual(json(data));
  });

  it("asResponse() leaves the body unread for the caller; the span still records the JSON and its usage", async () => {
    const client = tracedOpenAI(raw());
    const response = await client.chat.completions.create({ model: "demo-mini", messages: [system, question] }).asResponse();
    expect(response.bodyUsed).toBe(false);
    const body = (await response.json()) as { choices: { message: { content: string } }[]; usage: { total_tokens: number } };
    expect(body.choices[0]!.message.content).toBe(ANSWER);
    const span = (await only()).data.spans[0]!;
    expect(span.outputs).toEqual(body);
    expect(span.attributes["mlflow.chat.tokenUsage"]).toMatchObject({ total_tokens: body.usage.total_tokens });
  });

  it("asResponse() on a stream: the caller reads the raw SSE, the span keeps its chunks and the aggregated completion", async () => {
    const client = tracedOpenAI(raw());
    const response = await client.chat.completions.create({ model: "demo-mini", messages: [system, question], stream: true }).asResponse();
    const sse = await response.text();
    const chunks = sse.split("\n\n").filter((e) => e && e !== "data: [DONE]").map((e) => JSON.parse(e.slice(6)) as unknown);
    const span = (await only()).data.spans[0]!;
    expect(chunkValues(span)).toEqual(chunks);
    expect((span.outputs as { choices: { message: { content: string } }[] }).choices[0]!.message.content).toBe(ANSWER);
  });

  it("asResponse() on a stream: cancelling the body cancels the request, as untraced (the model stops), and the span ends with what was read", async () => {
    let served = 0;
    let cancelled = false;
    const chunk = (i: number) => `data: ${JSON.stringify({ id: "c1", object: "chat.completion.chunk", created: 1, model: "m", choices: [{ index: 0, delta: { content: `w${i} ` }, finish_reason: null }] })}\n\n`;
    const client = tracedOpenAI(new OpenAI({
      apiKey: "unused", baseURL: "http://llm.local/v1", maxRetries: 0,
      fetch: async () => new Response(new ReadableStream({
        pull(controller) { controller.enqueue(new TextEncoder().encode(chunk(served++))); if (served === 200) controller.close(); },
        cancel() { cancelled = true; },
      }, { highWaterMark: 0 }), { headers: { "content-type": "text/event-stream" } }),
    }));
    const response = await client.chat.completions.create({ model: "m", messages: [question], stream: true }).asResponse();
    const reader = response.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toBe(chunk(0));
    await reader.cancel();
    expect(cancelled).toBe(true);
    expect(served).toBeLessThan(5);
    const span = (await only()).data.spans[0]!;
    expect(chunkValues(span)).toHaveLength(1);
    expect(span.events.at(-1)).toMatchObject({ name: "cancelled", attributes: { reason: "response body cancelled" } });
    expect((span.outputs as { choices: { message: { content: string } }[] }).choices[0]!.message.content).toBe("w0 ");
  });

  it("asResponse() on a stream: the same Response each call, where the request went, and a body never read ends its span after openSpanTimeoutMs", async () => {
    mlflow.init({ exporter, silent: true, openSpanTimeoutMs: 300 });
    const client = tracedOpenAI(new OpenAI({
      apiKey: "unused", baseURL: "http://llm.local/v1", maxRetries: 0,
      // As a real fetch answers: the Response knows the URL it came from.
      fetch: async (url, init) => Object.defineProperty(await fakeLlm(new Request(url as string, init as RequestInit)), "url", { value: String(url) }),
    }));
    const call = client.chat.completions.create({ model: "demo-mini", messages: [question], stream: true });
    const response = await call.asResponse();
    expect(await call.asResponse()).toBe(response);
    expect([response.url, response.redirected, response.status, response.headers.get("content-type")]).toEqual(["http://llm.local/v1/chat/completions", false, 200, expect.stringContaining("text/event-stream")]);
    await vi.waitFor(async () => {
      await mlflow.flushTraces();
      expect(exporter.traces).toHaveLength(1);
    }, { timeout: 3_000 });
    expect((await only()).data.spans[0]!.events).toMatchObject([{ name: "cancelled", attributes: { reason: "stream not read within 300 ms" } }]);
  });

  it("asResponse() with a custom fetch whose body is a Node stream (node-fetch): read from a clone; never read, the span ends after openSpanTimeoutMs", async () => {
    const { Readable, PassThrough } = await import("node:stream");
    mlflow.init({ exporter, silent: true, openSpanTimeoutMs: 300 });
    const sse = Array.from({ length: 2000 }, (_, i) => `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 1, model: "m", choices: [{ index: 0, delta: { content: `w${i} ` }, finish_reason: null }] })}\n\n`);
    // node-fetch v2's Response: a Node stream body, a clone piped from it (one backpressure for both).
    class NodeFetchResponse {
      ok = true; status = 200; statusText = "OK"; url = "http://llm.local/v1/chat/completions";
      headers = new Headers({ "content-type": "text/event-stream" });
      constructor(public body: InstanceType<typeof PassThrough> | InstanceType<typeof Readable>) {}
      clone() {
        const [a, b] = [new PassThrough(), new PassThrough()];
        this.body.pipe(a);
        this.body.pipe(b);
        this.body = a;
        return new NodeFetchResponse(b);
      }
      async text() { let out = ""; for await (const c of this.body) out += String(c); return out; }
    }
    const client = tracedOpenAI(new OpenAI({ apiKey: "x", baseURL: "http://llm.local/v1", maxRetries: 0, fetch: async () => new NodeFetchResponse(Readable.from(sse.map((e) => Buffer.from(e)))) as unknown as Response }));
    await client.chat.completions.create({ model: "m", messages: [question], stream: true }).asResponse();
    await vi.waitFor(async () => {
      await mlflow.flushTraces();
      expect(exporter.traces).toHaveLength(1);
    }, { timeout: 3_000 });
    expect((await only()).data.spans[0]!.events.at(-1)).toMatchObject({ name: "cancelled", attributes: { reason: "body not read within 300 ms" } });
  });

  it("tee() and toReadableStream() read through the traced stream once", async () => {
    const client = tracedOpenAI(raw());
    const [left, right] = (await client.chat.completions.create({ model: "demo-mini", messages: [system, question], stream: true })).tee();
    const read = async (s: AsyncIterable<OpenAI.ChatCompletionChunk>) => {
      let text = "";
      for await (const c of s) text += c.choices[0]?.delta?.content ?? "";
      return text;
    };
    expect(await Promise.all([read(left), read(right)])).toEqual([ANSWER, ANSWER]);
    const teed = (await only()).data.spans[0]!;
    expect((teed.outputs as { choices: { message: { content: string } }[] }).choices[0]!.message.content).toBe(ANSWER);

    const readable = (await client.chat.completions.create({ model: "demo-mini", messages: [system, question], stream: true })).toReadableStream();
    const back = Stream.fromReadableStream<OpenAI.ChatCompletionChunk>(readable, new AbortController());
    expect(await read(back)).toBe(ANSWER);
    const piped = (await only()).data.spans[0]!;
    expect(piped.events.length).toBe(teed.events.length);
    expect((piped.outputs as { choices: { message: { content: string } }[] }).choices[0]!.message.content).toBe(ANSWER);
  });

  it("trace() around the plain client's streamed call: toReadableStream() and tee() read through the traced stream, the span ends", async () => {
    const client = raw();
    const llm = mlflow.trace(async function llm(q: string) {
      return client.chat.completions.create({ model: "demo-mini", messages: [system, { role: "user", content: q }], stream: true });
    }, { spanType: mlflow.SpanType.CHAT_MODEL });
    const stream = await llm("What is mlflow-edge?");
    expect(stream).toBeInstanceOf(Stream); // the client's own object, not a proxy
    const body = await new Response(stream.toReadableStream()).text(); // the usual Next.js / Workers relay
    const relayed = (await only()).data.spans[0]!;
    expect(relayed.endTime).not.toBeNull();
    expect(chunkValues(relayed)).toEqual(body.trim().split("\n").map((line) => JSON.parse(line) as unknown));

    const [left, right] = (await llm("again")).tee();
    for await (const _ of left) { /* read */ }
    for await (const _ of right) { /* read */ }
    const teed = (await only()).data.spans[0]!;
    expect(teed.endTime).not.toBeNull();
    expect(teed.events.length).toBe(relayed.events.length);
  });

  it("trace() around tracedOpenAI's streamed call: toReadableStream() and tee() record into both spans, the outer ending after the inner", async () => {
    const client = tracedOpenAI(raw());
    const answer = mlflow.trace(async function answer(q: string) {
      return client.chat.completions.create({ model: "demo-mini", messages: [system, { role: "user", content: q }], stream: true });
    });
    for (const read of [
      async (s: Stream<unknown>) => new Response(s.toReadableStream()).text(),
      async (s: Stream<unknown>) => {
        const [left, right] = s.tee();
        for await (const _ of left) { /* read */ }
        for await (const _ of right) { /* read */ }
      },
    ]) {
      const stream = await answer("What is mlflow-edge?");
      expect(stream).toBeInstanceOf(Stream);
      await read(stream as Stream<unknown>);
      const [outer, inner] = (await only()).data.spans;
      expect([outer!.name, inner!.name]).toEqual(["answer", "Completions"]);
      expect(inner!.events.length).toBeGreaterThan(1);
      expect(outer!.events.length).toBe(inner!.events.length);
      expect((outer!.outputs as unknown[]).length).toBe(inner!.events.length);
      expect(outer!.endTime!).toBeGreaterThanOrEqual(inner!.endTime!);
    }
  });

  it("aborted before anyone reads it inside trace(): both spans end and the trace is exported, whatever openSpanTimeoutMs", async () => {
    for (const openSpanTimeoutMs of [undefined, 0]) {
      mlflow.init({ exporter, silent: true, openSpanTimeoutMs });
      const client = tracedOpenAI(raw());
      const answer = mlflow.trace(async function answer() {
        return client.chat.completions.create({ model: "demo-mini", messages: [question], stream: true });
      });
      (await answer()).controller.abort();
      const spans = (await only()).data.spans;
      expect(spans.map((sp) => [sp.name, sp.endTime !== null])).toEqual([["answer", true], ["Completions", true]]);
    }
  });

  it("aborted before it is read after passing through a sibling traced helper: every span ends; a read stream leaves no abort listener behind", async () => {
    mlflow.init({ exporter, silent: true, openSpanTimeoutMs: 0 });
    // The fake's Request does not follow the SDK's signal: such a Request keeps a listener on it until
    // it is garbage-collected (openai 7), which would make the counts below depend on the collector.
    const unlinked = () => new OpenAI({ apiKey: "unused", baseURL: "http://llm.local/v1", maxRetries: 0, fetch: (url, init) => fakeLlm(new Request(url as string, { ...(init as RequestInit), signal: null }), { chunkDelayMs: 1 }) });
    const client = tracedOpenAI(unlinked());
    const guard = mlflow.trace(async function guard(s: unknown) { return s; }); // a sibling of the model call
    const answer = mlflow.trace(async function answer() {
      return guard(await client.chat.completions.create({ model: "demo-mini", messages: [question], stream: true }));
    });
    ((await answer()) as Stream<unknown>).controller.abort();
    expect((await only()).data.spans.map((sp) => [sp.name, sp.endTime !== null])).toEqual([["answer", true], ["Completions", true], ["guard", true]]);

    // Read to the end, the stream's signal keeps no listener of ours (a signal shared by many calls would keep every stream alive).
    const plain = await unlinked().chat.completions.create({ model: "demo-mini", messages: [question], stream: true });
    for await (const _ of plain) { /* read */ }
    const traced = (await answer()) as Stream<unknown>;
    for await (const _ of traced) { /* read */ }
    await only();
    const listeners = (signal: AbortSignal) => EventEmitter.getEventListeners(signal, "abort").length;
    expect(listeners(traced.controller.signal)).toBe(listeners(plain.controller.signal));
    // Nor one never read, once its span has ended unread.
    mlflow.init({ exporter, silent: true, openSpanTimeoutMs: 20 });
    const unread = (await answer()) as Stream<unknown>;
    await sleep(60);
    await only();
    expect(listeners(unread.controller.signal)).toBe(listeners(plain.controller.signal));
  });

  it("a stream aborted before anyone reads it ends its span, with no outputs", async () => {
    const client = tracedOpenAI(raw());
    const stream = await client.chat.completions.create({ model: "demo-mini", messages: [question], stream: true });
    stream.controller.abort();
    const span = (await only()).data.spans[0]!;
    expect(span.endTime).not.toBeNull();
    expect(span.outputs).toBeUndefined();
    expect(span.events).toEqual([]);
  });
});

describe("responses.create and embeddings.create", () => {
  it("responses: CHAT_MODEL with usage and previews; streamed, the outputs are the completed response", async () => {
    const client = tracedOpenAI(raw());
    const r = await client.responses.create({ model: "demo-mini", input: [system, question] });
    expect(r.output_text).toBe(ANSWER);
    const t = await only();
    expect(t.data.spans[0]).toMatchObject({ name: "Responses", spanType: "CHAT_MODEL", inputs: { model: "demo-mini", input: [system, question] } });
    expect(t.data.spans[0]!.attributes["mlflow.chat.tokenUsage"]).toEqual({ input_tokens: r.usage!.input_tokens, output_tokens: r.usage!.output_tokens, total_tokens: r.usage!.total_tokens });
    expect([t.info.requestPreview, t.info.responsePreview]).toEqual(["What is mlflow-edge?", ANSWER]);

    const stream = await client.responses.create({ model: "demo-mini", input: [system, question], stream: true });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    const s = (await only()).data.spans[0]!;
    expect(s.events).toHaveLength(types.length);
    const { output_text: _, ...plain } = json(r) as Record<string, unknown>;
    expect(s.outputs).toEqual(plain);
    expect(s.attributes["mlflow.chat.tokenUsage"]).toEqual(t.data.spans[0]!.attributes["mlflow.chat.tokenUsage"]);
  });

  it("embeddings: an EMBEDDING span with the decoded vectors and input-only token usage", async () => {
    const client = tracedOpenAI(raw());
    const e = await client.embeddings.create({ model: "demo-embed", input: ["a", "b"] });
    expect(e.data.map((d) => d.embedding.length)).toEqual([8, 8]);
    const span = (await only()).data.spans[0]!;
    expect(span).toMatchObject({ name: "Embeddings", spanType: "EMBEDDING", inputs: { model: "demo-embed", input: ["a", "b"] } });
    expect(span.outputs).toEqual(json(e));
    expect(span.attributes["mlflow.chat.tokenUsage"]).toEqual({ input_tokens: e.usage.prompt_tokens, output_tokens: 0, total_tokens: e.usage.total_tokens });
  });
});

describe("everything else passes through", () => {
  it("untraced methods and properties are the client's own and record nothing; options add attributes", async () => {
    const original = raw();
    const client = tracedOpenAI(original, { attributes: { "mlflow.llm.provider": "demo", team: "edge" } });
    expect(client.baseURL).toBe("http://llm.local/v1");
    expect(client.chat).toBe(client.chat);
    expect(client.chat.completions.create).toBe(client.chat.completions.create);
    expect(client.chat.completions.create).not.toBe(original.chat.completions.create);
    expect(client.models).toBe(original.models);
    const viaPost = await client.post<{ choices: { message: { content: string } }[] }>("/chat/completions", { body: { model: "demo-mini", messages: [question] } });
    expect(viaPost.choices[0]!.message.content).toContain("What is mlflow-edge?");
    await mlflow.flushTraces();
    expect(exporter.drain()).toHaveLength(0);
    await client.chat.completions.create({ model: "demo-mini", messages: [question] });
    expect((await only()).data.spans[0]!.attributes).toMatchObject({ "mlflow.llm.provider": "demo", team: "edge", "mlflow.message.format": "openai" });
  });

  it("withOptions() gives a client with those options that is traced the same way", async () => {
    const client = tracedOpenAI(raw(), { attributes: { team: "edge" } }).withOptions({ timeout: 5_000, defaultHeaders: { "x-extra": "1" } });
    expect(client.timeout).toBe(5_000);
    await client.chat.completions.create({ model: "demo-mini", messages: [question] });
    expect((await only()).data.spans[0]).toMatchObject({ name: "Completions", spanType: "CHAT_MODEL", attributes: { team: "edge" } });
  });
});
