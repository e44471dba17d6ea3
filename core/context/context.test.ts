import { afterEach, describe, expect, it } from "vitest";
import { AsyncLocalStorage } from "node:async_hooks";
import * as mlflow from "../index.js";
import { captureWarnings, setup, shape, sleep } from "../../test/unit/helpers.js";
import type { ContextManager } from "./context-manager.js";

// One behaviour suite, run against each context manager (Zone.js joins it in the browser tests).
const managers: [string, () => ContextManager][] = [
  ["stack", () => new mlflow.StackContextManager()],
  ["async-local-storage", () => new mlflow.AsyncLocalStorageContextManager(AsyncLocalStorage)],
];

describe.each(managers)("context contract: %s", (_name, make) => {
  it("nests synchronous calls and restores the previous span afterwards", async () => {
    const t = setup({ contextManager: make() });
    const leaf = mlflow.trace(function leaf() { return mlflow.getCurrentActiveSpan()?.name; });
    const root = mlflow.trace(function root() { const inner = leaf(); return [inner, mlflow.getCurrentActiveSpan()?.name]; });
    expect(root()).toEqual(["leaf", "root"]);
    expect(mlflow.getCurrentActiveSpan()).toBeNull();
    expect(shape(await t.only()).map((s) => [s.name, s.parent])).toEqual([["root", null], ["leaf", "root"]]);
  });

  it("explicit parent beats the active span, after an await too", async () => {
    const t = setup({ contextManager: make() });
    await mlflow.withSpan(async (outer) => {
      await sleep(1);
      mlflow.withSpan(() => 1, { name: "explicit", parent: outer });
      await outer.run(async () => mlflow.trace(function viaRun() { return 2; })());
    }, { name: "outer" });
    expect(shape(await t.only()).map((s) => [s.name, s.parent])).toEqual([["outer", null], ["explicit", "outer"], ["viaRun", "outer"]]);
  });

  it("bind() carries a span into a callback run later", async () => {
    const manager = make();
    const t = setup({ contextManager: manager });
    await mlflow.withSpan(async (span) => {
      const later = manager.bind(span, () => mlflow.withSpan(() => 0, { name: "callback" }));
      await sleep(1);
      later();
    }, { name: "registrar" });
    expect(shape(await t.only()).map((s) => [s.name, s.parent])).toEqual([["registrar", null], ["callback", "registrar"]]);
  });

  it("a span whose parent's trace was already exported starts a new trace (and says so)", async () => {
    const w = captureWarnings();
    const t = setup({ contextManager: make() });
    let parent: mlflow.Span | undefined;
    mlflow.withSpan((span) => { parent = span; }, { name: "gone" });
    mlflow.withSpan(() => 1, { name: "late", parent });
    expect((await t.traces()).map((tr) => shape(tr).map((s) => [s.name, s.parent]))).toEqual([[["gone", null]], [["late", null]]]);
    expect(w.messages().some((m) => m.includes("already exported"))).toBe(true);
    w.restore();
  });

  it("a span under a finished trace that was left out (unsampled) is left out with it, said once in development (not as exported)", async () => {
    const w = captureWarnings();
    const t = setup({ contextManager: make() });
    let parent: mlflow.Span | undefined;
    const unsampled = { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00" };
    mlflow.withTracingContextFromHeaders(unsampled, () => mlflow.withSpan((span) => { parent = span; }, { name: "dropped" }));
    mlflow.withSpan(() => 1, { name: "late", parent });
    mlflow.withSpan(() => 2, { name: "kept" });
    expect((await t.traces()).map((tr) => shape(tr).map((s) => s.name))).toEqual([["kept"]]);
    expect(w.messages().filter((m) => m.includes("already exported"))).toEqual([]);
    expect(w.messages().filter((m) => m.includes("was left out (unsampled, or ignoreRequest) and has ended; it is left out too"))).toHaveLength(1);
    w.restore();
  });

  it("sequential top-level calls make separate traces", async () => {
    const t = setup({ contextManager: make() });
    const op = mlflow.trace(async function op(n: number) { await sleep(1); return n; });
    await op(1);
    await op(2);
    const traces = await t.traces();
    expect(traces).toHaveLength(2);
    expect(traces[0]!.info.traceId).not.toBe(traces[1]!.info.traceId);
  });
});

describe("async-local-storage", () => {
  it("is the default in Node, and keeps interleaved concurrent flows apart", async () => {
    const t = setup();
    const step = mlflow.trace(async function step(flowId: string, n: number) { await sleep(n % 2 ? 3 : 1); return `${flowId}${n}`; });
    const flow = mlflow.trace(async function flow(flowName: string) {
      for (let i = 0; i < 3; i++) await step(flowName, i);
      return flowName;
    });
    await Promise.all([flow("a"), flow("b"), flow("c")]);
    const traces = await t.traces();
    expect(traces).toHaveLength(3);
    for (const trace of traces) {
      const [root, ...children] = trace.data.spans;
      const name = (root!.inputs as { flowName: string }).flowName;
      expect(children.map((c) => (c.inputs as { flowId: string }).flowId)).toEqual([name, name, name]);
      expect(children.every((c) => c.parentId === root!.spanId)).toBe(true);
    }
  });

  it("follows setTimeout and promise callbacks", async () => {
    const t = setup();
    await mlflow.withSpan(async () => {
      await new Promise<void>((resolve) => setTimeout(() => { mlflow.withSpan(() => 1, { name: "timer" }); resolve(); }, 1));
      await Promise.resolve().then(() => mlflow.withSpan(() => 2, { name: "then" }));
    }, { name: "root" });
    expect(shape(await t.only()).map((s) => s.parent)).toEqual([null, "root", "root"]);
  });
});

describe("stack context without an async context manager", () => {
  let w: ReturnType<typeof captureWarnings>;
  afterEach(() => w.restore());

  it("never nests silently wrong after an await: it starts a new trace and warns once, naming the fix", async () => {
    w = captureWarnings();
    const t = setup({ contextManager: new mlflow.StackContextManager() });
    const child = mlflow.trace(function child() { return 1; });
    await mlflow.withSpan(async () => {
      child(); // before the first await: nests
      await sleep(1);
      child(); // context lost: becomes its own trace, with a warning
      child();
    }, { name: "parent" });
    const traces = await t.traces();
    expect(traces.map((tr) => shape(tr).map((s) => [s.name, s.parent]))).toEqual([
      [["child", null]],
      [["child", null]],
      [["parent", null], ["child", "parent"]],
    ]);
    const lost = w.messages().filter((m) => m.includes("context (stack) was lost"));
    expect(lost).toHaveLength(1);
    expect(lost[0]).toContain("span.run");
  });

  it("takes { parent: null } as an intentional new trace: no warning while another trace is open", async () => {
    w = captureWarnings();
    const t = setup({ contextManager: new mlflow.StackContextManager() });
    const action = (id: string) => mlflow.withSpan(async () => { await sleep(id === "a" ? 3 : 1); }, { name: `action-${id}`, parent: null });
    const a = action("a");
    await sleep(1); // b starts later, while a is still open
    await Promise.all([a, action("b")]);
    expect((await t.traces()).map((tr) => tr.data.spans[0]!.name).sort()).toEqual(["action-a", "action-b"]);
    expect(w.messages()).toEqual([]);
  });

  it("does not warn for a root under a remote parent made active from a request's headers (it has its parent)", async () => {
    w = captureWarnings();
    const t = setup({ contextManager: new mlflow.StackContextManager() });
    const background = mlflow.withSpan(async () => { await sleep(3); }, { name: "background" });
    await sleep(1);
    const headers = { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" };
    await mlflow.withTracingContextFromHeaders(headers, () => mlflow.withSpan(() => 1, { name: "handler" }));
    await background;
    expect((await t.traces()).map((tr) => tr.data.spans[0]!.name).sort()).toEqual(["background", "handler"]);
    expect(w.messages()).toEqual([]);
  });

  it("does not warn for flows started together in one synchronous run (none can have lost its context across an await)", async () => {
    w = captureWarnings();
    const t = setup({ contextManager: new mlflow.StackContextManager() });
    const flow = (id: string) => mlflow.withSpan(async () => { await sleep(id === "a" ? 3 : 1); }, { name: `flow-${id}` });
    await Promise.all([flow("a"), flow("b"), flow("c")]);
    expect(await t.traces()).toHaveLength(3);
    expect(w.messages()).toEqual([]);
    // The same start a turn later, while those started before are open, may be a lost child: said.
    const first = flow("a");
    await Promise.resolve();
    await Promise.all([first, flow("b")]);
    expect(w.messages().filter((m) => m.includes("was lost across an await"))).toHaveLength(1);
  });

  it("so does trace(fn, { parent: null }): each click of a traced handler is its own trace, also inside another span", async () => {
    w = captureWarnings();
    const t = setup({ contextManager: new mlflow.StackContextManager() });
    const onClick = mlflow.trace(async function onClick(id: string) { await sleep(id === "a" ? 3 : 1); }, { parent: null });
    const clicks = mlflow.trace(async function* clicks() { yield 1; }, { parent: null });
    await Promise.all([onClick("a"), onClick("b")]);
    await mlflow.withSpan(async () => {
      await onClick("inside");
      for await (const _ of clicks()) { /* read */ }
    }, { name: "outer" });
    expect((await t.traces()).map((tr) => tr.data.spans.map((s) => s.name)).sort()).toEqual([["clicks"], ["onClick"], ["onClick"], ["onClick"], ["outer"]]);
    expect(w.messages()).toEqual([]);
  });

  it("does not warn for a trace that only waits for a generator made in it and not read yet", async () => {
    w = captureWarnings();
    const t = setup({ contextManager: new mlflow.StackContextManager() });
    const words = mlflow.trace(function* words() { yield "a"; });
    const kept = mlflow.withSpan(() => words(), { name: "makesStream" }); // held for the unread generator
    await mlflow.withSpan(async () => { await sleep(1); }, { name: "independent" });
    expect(w.messages()).toEqual([]);
    expect([...kept]).toEqual(["a"]);
    expect((await t.traces()).map((tr) => tr.data.spans.map((s) => s.name))).toEqual([["independent"], ["makesStream", "words"]]);
  });

  it("still warns for a trace held by work handed on after its root ended (a Worker's ctx.waitUntil)", async () => {
    w = captureWarnings();
    const t = setup({ contextManager: new mlflow.StackContextManager() });
    let release!: () => void;
    mlflow.withSpan((span) => void (release = span._record.hold()), { name: "request" }); // as holdingContext's waitUntil does
    await Promise.resolve();
    mlflow.withSpan(() => 1, { name: "dbWrite" }); // work in that waitUntil, after an await, its context lost
    release();
    expect(w.messages().filter((m) => m.includes("was lost across an await"))).toHaveLength(1);
    expect(await t.traces()).toHaveLength(2);
  });

  it("does not warn when top-level traces simply follow each other", async () => {
    w = captureWarnings();
    const t = setup({ contextManager: new mlflow.StackContextManager() });
    const op = mlflow.trace(async function op() { await sleep(1); });
    await op();
    await op();
    expect(await t.traces()).toHaveLength(2);
    expect(w.messages()).toEqual([]);
  });
});

describe("tracing configured again inside an open trace", () => {
  it("says so: the open trace finishes as configured before, what follows begins new traces under the new configuration", async () => {
    const t = setup({ contextManager: new mlflow.AsyncLocalStorageContextManager(AsyncLocalStorage) });
    const other = new mlflow.InMemoryExporter();
    const warnings = captureWarnings();
    await mlflow.withSpan(async () => {
      await sleep(1);
      mlflow.init({ exporter: other, contextManager: new mlflow.AsyncLocalStorageContextManager(AsyncLocalStorage) });
      await mlflow.trace(async function step() { await sleep(1); })();
    }, { name: "request" });
    const said = warnings.messages();
    warnings.restore();
    expect(said.filter((w) => w.includes('configured again (init) inside the open span "request"'))).toHaveLength(1);
    expect(shape(await t.only()).map((s) => [s.name, s.parent])).toEqual([["request", null]]);
    await mlflow.flushTraces();
    expect(other.drain().map((trace) => trace.data.spans.map((s) => s.name))).toEqual([["step"]]);
  });
});
