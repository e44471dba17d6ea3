// POST /v1/traces inside workerd: OTLP/HTTP JSON from core's own exporter converts back to the
// same spans; MLflow's JSON-encoded attribute strings are read as MLflow's OTLP ingest reads them;
// hostile OTLP is refused at the OTLP path of the field, with the OTLP status fields, storing nothing.
import { beforeEach, describe, expect, it } from "vitest";
import * as mlflow from "../../core/index.js";
import type { SpanData, Trace } from "../../core/model/types.js";
import { toOtlpExportRequest } from "../../core/serialize/otlp.js";
import { wireAttributes } from "../../core/serialize/mlflow-json.js";
import { createCollector, type CollectorOptions } from "../../worker/collector/app.js";
import { JsonTraceSerializer, ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import { MemoryStore } from "./memory-store.js";
import { joinedTrace, readableSpansOf, simpleTrace } from "./traces.js";

const SELF = "https://collector.example";
const SECRET = "otlp-server-secret-1";
let store: MemoryStore;
beforeEach(() => {
  store = new MemoryStore();
});

const app = (extra: Partial<CollectorOptions> = {}) =>
  createCollector({ store, ingestKeys: [{ key: "pk-app-0001", origins: ["https://app.example"] }], secret: SECRET, ...extra });
const send = (a: ReturnType<typeof app>, body: unknown, headers: Record<string, string> = {}) =>
  a.request(`${SELF}/v1/traces`, {
    method: "POST",
    body: typeof body === "string" || body instanceof ArrayBuffer ? body : JSON.stringify(body),
    headers: { "content-type": "application/json", authorization: `Bearer ${SECRET}`, ...headers },
  });

/** A trace with everything a span can carry: events, an exception, token usage, a failing child, odd values. */
function richTrace(): Trace {
  const exporter = new mlflow.InMemoryExporter();
  mlflow.init({ exporter, silent: true });
  mlflow.withSpan(
    (root) => {
      root.setAttributes({ temperature: 0.25, retries: 3, flags: ["a", "b"], nested: { deep: { x: [1, 2, null] } }, nothing: null, ok: true });
      mlflow.updateCurrentTrace({ tags: { team: "edge" }, metadata: { release: "7" } });
      mlflow.withSpan(
        (llm) => {
          llm.setAttribute(mlflow.SpanAttributeKey.CHAT_USAGE, { input_tokens: 12, output_tokens: 8, total_tokens: 20 });
          llm.addEvent({ name: "mlflow.chunk.item.0", attributes: { "mlflow.chunk.value": '"Hel"' } });
          llm.addEvent({ name: "mlflow.chunk.item.1", attributes: { "mlflow.chunk.value": '"lo"', sizes: [1, 2] } });
          return "42"; // a string that looks like a number must come back a string
        },
        { name: "llm", spanType: mlflow.SpanType.CHAT_MODEL, inputs: { messages: [{ role: "user", content: "What is 6*7?" }] } },
      );
      try {
        mlflow.withSpan(
          () => {
            throw new TypeError("tool broke");
          },
          { name: "tool", spanType: mlflow.SpanType.TOOL, inputs: { q: "x" } },
        );
      } catch {
        // recorded on the span
      }
      return { answer: "42", sources: [] };
    },
    { name: "agent", spanType: mlflow.SpanType.AGENT, inputs: { question: "What is 6*7?" } },
  );
  return exporter.drain()[0]!;
}

const shape = (s: SpanData) => ({
  traceId: s.traceId,
  spanId: s.spanId,
  parentId: s.parentId,
  name: s.name,
  spanType: s.spanType,
  inputs: s.inputs,
  outputs: s.outputs,
  status: s.status,
  attributes: s.attributes,
  events: s.events.map((e) => ({ name: e.name, attributes: e.attributes })),
});

describe("POST /v1/traces: what core's OTLP exporter sends converts back to the same trace", () => {
  it("keeps every span field, attribute type, event and status; derives the TraceInfo as MLflow's SDK does", async () => {
    const original = richTrace();
    const res = await send(app(), toOtlpExportRequest(original.data.spans));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ partialSuccess: {} });
    const stored = store.traces.get(original.info.traceId)!;
    // The wire form adds MLflow's span log level attribute; everything else is the original span.
    const expected = original.data.spans.map((s) => shape({ ...s, attributes: wireAttributes(s) }));
    expect(stored.data.spans.map(shape)).toEqual(expected);
    expect(stored.data.spans[1]!.outputs).toBe("42");
    original.data.spans.forEach((s, i) => {
      const back = stored.data.spans[i]!;
      expect(back.startTime).toBeCloseTo(s.startTime, 2);
      expect(back.endTime).toBeCloseTo(s.endTime!, 2);
      s.events.forEach((e, j) => expect(back.events[j]!.timestamp).toBeCloseTo(e.timestamp, 2));
    });
    const info = stored.info;
    expect(info.state).toBe("OK");
    expect(info.requestPreview).toBe(original.info.requestPreview);
    expect(info.responsePreview).toBe(original.info.responsePreview);
    expect(info.requestTime).toBe(original.info.requestTime);
    expect(info.tags["mlflow.traceName"]).toBe("agent");
    for (const key of ["mlflow.traceInputs", "mlflow.traceOutputs", "mlflow.trace.tokenUsage"]) {
      expect(info.traceMetadata[key]).toBe(original.info.traceMetadata[key]);
    }
  });

  it("a failed root makes an ERROR trace, with the exception event kept", async () => {
    const original = simpleTrace("fails", { fail: true });
    expect((await send(app(), toOtlpExportRequest(original.data.spans))).status).toBe(200);
    const stored = store.traces.get(original.info.traceId)!;
    expect(stored.info.state).toBe("ERROR");
    expect(stored.data.spans[0]!.status).toEqual(original.data.spans[0]!.status);
    expect(stored.data.spans[0]!.events.map((e) => e.name)).toContain("exception");
  });

  it("groups spans by trace id across resourceSpans, and takes a Worker part whose root's parent is elsewhere", async () => {
    const { browser, worker } = joinedTrace();
    const other = simpleTrace("other");
    const body = toOtlpExportRequest([...worker.data.spans, ...other.data.spans]);
    body.resourceSpans.push(...toOtlpExportRequest([]).resourceSpans);
    expect((await send(app(), body)).status).toBe(200);
    expect([...store.traces.keys()].sort()).toEqual([worker.info.traceId, other.info.traceId].sort());
    expect(store.traces.get(browser.info.traceId)!.data.spans.map((s) => s.name)).toEqual(["POST /api/answer", "llm"]);
    expect(store.puts).toBe(1);
  });

  it("is idempotent: the same request twice stores the trace once", async () => {
    const t = simpleTrace("twice");
    const a = app();
    await send(a, toOtlpExportRequest(t.data.spans));
    await send(a, toOtlpExportRequest(t.data.spans));
    expect(store.traces.size).toBe(1);
  });

  it("reads mlflow.* attributes JSON-encoded once more, as MLflow's ingest does; other attributes stay as sent", async () => {
    const traceId = "0af7651916cd43dd8448eb211c80319c";
    const s = (key: string, stringValue: string) => ({ key, value: { stringValue } });
    const body = {
      resourceSpans: [
        {
          scopeSpans: [
            {
              spans: [
                {
                  traceId,
                  spanId: "b7ad6b7169203331",
                  name: "call_llm",
                  startTimeUnixNano: "1718000000200000000",
                  endTimeUnixNano: "1718000001500000000",
                  status: { code: "STATUS_CODE_OK" },
                  attributes: [
                    s("mlflow.spanType", '"LLM"'),
                    s("mlflow.spanInputs", '{"messages":[{"role":"user","content":"What is MLflow?"}]}'),
                    s("mlflow.spanOutputs", "42"),
                    s("mlflow.message.format", '"openai"'),
                    s("fruit", '"apple"'),
                  ],
                },
              ],
            },
          ],
        },
      ],
    };
    expect((await send(app(), body)).status).toBe(200);
    const t = store.traces.get(`tr-${traceId}`)!;
    const span = t.data.spans[0]!;
    expect(span.spanType).toBe("LLM");
    expect(span.inputs).toEqual({ messages: [{ role: "user", content: "What is MLflow?" }] });
    expect(span.outputs).toBe("42"); // JSON of a number is not unwrapped
    expect(span.attributes["mlflow.message.format"]).toBe("openai");
    expect(span.attributes.fruit).toBe('"apple"');
    expect(span.startTime).toBe(1718000000200);
    expect(t.info).toMatchObject({ requestTime: 1718000000200, executionDuration: 1300, state: "OK", requestPreview: "What is MLflow?" });
  });

  it("accepts gzip, as OpenTelemetry exporters send by default", async () => {
    const t = simpleTrace("zipped");
    const gz = new Response(new Blob([JSON.stringify(toOtlpExportRequest(t.data.spans))]).stream().pipeThrough(new CompressionStream("gzip")));
    const res = await send(app(), await gz.arrayBuffer(), { "content-encoding": "gzip" });
    expect(res.status).toBe(200);
    expect(store.traces.has(t.info.traceId)).toBe(true);
  });

  it("answers a store failure with 503, Retry-After and OTLP's UNAVAILABLE", async () => {
    store.fail = true;
    const res = await send(app(), toOtlpExportRequest(simpleTrace("down").data.spans));
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("5");
    expect(await res.json()).toMatchObject({ code: 14, path: "" });
  });

  it("takes an ingest key from an allowed origin, and refuses no credentials", async () => {
    const body = toOtlpExportRequest(simpleTrace("keyed").data.spans);
    const a = app();
    expect((await send(a, body, { authorization: "", "x-mlflow-edge-key": "pk-app-0001", origin: "https://app.example" })).status).toBe(200);
    const none = await send(a, body, { authorization: "" });
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({ code: 16, path: "" });
  });
});

describe("POST /v1/traces: hostile OTLP gets a 4xx at the OTLP path, and nothing is stored", () => {
  const SPAN = "resourceSpans[0].scopeSpans[0].spans";
  type Req = { resourceSpans: { scopeSpans: { spans: Record<string, any>[] }[] }[] };
  const base = (): Req => JSON.parse(JSON.stringify(toOtlpExportRequest(simpleTrace("hostile").data.spans)));
  const mutate = (fn: (spans: Record<string, any>[], r: Req) => void) => () => {
    const r = base();
    fn(r.resourceSpans[0]!.scopeSpans[0]!.spans, r);
    return JSON.stringify(r);
  };
  const attr = (spans: Record<string, any>[], value: unknown, key = "x") => spans[0]!.attributes.unshift({ key, value });
  let deep: unknown = { stringValue: "bottom" };
  for (let i = 0; i < 80; i++) deep = { arrayValue: { values: [deep] } };
  type Case = [name: string, body: () => string, status: number, path: string | RegExp, headers?: Record<string, string>];
  const cases: Case[] = [
    ["not JSON", () => "{", 400, ""],
    ["an array", () => "[]", 400, ""],
    ["resourceSpans not an array", () => JSON.stringify({ resourceSpans: {} }), 400, "resourceSpans"],
    ["the /v1/ingest format sent here", () => JSON.stringify({ traces: [simpleTrace("wrong-route")] }), 400, "resourceSpans"],
    ["the /v1/ingest format beside an empty resourceSpans", () => JSON.stringify({ resourceSpans: [], traces: [simpleTrace("wrong-route")] }), 400, "resourceSpans"],
    ["snake_case scope_spans (no spans read)", () => JSON.stringify({ resourceSpans: [{ scope_spans: base().resourceSpans[0]!.scopeSpans }] }), 400, "resourceSpans"],
    ["pre-1.0 instrumentationLibrarySpans", () => JSON.stringify({ resourceSpans: [{ instrumentationLibrarySpans: base().resourceSpans[0]!.scopeSpans }] }), 400, "resourceSpans"],
    ["doubleValue a word", mutate((s) => attr(s, { doubleValue: "nan" })), 400, `${SPAN}[0].attributes[0].value.doubleValue`],
    ["start time a fraction", mutate((s) => (s[0]!.startTimeUnixNano = 1.5)), 400, `${SPAN}[0].startTimeUnixNano`],
    ["resourceSpans entry a number", () => JSON.stringify({ resourceSpans: [1] }), 400, "resourceSpans[0]"],
    ["scopeSpans not an array", () => JSON.stringify({ resourceSpans: [{ scopeSpans: "x" }] }), 400, "resourceSpans[0].scopeSpans"],
    ["spans not an array", () => JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: {} }] }] }), 400, "resourceSpans[0].scopeSpans[0].spans"],
    ["span is null", mutate((s) => (s[0] = null as never)), 400, `${SPAN}[0]`],
    ["base64 trace id", mutate((s) => (s[0]!.traceId = "CvdlGRbNQ92ESOshHIAxnA==")), 400, `${SPAN}[0].traceId`],
    ["all-zero trace id", mutate((s) => s.forEach((x) => (x.traceId = "0".repeat(32)))), 400, `${SPAN}[0].traceId`],
    ["short span id", mutate((s) => (s[0]!.spanId = "abc")), 400, `${SPAN}[0].spanId`],
    ["parent id not hex", mutate((s) => (s[1]!.parentSpanId = "zzzzzzzzzzzzzzzz")), 400, `${SPAN}[1].parentSpanId`],
    ["name a number", mutate((s) => (s[0]!.name = 5)), 400, `${SPAN}[0].name`],
    ["start time not nanoseconds", mutate((s) => (s[0]!.startTimeUnixNano = "yesterday")), 400, `${SPAN}[0].startTimeUnixNano`],
    ["start time negative", mutate((s) => (s[0]!.startTimeUnixNano = -5)), 400, `${SPAN}[0].startTimeUnixNano`],
    ["start time missing", mutate((s) => delete s[0]!.startTimeUnixNano), 400, `${SPAN}[0].startTimeUnixNano`],
    ["end before start", mutate((s) => (s[1]!.endTimeUnixNano = "1000")), 400, `${SPAN}[1].endTimeUnixNano`],
    ["unknown status code", mutate((s) => (s[0]!.status = { code: 7 })), 400, `${SPAN}[0].status.code`],
    ["status message a number", mutate((s) => (s[0]!.status = { code: 2, message: 1 })), 400, `${SPAN}[0].status.message`],
    ["attributes an object", mutate((s) => (s[0]!.attributes = {})), 400, `${SPAN}[0].attributes`],
    ["attribute without a key", mutate((s) => s[0]!.attributes.unshift({ value: { stringValue: "v" } })), 400, `${SPAN}[0].attributes[0].key`],
    ["stringValue an object", mutate((s) => attr(s, { stringValue: {} })), 400, `${SPAN}[0].attributes[0].value.stringValue`],
    ["boolValue a string", mutate((s) => attr(s, { boolValue: "yes" })), 400, `${SPAN}[0].attributes[0].value.boolValue`],
    ["intValue a fraction", mutate((s) => attr(s, { intValue: "1.5" })), 400, `${SPAN}[0].attributes[0].value.intValue`],
    ["two value fields", mutate((s) => attr(s, { stringValue: "a", intValue: "1" })), 400, `${SPAN}[0].attributes[0].value`],
    ["unknown value field", mutate((s) => attr(s, { dateValue: "2026" })), 400, `${SPAN}[0].attributes[0].value`],
    ["kvlist values not an array", mutate((s) => attr(s, { kvlistValue: { values: 3 } })), 400, `${SPAN}[0].attributes[0].value.kvlistValue.values`],
    ["array nested 80 deep", mutate((s) => attr(s, deep)), 400, new RegExp(`^${SPAN.replace(/[[\]]/g, "\\$&")}\\[0\\]\\.attributes\\[0\\]\\.value`)],
    // JSON inside a string escapes the AnyValue depth check; the preview walked it before validation and overflowed the stack (503, retried for ever).
    ["mlflow.spanInputs holding JSON nested 5000 deep", mutate((s) => {
      const inputs = s[0]!.attributes.find((kv: { key: string }) => kv.key === "mlflow.spanInputs");
      inputs.value = { stringValue: "[".repeat(5000) + "]".repeat(5000) };
    }), 400, /^resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.attributes\[\d+\]\.value$/],
    ["oversize attribute", mutate((s) => attr(s, { stringValue: "x".repeat(300_000) }, "big")), 400, `${SPAN}[0].attributes[0].value`],
    ["__proto__ key in a kvlist", mutate((s) => attr(s, { kvlistValue: { values: [{ key: "__proto__", value: { intValue: "1" } }] } }, "obj")), 400, `${SPAN}[0].attributes[0].value`],
    ["event not an object", mutate((s) => (s[0]!.events = ["e"])), 400, `${SPAN}[0].events[0]`],
    ["event name a number", mutate((s) => (s[0]!.events = [{ name: 3, timeUnixNano: "1" }])), 400, `${SPAN}[0].events[0].name`],
    ["event without a time", mutate((s) => (s[0]!.events = [{ name: "e" }])), 400, `${SPAN}[0].events[0].timeUnixNano`],
    ["duplicate span ids", mutate((s) => (s[1]!.spanId = s[0]!.spanId)), 400, `${SPAN}[1].spanId`],
    ["two roots", mutate((s) => delete s[1]!.parentSpanId), 400, `${SPAN}[1].parentSpanId`],
    ["a parent loop", mutate((s) => (s[0]!.parentSpanId = s[1]!.spanId)), 400, /parentSpanId$/],
    // What String() cannot read (an object whose toString is no function; arrays nested past the
    // stack), and names an object inherits: refused at their path (before: a TypeError or a stack
    // overflow answered 503 "could not store", which OTLP exporters retry).
    ["attribute key an object whose toString is no function", mutate((s) => s[0]!.attributes.unshift({ key: { toString: 1 }, value: {} })), 400, `${SPAN}[0].attributes[0].key`],
    ["attribute key arrays nested 20,000 deep", () => mutate((s) => s[0]!.attributes.unshift({ key: "DEEP", value: {} }))().replace('"DEEP"', "[".repeat(20_000) + "]".repeat(20_000)), 400, `${SPAN}[0].attributes[0].key`],
    ["status code an object whose toString is no function", mutate((s) => (s[0]!.status = { code: { toString: 1 } })), 400, `${SPAN}[0].status.code`],
    ["status code a name every object inherits", mutate((s) => (s[0]!.status = { code: "constructor" })), 400, `${SPAN}[0].status.code`],
    // proto3 cannot tell 0 from unset, and the protobuf path refuses a span without a start: so is a
    // JSON start of 0 (before: stored as a trace begun in 1970, 56 years long).
    ["start time 0", mutate((s) => (s[0]!.startTimeUnixNano = "0")), 400, `${SPAN}[0].startTimeUnixNano`],
    ["event time 0", mutate((s) => (s[0]!.events = [{ name: "e", timeUnixNano: 0 }])), 400, `${SPAN}[0].events[0].timeUnixNano`],
    // int64 is what OTLP's intValue holds; past it (token counts of 1e308) sums turn to Infinity.
    ["intValue past int64, as a string", mutate((s) => attr(s, { intValue: "9223372036854775808" })), 400, `${SPAN}[0].attributes[0].value.intValue`],
    ["intValue below int64, as a string", mutate((s) => attr(s, { intValue: "-99999999999999999999" })), 400, `${SPAN}[0].attributes[0].value.intValue`],
    ["intValue past int64, as a JSON number", mutate((s) => attr(s, { intValue: 1e300 })), 400, `${SPAN}[0].attributes[0].value.intValue`],
    ["too many spans", () => JSON.stringify(base()), 413, "resourceSpans", {}],
    ["XML", () => "<spans/>", 415, "", { "content-type": "application/xml" }],
    ["unsupported encoding", () => JSON.stringify(base()), 415, "", { "content-encoding": "br" }],
  ];

  for (const [name, body, status, path, headers] of cases) {
    it(`${name} → ${status}`, async () => {
      const a = name === "too many spans" ? app({ limits: { maxSpansPerTrace: 1 } }) : app();
      const res = await send(a, body(), headers);
      expect(res.status).toBe(status);
      const err = (await res.json()) as { error: string; path: string; hint: string; code: number; message: string };
      if (typeof path === "string") expect(err.path).toBe(path);
      else expect(err.path).toMatch(path);
      // OTLP/HTTP clients read a google.rpc.Status: a gRPC code and the message.
      expect(err.code).toBeGreaterThan(0);
      expect(err.message).toBe(err.error);
      expect(err.error).not.toContain("traces[0]"); // messages name the OTLP field, not our internals
      expect(store.puts).toBe(0);
    });
  }

  it("an empty span or event name (OTLP allows it, MLflow takes it) is stored as span / event, not refused with the sender's whole batch", async () => {
    const r = base();
    const spans = r.resourceSpans[0]!.scopeSpans[0]!.spans;
    spans[1]!.name = "";
    spans[1]!.events = [{ name: "", timeUnixNano: spans[1]!.startTimeUnixNano }, { timeUnixNano: spans[1]!.startTimeUnixNano }];
    const res = await send(app(), JSON.stringify(r));
    expect(res.status).toBe(200);
    const [stored] = [...store.traces.values()];
    expect(stored!.data.spans[1]).toMatchObject({ name: "span", events: [{ name: "event" }, { name: "event" }] });
  });

  it("a status code named like an inherited property is refused as an unknown code, not as a function", async () => {
    const r = base();
    r.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.status = { code: "toString" };
    const err = (await (await send(app(), JSON.stringify(r))).json()) as { error: string };
    expect(err.error).toContain("must be 0, 1 or 2");
  });

  it("all zeros is no value: a root's parentSpanId of zeros (some SDKs write a root so; OpenTelemetry's Collector reads it as none) is the root, an end time \"00\" is not set as \"0\" is; neither refuses the batch", async () => {
    const r = base();
    const spans = r.resourceSpans[0]!.scopeSpans[0]!.spans;
    spans[0]!.parentSpanId = "0000000000000000";
    spans[1]!.endTimeUnixNano = "00";
    const res = await send(app(), JSON.stringify(r));
    expect(res.status).toBe(200);
    const [stored] = [...store.traces.values()];
    const storedSpan = (i: number) => stored!.data.spans.find((x) => x.spanId === spans[i]!.spanId)!;
    expect(storedSpan(0).parentId).toBeNull();
    expect(storedSpan(1).endTime).toBeNull(); // the span had not ended
  });

  it("null fields are unset ones, as the OTLP JSON mapping reads them: a root's null parentSpanId, a null status or message, a null value", async () => {
    const r = base();
    const spans = r.resourceSpans[0]!.scopeSpans[0]!.spans;
    spans[0]!.parentSpanId = null;
    spans[0]!.status = { code: 1, message: null };
    spans[1]!.status = null;
    attr(spans, { doubleValue: null }, "ratio");
    attr(spans, { stringValue: null, intValue: "7" }, "seven"); // only the set field counts
    const res = await send(app(), JSON.stringify(r));
    expect(res.status).toBe(200);
    const [stored] = [...store.traces.values()];
    expect(stored!.data.spans[0]).toMatchObject({ parentId: null, status: { statusCode: "STATUS_CODE_OK", description: "" } });
    expect(stored!.data.spans[0]!.attributes).toMatchObject({ ratio: null, seven: 7 });
    expect(stored!.data.spans[1]!.status.statusCode).toBe("STATUS_CODE_UNSET");
  });

  it("doubles spelled \"NaN\", \"Infinity\", \"-Infinity\" (proto3 JSON) are kept as that text, as the protobuf path keeps them", async () => {
    const r = base();
    const spans = r.resourceSpans[0]!.scopeSpans[0]!.spans;
    attr(spans, { doubleValue: "NaN" }, "a");
    attr(spans, { doubleValue: "Infinity" }, "b");
    attr(spans, { doubleValue: "-Infinity" }, "c");
    expect((await send(app(), JSON.stringify(r))).status).toBe(200);
    expect([...store.traces.values()][0]!.data.spans[0]!.attributes).toMatchObject({ a: "NaN", b: "Infinity", c: "-Infinity" });
  });

  it("times as JSON numbers (what protobuf's JSON parsers take for a 64-bit field) are read, to the microsecond", async () => {
    const r = base();
    const spans = r.resourceSpans[0]!.scopeSpans[0]!.spans;
    const text = spans.map((x) => [x.startTimeUnixNano as string, x.endTimeUnixNano as string]);
    for (const x of spans) {
      x.startTimeUnixNano = Number(x.startTimeUnixNano);
      x.endTimeUnixNano = Number(x.endTimeUnixNano);
    }
    expect((await send(app(), JSON.stringify(r))).status).toBe(200);
    const stored = [...store.traces.values()][0]!.data.spans;
    stored.forEach((x, i) => {
      expect(Math.abs(x.startTime - Number(BigInt(text[i]![0]!) / 1000n) / 1000)).toBeLessThan(0.001);
      expect(Math.abs(x.endTime! - Number(BigInt(text[i]![1]!) / 1000n) / 1000)).toBeLessThan(0.001);
    });
  });

  it("unknown fields beside spans are ignored, as OTLP asks of JSON receivers", async () => {
    const r = { ...base(), futureField: { x: 1 } };
    (r.resourceSpans[0] as Record<string, unknown>).futureEntryField = true;
    expect((await send(app(), JSON.stringify(r))).status).toBe(200);
    expect(store.traces.size).toBe(1);
  });

  it("an empty request (`{}`, no resourceSpans, no spans) succeeds and stores nothing, as OTLP answers it", async () => {
    for (const body of ["{}", JSON.stringify({ resourceSpans: [] }), JSON.stringify({ resourceSpans: null })]) {
      const res = await send(app(), body);
      expect(res.status, body).toBe(200);
      expect(await res.json()).toEqual({ partialSuccess: {} });
    }
    expect(store.puts).toBe(0);
  });

  it("an int64 beyond 2^53 keeps its exact digits (as a string) instead of being rounded", async () => {
    const r = base();
    const spans = r.resourceSpans[0]!.scopeSpans[0]!.spans;
    attr(spans, { intValue: "1234567890123456789" }, "snowflake");
    attr(spans, { intValue: "-42" }, "small");
    expect((await send(app(), JSON.stringify(r))).status).toBe(200);
    const [stored] = [...store.traces.values()];
    expect(stored!.data.spans[0]!.attributes).toMatchObject({ snowflake: "1234567890123456789", small: -42 });
  });

  it("one bad span refuses the whole request: the good trace beside it is not written", async () => {
    const good = simpleTrace("good");
    const r = base();
    r.resourceSpans[0]!.scopeSpans[0]!.spans[1]!.startTimeUnixNano = "x";
    r.resourceSpans.push(...(JSON.parse(JSON.stringify(toOtlpExportRequest(good.data.spans))) as Req).resourceSpans);
    const res = await send(app(), r);
    expect(res.status).toBe(400);
    expect(store.traces.size).toBe(0);
  });

  it("a full export of OpenTelemetry's batch processor (512 spans, here 512 one-span traces) is taken whole (before: 413 over 100 trace ids, which OTLP exporters do not retry)", async () => {
    const spans = Array.from({ length: 512 }, (_, i) => simpleTrace(`t${i}`).data.spans.find((s) => s.parentId === null)!);
    const res = await send(app(), toOtlpExportRequest(spans));
    expect(res.status).toBe(200);
    expect(store.traces.size).toBe(512);
  });

  it("too many traces in one request → 413", async () => {
    const spans = [simpleTrace("a"), simpleTrace("b"), simpleTrace("c")].flatMap((t) => t.data.spans);
    const res = await send(app({ limits: { maxTracesPerBatch: 2 } }), toOtlpExportRequest(spans));
    expect(res.status).toBe(413);
    expect(store.puts).toBe(0);
  });
});

// OTLP/HTTP protobuf, the default encoding of OpenTelemetry's Python, Java, Go and Node proto
// exporters (test/mlflow/otlp-proto.test.ts feeds it what MLflow's own Python SDK encodes).
describe("POST /v1/traces with content-type: application/x-protobuf", () => {
  const sendProto = (a: ReturnType<typeof app>, body: Uint8Array, headers: Record<string, string> = {}) =>
    send(a, body.slice().buffer as ArrayBuffer, { "content-type": "application/x-protobuf", ...headers });

  const readableSpans = (trace: Trace) => readableSpansOf(trace.data.spans);

  it("stores exactly what the same spans give as OTLP JSON (both encoded by OpenTelemetry's own serializers), and answers in protobuf", async () => {
    const spans = readableSpans(richTrace()) as never;
    const proto = ProtobufTraceSerializer.serializeRequest(spans)!;
    const json = JsonTraceSerializer.serializeRequest(spans)!;
    const res = await sendProto(app(), proto);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/x-protobuf");
    expect((await res.arrayBuffer()).byteLength).toBe(0); // an empty ExportTraceServiceResponse
    const viaProto = [...store.traces.values()];
    store = new MemoryStore();
    expect((await send(app(), new TextDecoder().decode(json))).status).toBe(200);
    const viaJson = [...store.traces.values()];
    expect(viaProto).toHaveLength(1);
    expect(viaProto).toEqual(viaJson);
    expect(viaProto[0]!.data.spans[1]!.attributes["mlflow.chat.tokenUsage"]).toEqual({ input_tokens: 12, output_tokens: 8, total_tokens: 20 });
  });

  it("OpenTelemetry's JSON serializer writes NaN and Infinity as doubleValue null: the batch is stored, as by protobuf (which keeps their text)", async () => {
    const nan = simpleTrace("nan-trace");
    nan.data.spans[0]!.attributes = { ...nan.data.spans[0]!.attributes, ratio: Number.NaN as never, inf: Number.POSITIVE_INFINITY as never };
    const spans = [...readableSpans(nan), ...readableSpans(simpleTrace("good-trace"))] as never;
    const json = new TextDecoder().decode(JsonTraceSerializer.serializeRequest(spans)!);
    expect(json).toContain('"doubleValue":null');
    expect((await send(app(), json)).status).toBe(200);
    expect(store.traces.size).toBe(2);
    const viaJson = store.traces.get(nan.info.traceId)!;
    expect(viaJson.data.spans[0]!.attributes).toMatchObject({ ratio: null, inf: null });
    store = new MemoryStore();
    expect((await sendProto(app(), ProtobufTraceSerializer.serializeRequest(spans)!)).status).toBe(200);
    const viaProto = store.traces.get(nan.info.traceId)!;
    expect(viaProto.data.spans[0]!.attributes).toMatchObject({ ratio: "NaN", inf: "Infinity" });
  });

  it("an empty protobuf body is an empty request: 200, nothing stored", async () => {
    const res = await sendProto(app(), new Uint8Array(0));
    expect(res.status).toBe(200);
    expect(store.puts).toBe(0);
  });

  it("takes gzip", async () => {
    const proto = ProtobufTraceSerializer.serializeRequest(readableSpans(simpleTrace("zipped")) as never)!;
    const gz = new Uint8Array(await new Response(new Blob([proto]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer());
    expect((await sendProto(app(), gz, { "content-encoding": "gzip" })).status).toBe(200);
    expect(store.traces.size).toBe(1);
  });

  // A small protobuf writer for requests no SDK would build.
  const varint = (n: number): number[] => {
    const out: number[] = [];
    for (; n >= 0x80; n = Math.floor(n / 128)) out.push((n % 128) | 0x80);
    return [...out, n];
  };
  const len = (field: number, bytes: number[]) => [...varint(field * 8 + 2), ...varint(bytes.length), ...bytes];
  const str = (field: number, s: string) => len(field, [...new TextEncoder().encode(s)]);
  const ids = (field: number, hex: string) => len(field, hex.match(/../g)!.map((h) => parseInt(h, 16)));
  const fixed = (field: number, wire: 1, write: (v: DataView) => void) => {
    const b = new Uint8Array(8);
    write(new DataView(b.buffer));
    return [...varint(field * 8 + wire), ...b];
  };
  const time = (field: number, ns: bigint) => fixed(field, 1, (v) => v.setBigUint64(0, ns, true));
  const attribute = (key: string, anyValue: number[]) => len(9, [...str(1, key), ...len(2, anyValue)]);
  const span = (...extra: number[][]) =>
    [...ids(1, "0af7651916cd43dd8448eb211c80319c"), ...ids(2, "b7ad6b7169203331"), ...str(5, "root"), ...time(7, 1_700_000_000_000_000_000n), ...time(8, 1_700_000_001_000_000_000n), ...extra.flat()];
  const request = (spanBytes: number[]) => Uint8Array.from(len(1, len(2, len(2, spanBytes))));

  it("keeps int64 exactly, a negative int, a bool, bytes as base64, and a NaN double as its text", async () => {
    const big = (n: bigint) => { // int_value (3) as a 10-byte two's complement varint
      const out: number[] = [3 * 8];
      let v = BigInt.asUintN(64, n);
      for (; v >= 0x80n; v >>= 7n) out.push(Number(v & 0x7fn) | 0x80);
      return [...out, Number(v)];
    };
    const body = request(span(
      attribute("snowflake", big(1234567890123456789n)),
      attribute("negative", big(-42n)),
      attribute("flag", [2 * 8, 1]),
      attribute("raw", len(7, [1, 2, 3])),
      attribute("nan", fixed(4, 1, (v) => v.setFloat64(0, Number.NaN, true))),
      attribute("pi", fixed(4, 1, (v) => v.setFloat64(0, 3.25, true))),
    ));
    expect((await sendProto(app(), body)).status).toBe(200);
    const [stored] = [...store.traces.values()];
    expect(stored!.data.spans[0]!.attributes).toMatchObject({ snowflake: "1234567890123456789", negative: -42, flag: true, raw: "AQID", nan: "NaN", pi: 3.25 });
  });

  it("reads what protobuf libraries read: a status or value seen twice is merged, a 64-bit status code is an int32, a field with another wire type is skipped", async () => {
    const body = request(span(
      len(15, [...varint(3 * 8), ...varint(2)]), // status { code: ERROR }
      len(15, str(2, "tool broke")), // status { message } again: merged, still ERROR
      len(15, []), // and an empty one changes nothing
      [...varint(5 * 8 + 0), ...varint(7)], // name as a varint: skipped, not refused
    ));
    const res = await sendProto(app(), body);
    expect(res.status).toBe(200);
    const [stored] = [...store.traces.values()];
    expect(stored!.data.spans[0]!.status).toEqual({ statusCode: "STATUS_CODE_ERROR", description: "tool broke" });
    expect(stored!.data.spans[0]!.name).toBe("root");
    // One KeyValue whose value comes in two parts (two messages concatenated): the arrays are joined.
    store = new MemoryStore();
    const split = request(span(len(9, [...str(1, "tags"), ...len(2, len(5, len(1, str(1, "a")))), ...len(2, len(5, len(1, str(1, "b")))), ...len(2, [])])));
    expect((await sendProto(app(), split)).status).toBe(200);
    expect([...store.traces.values()][0]!.data.spans[0]!.attributes.tags).toEqual(["a", "b"]);
    // Status code 2^32 + 2, as a 64-bit varint: protobuf reads the int32 enum 2 (ERROR).
    store = new MemoryStore();
    const wide = request(span(len(15, [...varint(3 * 8), ...varint(2 ** 32 + 2)])));
    expect((await sendProto(app(), wide)).status).toBe(200);
    expect([...store.traces.values()][0]!.data.spans[0]!.status.statusCode).toBe("STATUS_CODE_ERROR");
  });

  it("a small body that decodes into millions of values (empty spans, empty attributes; gzipped: 1 KB) → 413, before it fills the isolate's memory", async () => {
    const gzip = async (bytes: Uint8Array) => new Uint8Array(await new Response(new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer());
    const emptySpans = Uint8Array.from(len(1, len(2, Array.from({ length: 200_000 }, () => [2 * 8 + 2, 0]).flat())));
    const emptyAttributes = request(span(Array.from({ length: 200_000 }, () => [9 * 8 + 2, 0]).flat()));
    // Empty ResourceSpans and ScopeSpans are values too (before: not counted, 40 MB of heap for a 1 KB body, then a 400).
    const emptyResourceSpans = Uint8Array.from(Array.from({ length: 200_000 }, () => [1 * 8 + 2, 0]).flat());
    const emptyScopeSpans = Uint8Array.from(len(1, Array.from({ length: 200_000 }, () => [2 * 8 + 2, 0]).flat()));
    for (const body of [emptySpans, emptyAttributes, emptyResourceSpans, emptyScopeSpans]) {
      const zipped = await gzip(body);
      expect(zipped.length).toBeLessThan(2_000);
      const res = await sendProto(app(), zipped, { "content-encoding": "gzip" });
      expect(res.status).toBe(413);
      const b = new Uint8Array(await res.arrayBuffer());
      expect([b[0], b[1]]).toEqual([0x08, 8]); // RESOURCE_EXHAUSTED
    }
    expect(store.puts).toBe(0);
  });

  // One attribute whose `value` field comes n times, each an array of one value: protobuf joins
  // them into one array of n. The join appends in place and counts every value it moves.
  const repeatedValue = (n: number, item: number[]) => {
    const oneValue = len(2, len(5, len(1, item)));
    const kv = [...str(1, "a")];
    for (let i = 0; i < n; i++) kv.push(...oneValue);
    return request(span(len(9, kv)));
  };

  it("an attribute's value repeated 60,000 times (gzipped: under 1 KB) → 413: joining the arrays counts toward the decoded values", async () => {
    const gzip = async (bytes: Uint8Array) => new Uint8Array(await new Response(new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer());
    // 2 values made per repeat (120,000, within the 131,072 of 1 MiB) plus 1 moved per join.
    const zipped = await gzip(repeatedValue(60_000, []));
    expect(zipped.length).toBeLessThan(1_000);
    const res = await sendProto(app(), zipped, { "content-encoding": "gzip" });
    expect(res.status).toBe(413);
    const b = new Uint8Array(await res.arrayBuffer());
    expect([b[0], b[1]]).toEqual([0x08, 8]); // RESOURCE_EXHAUSTED
    expect(new TextDecoder().decode(b)).toContain("the request decodes into too many values");
    expect(store.puts).toBe(0);
  });

  it("an attribute's value repeated 400,000 times, within raised limits, is joined in linear time (copying the array on each join would take minutes)", async () => {
    const limits = { maxBodyBytes: 16 << 20, maxValueBytes: 4 << 20 };
    const res = await sendProto(app({ limits }), repeatedValue(400_000, [2 * 8, 1])); // [true] each time
    expect(res.status).toBe(200);
    const values = [...store.traces.values()][0]!.data.spans[0]!.attributes.a as boolean[];
    expect(values).toHaveLength(400_000);
    expect(values.every((v) => v === true)).toBe(true);
  });

  const hostile: [string, () => Uint8Array, RegExp][] = [
    ["truncated mid-field", () => request(span()).slice(0, 30), /ends inside a field/],
    ["not protobuf at all (JSON sent as protobuf)", () => new TextEncoder().encode(JSON.stringify({ resourceSpans: [] })), /looks like JSON; send JSON with content-type: application\/json/],
    ["a span without a start time", () => request([...ids(1, "0af7651916cd43dd8448eb211c80319c"), ...ids(2, "b7ad6b7169203331"), ...str(5, "root")]), /startTimeUnixNano/],
    ["a group wire type", () => request([...span(), ...varint(20 * 8 + 3)]), /wire type 3/],
    ["a string that is not UTF-8", () => request([...ids(1, "0af7651916cd43dd8448eb211c80319c"), ...ids(2, "b7ad6b7169203331"), ...len(5, [0xff, 0xfe]), ...time(7, 1n)]), /not valid UTF-8/],
    ["a varint longer than 10 bytes", () => request([...span(), ...varint(6 * 8), ...Array(11).fill(0xff), 0]), /varint/],
    ["a span id of 3 bytes", () => request([...ids(1, "0af7651916cd43dd8448eb211c80319c"), ...ids(2, "b7ad6b"), ...time(7, 1n)]), /spanId/],
    ["an array nested 3000 deep (refused while decoding, before the stack runs out)", () => {
      let v = str(1, "x");
      for (let i = 0; i < 3000; i++) v = len(5, len(1, v));
      return request(span(attribute("deep", v)));
    }, /an attribute value is nested more than 64 levels/],
  ];
  for (const [name, body, message] of hostile) {
    it(`${name} → 400 as a protobuf google.rpc.Status, nothing stored`, async () => {
      const res = await sendProto(app(), body());
      expect(res.status).toBe(400);
      const b = new Uint8Array(await res.arrayBuffer());
      expect(res.headers.get("content-type")).toBe("application/x-protobuf");
      expect([b[0], b[1]]).toEqual([0x08, 3]); // code: INVALID_ARGUMENT
      expect(new TextDecoder().decode(b)).toMatch(message);
      expect(store.puts).toBe(0);
    });
  }

  it("mounted under a prefix, a refusal is still a protobuf Status", async () => {
    const { Hono } = await import("hono");
    const host = new Hono().route("/otel", app());
    const res = await host.request(`${SELF}/otel/v1/traces`, { method: "POST", body: request(span()), headers: { "content-type": "application/x-protobuf" } });
    expect(res.status).toBe(401);
    expect(res.headers.get("content-type")).toBe("application/x-protobuf");
    const b = new Uint8Array(await res.arrayBuffer());
    expect([b[0], b[1]]).toEqual([0x08, 16]); // UNAUTHENTICATED
  });

  it("a store failure → 503 with Retry-After, as a protobuf Status with UNAVAILABLE", async () => {
    store.fail = true;
    const res = await sendProto(app(), ProtobufTraceSerializer.serializeRequest(readableSpans(simpleTrace("down")) as never)!);
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("5");
    const b = new Uint8Array(await res.arrayBuffer());
    expect([b[0], b[1]]).toEqual([0x08, 14]); // code: UNAVAILABLE
  });
});
