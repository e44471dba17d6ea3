// The demo's deterministic OpenAI-compatible endpoint, called directly as the fetch-style function
// the demo Worker mounts: SSE framing, determinism, tool calls, bad input, the failure switches.
import { describe, expect, it } from "vitest";
import { fakeLlm } from "../../demo/llm/fake-llm.js";

const call = (path: string, body: unknown, init: { headers?: Record<string, string>; query?: string; delay?: number } = {}) =>
  fakeLlm(
    new Request(`http://llm.local/v1${path}${init.query ?? ""}`, { method: "POST", body: typeof body === "string" ? body : JSON.stringify(body), headers: init.headers }),
    { chunkDelayMs: init.delay ?? 0 },
  );
const user = (content: string) => ({ model: "m", messages: [{ role: "user", content }] });
/** The SSE body as its events: each a list of its lines. */
const events = (body: string) => {
  expect(body.endsWith("\n\n")).toBe(true);
  return body.slice(0, -2).split("\n\n").map((e) => e.split("\n"));
};
const dataOf = (body: string) => events(body).map((lines) => lines.find((l) => l.startsWith("data: "))!.slice(6));

describe("chat completions", () => {
  it("answers the same request with the same bytes, and different questions differently", async () => {
    const a = await (await call("/chat/completions", user("hi"))).text();
    expect(await (await call("/chat/completions", user("hi"))).text()).toBe(a);
    expect(await (await call("/chat/completions", user("hello"))).text()).not.toBe(a);
    const body = JSON.parse(a) as { object: string; choices: { message: { content: string } }[]; usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } };
    expect(body.object).toBe("chat.completion");
    expect(body.choices[0]!.message.content).toContain('"hi"');
    expect(body.usage.total_tokens).toBe(body.usage.prompt_tokens + body.usage.completion_tokens);
  });

  it("streams SSE: one data line per event, several content chunks that join to the JSON answer, a usage chunk on request, then [DONE]", async () => {
    const json = (await (await call("/chat/completions", user("What is this?"))).json()) as { choices: { message: { content: string } }[]; usage: unknown };
    const res = await call("/chat/completions", { ...user("What is this?"), stream: true, stream_options: { include_usage: true } });
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const body = await res.text();
    expect(events(body).every((lines) => lines.length === 1 && lines[0]!.startsWith("data: "))).toBe(true);
    const data = dataOf(body);
    expect(data.at(-1)).toBe("[DONE]");
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as { object: string; choices: { delta: { content?: string }; finish_reason: string | null }[]; usage?: unknown });
    expect(chunks.every((c) => c.object === "chat.completion.chunk")).toBe(true);
    const content = chunks.flatMap((c) => c.choices.map((x) => x.delta.content ?? ""));
    expect(content.filter(Boolean).length).toBeGreaterThan(3);
    expect(content.join("")).toBe(json.choices[0]!.message.content);
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe("stop");
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: json.usage });
    const plain = dataOf(await (await call("/chat/completions", { ...user("What is this?"), stream: true })).text());
    expect(plain.length).toBe(data.length - 1); // no usage chunk unless asked
  });

  it("calls a tool when one is offered and the question needs it, and answers from the tool's result", async () => {
    const tools = [{ type: "function", function: { name: "get_weather", parameters: {} } }];
    const ask = { model: "m", messages: [{ role: "user", content: "What's the weather in Tokyo?" }], tools };
    const first = (await (await call("/chat/completions", ask)).json()) as { choices: { message: { content: null; tool_calls: { id: string; function: { name: string; arguments: string } }[] }; finish_reason: string }[] };
    expect(first.choices[0]!.finish_reason).toBe("tool_calls");
    const callMade = first.choices[0]!.message.tool_calls[0]!;
    expect([callMade.function.name, JSON.parse(callMade.function.arguments)]).toEqual(["get_weather", { city: "Tokyo" }]);
    // Without the tool on offer, the same question is answered in text.
    const noTool = (await (await call("/chat/completions", { ...ask, tools: undefined })).json()) as typeof first;
    expect(noTool.choices[0]!.finish_reason).toBe("stop");
    const messages = [...ask.messages, { role: "assistant", content: null, tool_calls: [callMade] }, { role: "tool", tool_call_id: callMade.id, content: JSON.stringify({ city: "Tokyo", forecast: "clear", celsius: 9 }) }];
    const second = (await (await call("/chat/completions", { model: "m", messages, tools })).json()) as { choices: { message: { content: string } }[] };
    expect(second.choices[0]!.message.content).toBe("The weather in Tokyo is clear, 9°C.");
  });

  it("answers a tool result that is JSON but no object (null, a number, a list) instead of failing with a 500", async () => {
    for (const content of ["null", "42", "[1]"]) {
      const res = await call("/chat/completions", { model: "m", messages: [{ role: "user", content: "weather in Paris?" }, { role: "tool", tool_call_id: "c1", content }] });
      const body = (await res.json()) as { choices: { message: { content: string } }[] };
      expect([content, res.status, body.choices[0]!.message.content]).toEqual([content, 200, "The weather in that city is unknown."]);
    }
    const res = await call("/responses", { model: "m", input: [{ role: "tool", content: "null" }] });
    expect(res.status).toBe(200);
  });
});

describe("responses and embeddings", () => {
  it("responses: JSON with output_text parts, and a stream of typed events ending in response.completed with the same response", async () => {
    const done = (await (await call("/responses", { model: "m", input: "hello there", instructions: "be brief" })).json()) as { object: string; status: string; output: { content: { text: string }[] }[] };
    expect(done).toMatchObject({ object: "response", status: "completed" });
    expect(done.output[0]!.content[0]!.text).toContain("hello there");
    const body = await (await call("/responses", { model: "m", input: "hello there", instructions: "be brief", stream: true })).text();
    const evs = events(body).map((lines) => ({ event: lines[0]!.replace("event: ", ""), data: JSON.parse(lines[1]!.slice(6)) as { type: string; sequence_number: number; delta?: string; response?: unknown } }));
    expect(evs.every((e) => e.event === e.data.type)).toBe(true);
    expect(evs.map((e) => e.data.sequence_number)).toEqual(evs.map((_, i) => i));
    expect(evs[0]!.event).toBe("response.created");
    expect(evs.at(-1)!.event).toBe("response.completed");
    expect(evs.at(-1)!.data.response).toEqual(done);
    expect(evs.filter((e) => e.event === "response.output_text.delta").map((e) => e.data.delta).join("")).toBe(done.output[0]!.content[0]!.text);
  });

  it("embeddings: one unit vector per input, a function of the text alone, base64 float32 on request", async () => {
    const res = (await (await call("/embeddings", { model: "e", input: ["alpha", "beta", "alpha"] })).json()) as { data: { index: number; embedding: number[] }[]; usage: { prompt_tokens: number } };
    const [a, b, a2] = res.data.map((d) => d.embedding);
    expect(res.data.map((d) => d.index)).toEqual([0, 1, 2]);
    expect(a).toEqual(a2);
    expect(a).not.toEqual(b);
    expect(Math.hypot(...a!)).toBeCloseTo(1, 5);
    const single = (await (await call("/embeddings", { model: "e", input: "alpha" })).json()) as typeof res;
    expect(single.data[0]!.embedding).toEqual(a);
    const b64 = (await (await call("/embeddings", { model: "e", input: "alpha", encoding_format: "base64" })).json()) as { data: { embedding: string }[] };
    const bytes = Uint8Array.from(atob(b64.data[0]!.embedding), (c) => c.charCodeAt(0));
    expect([...new Float32Array(bytes.buffer)]).toEqual(a!.map(Math.fround));
  });
});

describe("bad requests and the failure switches", () => {
  const errorOf = async (res: Response) => ({ status: res.status, ...((await res.json()) as { error: { type: string; param: string | null; message: string; code: string | null } }).error });

  it("answers 400 in OpenAI's error shape, naming the parameter", async () => {
    expect(await errorOf(await call("/chat/completions", "{"))).toMatchObject({ status: 400, type: "invalid_request_error", param: null });
    expect(await errorOf(await call("/chat/completions", "[1]"))).toMatchObject({ status: 400, type: "invalid_request_error" });
    const cases: [string, unknown, string][] = [
      ["/chat/completions", { messages: [{ role: "user", content: "x" }] }, "model"],
      ["/chat/completions", { model: "m", messages: [] }, "messages"],
      ["/chat/completions", { model: "m", messages: [{ content: "x" }] }, "messages[0].role"],
      ["/chat/completions", { model: "m", messages: [{ role: "wizard", content: "x" }] }, "messages[0].role"],
      ["/chat/completions", { model: "m", messages: [{ role: "user", content: 5 }] }, "messages[0].content"],
      ["/chat/completions", { ...user("x"), stream: "yes" }, "stream"],
      ["/chat/completions", { ...user("x"), tools: [{ type: "function" }] }, "tools[0]"],
      ["/chat/completions", { ...user("x"), stream_options: { include_usage: true } }, "stream_options"],
      ["/responses", { model: "m", input: "" }, "input"],
      ["/responses", { model: "m", input: [{ content: "no role" }] }, "input[0]"],
      ["/embeddings", { model: "m", input: [1] }, "input"],
      ["/embeddings", { model: "m", input: "x", encoding_format: "int8" }, "encoding_format"],
    ];
    for (const [path, body, param] of cases) expect([path, await errorOf(await call(path, body))]).toMatchObject([path, { status: 400, type: "invalid_request_error", param }]);
    expect((await call("/nothing", { model: "m" })).status).toBe(404);
    expect((await fakeLlm(new Request("http://llm.local/v1/chat/completions"))).status).toBe(405);
  });

  it("fails with 500 or 429 on a marker in the last user message, or a header or query switch, without asking the client to retry", async () => {
    const e500 = await call("/chat/completions", user("please fail"));
    expect(e500.headers.get("x-should-retry")).toBe("false");
    expect(await errorOf(e500)).toMatchObject({ status: 500, type: "server_error" });
    expect(await errorOf(await call("/chat/completions", user("hit the rate limit")))).toMatchObject({ status: 429, type: "rate_limit_error", code: "rate_limit_exceeded" });
    expect((await call("/chat/completions", user("hi"), { headers: { "x-fake-llm-fail": "429" } })).status).toBe(429);
    expect((await call("/responses", { model: "m", input: "hi" }, { query: "?fail=500" })).status).toBe(500);
    expect((await call("/embeddings", { model: "m", input: "hi" }, { headers: { "x-fake-llm-fail": "500" } })).status).toBe(500);
    expect((await call("/chat/completions", user("hi"), { headers: { "x-fake-llm-fail": "sometimes" } })).status).toBe(400);
    // A marker in an earlier turn does not fail the follow-up.
    const later = { model: "m", messages: [{ role: "user", content: "fail" }, { role: "assistant", content: "sorry" }, { role: "user", content: "ok now?" }] };
    expect((await call("/chat/completions", later)).status).toBe(200);
  });

  it("breaks off a stream with an error event after a few chunks", async () => {
    for (const res of [await call("/chat/completions", { ...user("go mid-stream"), stream: true }), await call("/chat/completions", { ...user("hi"), stream: true }, { query: "?fail=mid-stream" })]) {
      expect(res.status).toBe(200);
      const data = dataOf(await res.text());
      expect(data.length).toBe(4);
      expect(JSON.parse(data.at(-1)!)).toMatchObject({ error: { type: "server_error" } });
    }
    expect((await call("/chat/completions", user("go mid-stream"))).status).toBe(200); // no stream, no marker effect
    expect((await call("/chat/completions", user("hi"), { query: "?fail=mid-stream" })).status).toBe(500);
  });

  it("paces chunks by the configured delay; 'slow' and the delay switch slow it down", async () => {
    const time = async (body: unknown, init: Parameters<typeof call>[2]) => {
      const t0 = performance.now();
      const chunks = dataOf(await (await call("/chat/completions", body, init)).text()).length;
      return { ms: performance.now() - t0, gaps: chunks - 1 };
    };
    const paced = await time({ ...user("hi"), stream: true }, { delay: 5 });
    const slow = await time({ ...user("slow hi"), stream: true }, { delay: 2 });
    const header = await time({ ...user("hi"), stream: true }, { delay: 0, headers: { "x-fake-llm-delay-ms": "5" } });
    expect(paced.ms).toBeGreaterThanOrEqual(paced.gaps * 4);
    expect(slow.ms).toBeGreaterThanOrEqual(slow.gaps * 18);
    expect(header.ms).toBeGreaterThanOrEqual(header.gaps * 4);
    expect((await call("/chat/completions", user("hi"), { headers: { "x-fake-llm-delay-ms": "-1" } })).status).toBe(400);
  });
});
