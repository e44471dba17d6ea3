// Code written for MLflow's TypeScript SDK, with only the import changed, records what it records
// there: the SDK's constant names, explicit outputs inside trace(), getAttribute, and the
// distributed tracing helpers (getTracingContextHeadersForHttpRequest / withTracingContextFromHeaders).
import { AsyncLocalStorage } from "node:async_hooks";
import { describe, expect, it } from "vitest";
import * as mlflow from "../index.js";
import { captureWarnings, setup, sleep } from "../../test/unit/helpers.js";

describe("MLflow TS SDK names", () => {
  it("token usage recorded under SpanAttributeKey.TOKEN_USAGE with TokenUsageKey is summed into the trace", async () => {
    const t = setup();
    mlflow.withSpan(() => {
      mlflow.withSpan((llm) => {
        llm.setAttribute(mlflow.SpanAttributeKey.TOKEN_USAGE, {
          [mlflow.TokenUsageKey.INPUT_TOKENS]: 12,
          [mlflow.TokenUsageKey.OUTPUT_TOKENS]: 4,
          [mlflow.TokenUsageKey.TOTAL_TOKENS]: 16,
        });
      }, { name: "llm", spanType: mlflow.SpanType.LLM });
    }, { name: "agent" });
    const trace = await t.only();
    expect(trace.data.spans[1]!.attributes["mlflow.chat.tokenUsage"]).toEqual({ input_tokens: 12, output_tokens: 4, total_tokens: 16 });
    expect(JSON.parse(trace.info.traceMetadata[mlflow.TraceMetadataKey.TOKEN_USAGE]!)).toEqual({ input_tokens: 12, output_tokens: 4, total_tokens: 16 });
  });

  it("session and user set through TraceMetadataKey.TRACE_SESSION / TRACE_USER land under MLflow's keys", async () => {
    const t = setup();
    mlflow.withSpan(() => {
      mlflow.updateCurrentTrace({
        metadata: { [mlflow.TraceMetadataKey.TRACE_SESSION]: "session-1", [mlflow.TraceMetadataKey.TRACE_USER]: "user-1" },
      });
    }, { name: "chat" });
    const meta = (await t.only()).info.traceMetadata;
    expect(meta["mlflow.trace.session"]).toBe("session-1");
    expect(meta["mlflow.trace.user"]).toBe("user-1");
    expect(meta).not.toHaveProperty("undefined");
  });

  it("the SDK's other constants have its values", () => {
    expect(mlflow.SpanAttributeKey.TRACE_ID).toBe("mlflow.traceRequestId");
    expect(mlflow.SpanAttributeKey.EXPERIMENT_ID).toBe("mlflow.experimentId");
    expect(mlflow.SpanAttributeKey.SESSION_ID).toBe("session.id");
    expect(mlflow.TraceTagKey.MLFLOW_ARTIFACT_LOCATION).toBe("mlflow.artifactLocation");
    expect(mlflow.TRACE_SCHEMA_VERSION).toBe("3");
    expect(mlflow.DEFAULT_SPAN_NAME).toBe("span");
    expect(mlflow.REQUEST_RESPONSE_PREVIEW_MAX_LENGTH).toBe(1000);
    setup();
    const span = mlflow.startSpan({ name: "s" });
    expect(span.traceId.startsWith(mlflow.TRACE_ID_PREFIX)).toBe(true);
    span.setInputs({ q: 1 });
    expect(span.getAttribute(mlflow.SpanAttributeKey.TRACE_ID)).toBe(span.traceId);
    expect(span.getAttribute(mlflow.SpanAttributeKey.INPUTS)).toEqual({ q: 1 });
    expect(span.getAttribute("missing")).toBeUndefined();
    span.addEvent({ name: "retrieved", attributes: { n: 3 }, timestamp: 1_700_000_000_123_000_000n }); // the SDK's bigint nanoseconds
    expect(span.events[0]!.timestamp).toBe(1_700_000_000_123);
    span.end();
  });
});

describe("trace() and outputs the function set itself", () => {
  it("keeps them, as MLflow's SDKs do; the return value is the outputs otherwise", async () => {
    const t = setup();
    const curated = mlflow.trace(function curated(q: string) {
      mlflow.getCurrentActiveSpan()?.setOutputs({ answer: `A: ${q}` });
      return { text: `A: ${q}`, tokens: 7 };
    });
    const plain = mlflow.trace(async function plain(q: string) {
      await sleep(1);
      return { text: q };
    });
    const asyncCurated = mlflow.trace(async function asyncCurated() {
      await sleep(1);
      mlflow.getCurrentActiveSpan()?.setOutputs("set inside");
      return "returned";
    });
    expect(curated("why?")).toEqual({ text: "A: why?", tokens: 7 });
    await plain("x");
    expect(await asyncCurated()).toBe("returned");
    const outputs = (await t.traces()).map((tr) => [tr.data.spans[0]!.name, tr.data.spans[0]!.outputs]);
    expect(outputs).toEqual([
      ["curated", { answer: "A: why?" }],
      ["plain", { text: "x" }],
      ["asyncCurated", "set inside"],
    ]);
  });
});

describe("distributed tracing helpers", () => {
  const remote = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

  it("a server's spans inside withTracingContextFromHeaders join the caller's trace, under its span", async () => {
    const t = setup({ contextManager: new mlflow.AsyncLocalStorageContextManager(AsyncLocalStorage) });
    const handler = mlflow.trace(async function handler(body: string) {
      await sleep(1);
      return mlflow.withSpan(() => body.toUpperCase(), { name: "work" });
    });
    // Node's req.headers (lower-case keys), a Fetch Headers object, and an array value.
    expect(await mlflow.withTracingContextFromHeadersAsync({ traceparent: remote, host: "x" }, () => handler("a"))).toBe("A");
    await mlflow.withTracingContextFromHeaders(new Headers({ TraceParent: remote }), () => handler("b"));
    await mlflow.withTracingContextFromHeaders({ Traceparent: [remote] }, () => handler("c"));
    const traces = await t.traces();
    expect(traces).toHaveLength(3);
    for (const trace of traces) {
      expect(trace.info.traceId).toBe("tr-0af7651916cd43dd8448eb211c80319c");
      const [root, work] = trace.data.spans;
      expect(root).toMatchObject({ name: "handler", parentId: "b7ad6b7169203331" });
      expect(work).toMatchObject({ name: "work", parentId: root!.spanId });
    }
  });

  it("inside withTracingContextFromHeaders no span of ours is active yet", () => {
    setup({ contextManager: new mlflow.AsyncLocalStorageContextManager(AsyncLocalStorage) });
    const warnings = captureWarnings();
    mlflow.withTracingContextFromHeaders({ traceparent: remote }, () => {
      expect(mlflow.getCurrentActiveSpan()).toBeNull();
      mlflow.updateCurrentTrace({ tags: { a: "b" } }); // nothing to update: warned, not thrown
      // Passing the context on unchanged (a proxy in the middle) keeps the caller's span as parent.
      expect(mlflow.getTracingContextHeadersForHttpRequest()).toEqual({ traceparent: remote });
    });
    expect(warnings.messages().join("\n")).toContain("updateCurrentTrace() found no active trace");
    warnings.restore();
  });

  it("a missing or forged header runs the handler anyway, as a new trace, with one warning", async () => {
    const t = setup();
    const warnings = captureWarnings();
    for (const headers of [{}, { traceparent: "00-zz-evil-01" }, { traceparent: `${remote}\u0000` }, new Headers()]) {
      expect(mlflow.withTracingContextFromHeaders(headers, () => mlflow.withSpan(() => "ok", { name: "handler" }))).toBe("ok");
    }
    const traces = await t.traces();
    expect(traces).toHaveLength(4);
    expect(traces.every((tr) => tr.data.spans[0]!.parentId === null)).toBe(true);
    expect(warnings.messages().filter((m) => m.includes("no valid traceparent"))).toHaveLength(1);
    warnings.restore();
  });

  it("getTracingContextHeadersForHttpRequest names the active span, for the next process to join", async () => {
    const t = setup();
    const warnings = captureWarnings();
    expect(mlflow.getTracingContextHeadersForHttpRequest()).toEqual({});
    expect(warnings.messages().join("\n")).toContain("no active span");
    warnings.restore();
    let headers: Record<string, string> = {};
    mlflow.withSpan((span) => {
      headers = mlflow.getTracingContextHeadersForHttpRequest();
      expect(mlflow.parseTraceparent(headers.traceparent)).toEqual({ sampled: true, traceId: span.traceId, spanId: span.spanId, remote: true });
    }, { name: "client" });
    const [client] = (await t.only()).data.spans;
    // The receiving side, in the same process for the test.
    mlflow.withTracingContextFromHeaders(headers, () => mlflow.withSpan(() => undefined, { name: "server" }));
    const server = (await t.traces())[1]!.data.spans[0]!;
    expect(server.traceId).toBe(client!.traceId);
    expect(server.parentId).toBe(client!.spanId);
  });
});

describe("span hooks (registerOnSpanStartHook / registerOnSpanEndHook)", () => {
  it("see every span as it starts and as it ends; an end hook can still add attributes; survive init()", async () => {
    const started: string[] = [];
    const onStart = (span: mlflow.LiveSpan) => started.push(`${span.name}:${JSON.stringify(span.inputs)}`);
    const onEnd = (span: mlflow.LiveSpan) => {
      const model = span.getAttribute("model");
      if (model) span.setAttributes({ displayName: `openai/${String(model)}` });
      span.end(); // ending again from a hook changes nothing
    };
    mlflow.registerOnSpanStartHook(onStart);
    mlflow.registerOnSpanEndHook(onEnd);
    const throwing = () => {
      throw new Error("hook bug");
    };
    mlflow.registerOnSpanEndHook(throwing);
    try {
      const t = setup(); // init() after registering: the hooks stay
      const warnings = captureWarnings();
      const llm = mlflow.trace(function llm(prompt: string) { return prompt.length; }, { attributes: { model: "gpt-4o-mini" } });
      mlflow.withSpan(() => llm("hi"), { name: "agent", inputs: { q: 1 } });
      const trace = await t.only();
      expect(started).toEqual(['agent:{"q":1}', 'llm:{"prompt":"hi"}']);
      expect(trace.data.spans.map((s) => [s.name, s.attributes.displayName, s.status.statusCode, s.endTime !== null])).toEqual([
        ["agent", undefined, mlflow.SpanStatusCode.OK, true],
        ["llm", "openai/gpt-4o-mini", mlflow.SpanStatusCode.OK, true],
      ]);
      expect(warnings.messages().filter((m) => m.includes("span end hook threw"))).toHaveLength(1);
      warnings.restore();
      mlflow.unregisterOnSpanStartHook(onStart);
      mlflow.withSpan(() => undefined, { name: "after" });
      expect(started).toHaveLength(2);
    } finally {
      mlflow.clearOnSpanStartHooks();
      mlflow.clearOnSpanEndHooks();
    }
  });
});
