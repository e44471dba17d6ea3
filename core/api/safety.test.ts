// Tracing must never break the traced program.
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it, vi } from "vitest";
import * as mlflow from "../index.js";
import { captureWarnings, setup, shape, sleep } from "../../test/unit/helpers.js";
import { resetWarnings } from "../debug.js";
import { getTracer } from "../tracer.js";
import { toOtlpExportRequest } from "../serialize/otlp.js";

/** Runs `fn` with the wall clock (`Date.now`) moved by `offsetMs`: a clock set back, a laptop's sleep. */
async function wallClockMoved<T>(offsetMs: number, fn: () => T | Promise<T>): Promise<T> {
  const realNow = Date.now.bind(Date);
  const spy = vi.spyOn(Date, "now").mockImplementation(() => realNow() + offsetMs);
  try {
    return await fn();
  } finally {
    spy.mockRestore();
  }
}

describe("tracing never breaks the traced program", () => {
  it("keeps name, length, static properties and `this` of a traced function", () => {
    setup();
    function fetchDocs(query: string, limit = 3) { return `${query}:${limit}`; }
    (fetchDocs as unknown as { version: number }).version = 2;
    const traced = mlflow.trace(fetchDocs);
    expect(traced.name).toBe("fetchDocs");
    expect(traced.length).toBe(1);
    expect((traced as unknown as { version: number }).version).toBe(2);
    const obj = { prefix: "p", run: mlflow.trace(function run(this: { prefix: string }, x: string) { return this.prefix + x; }) };
    expect(obj.run("x")).toBe("px");
  });

  it("a bound method is traced under its own name (Python names mlflow.trace(obj.method) after the method), the wrapper keeps bind()'s name", async () => {
    const t = setup();
    const retriever = { k: 2, search(query: string) { return `${query}:${this.k}`; } };
    const traced = mlflow.trace(retriever.search.bind(retriever));
    expect(traced.name).toBe("bound search");
    expect(traced("what is mlflow")).toBe("what is mlflow:2");
    const trace = await t.only();
    expect(trace.data.spans[0]!.name).toBe("search");
    expect(trace.data.spans[0]!.attributes["mlflow.spanFunctionName"]).toBe("search");
  });

  it("a result that cannot be inspected (a revoked Proxy, a throwing `then` getter) is returned as it is, and its span ends", async () => {
    const t = setup();
    const { proxy, revoke } = Proxy.revocable({ a: 1 }, {});
    revoke();
    const throwingThen = { get then(): never { throw new Error("no then for you"); } };
    expect(mlflow.trace(function revoked() { return proxy; })()).toBe(proxy);
    expect(mlflow.withSpan(() => proxy, { name: "ws" })).toBe(proxy);
    expect(mlflow.trace(function odd() { return throwingThen; })()).toBe(throwingThen);
    expect(mlflow.withSpan(() => throwingThen, { name: "ws2" })).toBe(throwingThen);
    const traces = await t.traces();
    expect(traces.map((tr) => [tr.data.spans[0]!.name, tr.data.spans[0]!.status.statusCode])).toEqual([
      ["revoked", "STATUS_CODE_OK"], ["ws", "STATUS_CODE_OK"], ["odd", "STATUS_CODE_OK"], ["ws2", "STATUS_CODE_OK"],
    ]);
    expect(String(traces[0]!.data.spans[0]!.outputs)).toMatch(/Unserializable/);
  });

  it("setStatus, updateCurrentTrace and withTracingContextFromHeaders given what cannot be read (a BigInt, a cycle, a throwing getter, a revoked Proxy) warn and never throw into the app", async () => {
    resetWarnings();
    const w = captureWarnings();
    const t = setup();
    const revoked = () => { const r = Proxy.revocable({}, {}); r.revoke(); return r.proxy; };
    const cycle: Record<string, unknown> = {}; cycle.self = cycle;
    const throwing = { get a() { throw new Error("getter"); } };
    const calls: (() => unknown)[] = [
      () => mlflow.getCurrentActiveSpan()!.setStatus({ statusCode: 1n } as never),
      () => mlflow.getCurrentActiveSpan()!.setStatus(cycle as never),
      () => mlflow.getCurrentActiveSpan()!.setStatus(revoked() as never),
      () => mlflow.getCurrentActiveSpan()!.setStatus("toString" as never),
      () => mlflow.updateCurrentTrace({ tags: throwing as never }),
      () => mlflow.updateCurrentTrace({ metadata: revoked() as never }),
      () => mlflow.updateCurrentTrace(revoked() as never),
      () => mlflow.updateCurrentTrace({ state: 1n as never }),
    ];
    const thrown: unknown[] = [];
    const result = mlflow.withSpan(() => {
      for (const call of calls) try { call(); } catch (error) { thrown.push(error); }
      mlflow.updateCurrentTrace({ tags: { kept: "yes" } });
      return "answer";
    }, { name: "hostile" });
    for (const headers of [{ get() { throw new Error("get"); } }, revoked()]) {
      try {
        expect(mlflow.withTracingContextFromHeaders(headers as never, () => mlflow.withSpan(() => "inner", { name: "inner" }))).toBe("inner");
      } catch (error) { thrown.push(error); }
    }
    const traces = await t.traces();
    const warnings = w.messages().join("\n");
    w.restore();
    expect(thrown).toEqual([]);
    expect(result).toBe("answer");
    expect(traces.map((tr) => tr.data.spans[0]!.name)).toEqual(["hostile", "inner", "inner"]);
    expect(traces[0]!.data.spans[0]!.status.statusCode).toBe("STATUS_CODE_OK");
    expect(traces[0]!.info.tags.kept).toBe("yes");
    expect(warnings).toMatch(/setStatus\(\) got \[object Object\]; expected/);
    expect(warnings).toMatch(/internal error in updateCurrentTrace .*getter/);
  });

  it("values the SDK cannot read (a revoked Proxy of a function, an Error whose message is not a string) never throw into the app, end their spans and leave the status OK", async () => {
    const t = setup();
    const warnings = captureWarnings();
    try {
      const { proxy: revokedFn, revoke } = Proxy.revocable(function cb() {}, {});
      revoke();
      const { proxy: revokedObj, revoke: revoke2 } = Proxy.revocable({}, {});
      revoke2();
      const oddError = Object.assign(new Error("x"), { message: { code: 1n }, name: { kind: "odd" } });
      for (const v of [revokedFn, revokedObj, oddError]) {
        mlflow.withSpan((span) => {
          span.setAttribute("v", v);
          span.setAttributes(revokedObj as Record<string, unknown>);
          span.addEvent({ name: "e", attributes: { v } });
          span.addEvent(revokedObj as { name: string });
        }, { name: "attrs" });
      }
      expect(mlflow.trace(function returnsRevoked() { return revokedFn; })()).toBe(revokedFn);
      expect(mlflow.withSpan(() => oddError, { name: "returnsOddError" })).toBe(oddError);
      expect(mlflow.trace(function takesOddError(_err: unknown) { return "fine"; })(oddError)).toBe("fine");
      const traces = await t.traces();
      expect(traces.map((tr) => [tr.data.spans[0]!.name, tr.info.state])).toEqual([
        ["attrs", "OK"], ["attrs", "OK"], ["attrs", "OK"], ["returnsRevoked", "OK"], ["returnsOddError", "OK"], ["takesOddError", "OK"],
      ]);
      expect(getTracer().openTraceCount).toBe(0);
      const odd = traces[4]!.data.spans[0]!.outputs as Record<string, unknown>;
      expect(odd).toMatchObject({ name: { kind: "odd" }, message: { code: 1 } });
      expect(traces[0]!.data.spans[0]!.events[0]!.attributes.v).toMatch(/^\[Unserializable: .*revoked\]$/);
      // One attribute whose getter throws does not take the others with it.
      mlflow.withSpan((span) => {
        span.setAttributes({ a: 1, get b(): never { throw new Error("getter"); }, c: 3, "mlflow.spanType": Object.create(null) });
        span.setAttribute("mlflow.spanType", Object.create(null)); // String() refuses it: never thrown into the app
      }, { name: "getter" });
      const [getter] = (await t.traces()).slice(-1);
      expect(getter!.data.spans[0]!.attributes).toMatchObject({ a: 1, b: "[Unserializable: getter]", c: 3 });
    } finally {
      warnings.restore();
    }
  });

  it("a callback that ends its own span and then throws gets no warning about a call it did not make", async () => {
    const t = setup();
    const warnings = captureWarnings();
    try {
      const error = new Error("after end");
      expect(() => mlflow.withSpan((span) => { span.end(); throw error; }, { name: "endThenThrow" })).toThrow(error);
      await expect(mlflow.withSpan(async (span) => { span.end(); throw error; }, { name: "endThenReject" })).rejects.toBe(error);
      const traces = await t.traces();
      expect(traces.map((tr) => tr.data.spans[0]!.status.statusCode)).toEqual(["STATUS_CODE_OK", "STATUS_CODE_OK"]);
      expect(warnings.messages().filter((m) => /after it ended/.test(m))).toEqual([]);
    } finally {
      warnings.restore();
    }
  });

  it("a runaway recursion of traced calls overflows the stack as untraced and leaves no span open (the frames at the overflow could not end theirs)", async () => {
    const t = setup({ contextManager: new mlflow.StackContextManager() });
    const rec: (n: number) => number = mlflow.trace(function recurse(n: number): number { return n <= 0 ? 0 : 1 + rec(n - 1); });
    expect(() => rec(1_000_000)).toThrow(RangeError);
    const [trace] = await t.traces();
    const spans = trace!.data.spans;
    expect(spans.length).toBeGreaterThan(100);
    expect(spans.filter((s) => s.endTime === null)).toEqual([]);
    expect(spans.every((s) => s.status.statusCode === "STATUS_CODE_ERROR")).toBe(true);
  });

  it("records an error's cause chain and an AggregateError's errors in the stacktrace, as Python's traceback shows the chain", async () => {
    const t = setup();
    const root = new TypeError("inner reason");
    const cyclic = new Error("loops");
    (cyclic as { cause?: unknown }).cause = cyclic;
    for (const error of [new Error("outer", { cause: root }), new AggregateError([new Error("first"), new RangeError("second")], "many"), cyclic, new Error("plain", { cause: { code: 42 } })]) {
      expect(() => mlflow.trace(function f() { throw error; })()).toThrow(error);
    }
    const stacks = (await t.traces()).map((tr) => tr.data.spans[0]!.events.find((e) => e.name === "exception")!.attributes["exception.stacktrace"] as string);
    expect(stacks[0]).toMatch(/^Error: outer\n[\s\S]*\nCaused by: TypeError: inner reason\n/);
    expect(stacks[1]).toMatch(/^AggregateError: many\n[\s\S]*\nerrors\[0\]: Error: first\n[\s\S]*\nerrors\[1\]: RangeError: second\n/);
    expect(stacks[2]!.match(/loops/g)).toHaveLength(1); // a cycle is shown once
    expect(stacks[3]).toMatch(/\nCaused by: \{"code": 42\}$/);
  });

  it("a hostile or huge cause chain keeps the error's own description and stack, and stays bounded", async () => {
    const t = setup();
    const throwing = new Error("outer");
    Object.defineProperty(throwing, "cause", { get() { throw new Error("getter"); } });
    const huge = new Error("big", { cause: "x".repeat(5_000_000) });
    const wide = new AggregateError(Array.from({ length: 10 }, () => new AggregateError(Array.from({ length: 10 }, () => new Error("leaf")), "mid")), "top");
    const partly = new AggregateError([new Error("e0"), new Error("e1"), new Error("e2")], "top");
    Object.defineProperty(partly.errors[0], "cause", { get() { throw new Error("getter"); } });
    for (const error of [throwing, huge, wide, partly]) expect(() => mlflow.trace(function f() { throw error; })()).toThrow(error);
    const events = (await t.traces()).map((tr) => tr.data.spans[0]!.events.find((e) => e.name === "exception")!.attributes);
    expect(events[0]).toMatchObject({ "exception.type": "Error", "exception.message": "outer", "exception.stacktrace": throwing.stack });
    for (const e of events) expect((e["exception.stacktrace"] as string).length).toBeLessThanOrEqual(16_384);
    expect((events[2]!["exception.stacktrace"] as string).split("\nerrors[").length - 1).toBeLessThanOrEqual(49);
    expect(events[3]!["exception.stacktrace"]).toMatch(/errors\[0\]: Error: e0[\s\S]*errors\[1\]: Error: e1[\s\S]*errors\[2\]: Error: e2/); // one unreadable part leaves out only itself
  });

  it("a traced constructor or class called with new builds what it would untraced (JavaScript callers)", async () => {
    const t = setup();
    function Point(this: { x: number }, x: number) { this.x = x; }
    Point.prototype.double = function (this: { x: number }) { return this.x * 2; };
    class Counter { constructor(public start: number) {} next() { return this.start + 1; } }
    const TracedPoint = mlflow.trace(Point) as unknown as new (x: number) => { x: number; double(): number };
    const TracedCounter = mlflow.trace(Counter as never) as unknown as typeof Counter;
    const p = new TracedPoint(2);
    expect([p instanceof Point, p instanceof TracedPoint, p.double()]).toEqual([true, true, 4]);
    const c = new TracedCounter(1);
    expect([c instanceof Counter, c.next()]).toEqual([true, 2]);
    // An instance that is thenable is what new gives, not a promise of it.
    class Deferred { then(resolve: (v: number) => void) { resolve(42); } }
    const d = new (mlflow.trace(Deferred as never) as unknown as typeof Deferred)();
    expect(d).toBeInstanceOf(Deferred);
    // An "async constructor" returns a promise: its outcome is the span's.
    class Db {
      url = "";
      constructor(url: string) {
        return (async () => { await sleep(5); if (url === "bad") throw new Error("connect failed"); this.url = url; return this; })() as unknown as Db;
      }
    }
    const TracedDb = mlflow.trace(Db as never) as unknown as new (url: string) => Promise<Db>;
    expect((await new TracedDb("ok")).url).toBe("ok");
    await expect(new TracedDb("bad")).rejects.toThrow("connect failed");
    expect((await t.traces()).map((tr) => [tr.data.spans[0]!.name, tr.data.spans[0]!.status.statusCode, tr.data.spans[0]!.inputs])).toEqual([
      ["Point", "STATUS_CODE_OK", { x: 2 }],
      ["Counter", "STATUS_CODE_OK", { start: 1 }],
      ["Deferred", "STATUS_CODE_OK", {}],
      ["Db", "STATUS_CODE_OK", { url: "ok" }],
      ["Db", "STATUS_CODE_ERROR", { url: "bad" }],
    ]);
  });

  it("returns the function's result when the exporter throws, and reports the fault once", async () => {
    const w = captureWarnings();
    mlflow.init({ exporter: { export() { throw new Error("disk full"); } } });
    resetWarnings();
    const f = mlflow.trace(function f(x: number) { return x * 2; });
    expect(f(2)).toBe(4);
    expect(f(3)).toBe(6);
    await mlflow.flushTraces();
    expect(w.messages().filter((m) => m.includes("disk full"))).toHaveLength(1);
    w.restore();
  });

  it("resolves flushTraces even when the exporter rejects", async () => {
    const w = captureWarnings();
    mlflow.init({ exporter: { export: () => sleep(1).then(() => Promise.reject(new Error("503"))) } });
    resetWarnings();
    mlflow.withSpan(() => 1, { name: "x" });
    await expect(mlflow.flushTraces()).resolves.toBeUndefined();
    expect(w.messages().some((m) => m.includes("503"))).toBe(true);
    w.restore();
  });

  it("waits in flushTraces for an exporter's pending promise", async () => {
    let delivered = 0;
    mlflow.init({ exporter: { export: () => sleep(20).then(() => { delivered++; }) } });
    mlflow.withSpan(() => 1, { name: "x" });
    expect(delivered).toBe(0);
    await mlflow.flushTraces();
    expect(delivered).toBe(1);
  });

  it("survives hostile inputs and outputs: throwing getters, revoked proxies, cycles, BigInt, huge values", async () => {
    const t = setup({ maxValueBytes: 2048 });
    const hostile = { get boom(): never { throw new Error("getter exploded"); }, ok: 1 };
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    const cyclic: Record<string, unknown> = { name: "loop" };
    cyclic.self = cyclic;
    const f = mlflow.trace(function f(a: unknown, b: unknown, c: unknown, d: bigint, e: string) { return { a, d }; });
    const out = f(hostile, proxy, cyclic, 2n ** 70n, "x".repeat(10_000));
    expect(out.d).toBe(2n ** 70n);
    const inputs = shape(await t.only())[0]!.inputs as Record<string, unknown>;
    expect(inputs.a).toEqual({ boom: "[Throws: getter exploded]", ok: 1 });
    expect(String(inputs.b)).toContain("[Unserializable");
    expect(inputs.c).toEqual({ name: "loop", self: "[Circular]" });
    expect(inputs.d).toBe("1180591620717411303424");
    expect(JSON.stringify(inputs).length).toBeLessThan(2300);
    expect(String(inputs.e)).toMatch(/\.\.\.\[truncated \d+ chars\]$/);
  });

  it("keeps an unhandled rejection visible: the traced promise rejects with the same error", async () => {
    setup();
    const err = new Error("x");
    const p = mlflow.trace(async function f() { throw err; })();
    await expect(p).rejects.toBe(err);
  });

  it("records thrown non-Error values by their type and their value, and rethrows them as they are", async () => {
    const t = setup();
    const thrown: unknown[] = [undefined, null, "boom", 42, { code: 1 }];
    for (const v of thrown) expect(() => mlflow.trace(function f() { throw v; })()).toThrow();
    const statuses = (await t.traces()).map((tr) => tr.data.spans[0]!.status.description);
    expect(statuses).toEqual(["undefined: undefined", "null: null", "string: boom", "number: 42", 'Object: {"code": 1}']);
  });

  it("rejects bad init() options with a message naming the field", () => {
    expect(() => mlflow.init({ exporter: {} as never })).toThrow(/"exporter" must be an object with an export\(trace\) method/);
    expect(() => mlflow.init({ maxValueBytes: -1 })).toThrow(/"maxValueBytes"/);
    expect(() => mlflow.init({ experimentId: "" })).toThrow(/"experimentId"/);
    expect(() => mlflow.init({ dedupeSpanNames: "yes" as never })).toThrow(/"dedupeSpanNames" must be a boolean; got string/);
    expect(() => mlflow.init({ maxValueBytes: Number.NaN })).toThrow(/"maxValueBytes" must be an integer >= 64; got NaN/);
  });

  it("refuses an option it does not know (a misspelt one would send every trace nowhere), naming the one meant", () => {
    expect(() => mlflow.init({ trackinguri: "http://127.0.0.1:5000", experimentId: "1" } as never)).toThrow(/unknown option "trackinguri"; did you mean "trackingUri"\?/);
    expect(() => mlflow.init({ host: "https://dbc.example" } as never)).toThrow(/"host" is not supported: .*not to Databricks/);
  });

  it("refuses the MLflow server's options beside an exporter of the app's own (they would be dropped: redact would mask nothing)", () => {
    const exporter = new mlflow.InMemoryExporter();
    expect(() => mlflow.init({ exporter, redact: () => null })).toThrow(/"redact" must be left out when exporter is given: it configures the MLflow exporter init\(\) builds from trackingUri/);
    expect(() => mlflow.init({ exporter, experimentName: "my-app" })).toThrow(/"experimentName" must be left out when exporter is given/);
    for (const extra of [{ headers: { a: "b" } }, { timeoutMs: 5 }, { retry: { maxAttempts: 1 } }, { trackingServerToken: "t" }, { trackingServerUsername: "u" }, { trackingServerPassword: "p" }]) {
      expect(() => mlflow.init({ exporter, ...extra } as never)).toThrow(new RegExp(`"${Object.keys(extra)[0]}" must be left out when exporter is given`));
    }
    // Left undefined (a config object's unset fields) they are not given; experimentId goes in each trace's location.
    expect(() => mlflow.init({ exporter, redact: undefined, headers: undefined, experimentId: "42" })).not.toThrow();
    mlflow.init({});
  });

  it("refuses headers fetch would refuse on every request, and names MLFLOW_TRACKING_URI when the bad URI came from it", () => {
    expect(() => mlflow.init({ trackingUri: "http://127.0.0.1:5000", experimentId: "1", headers: { "bad header": "x" } })).toThrow(/"headers" must be an object of valid HTTP header names and values/);
    expect(() => mlflow.init({ trackingUri: "http://127.0.0.1:5000", experimentId: "1", headers: { "x-ok": "line\nbreak" } })).toThrow(/"headers"/);
    const saved = process.env.MLFLOW_TRACKING_URI;
    process.env.MLFLOW_TRACKING_URI = "ftp://alice:pw-secret@host";
    try {
      expect(() => mlflow.init({ experimentId: "1" })).toThrow(/MLFLOW_TRACKING_URI must be an http\(s\) URL .*got "ftp:\/\/\*\*\*@host"/);
    } finally {
      if (saved === undefined) delete process.env.MLFLOW_TRACKING_URI;
      else process.env.MLFLOW_TRACKING_URI = saved;
    }
    mlflow.init({});
  });

  it("warns once for setStatus with an unknown value and keeps the old status", async () => {
    const w = captureWarnings();
    const t = setup();
    const span = mlflow.startSpan({ name: "s" });
    span.setStatus("BROKEN" as never);
    span.setStatus("BROKEN" as never);
    span.end();
    expect((await t.only()).data.spans[0]!.status.statusCode).toBe("STATUS_CODE_OK");
    expect(w.messages().filter((m) => m.includes("BROKEN"))).toHaveLength(1);
    w.restore();
  });

  it("is silent with init({ silent: true })", () => {
    const w = captureWarnings();
    mlflow.init({ silent: true });
    mlflow.updateCurrentTrace({ tags: {} });
    expect(w.messages()).toEqual([]);
    w.restore();
    mlflow.init({});
  });

  it("a hook that throws a value String() refuses (a null-prototype object) neither crashes the process nor keeps a span open", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    const w = captureWarnings();
    try {
      const weird = () => Object.assign(Object.create(null), { code: 1 });
      // A redact hook before MLflow (never reaches the network).
      mlflow.init({ trackingUri: "http://127.0.0.1:9", experimentId: "1", redact: () => { throw weird(); } });
      mlflow.withSpan(() => 1, { name: "redacted" });
      await expect(mlflow.flushTraces()).resolves.toBeUndefined();
      // An outputReducer and a span-end hook.
      const t = setup();
      const hook = () => { throw weird(); };
      mlflow.registerOnSpanEndHook(hook);
      try {
        const g = mlflow.trace(function* gen() { yield 1; yield 2; }, { outputReducer: () => { throw weird(); } });
        expect([...g()]).toEqual([1, 2]);
      } finally {
        mlflow.unregisterOnSpanEndHook(hook);
      }
      const [trace] = await t.traces();
      expect(trace!.data.spans[0]!.endTime).not.toBeNull();
      expect(trace!.data.spans[0]!.outputs).toEqual([1, 2]); // the raw chunks, as for any reducer that throws
      await sleep(10);
      expect(unhandled).toEqual([]);
      expect(w.messages().join("\n")).toMatch(/outputReducer of "gen" threw \(\[object Object\]\)/);
    } finally {
      process.off("unhandledRejection", onUnhandled);
      w.restore();
    }
  });

  it("openSpanTimeoutMs: Infinity waits for open children for ever; a finite value past a timer's limit is refused (it would fire at once)", async () => {
    expect(() => mlflow.init({ openSpanTimeoutMs: 1e12 })).toThrow(/"openSpanTimeoutMs" must be a number of milliseconds from 0 to 2147483647 .*or Infinity/);
    expect(() => mlflow.init({ trackingUri: "http://127.0.0.1:5000", experimentId: "1", timeoutMs: 2 ** 31 })).toThrow(/"timeoutMs" must be a number of milliseconds above 0, at most 2147483647/);
    const t = setup({ openSpanTimeoutMs: Infinity });
    let child!: mlflow.LiveSpan;
    mlflow.withSpan((root) => { child = mlflow.startSpan({ name: "slow", parent: root }); }, { name: "root" });
    // An SDK-style stream result read late is not abandoned either.
    class SdkStream { async *[Symbol.asyncIterator]() { yield "x"; yield "y"; } }
    const stream = await mlflow.trace(async function llm() { return new SdkStream(); })();
    await sleep(60);
    expect(t.exporter.traces).toEqual([]); // before the fix: exported 1 ms after the root ended
    const chunks: string[] = [];
    for await (const c of stream) chunks.push(c);
    child.end({ outputs: "done" });
    const traces = await t.traces();
    expect(traces.map((tr) => tr.data.spans.map((s) => [s.name, s.endTime !== null, s.outputs]))).toEqual([
      [["llm", true, ["x", "y"]]],
      [["root", true, undefined], ["slow", true, "done"]],
    ]);
    mlflow.init({});
  });

  it("updateCurrentTrace never throws into the caller: no argument, values String() refuses; null ids count as not given (Python's `is not None`)", async () => {
    const t = setup();
    const odd = Object.create(null);
    const result = mlflow.withSpan(() => {
      mlflow.updateCurrentTrace();
      mlflow.updateCurrentTrace({ tags: { odd, n: 1 as never }, metadata: { m: { toString() { throw new Error("no"); } } as never } });
      mlflow.updateCurrentTrace({ sessionId: null, user: null, clientRequestId: null });
      return "fine";
    }, { name: "root" });
    expect(result).toBe("fine");
    const trace = await t.only();
    expect(trace.data.spans[0]!.status.statusCode).toBe("STATUS_CODE_OK");
    expect(trace.info.tags).toMatchObject({ odd: "[object Object]", n: "1" });
    expect(trace.info.traceMetadata.m).toBe("[object Object]");
    expect(trace.info.traceMetadata["mlflow.trace.session"]).toBeUndefined();
    expect(trace.info.traceMetadata["mlflow.trace.user"]).toBeUndefined();
    expect(trace.info.clientRequestId ?? null).toBeNull();
  });

  it("a runaway async recursion of traced calls leaves no span open (following the promise overflowed the stack in the deepest frames)", async () => {
    const t = setup();
    const rec: (n: number) => Promise<number> = mlflow.trace(async function arec(n: number): Promise<number> { return (await rec(n + 1)) + 1; });
    // Where the stack runs out depends on how deep the first call starts: try a range of depths.
    const from = (depth: number): Promise<number> => (depth === 0 ? rec(0) : from(depth - 1));
    for (let depth = 0; depth < 8; depth++) await expect(from(depth)).rejects.toThrow(RangeError);
    const traces = await t.traces();
    expect(traces).toHaveLength(8);
    for (const trace of traces) {
      const spans = trace.data.spans;
      expect(spans.length).toBeGreaterThan(100);
      expect(spans.filter((s) => s.endTime === null).length).toBe(0);
      expect(new Set(spans.map((s) => s.status.statusCode))).toEqual(new Set(["STATUS_CODE_ERROR"]));
    }
  }, 30_000);

  it("a runaway recursion of traced generators ends its deepest spans with the overflow too", async () => {
    const t = setup({ contextManager: new mlflow.StackContextManager(), openSpanTimeoutMs: 200 });
    const g: (n: number) => Generator<number> = mlflow.trace(function* gen(n: number): Generator<number> { yield* g(n + 1); }) as never;
    const handler = mlflow.trace(function handler() { return [...g(0)]; });
    expect(() => handler()).toThrow(RangeError);
    await sleep(300); // the trace still waits for a generator hold (openSpanTimeoutMs)
    const spans = t.exporter.traces[0]!.data.spans;
    expect(spans.length).toBeGreaterThan(100);
    // Before the fix, some 50 of the deepest were ended by the timeout, UNSET, instead.
    expect(spans.filter((s) => s.status.statusCode !== "STATUS_CODE_ERROR").map((s) => s.name)).toEqual([]);
  });

  it("a stack overflow in one call of a Promise.all does not end the other calls, still running beside it", async () => {
    const t = setup();
    const parse = mlflow.trace(async function parse() { await sleep(1); const depth = (n: number): number => 1 + depth(n + 1); return depth(0); });
    const fetchDocs = mlflow.trace(async function fetchDocs() { await sleep(50); return "docs"; });
    const tokens = mlflow.trace(async function* tokens() { for (let i = 0; i < 3; i++) { await sleep(15); yield i; } });
    const read = async () => { const out: number[] = []; for await (const x of tokens()) out.push(x); return out; };
    const byHand = async () => { const s = mlflow.startSpan({ name: "byHand" }); await sleep(40); s.end({ outputs: "done" }); };
    const handler = mlflow.trace(async function handler() { return Promise.all([fetchDocs(), read(), byHand(), parse()]); });
    await expect(handler()).rejects.toThrow(RangeError);
    await sleep(100);
    const spans = (await t.only()).data.spans;
    // Each ended on its own, later: not failed by its sibling's overflow.
    expect(spans.map((s) => [s.name, s.status.statusCode, s.outputs ?? null])).toEqual([
      ["handler", "STATUS_CODE_ERROR", null],
      ["fetchDocs", "STATUS_CODE_OK", "docs"],
      ["tokens", "STATUS_CODE_OK", [0, 1, 2]],
      ["byHand", "STATUS_CODE_OK", "done"],
      ["parse", "STATUS_CODE_ERROR", null],
    ]);
  });

  it("setStatus follows OpenTelemetry (so MLflow's Python SDK): UNSET changes nothing, and only an ERROR keeps a description", async () => {
    const t = setup();
    mlflow.startSpan({ name: "a" }).setStatus("ERROR", "x").setStatus("UNSET").end();
    mlflow.startSpan({ name: "b" }).setStatus("OK", "fine").end();
    mlflow.startSpan({ name: "c" }).setStatus({ statusCode: mlflow.SpanStatusCode.ERROR, description: "bad" }).end();
    expect((await t.traces()).map((tr) => tr.data.spans[0]!.status)).toEqual([
      { statusCode: "STATUS_CODE_ERROR", description: "x" },
      { statusCode: "STATUS_CODE_OK", description: "" },
      { statusCode: "STATUS_CODE_ERROR", description: "bad" },
    ]);
  });

  it("an OK status is final, as in OpenTelemetry (so MLflow's Python SDK): a later error is recorded as an event, the span and trace stay OK", async () => {
    const t = setup();
    expect(() => mlflow.withSpan((span) => { span.setStatus("OK"); throw new RangeError("after ok"); }, { name: "a" })).toThrow("after ok");
    mlflow.startSpan({ name: "b" }).setStatus("OK").end({ status: "ERROR" });
    mlflow.startSpan({ name: "c" }).setStatus("OK").setStatus({ statusCode: "ERROR", description: "late" }).recordException(new Error("x")).end();
    const traces = await t.traces();
    expect(traces.map((tr) => [tr.data.spans[0]!.status, tr.info.state])).toEqual([
      [{ statusCode: "STATUS_CODE_OK", description: "" }, "OK"],
      [{ statusCode: "STATUS_CODE_OK", description: "" }, "OK"],
      [{ statusCode: "STATUS_CODE_OK", description: "" }, "OK"],
    ]);
    expect(traces[0]!.data.spans[0]!.events.map((e) => [e.name, e.attributes["exception.type"]])).toEqual([["exception", "RangeError"]]);
  });

  it("span times follow the wall clock when the monotonic clock drifts from it (a laptop's sleep stops performance.now() in a long-lived tab)", async () => {
    const t = setup();
    await wallClockMoved(3_600_000, async () => { // wall clock an hour ahead
      const expected = Date.now();
      mlflow.startSpan({ name: "after-sleep" }).end();
      const [span] = (await t.only()).data.spans;
      expect(span!.startTime).toBeGreaterThanOrEqual(expected - 5);
      expect(span!.startTime).toBeLessThan(expected + 1_000);
    });
    // Back in step: times follow it again.
    mlflow.startSpan({ name: "later" }).end();
    expect(Math.abs((await t.traces()).at(-1)!.data.spans[0]!.startTime - Date.now())).toBeLessThan(1_000);
  });

  it("within a trace times stay monotonic when the wall clock moves (a clock set back, fake timers): no child before its parent, no warning", async () => {
    const w = captureWarnings();
    const t = setup();
    const parent = mlflow.startSpan({ name: "parent" });
    await wallClockMoved(-5_000, async () => {
      const child = mlflow.startSpan({ name: "child", parent });
      await sleep(2);
      child.end();
      parent.end();
    });
    const [p, c] = (await t.only()).data.spans;
    expect(c!.startTime).toBeGreaterThanOrEqual(p!.startTime);
    expect(p!.endTime! - p!.startTime).toBeGreaterThanOrEqual(1);
    expect(w.messages()).toEqual([]);
    w.restore();
  });

  it("a trace starting while another is open does not move the open one's times, whatever the wall clock does", async () => {
    const w = captureWarnings();
    const t = setup();
    const a = mlflow.startSpan({ name: "a" });
    await sleep(2);
    await wallClockMoved(-5_000, async () => { // set back 5 s
      mlflow.startSpan({ name: "b" }).end(); // another trace starts and ends meanwhile
      const child = mlflow.startSpan({ name: "a-child", parent: a });
      await sleep(2);
      child.end();
      a.end();
    });
    const traceA = (await t.traces()).find((tr) => tr.data.spans[0]!.name === "a")!;
    const [root, child] = traceA.data.spans;
    expect(child!.startTime).toBeGreaterThan(root!.startTime);
    expect(root!.endTime! - root!.startTime).toBeGreaterThan(2); // two sleep(2), a timer may fire a little early; moved, it would be 0
    expect(w.messages()).toEqual([]);
    w.restore();
  });

  it("the clock follows the wall clock only when no trace is open anywhere: not for a root started meanwhile, nor held back by an earlier init()", async () => {
    const w = captureWarnings();
    let t = setup();
    // 1. Another root (here from a parent that is not a span) while a trace is open.
    const a = mlflow.startSpan({ name: "a" });
    await sleep(2);
    await wallClockMoved(-5_000, async () => {
      mlflow.startSpan({ name: "stray", parent: Promise.resolve(a) as never }).end();
      const child = mlflow.startSpan({ name: "a-child", parent: a });
      await sleep(2);
      child.end();
      a.end();
    });
    const [root, child] = (await t.traces()).find((tr) => tr.data.spans[0]!.name === "a")!.data.spans;
    expect(child!.startTime).toBeGreaterThan(root!.startTime);
    // 2. init() again with an exporter that has flush(), nothing open: a laptop's sleep is followed.
    mlflow.init({ exporter: { export() {}, async flush() {} } });
    mlflow.startSpan({ name: "before" }).end(); // that exporter has a trace to flush when replaced
    t = setup();
    await wallClockMoved(3_600_000, async () => {
      const expected = Date.now();
      mlflow.startSpan({ name: "after-sleep" }).end();
      expect((await t.only()).data.spans[0]!.startTime).toBeGreaterThanOrEqual(expected - 5);
    });
    mlflow.startSpan({ name: "back" }).end(); // and back to the real clock
    // 3. A span still open when its trace was exported (flushTraces) ends after the clock moved back: nothing to say.
    const r = mlflow.startSpan({ name: "r" });
    const bg = mlflow.startSpan({ name: "background", parent: r });
    r.end();
    await mlflow.flushTraces();
    await wallClockMoved(-5_000, async () => {
      mlflow.startSpan({ name: "next" }).end();
      bg.end();
    });
    expect(w.messages().filter((m) => m.includes("before its start"))).toEqual([]);
    w.restore();
  });

  it("a trace open in a tracer init() replaced (a generator made before, read after) keeps the clock still, as does a root opened before it", async () => {
    const w = captureWarnings();
    setup();
    const words = mlflow.trace(async function* words() { yield "a"; await sleep(5); yield "b"; });
    const gen = words(); // made under this configuration...
    const detached = mlflow.startSpan({ name: "stray", parent: null }); // open in the tracer about to be replaced
    const t = setup(); // ...read under the next one
    const it = gen[Symbol.asyncIterator]();
    await it.next();
    await wallClockMoved(-5_000, async () => {
      mlflow.startSpan({ name: "other" }).end();
      while (!(await it.next()).done);
      detached.end();
    });
    expect((await t.traces()).map((tr) => tr.data.spans[0]!.name)).toEqual(["other"]);
    expect(w.messages().filter((m) => m.includes("before its start"))).toEqual([]);
    w.restore();
  });

  it("a span the SDK could not start (handed out detached, never ended) does not keep the clock from following the wall clock", async () => {
    const w = captureWarnings();
    const t = setup();
    mlflow.withSpan(() => 1, { name: "faulty", attributes: { get "user.id"(): string { throw new Error("getter"); } } });
    await wallClockMoved(3_600_000, async () => { // a laptop's sleep
      const expected = Date.now();
      mlflow.withSpan(() => 1, { name: "after-sleep" });
      const span = (await t.traces()).find((tr) => tr.data.spans[0]!.name === "after-sleep")!.data.spans[0]!;
      expect(span.startTime).toBeGreaterThanOrEqual(expected - 5);
    });
    w.restore();
  });

  it("a span handed out when the SDK could not start one is not kept once the app drops it (memory)", async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const w = captureWarnings();
    setup();
    let collected = false;
    const registry = new FinalizationRegistry(() => void (collected = true)); // (a WeakRef would keep it for the test's job)
    mlflow.withSpan((span) => void registry.register(span, "span"), { name: "faulty", attributes: { get "user.id"(): string { throw new Error("getter"); } } });
    w.restore();
    for (let i = 0; i < 50 && !collected; i++) {
      gc();
      await sleep(2);
    }
    expect(collected).toBe(true);
  });

  it("a parent that is not a span (a Promise: a missing await) is named in a warning, not reported as an SDK fault; the span starts under the active one", async () => {
    const w = captureWarnings();
    const t = setup();
    mlflow.withSpan(() => {
      const pending = Promise.resolve(mlflow.startSpan({ name: "x" }));
      mlflow.startSpan({ name: "child", parent: pending as never }).end();
      void pending.then((x) => x.end());
    }, { name: "outer" });
    await sleep(1);
    const warnings = w.messages().join("\n");
    w.restore();
    expect(warnings).toContain('"parent" must be a span');
    expect(warnings).toContain("await");
    expect(warnings).not.toContain("internal error");
    expect(shape(await t.only()).map((sp) => [sp.name, sp.parent])).toEqual([["outer", null], ["x", "outer"], ["child", "outer"]]);
    // An object of the app's own that only looks like one (a `_toData` method) is no span either.
    class Order { _toData() { return {}; } }
    class Row { _record = { id: 1 }; _toData() { return {}; } }
    const w2 = captureWarnings();
    mlflow.startSpan({ name: "direct", parent: new Order() as never }).end();
    mlflow.startSpan({ name: "row", parent: new Row() as never }).end();
    expect(w2.messages().join("\n")).not.toContain("internal error");
    w2.restore();
    expect((await t.traces()).map((tr) => tr.data.spans[0]!.name)).toEqual(expect.arrayContaining(["direct", "row"]));
  });

  it("an explicit time that is not epoch nanoseconds (NaN, a string) is replaced by now with a warning; an end before the start is moved to the start", async () => {
    const w = captureWarnings();
    const t = setup();
    const before = Date.now();
    mlflow.startSpan({ name: "nan", startTimeNs: Number.NaN }).end();
    mlflow.startSpan({ name: "text", startTimeNs: "123" as never }).end();
    const s = mlflow.startSpan({ name: "backwards" });
    s.end({ endTimeNs: s.startTimeNs - 5_000_000_000n });
    const spans = (await t.traces()).map((tr) => tr.data.spans[0]!);
    const warnings = w.messages().join("\n");
    w.restore();
    expect(spans.map((sp) => sp.name)).toEqual(["nan", "text", "backwards"]); // before the fix, NaN lost the span
    for (const sp of spans) expect(sp.startTime).toBeGreaterThanOrEqual(before - 1);
    expect(spans[2]!.endTime).toBe(spans[2]!.startTime);
    expect(warnings).toMatch(/startTimeNs must be epoch nanoseconds .*got NaN, so the current time was used/);
    expect(warnings).toMatch(/span "backwards" was ended at a time before its start/);
  });

  it("an event time or span time MLflow cannot store (NaN from Date.parse, nanoseconds given as a number, past int64) is replaced by now with a warning: the trace is still sent", async () => {
    const w = captureWarnings();
    const t = setup();
    const before = Date.now();
    mlflow.withSpan((span) => {
      span.addEvent({ name: "unparsed", timestamp: Date.parse("not a date") });
      span.addEvent({ name: "infinite", timestamp: Infinity });
      span.addEvent({ name: "nanoseconds as a number", timestamp: Date.now() * 1e6 });
      span.addEvent({ name: "past int64", timestamp: 10n ** 19n });
      span.addEvent({ name: "given", timestamp: 1_700_000_000_000 });
      mlflow.startSpan({ name: "far", startTimeNs: 10n ** 19n }).end({ endTimeNs: 2 ** 64 });
    }, { name: "events" });
    const [trace] = await t.traces();
    const warnings = w.messages().join("\n");
    w.restore();
    const events = trace!.data.spans[0]!.events;
    expect(events.map((e) => e.name)).toEqual(["unparsed", "infinite", "nanoseconds as a number", "past int64", "given"]);
    for (const e of events.slice(0, 4)) expect(e.timestamp).toBeGreaterThanOrEqual(before - 1);
    expect(events[4]!.timestamp).toBe(1_700_000_000_000);
    expect(trace!.data.spans[1]!.startTime).toBeGreaterThanOrEqual(before - 1);
    // What goes to MLflow is built: before, NaN threw there and the whole trace was lost.
    expect(() => toOtlpExportRequest(trace!.data.spans)).not.toThrow();
    expect(warnings).toMatch(/an event's timestamp must be epoch milliseconds .*got NaN, so the current time was used/);
    expect(warnings).toMatch(/startTimeNs must be epoch nanoseconds .*got 10000000000000000000/);
  });

  it("flushTraces() after init() was called again still waits for the traces of the previous configuration", async () => {
    const w = captureWarnings();
    const delivered: string[] = [];
    const slow = { export: (trace: mlflow.Trace) => new Promise<void>((r) => setTimeout(() => { delivered.push(trace.data.spans[0]!.name); r(); }, 30)) };
    mlflow.init({ exporter: slow });
    const request = mlflow.withSpan(async () => { await sleep(20); }, { name: "requestB" });
    await sleep(5);
    mlflow.init({ exporter: new mlflow.InMemoryExporter() }); // another handler configures again meanwhile
    await request;
    await mlflow.flushTraces();
    expect(delivered).toEqual(["requestB"]);
    expect(w.messages().join("\n")).toMatch(/configured again \(init\) while 1 trace\(s\) were open/);
    w.restore();
    mlflow.init({});
  });

  it("after init() again, flushTraces() does not wait on a previous exporter with nothing to hand on (its flush may never end), and previous setups are not kept", async () => {
    const hanging = { export() {}, flush: () => new Promise<void>(() => {}) };
    mlflow.init({ exporter: hanging, silent: true });
    mlflow.startSpan({ name: "leaked" }); // never ended: its setup is kept, not waited on
    const good = new mlflow.InMemoryExporter();
    mlflow.init({ exporter: good, silent: true });
    mlflow.withSpan(() => 1, { name: "x" });
    const outcome = await Promise.race([mlflow.flushTraces().then(() => "flushed"), sleep(1_000).then(() => "hung")]);
    expect([outcome, good.traces.length]).toEqual(["flushed", 1]);
    // An init() per test (beforeEach) or per hot reload: flushing stays quick, and nothing piles up.
    for (let i = 0; i < 2_000; i++) mlflow.init({ exporter: new mlflow.InMemoryExporter(), silent: true });
    const retired = (getTracer() as unknown as { retired: Set<unknown> }).retired;
    expect(retired.size).toBe(1); // only the setup with the span still open
    await mlflow.flushTraces();
    // An exporter that batches (export() keeps the trace, flush() sends) is still flushed.
    const sent: string[] = [];
    let batch: string[] = [];
    mlflow.init({ exporter: { export: (tr) => void batch.push(tr.info.traceId), flush: async () => void (sent.push(...batch), (batch = [])) }, silent: true });
    mlflow.withSpan(() => 1, { name: "batched" });
    mlflow.init({ exporter: new mlflow.InMemoryExporter(), silent: true });
    await mlflow.flushTraces();
    expect([sent.length, batch.length]).toEqual([1, 0]);
    // init() again and again, never flushTraces(): each batching exporter is flushed as it is
    // replaced, and no previous setup is kept once that is done.
    for (let i = 0; i < 200; i++) {
      mlflow.init({ exporter: { export: (tr) => void batch.push(tr.info.traceId), flush: async () => void (sent.push(...batch), (batch = [])) }, silent: true });
      mlflow.withSpan(() => 1, { name: "again" });
    }
    mlflow.init({ exporter: new mlflow.InMemoryExporter(), silent: true });
    await sleep(10);
    mlflow.init({ exporter: new mlflow.InMemoryExporter(), silent: true });
    expect([sent.length, (getTracer() as unknown as { retired: Set<unknown> }).retired.size]).toEqual([201, 1]); // 1: the setup with the span left open above
    mlflow.init({});
  });
});
