// MlflowExporter kept across Worker invocations: a send cut off with its invocation never settles,
// and must not hold a send slot or the experiment lookup for every later trace.
import { afterEach, describe, expect, it, vi } from "vitest";
import * as mlflow from "../index.js";
import { MlflowExporter } from "./exporter.js";
import type { SendTraceResult } from "./client.js";

async function someTrace(name: string): Promise<mlflow.Trace> {
  const exporter = new mlflow.InMemoryExporter();
  mlflow.init({ exporter, silent: true, contextManager: new mlflow.StackContextManager() });
  mlflow.withSpan(() => 1, { name });
  await mlflow.flushTraces();
  return exporter.traces[0]!;
}

const never = <T>() => new Promise<T>(() => {});

describe("MlflowExporter across invocations", () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it.each([
    ["navigator.userAgent", () => vi.stubGlobal("navigator", { userAgent: "Cloudflare-Workers" })],
    ["WebSocketPair (Workers older than navigator)", () => vi.stubGlobal("WebSocketPair", function WebSocketPair() {})],
  ])("in Workers (%s), takes back a send slot abandoned with its invocation, and a lookup left hanging by one holds no other send", async (_, inWorkers) => {
    vi.useFakeTimers({ toFake: ["Date"] });
    inWorkers(); // where invocations end
    const exporter = new MlflowExporter({ trackingUri: "http://127.0.0.1:9", experimentName: "exp", maxConcurrency: 2, timeoutMs: 1_000, retry: { maxElapsedMs: 1_000 } });
    const sent: string[] = [];
    let lookups = 0;
    // The first lookup hangs for ever, as a fetch does in an invocation that ended; the next ones answer.
    exporter.client.getOrCreateExperiment = () => (++lookups === 1 ? never<string>() : Promise.resolve("7"));
    exporter.client.sendTrace = async (trace: mlflow.Trace, experimentId: string) => {
      const name = trace.data.spans[0]!.name;
      sent.push(`${name}@${experimentId}`);
      if (name.startsWith("cut")) await never(); // cut off with its invocation while sending
      return { traceId: trace.info.traceId, spansLocation: "TRACKING_STORE" } as SendTraceResult;
    };
    void exporter.export(await someTrace("cut-1")); // its lookup hangs: before, every later send waited on it
    void exporter.export(await someTrace("cut-2")); // looks up itself, then its send hangs
    void exporter.export(await someTrace("waits")); // no slot free
    await new Promise((r) => setTimeout(r, 10));
    expect(sent).toEqual(["cut-2@7"]);
    vi.setSystemTime(Date.now() + 2_500); // past timeout + retry budget: those sends are abandoned
    await exporter.export(await someTrace("later"));
    await new Promise((r) => setTimeout(r, 120)); // a waiting send looks again for a slot every 50 ms
    expect(sent.sort()).toEqual(["cut-2@7", "later@7", "waits@7"]);
    expect(lookups).toBe(2); // the id found once serves every later send
  });

  it("in Workers, a send waiting for a slot is resumed by its own timer only, never by the send that freed it; flush() stops waiting for a send older than the abandon age", async () => {
    // Resumed by the send that freed the slot, from another invocation, waiting sends stopped under
    // load in workerd: 8 to 24 traces of a burst were never sent while slots stood free.
    vi.useFakeTimers({ toFake: ["Date", "setTimeout", "clearTimeout"] });
    vi.stubGlobal("navigator", { userAgent: "Cloudflare-Workers" });
    const exporter = new MlflowExporter({ trackingUri: "http://127.0.0.1:9", experimentId: "1", maxConcurrency: 1, timeoutMs: 1_000, retry: { maxElapsedMs: 1_000 } });
    const sent: string[] = [];
    const answers: (() => void)[] = [];
    exporter.client.sendTrace = async (trace: mlflow.Trace) => {
      sent.push(trace.data.spans[0]!.name);
      await new Promise<void>((r) => answers.push(r));
      return { traceId: trace.info.traceId, spansLocation: "TRACKING_STORE" } as SendTraceResult;
    };
    const first = exporter.export(await someTrace("first"));
    const second = exporter.export(await someTrace("second")); // no slot free: it waits
    await vi.advanceTimersByTimeAsync(0);
    expect(sent).toEqual(["first"]);
    answers.shift()!(); // the first send ends and frees its slot
    await first;
    expect(sent).toEqual(["first"]); // not resumed by it
    await vi.advanceTimersByTimeAsync(50); // its own timer
    expect(sent).toEqual(["first", "second"]);
    answers.shift()!();
    await second;
    // A send cut off with its invocation never settles; flush() gives up on it at the abandon age.
    exporter.client.sendTrace = () => never<SendTraceResult>();
    void exporter.export(await someTrace("cut"));
    let flushed = false;
    void exporter.flush().then(() => (flushed = true));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(flushed).toBe(false);
    await vi.advanceTimersByTimeAsync(1_100);
    expect(flushed).toBe(true);
  });

  it("in Node, where every send settles, a slow send keeps its slot: never more than maxConcurrency at once", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const exporter = new MlflowExporter({ trackingUri: "http://127.0.0.1:9", experimentId: "1", maxConcurrency: 2, timeoutMs: 1_000, retry: { maxElapsedMs: 1_000 } });
    let active = 0;
    let most = 0;
    const done: (() => void)[] = [];
    exporter.client.sendTrace = async (trace: mlflow.Trace) => {
      most = Math.max(most, ++active);
      await new Promise<void>((r) => done.push(r));
      active--;
      return { traceId: trace.info.traceId, spansLocation: "TRACKING_STORE" } as SendTraceResult;
    };
    const all = [];
    for (let i = 0; i < 4; i++) {
      all.push(exporter.export(await someTrace(`t${i}`)));
      vi.setSystemTime(Date.now() + 5_000); // each send slower than timeout + retry budget, and alive
    }
    for (let released = 0; released < 4; released++) {
      while (!done.length) await new Promise((r) => setTimeout(r, 5)); // a waiting send takes the freed slot
      done.shift()!();
    }
    await Promise.all(all);
    expect(most).toBe(2);
  });
});

describe("MlflowExporter failures, as the app sees them", () => {
  it("says each kind of failure once (a 403 after a 500 is still said), as an export failure, not an internal error; an async redact hook drops the trace with a warning", async () => {
    const { MlflowHttpError } = await import("./errors.js");
    const { resetWarnings } = await import("../debug.js");
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    try {
      const exporter = new MlflowExporter({ trackingUri: "http://127.0.0.1:9", experimentId: "1", redact: false });
      const statuses = [500, 500, 403, 404, 403];
      let n = 0;
      exporter.client.sendTrace = async () => {
        const status = statuses[n++]!;
        throw new MlflowHttpError("POST", "http://127.0.0.1:9/v1/traces", status, "", "E", `status ${status}`, 1);
      };
      mlflow.init({ exporter, contextManager: new mlflow.StackContextManager() });
      resetWarnings();
      for (let i = 0; i < statuses.length; i++) mlflow.withSpan(() => i, { name: `t${i}` });
      await mlflow.flushTraces();
      const said = warn.mock.calls.map((c) => String(c[0]));
      expect(said.filter((m) => /a trace could not be exported/.test(m)).map((m) => /HTTP (\d+)|status (\d+)/.exec(m)?.[0])).toEqual(["status 500", "status 403", "status 404"]);
      expect(said.join("\n")).not.toContain("internal error");
      // Errors that differ every time: a dozen kinds told apart, then one more warning for all the others.
      warn.mockClear();
      let k = 0;
      mlflow.init({ exporter: { export: () => Promise.reject(Object.assign(new Error(`e${k}`), { status: 1000 + k++ })) }, contextManager: new mlflow.StackContextManager() });
      for (let i = 0; i < 100; i++) mlflow.withSpan(() => i, { name: `v${i}` });
      await mlflow.flushTraces();
      expect(warn.mock.calls.filter((c) => /could not be exported/.test(String(c[0]))).length).toBeLessThanOrEqual(13);
      // ... and a refusal of the configuration after those is still said.
      warn.mockClear();
      mlflow.init({ exporter: { export: () => Promise.reject(Object.assign(new Error("key revoked"), { name: "MlflowHttpError", status: 401 })) }, contextManager: new mlflow.StackContextManager() });
      mlflow.withSpan(() => 1, { name: "after" });
      await mlflow.flushTraces();
      expect(warn.mock.calls.filter((c) => /key revoked/.test(String(c[0])))).toHaveLength(1);
      // A refusal is one kind however its errors are named.
      warn.mockClear();
      resetWarnings();
      let j = 0;
      mlflow.init({ exporter: { export: () => Promise.reject(Object.assign(new Error("not found"), { name: `NotFound${j++}`, status: 404 })) }, contextManager: new mlflow.StackContextManager() });
      for (let i = 0; i < 20; i++) mlflow.withSpan(() => i, { name: `nf${i}` });
      await mlflow.flushTraces();
      expect(warn.mock.calls.filter((c) => /not found/.test(String(c[0])))).toHaveLength(1);

      const sent: string[] = [];
      const asyncRedact = new MlflowExporter({ trackingUri: "http://127.0.0.1:9", experimentId: "1", redact: (async (t: mlflow.Trace) => t) as never });
      asyncRedact.client.sendTrace = async (trace: mlflow.Trace) => (sent.push(trace.info.traceId), { spans: 1 }) as unknown as SendTraceResult;
      const trace = await someTrace("async-redact"); // (made with warnings silenced)
      mlflow.init({ exporter: new mlflow.InMemoryExporter() });
      await asyncRedact.export(trace);
      expect(sent).toEqual([]);
      expect(warn.mock.calls.map((c) => String(c[0])).filter((m) => /redact hook returned a Promise/.test(m))).toHaveLength(1);
    } finally {
      warn.mockRestore();
    }
  });
});

describe("MlflowExporter in Workers: each trace's send on its own, within its deadline", () => {
  afterEach(() => vi.unstubAllGlobals());

  /** MLflow as far as a trace's send needs it, failing every call with 503 while `down.value`. */
  function mlflowStub(down: { value: boolean }) {
    const calls: string[] = [];
    const fetch = async (url: string) => {
      calls.push(new URL(url).pathname);
      if (down.value) return new Response('{"error_code":"TEMPORARILY_UNAVAILABLE","message":"down"}', { status: 503 });
      if (url.endsWith("/v1/traces")) return new Response("{}");
      return new Response(JSON.stringify({ trace: { trace_info: { trace_id: "tr-1", tags: { "mlflow.trace.spansLocation": "TRACKING_STORE" } } } }));
    };
    return { calls, fetch };
  }

  it("an outage earlier invocations spent their retry budget on does not refuse a trace sent once MLflow is back", async () => {
    vi.stubGlobal("navigator", { userAgent: "Cloudflare-Workers" });
    const down = { value: true };
    const stub = mlflowStub(down);
    const exporter = new MlflowExporter({ trackingUri: "http://mlflow.test", experimentId: "1", fetch: stub.fetch, retry: { initialDelayMs: 5, maxDelayMs: 5_000, maxElapsedMs: 100 } });
    const failed = await Promise.allSettled([exporter.export(await someTrace("a")), exporter.export(await someTrace("b"))]);
    expect(failed.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    down.value = false;
    stub.calls.length = 0;
    // Before: refused untried for maxDelayMs ("not tried: the server has failed every request…").
    await expect(exporter.export(await someTrace("c"))).resolves.toBeUndefined();
    expect(stub.calls).toEqual(["/v1/traces", "/api/3.0/mlflow/traces"]);
  });

  it("a send that MLflow keeps failing ends by sendDeadlineMs with MLflow's last answer, long before the retry budget", async () => {
    vi.stubGlobal("navigator", { userAgent: "Cloudflare-Workers" });
    const stub = mlflowStub({ value: true });
    const exporter = new MlflowExporter({ trackingUri: "http://mlflow.test", experimentId: "1", fetch: stub.fetch, sendDeadlineMs: 300, retry: { maxAttempts: 100_000, initialDelayMs: 20, maxDelayMs: 20 } });
    await expect(exporter.export(await someTrace("a"))).rejects.toThrow(/answered 503 .*down/);
    // A try every 20 ms for 300 ms (before: for the 60 s retry budget, some 3000 tries).
    expect(stub.calls.length).toBeGreaterThan(1);
    expect(stub.calls.length).toBeLessThan(100);
  });

  it("a burst sends at most 16 traces at once from the isolate (unbounded, 500 at once swamped MLflow and 1 arrived), and every one arrives", async () => {
    vi.stubGlobal("navigator", { userAgent: "Cloudflare-Workers" });
    const stub = mlflowStub({ value: false });
    let open = 0;
    let most = 0;
    const slow = async (url: string) => {
      most = Math.max(most, ++open);
      await new Promise((r) => setTimeout(r, 5));
      open--;
      return stub.fetch(url);
    };
    const exporter = new MlflowExporter({ trackingUri: "http://mlflow.test", experimentId: "1", fetch: slow });
    const traces = await Promise.all(Array.from({ length: 60 }, (_, i) => someTrace(`t${i}`)));
    const results = await Promise.allSettled(traces.map((t) => exporter.export(t)));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(60);
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(16);
  });

  it("sendDeadlineMs must be a number > 0", () => {
    expect(() => new MlflowExporter({ trackingUri: "http://mlflow.test", experimentId: "1", sendDeadlineMs: 0 })).toThrow(new TypeError("sendDeadlineMs must be a number > 0; got 0."));
  });
});
