import { describe, expect, it } from "vitest";
import * as mlflow from "../index.js";
import { captureWarnings, setup, shape, sleep } from "../../test/unit/helpers.js";

describe("startSpan", () => {
  it("creates a span that is not active, ends with outputs/attributes/status, and nests under an explicit parent", async () => {
    const t = setup();
    const root = mlflow.startSpan({ name: "root", spanType: mlflow.SpanType.AGENT, inputs: { q: "hi" } });
    expect(mlflow.getCurrentActiveSpan()).toBeNull();
    const child = mlflow.startSpan({ name: "retrieve", spanType: mlflow.SpanType.RETRIEVER, parent: root, attributes: { k: 3 } });
    child.end({ outputs: ["doc1"], attributes: { hits: 1 } });
    root.end({ outputs: "answer", status: "OK" });
    expect(shape(await t.only())).toEqual([
      { name: "root", parent: null, spanType: "AGENT", inputs: { q: "hi" }, outputs: "answer", status: "OK" },
      { name: "retrieve", parent: "root", spanType: "RETRIEVER", outputs: ["doc1"], status: "OK", attrs: { k: 3, hits: 1 } },
    ]);
  });

  it("takes MLflow's startTimeNs/endTimeNs: request time and duration follow them", async () => {
    const t = setup();
    const span = mlflow.startSpan({ name: "timed", startTimeNs: 1_000_000_000 });
    span.end({ endTimeNs: 3_000_000_000n });
    const trace = await t.only();
    expect(trace.info.requestTime).toBe(1000);
    expect(trace.info.executionDuration).toBe(2000);
    expect(trace.data.spans[0]!.startTime).toBe(1000);
    expect(trace.data.spans[0]!.endTime).toBe(3000);
  });

  it("accepts 'ERROR' as a plain string (MLflow's TS SDK ignores it) and keeps ERROR at end", async () => {
    const t = setup();
    const a = mlflow.startSpan({ name: "a" });
    a.setStatus("ERROR", "upstream 503");
    a.end();
    const b = mlflow.startSpan({ name: "b" });
    b.setStatus(mlflow.SpanStatusCode.ERROR);
    b.end({ status: { statusCode: mlflow.SpanStatusCode.ERROR, description: "bad" } });
    const c = mlflow.startSpan({ name: "c" });
    c.end({ status: "UNSET" });
    const [ta, tb, tc] = await t.traces();
    expect(ta!.data.spans[0]!.status).toEqual({ statusCode: "STATUS_CODE_ERROR", description: "upstream 503" });
    expect(ta!.info.state).toBe("ERROR");
    expect(tb!.data.spans[0]!.status).toEqual({ statusCode: "STATUS_CODE_ERROR", description: "bad" });
    expect(tc!.data.spans[0]!.status.statusCode).toBe("STATUS_CODE_OK");
  });

  it("ignores writes after end with one warning, and a second end()", async () => {
    const w = captureWarnings();
    const t = setup();
    const span = mlflow.startSpan({ name: "done" });
    span.end({ outputs: 1 });
    span.setOutputs(2);
    span.setAttribute("late", true);
    span.end({ outputs: 3 });
    expect(shape(await t.only())[0]).toMatchObject({ outputs: 1 });
    expect(span.outputs).toBe(1);
    expect(w.messages().filter((m) => m.includes("after it ended"))).toHaveLength(2);
    w.restore();
  });

  it("withSpan and trace() whose callback ended the span itself keep what it ended with, and warn about nothing", async () => {
    const w = captureWarnings();
    const t = setup();
    mlflow.withSpan((span) => {
      span.end({ outputs: "ended early" });
      return "returned";
    }, { name: "self-ended" });
    mlflow.trace(function selfEnded() {
      mlflow.getCurrentActiveSpan()!.end();
      return "returned";
    })();
    const traces = await t.traces();
    expect(traces.map((tr) => tr.data.spans[0]!.outputs)).toEqual(["ended early", undefined]);
    expect(w.messages()).toEqual([]);
    w.restore();
  });

  it("a root deduplicated with its child (step, step → step_1, step_2) still names the trace step, as Python names it at the start", async () => {
    const t = setup();
    mlflow.withSpan(() => mlflow.withSpan(() => 1, { name: "step" }), { name: "step" });
    const [trace] = await t.traces();
    expect(trace!.data.spans.map((s) => s.name)).toEqual(["step_1", "step_2"]);
    expect(trace!.info.tags["mlflow.traceName"]).toBe("step");
  });

  it("exposes ids, name, type, times, status, inputs, outputs, attributes and events on the live span", () => {
    setup();
    const span = mlflow.startSpan({ name: "live", spanType: "custom-type", inputs: [1, 2] });
    span.addEvent({ name: "retry", attributes: { attempt: 2, reason: { code: 429 } } });
    span.addEvent("plain");
    // Arrays of one primitive type stay typed (as Python's SDK stores them); mixed ones go as JSON text.
    const ints = [1, 2, 3];
    span.addEvent({ name: "arrays", attributes: { ints, bools: [true, false], tags: ["a"], mixed: [1, "a"], bad: [1, Number.NaN], holes: [1, , 2] } }); // eslint-disable-line no-sparse-arrays
    ints.push(4); // captured when added
    expect(span.traceId).toMatch(/^tr-[0-9a-f]{32}$/);
    expect(span.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(span.parentId).toBeNull();
    expect([span.name, span.spanType, span.inputs, span.outputs, span.endTime]).toEqual(["live", "custom-type", [1, 2], undefined, null]);
    expect(span.status).toEqual({ statusCode: "STATUS_CODE_UNSET", description: "" });
    expect(span.attributes).toEqual({ "mlflow.traceRequestId": span.traceId, "mlflow.spanType": "custom-type", "mlflow.spanInputs": [1, 2] });
    expect(span.events.map((e) => [e.name, e.attributes])).toEqual([
      ["retry", { attempt: 2, reason: '{"code": 429}' }],
      ["plain", {}],
      ["arrays", { ints: [1, 2, 3], bools: [true, false], tags: ["a"], mixed: '[1, "a"]', bad: '[1, "NaN"]', holes: "[1, null, 2]" }],
    ]);
    expect(span.startTime).toBeLessThanOrEqual(Date.now() + 1);
    span.end();
    expect(span.endTime).toBeGreaterThanOrEqual(span.startTime);
  });
});

describe("withSpan", () => {
  it("returns the callback's value (sync and async) and records it as outputs unless set", async () => {
    const t = setup();
    expect(mlflow.withSpan(() => 42, { name: "sync" })).toBe(42);
    expect(await mlflow.withSpan(async () => { await sleep(1); return { ok: true }; }, { name: "async" })).toEqual({ ok: true });
    mlflow.withSpan((span) => { span.setOutputs("explicit"); return "ignored"; }, { name: "explicit" });
    mlflow.withSpan(() => null, { name: "null" });
    mlflow.withSpan(() => {}, { name: "void" });
    expect((await t.traces()).map((tr) => shape(tr)[0]!.outputs)).toEqual([42, { ok: true }, "explicit", null, undefined]);
  });

  it("records a thrown error and rethrows it; an async rejection too", async () => {
    const t = setup();
    const err = new Error("nope");
    expect(() => mlflow.withSpan(() => { throw err; }, { name: "sync" })).toThrow(err);
    await expect(mlflow.withSpan(async () => { throw err; }, { name: "async" })).rejects.toBe(err);
    for (const trace of await t.traces()) {
      expect(trace.info.state).toBe("ERROR");
      expect(trace.data.spans[0]!.status.description).toBe("Error: nope");
    }
  });

  it("keeps Promise.all branches in separate traces at top level and under a parent", async () => {
    const t = setup();
    const branch = (name: string, delay: number) =>
      mlflow.withSpan(async () => { await sleep(delay); mlflow.withSpan(() => 0, { name: `${name}-leaf` }); }, { name });
    await Promise.all([branch("x", 5), branch("y", 1)]);
    await mlflow.withSpan(async () => { await Promise.all([branch("p", 5), branch("q", 1)]); }, { name: "parent" });
    const traces = await t.traces();
    expect(traces.map((tr) => shape(tr).map((s) => `${s.name}<${s.parent}`))).toEqual([
      ["y<null", "y-leaf<y"],
      ["x<null", "x-leaf<x"],
      ["parent<null", "p<parent", "q<parent", "q-leaf<q", "p-leaf<p"],
    ]);
  });
});

describe("updateCurrentTrace and trace-level fields", () => {
  it("sets tags, metadata, client request id, session, user and state", async () => {
    const t = setup();
    mlflow.withSpan(() => {
      mlflow.updateCurrentTrace({
        tags: { env: "dev" }, metadata: { build: "42" }, clientRequestId: "req-1", sessionId: "sess-1", user: "alice", state: "ERROR",
      });
    }, { name: "root" });
    const info = (await t.only()).info;
    expect(info.tags).toEqual({ env: "dev", "mlflow.traceName": "root" });
    expect(info.traceMetadata).toMatchObject({ build: "42", "mlflow.trace.session": "sess-1", "mlflow.trace.user": "alice", "mlflow.trace_schema.version": "3" });
    expect(info.clientRequestId).toBe("req-1");
    expect(info.state).toBe("ERROR"); // pinned by the user although the root span is OK
  });

  it("a list sessionId is a hierarchical session, stored as compact JSON as Python stores it; a list that is not one is ignored with a warning", async () => {
    const t = setup();
    const w = captureWarnings();
    try {
      mlflow.withSpan(() => mlflow.updateCurrentTrace({ sessionId: ["conv-1", "turn 2", "é"] }), { name: "nested" });
      mlflow.withSpan(() => mlflow.updateCurrentTrace({ sessionId: [] }), { name: "empty" });
      mlflow.withSpan(() => mlflow.updateCurrentTrace({ sessionId: ["a", 1] as unknown as string[] }), { name: "mixed" });
      // A hole (Python refuses None), a list that cannot be read, one with its own toJSON.
      const { proxy, revoke } = Proxy.revocable(["a"], {});
      revoke();
      const own = Object.assign(["conv-2"], { toJSON: () => "x" });
      mlflow.withSpan(() => mlflow.updateCurrentTrace({ sessionId: [, "a"] as unknown as string[] }), { name: "hole" });
      mlflow.withSpan(() => mlflow.updateCurrentTrace({ sessionId: proxy }), { name: "revoked" });
      mlflow.withSpan(() => mlflow.updateCurrentTrace({ sessionId: own }), { name: "toJSON" });
      const [nested, empty, mixed, hole, revoked, withToJSON] = await t.traces();
      expect([hole, revoked].map((tr) => tr!.info.traceMetadata["mlflow.trace.session"])).toEqual([undefined, undefined]);
      expect(withToJSON!.info.traceMetadata["mlflow.trace.session"]).toBe('["conv-2"]');
      expect(nested!.info.traceMetadata["mlflow.trace.session"]).toBe('["conv-1","turn 2","é"]');
      expect(empty!.info.traceMetadata["mlflow.trace.session"]).toBeUndefined();
      expect(mixed!.info.traceMetadata["mlflow.trace.session"]).toBeUndefined();
      expect(w.messages().filter((m) => /non-empty list of strings/.test(m))).toHaveLength(1);
    } finally {
      w.restore();
    }
  });

  it("warns (once) instead of throwing when no trace is active", () => {
    const w = captureWarnings();
    setup();
    mlflow.updateCurrentTrace({ tags: { a: "b" } });
    mlflow.updateCurrentTrace({ tags: { a: "b" } });
    expect(w.messages().filter((m) => m.includes("no active trace"))).toHaveLength(1);
    w.restore();
  });

  it("computes chat-aware previews, trace input/output metadata and aggregated token usage", async () => {
    const t = setup();
    const llm = mlflow.trace(function llm(messages: { role: string; content: string }[]) {
      mlflow.getCurrentActiveSpan()?.setAttribute("mlflow.chat.tokenUsage", { input_tokens: 10, output_tokens: 5, total_tokens: 15 });
      return { choices: [{ message: { role: "assistant", content: "Paris." } }] };
    }, { spanType: "CHAT_MODEL" });
    const agent = mlflow.trace(function agent(messages: { role: string; content: string }[]) {
      llm(messages);
      return llm(messages);
    });
    agent([{ role: "system", content: "Be brief." }, { role: "user", content: "Capital of France?" }]);
    const info = (await t.only()).info;
    expect(info.requestPreview).toBe("Capital of France?");
    expect(info.responsePreview).toBe("Paris.");
    expect(info.traceMetadata["mlflow.trace.tokenUsage"]).toBe('{"input_tokens": 20, "output_tokens": 10, "total_tokens": 30}');
    expect(info.traceMetadata["mlflow.traceInputs"]).toBe(
      '{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}]}',
    );
  });

  it("reports the last finished trace id", async () => {
    setup();
    mlflow.withSpan(() => 1, { name: "a" });
    const span = mlflow.startSpan({ name: "b" });
    span.end();
    expect(mlflow.getLastActiveTraceId()).toBe(span.traceId);
  });

  it("is the trace whose root ended last, even while a child of it still runs (as Python sets it when the root ends)", async () => {
    const t = setup();
    mlflow.withSpan(() => 1, { name: "first" });
    let release = () => {};
    const background = mlflow.trace(function background() { return new Promise<void>((r) => (release = r)); });
    const handler = mlflow.trace(async function handler() { void background(); return "done"; });
    await handler();
    const id = mlflow.getLastActiveTraceId();
    release();
    await mlflow.flushTraces();
    expect(id).not.toBe(undefined);
    expect(id).toBe(mlflow.getLastActiveTraceId()); // the same once the child ended
    const traces = (await t.traces()).map((t) => [t.data.spans[0]!.name, t.info.traceId]);
    expect(traces.find(([name]) => name === "handler")?.[1]).toBe(id);
  });
});

// Found by comparing with MLflow's Python SDK (each fails on the code before it).
describe("as MLflow's Python SDK records them", () => {
  it("null given as a span's start inputs or end outputs is none: no attribute, no 'null' in the Request/Response previews (setOutputs(null) still records it)", async () => {
    const t = setup();
    mlflow.startSpan({ name: "a", inputs: { q: 1 } }).end({ outputs: null });
    mlflow.startSpan({ name: "b", inputs: null as never }).end({ outputs: { a: 1 } });
    const [a, b] = await t.traces();
    expect(a!.data.spans[0]!.attributes).not.toHaveProperty("mlflow.spanOutputs");
    expect(a!.info.responsePreview ?? "").toBe("");
    expect(b!.data.spans[0]!.attributes).not.toHaveProperty("mlflow.spanInputs");
    expect(b!.info.requestPreview ?? "").toBe("");
    const s = mlflow.startSpan({ name: "c" });
    s.setOutputs(null);
    s.end();
    expect((await t.traces())[2]!.data.spans[0]!.attributes["mlflow.spanOutputs"]).toBeNull();
  });

  it("getLastActiveTraceId() survives init() again, and names a trace that was open across it once it ends", async () => {
    setup();
    mlflow.withSpan(() => 1, { name: "first" });
    const first = mlflow.getLastActiveTraceId();
    expect(first).toMatch(/^tr-/);
    setup();
    expect(mlflow.getLastActiveTraceId()).toBe(first);
    const open = mlflow.startSpan({ name: "across" });
    setup();
    open.end();
    expect(mlflow.getLastActiveTraceId()).toBe(open.traceId);
  });

  it("recordException(\"text\") is an Exception with that message (Python wraps a string so); a BigInt event attribute a number holds is that number", async () => {
    const t = setup();
    mlflow.withSpan((s) => {
      s.recordException("string error");
      s.addEvent({ name: "e", attributes: { big: 10n, huge: 2n ** 64n } });
    }, { name: "s" });
    const span = (await t.only()).data.spans[0]!;
    expect(span.events[0]!.attributes).toMatchObject({ "exception.type": "Exception", "exception.message": "string error" });
    expect(span.status).toEqual({ statusCode: "STATUS_CODE_ERROR", description: "Exception: string error" });
    expect(span.events[1]!.attributes.big).toBe(10);
    expect(typeof span.events[1]!.attributes.huge).toBe("string");
  });
});
