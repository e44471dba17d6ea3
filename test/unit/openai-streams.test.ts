// tracedOpenAI() against canned server answers (the client's own fetch option, no network): streamed
// chat folded as the openai SDK's own accumulator folds the same bytes, Responses streams cut short
// or failing, in-stream errors, retries, timeouts, secrets, concurrency.
import OpenAI from "openai";
import { VERSION } from "openai/version";
import { beforeEach, describe, expect, it, vi } from "vitest";
import * as mlflow from "../../core/index.js";
import { tokenUsage, tracedOpenAI } from "../../openai/index.js";

// These tests run against openai 6 (project core) and 7 (project openai7); where the SDK itself
// behaves differently, the test says which major does what.
const SDK_MAJOR = Number(VERSION.split(".")[0]);

let exporter: mlflow.InMemoryExporter;
beforeEach(() => {
  exporter = new mlflow.InMemoryExporter();
  mlflow.init({ exporter, silent: true });
});
async function only() {
  await mlflow.flushTraces();
  const traces = exporter.drain();
  expect(traces).toHaveLength(1);
  return traces[0]!;
}
const json = (v: unknown) => JSON.parse(JSON.stringify(v)) as any;
const sseOf = (events: unknown[], done = true) => events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join("") + (done ? "data: [DONE]\n\n" : "");
const cannedClient = (body: () => string | Response, extra: Partial<ConstructorParameters<typeof OpenAI>[0]> = {}) =>
  new OpenAI({
    apiKey: "sk-secret-key-123", baseURL: "http://llm.local/v1", maxRetries: 0,
    fetch: async () => { const b = body(); return typeof b === "string" ? new Response(b, { headers: { "content-type": "text/event-stream" } }) : b; },
    ...extra,
  });
const base = { id: "chatcmpl-1", object: "chat.completion.chunk", created: 1, model: "gpt-4o-2024-08-06" };
const question = { role: "user" as const, content: "hi" };

/** The span's outputs next to the openai SDK's own accumulation of the same SSE (ChatCompletionStream). */
async function bothWays(events: unknown[], params: Record<string, unknown> = {}) {
  const sse = sseOf(events);
  const traced = tracedOpenAI(cannedClient(() => sse));
  for await (const _ of await traced.chat.completions.create({ model: "gpt-4o", messages: [question], stream: true, ...params } as any) as any) { /* read */ }
  const span = (await only()).data.spans[0]!;
  const sdk = await cannedClient(() => sse).chat.completions.stream({ model: "gpt-4o", messages: [question], ...params } as any).finalChatCompletion();
  return { outputs: span.outputs as any, sdk: json(sdk), span };
}

describe("streamed chat aggregation vs the SDK's own accumulator", () => {
  it("logprobs requested: the folded completion keeps each choice's logprobs", async () => {
    const lp = (t: string) => ({ token: t, logprob: -0.1, bytes: [...Buffer.from(t)], top_logprobs: [] });
    const events = [
      { ...base, choices: [{ index: 0, delta: { role: "assistant", content: "Hel" }, logprobs: { content: [lp("Hel")], refusal: null }, finish_reason: null }] },
      { ...base, choices: [{ index: 0, delta: { content: "lo" }, logprobs: { content: [lp("lo")], refusal: null }, finish_reason: null }] },
      { ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: "stop" }] },
    ];
    const { outputs } = await bothWays(events, { logprobs: true });
    // (the SDK's own accumulator doubles the first chunk's tokens, an SDK bug: not used as the oracle here)
    expect(outputs.choices[0].logprobs).toEqual({ content: [lp("Hel"), lp("lo")], refusal: null });
  });

  it("an answer streamed as empty deltas only folds to content null, as MLflow's Python reducer and openai 6's accumulator give it", async () => {
    const events = [
      { ...base, choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] },
      { ...base, choices: [{ index: 0, delta: { content: "" }, finish_reason: "stop" }] },
    ];
    const { outputs, sdk } = await bothWays(events);
    expect(sdk.choices[0].message.content).toBe(SDK_MAJOR >= 7 ? "" : null); // openai 7 keeps an empty content it was sent
    expect(outputs.choices[0].message).toEqual({ role: "assistant", content: null });
  });

  it("token usage as MLflow's OpenAI integration reads it: a cache count of 0 is kept, cache_creation_input_tokens too", async () => {
    const usage = { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12, prompt_tokens_details: { cached_tokens: 0 } };
    const { span } = await bothWays([{ ...base, choices: [{ index: 0, delta: { role: "assistant", content: "ok" }, finish_reason: "stop" }] }, { ...base, choices: [], usage }]);
    expect(span.attributes["mlflow.chat.tokenUsage"]).toEqual({ input_tokens: 9, output_tokens: 3, total_tokens: 12, cache_read_input_tokens: 0 });
    // An OpenAI-compatible server reporting its cache as Anthropic does.
    expect(tokenUsage({ prompt_tokens: 9, completion_tokens: 3, total_tokens: 12, cache_read_input_tokens: 5, cache_creation_input_tokens: 2 }))
      .toEqual({ input_tokens: 9, output_tokens: 3, total_tokens: 12, cache_read_input_tokens: 5, cache_creation_input_tokens: 2 });
    expect(tokenUsage({ input_tokens: 9, output_tokens: 3, total_tokens: 12, input_tokens_details: { cached_tokens: 0 } })).toMatchObject({ cache_read_input_tokens: 0 });
  });

  it("legacy `functions` streaming: delta.function_call is merged into message.function_call", async () => {
    const events = [
      { ...base, choices: [{ index: 0, delta: { role: "assistant", content: null, function_call: { name: "get_weather", arguments: "" } }, finish_reason: null }] },
      { ...base, choices: [{ index: 0, delta: { function_call: { arguments: '{"city":' } }, finish_reason: null }] },
      { ...base, choices: [{ index: 0, delta: { function_call: { arguments: '"Paris"}' } }, finish_reason: null }] },
      { ...base, choices: [{ index: 0, delta: {}, finish_reason: "function_call" }] },
    ];
    const { outputs, sdk } = await bothWays(events, { functions: [{ name: "get_weather", parameters: { type: "object" } }] });
    expect(sdk.choices[0].message.function_call).toEqual({ name: "get_weather", arguments: '{"city":"Paris"}' });
    expect(outputs.choices[0].message.function_call).toEqual(sdk.choices[0].message.function_call);
  });

  it("a provider that repeats the tool name in every delta: the name is not doubled", async () => {
    const tc = (args: string) => ({ index: 0, id: "call_1", type: "function", function: { name: "get_weather", arguments: args } });
    const events = [
      { ...base, choices: [{ index: 0, delta: { role: "assistant", tool_calls: [tc("")] }, finish_reason: null }] },
      { ...base, choices: [{ index: 0, delta: { tool_calls: [tc('{"city":')] }, finish_reason: null }] },
      { ...base, choices: [{ index: 0, delta: { tool_calls: [tc('"Paris"}')] }, finish_reason: "tool_calls" }] },
    ];
    const { outputs, sdk } = await bothWays(events);
    expect(sdk.choices[0].message.tool_calls[0].function.name).toBe("get_weather");
    expect(outputs.choices[0].message.tool_calls[0].function.name).toBe("get_weather");
  });

  it("a server that sends each tool call whole, without index: two calls stay two", async () => {
    const call = (id: string, name: string, args: string) => ({ id, type: "function", function: { name, arguments: args } });
    const events = [
      { ...base, choices: [{ index: 0, delta: { role: "assistant", tool_calls: [call("call_a", "get_weather", '{"city":"Paris"}')] }, finish_reason: null }] },
      { ...base, choices: [{ index: 0, delta: { tool_calls: [call("call_b", "get_time", '{"tz":"CET"}')] }, finish_reason: "tool_calls" }] },
    ];
    const traced = tracedOpenAI(cannedClient(() => sseOf(events)));
    for await (const _ of await traced.chat.completions.create({ model: "m", messages: [question], stream: true })) { /* read */ }
    const outputs = (await only()).data.spans[0]!.outputs as any;
    expect(outputs.choices[0].message.tool_calls.map((t: any) => [t.id, t.function.name, t.function.arguments])).toEqual([
      ["call_a", "get_weather", '{"city":"Paris"}'],
      ["call_b", "get_time", '{"tz":"CET"}'],
    ]);
  });

  it("a refusal-only answer: content is null as in the non-streamed message", async () => {
    const events = [
      { ...base, choices: [{ index: 0, delta: { role: "assistant", content: null, refusal: "" }, finish_reason: null }] },
      { ...base, choices: [{ index: 0, delta: { refusal: "I can't " }, finish_reason: null }] },
      { ...base, choices: [{ index: 0, delta: { refusal: "help with that." }, finish_reason: null }] },
      { ...base, choices: [{ index: 0, delta: {}, finish_reason: "stop" }] },
    ];
    const { outputs, sdk } = await bothWays(events);
    expect(sdk.choices[0].message).toMatchObject({ content: null, refusal: "I can't help with that." });
    expect(outputs.choices[0].message).toMatchObject({ content: null, refusal: "I can't help with that." });
  });

  it("audio output, url annotations and the chunk's service_tier are kept as the SDK keeps them (before: an audio answer folded to content null)", async () => {
    const annotations = [{ type: "url_citation", url_citation: { url: "https://example.com", title: "Example", start_index: 0, end_index: 5 } }];
    const events = [
      { ...base, service_tier: "default", choices: [{ index: 0, delta: { role: "assistant", content: null, audio: { id: "audio_1", transcript: "Hel", data: "AAA" } }, finish_reason: null }] },
      { ...base, service_tier: "default", choices: [{ index: 0, delta: { audio: { transcript: "lo", data: "BBB" } }, finish_reason: null }] },
      { ...base, service_tier: "default", choices: [{ index: 0, delta: { annotations, audio: { expires_at: 1700000000 } }, finish_reason: "stop" }] },
    ];
    const { outputs, sdk } = await bothWays(events, { modalities: ["text", "audio"], audio: { voice: "alloy", format: "pcm16" } });
    expect(sdk.choices[0].message.audio).toEqual({ id: "audio_1", transcript: "Hello", data: "AAABBB", expires_at: 1700000000 });
    expect(outputs.choices[0].message.audio).toEqual(sdk.choices[0].message.audio);
    expect(outputs.choices[0].message.annotations).toEqual(annotations);
    expect(outputs.service_tier).toBe("default");
  });

  it("a delta's other text (reasoning_content, as DeepSeek's and vLLM's servers stream it) is joined; a \"__proto__\" key in a delta stays out of the message's prototype", async () => {
    const events = [
      { ...base, choices: [{ index: 0, delta: { role: "assistant", reasoning_content: "First, " }, finish_reason: null }] },
      { ...base, choices: [{ index: 0, delta: { reasoning_content: "think." }, finish_reason: null }] },
      { ...base, choices: [{ index: 0, delta: JSON.parse('{"content":"42","__proto__":{"polluted":true}}'), finish_reason: "stop" }] },
    ];
    const traced = tracedOpenAI(cannedClient(() => sseOf(events)));
    for await (const _ of await traced.chat.completions.create({ model: "m", messages: [question], stream: true })) { /* read */ }
    const message = ((await only()).data.spans[0]!.outputs as any).choices[0].message;
    expect(message).toEqual({ role: "assistant", content: "42", reasoning_content: "First, think." });
    expect(Object.getPrototypeOf(message)).toBe(Object.prototype);
  });

  it("n=2 with two parallel tool calls each, args split, usage at the end: same as the SDK", async () => {
    const t = (i: number, ti: number, extra: object) => ({ index: i, delta: { tool_calls: [{ index: ti, ...extra }] }, finish_reason: null });
    const events = [
      { ...base, choices: [{ index: 0, delta: { role: "assistant", content: null }, finish_reason: null }, { index: 1, delta: { role: "assistant", content: null }, finish_reason: null }] },
      { ...base, choices: [t(0, 0, { id: "a0", type: "function", function: { name: "f", arguments: "" } }), t(1, 0, { id: "b0", type: "function", function: { name: "g", arguments: "" } })] },
      { ...base, choices: [t(0, 1, { id: "a1", type: "function", function: { name: "h", arguments: "{" } })] },
      { ...base, choices: [t(0, 0, { function: { arguments: '{"x":1}' } }), t(1, 0, { function: { arguments: '{"y":' } })] },
      { ...base, choices: [t(0, 1, { function: { arguments: "}" } }), t(1, 0, { function: { arguments: "2}" } })] },
      { ...base, choices: [{ index: 0, delta: {}, finish_reason: "tool_calls" }, { index: 1, delta: {}, finish_reason: "tool_calls" }] },
      { ...base, choices: [], usage: { prompt_tokens: 10, completion_tokens: 20, total_tokens: 30, prompt_tokens_details: { cached_tokens: 4 }, completion_tokens_details: { reasoning_tokens: 5 } } },
    ];
    const { outputs, sdk, span } = await bothWays(events, { n: 2, stream_options: { include_usage: true } });
    const strip = (c: any) => c.map((x: any) => ({ index: x.index, finish_reason: x.finish_reason, message: { role: x.message.role, content: x.message.content ?? null, tool_calls: x.message.tool_calls } }));
    expect(strip(outputs.choices)).toEqual(strip(sdk.choices));
    expect(outputs.usage).toEqual(sdk.usage);
    expect(span.attributes["mlflow.chat.tokenUsage"]).toEqual({ input_tokens: 10, output_tokens: 20, total_tokens: 30, cache_read_input_tokens: 4 });
  });
});

describe("legacy completions (client.completions.create)", () => {
  const completion = { id: "cmpl-1", object: "text_completion", created: 1, model: "gpt-3.5-turbo-instruct", choices: [{ index: 0, text: "Hello there", finish_reason: "stop", logprobs: null }], usage: { prompt_tokens: 4, completion_tokens: 2, total_tokens: 6 } };
  const chunk = (text: string, extra: Record<string, unknown> = {}) => ({ id: "cmpl-1", object: "text_completion", created: 1, model: "gpt-3.5-turbo-instruct", choices: [{ index: 0, text, finish_reason: null, logprobs: null }], ...extra });

  it("an LLM span named Completions (as MLflow's autolog types it), the response as outputs, usage and model recorded (before: untraced)", async () => {
    const client = tracedOpenAI(cannedClient(() => new Response(JSON.stringify(completion), { headers: { "content-type": "application/json" } })));
    const r = await client.completions.create({ model: "gpt-3.5-turbo-instruct", prompt: "Say hello" });
    expect(r.choices[0]!.text).toBe("Hello there");
    const span = (await only()).data.spans[0]!;
    expect(span).toMatchObject({ name: "Completions", spanType: "LLM", inputs: { model: "gpt-3.5-turbo-instruct", prompt: "Say hello" }, outputs: completion });
    expect(span.attributes).toMatchObject({ "mlflow.chat.tokenUsage": { input_tokens: 4, output_tokens: 2, total_tokens: 6 }, "mlflow.llm.model": "gpt-3.5-turbo-instruct", "mlflow.message.format": "openai" });
  });

  it("streamed: each chunk an event, the outputs the first choice's text joined (as MLflow's Python reducer gives it), usage from the last chunk", async () => {
    const events = [chunk("Hel"), chunk("lo"), chunk("", { choices: [], usage: completion.usage })];
    const client = tracedOpenAI(cannedClient(() => sseOf(events)));
    const read: string[] = [];
    for await (const c of await client.completions.create({ model: "gpt-3.5-turbo-instruct", prompt: "Say hello", stream: true, stream_options: { include_usage: true } })) read.push(c.choices[0]?.text ?? "");
    expect(read.join("")).toBe("Hello");
    const span = (await only()).data.spans[0]!;
    expect(span).toMatchObject({ name: "Completions", spanType: "LLM", outputs: "Hello" });
    expect(span.events.map((e) => e.name)).toEqual(["mlflow.chunk.item.0", "mlflow.chunk.item.1", "mlflow.chunk.item.2"]);
    expect(span.attributes["mlflow.chat.tokenUsage"]).toEqual({ input_tokens: 4, output_tokens: 2, total_tokens: 6 });
  });
});

describe("secrets", () => {
  it("Authorization passed per request and the API key never reach a span", async () => {
    let seen = "";
    const client = tracedOpenAI(new OpenAI({ apiKey: "sk-secret-key-1234567890abcdef", baseURL: "http://llm.local/v1", maxRetries: 0, fetch: async (_u, init) => { seen = new Headers(init?.headers).get("authorization") ?? ""; return new Response(JSON.stringify({ error: { message: "bad key", type: "invalid_request_error" } }), { status: 401, headers: { "content-type": "application/json" } }); } }));
    const error = await client.chat.completions.create({ model: "m", messages: [question] }, { headers: { "X-Extra-Auth": "Bearer other-secret-xyz" } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(seen).toContain("sk-secret-key");
    const text = JSON.stringify((await only()).data.spans);
    expect(text).not.toContain("sk-secret-key");
    expect(text).not.toContain("other-secret-xyz");
  });
});

describe("errors, retries, timeouts", () => {
  it("a 500 retried twice then 200: one span, OK, outputs of the final response", async () => {
    let calls = 0;
    const client = tracedOpenAI(new OpenAI({ apiKey: "x", baseURL: "http://llm.local/v1", maxRetries: 2, fetch: async () => {
      calls++;
      if (calls < 3) return new Response(JSON.stringify({ error: { message: "boom", type: "server_error" } }), { status: 500, headers: { "content-type": "application/json", "retry-after-ms": "1" } });
      return new Response(JSON.stringify({ id: "c", object: "chat.completion", created: 1, model: "m", choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }), { headers: { "content-type": "application/json" } });
    } }));
    const r = await client.chat.completions.create({ model: "m", messages: [question] });
    expect(r.choices[0]!.message.content).toBe("ok");
    expect(calls).toBe(3);
    const t = await only();
    expect(t.data.spans).toHaveLength(1);
    expect(t.data.spans[0]!.status.statusCode).toBe("STATUS_CODE_OK");
  });
  it("a timeout: ERROR with APIConnectionTimeoutError, rethrown as is", async () => {
    const client = tracedOpenAI(new OpenAI({ apiKey: "x", baseURL: "http://llm.local/v1", maxRetries: 0, timeout: 50, fetch: (_u, init) => new Promise((_, reject) => init?.signal?.addEventListener("abort", () => reject(Object.assign(new Error("aborted"), { name: "AbortError" })))) }));
    const error = await client.chat.completions.create({ model: "m", messages: [question] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
    const span = (await only()).data.spans[0]!;
    expect(span.status.statusCode).toBe("STATUS_CODE_ERROR");
    expect(span.events[0]!.attributes["exception.type"]).toBe("APIConnectionTimeoutError");
  });
});

describe("stream shapes", () => {
  const chunks = Array.from({ length: 6 }, (_, i) => ({ ...base, choices: [{ index: 0, delta: i === 0 ? { role: "assistant", content: `w${i} ` } : { content: `w${i} ` }, finish_reason: i === 5 ? "stop" : null }] }));
  it("withResponse() on a stream: the data stream is traced", async () => {
    const client = tracedOpenAI(cannedClient(() => sseOf(chunks)));
    const { data, response } = await client.chat.completions.create({ model: "m", messages: [question], stream: true }).withResponse();
    expect(response.status).toBe(200);
    let text = "";
    for await (const c of data) text += c.choices[0]?.delta?.content ?? "";
    const span = (await only()).data.spans[0]!;
    expect((span.outputs as any).choices[0].message.content).toBe(text);
  });
  it("controller.abort() mid-stream: the span ends with what was read", async () => {
    let signal: AbortSignal | undefined;
    const slow = () => { let i = 0; const enc = new TextEncoder(); return new Response(new ReadableStream({ start(c) { signal?.addEventListener("abort", () => c.error(Object.assign(new Error("This operation was aborted"), { name: "AbortError" }))); }, async pull(c) { await new Promise((r) => setTimeout(r, 5)); if (i < chunks.length) c.enqueue(enc.encode(sseOf([chunks[i++]], false))); else { c.enqueue(enc.encode("data: [DONE]\n\n")); c.close(); } } }), { headers: { "content-type": "text/event-stream" } }); };
    const client = tracedOpenAI(cannedClient(slow, { fetch: async (_u, init) => { signal = init?.signal ?? undefined; return slow(); } }));
    const stream = await client.chat.completions.create({ model: "m", messages: [question], stream: true });
    let n = 0;
    for await (const _ of stream) if (++n === 2) stream.controller.abort();
    const span = (await only()).data.spans[0]!;
    expect(span.endTime).not.toBeNull();
    expect(n).toBe(2);
  });
  it("aborted, then the chunks already received read on, slowly: the span keeps every chunk read", async () => {
    const client = tracedOpenAI(cannedClient(() => sseOf(chunks)));
    const stream = await client.chat.completions.create({ model: "m", messages: [question], stream: true });
    let text = "";
    for await (const chunk of stream) {
      if (!text) stream.controller.abort();
      text += chunk.choices[0]?.delta?.content ?? "";
      await new Promise((r) => setTimeout(r, 20));
    }
    const span = (await only()).data.spans[0]!;
    expect((span.outputs as any).choices[0].message.content).toBe(text);
    // openai 6 hands out the chunks it had received; 7 stops at the abort.
    expect(text).toBe(SDK_MAJOR >= 7 ? "w0 " : "w0 w1 w2 w3 w4 w5 ");
  });

  it("for await twice: the second throws (consumed), the span keeps the first read's outputs", async () => {
    const client = tracedOpenAI(cannedClient(() => sseOf(chunks)));
    const stream = await client.chat.completions.create({ model: "m", messages: [question], stream: true });
    for await (const _ of stream) { /* read */ }
    await expect((async () => { for await (const _ of stream) { /* again */ } })()).rejects.toThrow(/consumed/);
    const span = (await only()).data.spans[0]!;
    expect(span.status.statusCode).toBe("STATUS_CODE_OK");
    expect((span.outputs as any).choices[0].message.content).toBe("w0 w1 w2 w3 w4 w5 ");
  });
  it("helpers (stream(), parse(), runTools, responses.stream) are untraced, as the README says", async () => {
    const client = tracedOpenAI(cannedClient(() => sseOf(chunks)));
    await client.chat.completions.stream({ model: "m", messages: [question] }).finalChatCompletion();
    await mlflow.flushTraces();
    expect(exporter.drain()).toHaveLength(0);
  });
});

describe("Responses API streams", () => {
  const resp = { id: "resp_1", object: "response", created_at: 1, model: "gpt-4.1", status: "in_progress", output: [] as unknown[] };
  const fcItem = { type: "function_call", id: "fc_1", call_id: "call_1", name: "get_weather", arguments: '{"city":"Paris"}', status: "completed" };
  const events = [
    { type: "response.created", sequence_number: 0, response: resp },
    { type: "response.output_item.added", sequence_number: 1, output_index: 0, item: { ...fcItem, arguments: "", status: "in_progress" } },
    { type: "response.function_call_arguments.delta", sequence_number: 2, output_index: 0, item_id: "fc_1", delta: '{"city":' },
    { type: "response.function_call_arguments.delta", sequence_number: 3, output_index: 0, item_id: "fc_1", delta: '"Paris"}' },
    { type: "response.function_call_arguments.done", sequence_number: 4, output_index: 0, item_id: "fc_1", arguments: '{"city":"Paris"}' },
    { type: "response.output_item.done", sequence_number: 5, output_index: 0, item: fcItem },
    { type: "response.completed", sequence_number: 6, response: { ...resp, status: "completed", output: [fcItem], usage: { input_tokens: 9, output_tokens: 3, total_tokens: 12, input_tokens_details: { cached_tokens: 2 }, output_tokens_details: { reasoning_tokens: 1 } } } },
  ];
  const sse = (list: unknown[]) => list.map((e) => `event: ${(e as { type: string }).type}\ndata: ${JSON.stringify(e)}\n\n`).join("");

  it("completed: outputs = the completed response, usage with cached tokens", async () => {
    const client = tracedOpenAI(cannedClient(() => sse(events)));
    for await (const _ of await client.responses.create({ model: "gpt-4.1", input: "weather?", stream: true })) { /* read */ }
    const span = (await only()).data.spans[0]!;
    expect((span.outputs as any).output).toEqual([fcItem]);
    expect(span.attributes["mlflow.chat.tokenUsage"]).toEqual({ input_tokens: 9, output_tokens: 3, total_tokens: 12, cache_read_input_tokens: 2 });
  });

  it("broken off (break) after the function call item is done, before response.completed: the function call is in the outputs (Python rebuilds from output_item.done)", async () => {
    const client = tracedOpenAI(cannedClient(() => sse(events)));
    for await (const e of await client.responses.create({ model: "gpt-4.1", input: "weather?", stream: true })) if (e.type === "response.output_item.done") break;
    const span = (await only()).data.spans[0]!;
    expect((span.outputs as any).output).toEqual([fcItem]);
  });

  it("a stream that ends with response.failed: ERROR status", async () => {
    const failed = [events[0], { type: "response.failed", sequence_number: 1, response: { ...resp, status: "failed", error: { code: "server_error", message: "model crashed" } } }];
    const client = tracedOpenAI(cannedClient(() => sse(failed)));
    for await (const _ of await client.responses.create({ model: "gpt-4.1", input: "x", stream: true })) { /* read */ }
    const span = (await only()).data.spans[0]!;
    expect(span.status).toEqual({ statusCode: "STATUS_CODE_ERROR", description: "model crashed" });
  });

  it("a stream whose last event is an `error` event (no response.*): ERROR status, not OK", async () => {
    const errored = [events[0], { type: "error", sequence_number: 1, code: "server_error", message: "The server had an error", param: null }];
    const client = tracedOpenAI(cannedClient(() => sse(errored)));
    const seen: string[] = [];
    const read = (async () => {
      for await (const e of await client.responses.create({ model: "gpt-4.1", input: "x", stream: true })) seen.push(e.type);
    })();
    // openai 6 yields the event; 7 throws it as an APIError, which reaches the caller unchanged.
    if (SDK_MAJOR >= 7) await expect(read).rejects.toThrow("The server had an error");
    else await read;
    expect(seen).toEqual(SDK_MAJOR >= 7 ? ["response.created"] : ["response.created", "error"]);
    const span = (await only()).data.spans[0]!;
    expect(span.status.statusCode).toBe("STATUS_CODE_ERROR");
    // Yielded, the event's message is the status's; thrown, it is an exception event (with a bare
    // ERROR status, as Python's stream spans record what the stream threw).
    const where = SDK_MAJOR >= 7 ? span.events.find((e) => e.name === "exception")?.attributes["exception.message"] : span.status.description;
    expect(where).toBe("The server had an error");
  });
});

describe("concurrency and nesting", () => {
  const mk = (tag: string) => Array.from({ length: 4 }, (_, i) => ({ ...base, id: `c-${tag}`, choices: [{ index: 0, delta: i === 0 ? { role: "assistant", content: `${tag}${i} ` } : { content: `${tag}${i} ` }, finish_reason: i === 3 ? "stop" : null }] }));
  it("two streams open at once, read alternately, a traced tool and another LLM call inside the loop: each span keeps its own chunks, parents are right", async () => {
    const client = tracedOpenAI(new OpenAI({ apiKey: "x", baseURL: "http://llm.local/v1", maxRetries: 0, fetch: async (_u, init) => {
      const body = JSON.parse(String(init!.body)) as { messages: { content: string }[]; stream?: boolean };
      const tag = body.messages[0]!.content;
      if (!body.stream) return new Response(JSON.stringify({ id: "n", object: "chat.completion", created: 1, model: "m", choices: [{ index: 0, message: { role: "assistant", content: "inner" }, finish_reason: "stop" }] }), { headers: { "content-type": "application/json" } });
      return new Response(sseOf(mk(tag)), { headers: { "content-type": "text/event-stream" } });
    } }));
    const tool = mlflow.trace(async function tool(x: string) { return x; });
    await mlflow.withSpan(async () => {
      const [a, b] = await Promise.all([
        client.chat.completions.create({ model: "m", messages: [{ role: "user", content: "A" }], stream: true }),
        client.chat.completions.create({ model: "m", messages: [{ role: "user", content: "B" }], stream: true }),
      ]);
      const ia = a[Symbol.asyncIterator](), ib = b[Symbol.asyncIterator]();
      for (;;) {
        const [ra, rb] = [await ia.next(), await ib.next()];
        if (ra.done && rb.done) break;
        if (!ra.done && ra.value.choices[0]?.delta.content === "A1 ") { await tool("t"); await client.chat.completions.create({ model: "m", messages: [{ role: "user", content: "inner" }] }); }
      }
    }, { name: "agent" });
    const spans = (await only()).data.spans;
    const byId = new Map(spans.map((s) => [s.spanId, s.name]));
    const rows = spans.map((s) => [s.name, s.parentId ? byId.get(s.parentId) : null, (s.outputs as any)?.choices?.[0]?.message?.content ?? null]);
    expect(rows).toEqual([
      ["agent", null, null],
      ["Completions_1", "agent", "A0 A1 A2 A3 "],
      ["Completions_2", "agent", "B0 B1 B2 B3 "],
      ["tool", "agent", null],
      ["Completions_3", "agent", "inner"],
    ]);
  });
});

describe("asResponse relay byte-splitting; list content", () => {
  it("asResponse() on a stream delivered a byte at a time, CRLF events, multi-byte text: the span folds the same text", async () => {
    const events = ["héllo ", "wörld 🌍", "!"].map((t, i) => ({ ...base, choices: [{ index: 0, delta: i === 0 ? { role: "assistant", content: t } : { content: t }, finish_reason: i === 2 ? "stop" : null }] }));
    const bytes = new TextEncoder().encode(events.map((e) => `data: ${JSON.stringify(e)}\r\n\r\n`).join("") + "data: [DONE]\r\n\r\n");
    const client = tracedOpenAI(cannedClient(() => { let i = 0; return new Response(new ReadableStream({ pull(c) { if (i < bytes.length) c.enqueue(bytes.slice(i, ++i)); else c.close(); } }), { headers: { "content-type": "text/event-stream" } }); }));
    const res = await client.chat.completions.create({ model: "m", messages: [question], stream: true }).asResponse();
    await res.text();
    const span = (await only()).data.spans[0]!;
    expect(span.events.filter((e) => e.name.startsWith("mlflow.chunk")).length).toBe(3);
    expect((span.outputs as any).choices[0].message.content).toBe("héllo wörld 🌍!");
  });
  it("content as a list of text parts (Databricks-style deltas, which Python's autolog joins): the text is kept", async () => {
    const events = [
      { ...base, choices: [{ index: 0, delta: { role: "assistant", content: [{ type: "text", text: "Hel" }] }, finish_reason: null }] },
      { ...base, choices: [{ index: 0, delta: { content: [{ type: "text", text: "lo" }] }, finish_reason: "stop" }] },
    ];
    const client = tracedOpenAI(cannedClient(() => sseOf(events)));
    for await (const _ of await client.chat.completions.create({ model: "m", messages: [question], stream: true })) { /* read */ }
    const span = (await only()).data.spans[0]!;
    expect((span.outputs as any).choices[0].message.content).toBe("Hello");
  });
});

describe("toReadableStream cancelled", () => {
  it("toReadableStream() read once then cancelled (client went away): the span ends with what was read", async () => {
    const chunks = Array.from({ length: 6 }, (_, i) => ({ ...base, choices: [{ index: 0, delta: i === 0 ? { role: "assistant", content: `w${i} ` } : { content: `w${i} ` }, finish_reason: null }] }));
    const client = tracedOpenAI(cannedClient(() => sseOf(chunks)));
    const rs = (await client.chat.completions.create({ model: "m", messages: [question], stream: true })).toReadableStream();
    const reader = rs.getReader();
    await reader.read();
    await reader.cancel();
    const span = (await only()).data.spans[0]!;
    expect(span.endTime).not.toBeNull();
    expect((span.outputs as any).choices[0].message.content.startsWith("w0 ")).toBe(true);
  });
});

describe("in-stream error events", () => {
  const sse = sseOf([{ ...base, choices: [{ index: 0, delta: { role: "assistant", content: "Hi" }, finish_reason: null }] }], false) + `data: ${JSON.stringify({ error: { message: "The server is overloaded", type: "server_error" } })}\n\n`;
  it("iterated: the SDK throws APIError on the {error} event and the span is ERROR", async () => {
    const client = tracedOpenAI(cannedClient(() => sse));
    const error = await (async () => { for await (const _ of await client.chat.completions.create({ model: "m", messages: [question], stream: true })) { /* read */ } })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((await only()).data.spans[0]!.status.statusCode).toBe("STATUS_CODE_ERROR");
  });
  it("an error given as a string ({ error: \"…\" }): ERROR iterated (the client throws on any) and read raw", async () => {
    const body = sseOf([{ ...base, choices: [{ index: 0, delta: { role: "assistant", content: "Hi" }, finish_reason: null }] }], false) + `data: ${JSON.stringify({ error: "upstream overloaded" })}\n\n`;
    const client = tracedOpenAI(cannedClient(() => body));
    const error = await (async () => { for await (const _ of await client.chat.completions.create({ model: "m", messages: [question], stream: true })) { /* read */ } })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((await only()).data.spans[0]!.status.statusCode).toBe("STATUS_CODE_ERROR");
    const res = await client.chat.completions.create({ model: "m", messages: [question], stream: true }).asResponse();
    await res.text();
    expect((await only()).data.spans[0]!.status).toEqual({ statusCode: "STATUS_CODE_ERROR", description: "upstream overloaded" });
  });

  it("read raw through asResponse(): the same body gives an ERROR span too", async () => {
    const client = tracedOpenAI(cannedClient(() => sse));
    const res = await client.chat.completions.create({ model: "m", messages: [question], stream: true }).asResponse();
    expect(await res.text()).toContain("overloaded");
    expect((await only()).data.spans[0]!.status.statusCode).toBe("STATUS_CODE_ERROR");
  });
});
