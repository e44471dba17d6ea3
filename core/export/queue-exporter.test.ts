import { afterEach, describe, expect, it, vi } from "vitest";
import * as mlflow from "../index.js";
import { resetWarnings } from "../debug.js";
import { MemoryQueue } from "./memory-queue.js";
import type { QueuedTrace } from "./queue.js";
import { QueueExporter, type QueueExporterOptions } from "./queue-exporter.js";
import { getTracer } from "../tracer.js";

async function run(options: Omit<QueueExporterOptions, "queue">, queue = new MemoryQueue(), traces = 1) {
  const exporter = new QueueExporter({ queue, ...options });
  mlflow.init({ exporter, silent: true, contextManager: new mlflow.StackContextManager() });
  for (let i = 0; i < traces; i++) mlflow.withSpan(() => "ok", { name: `t${i}`, inputs: { api_key: "sk-secret-0123456789abcdef", i } });
  await mlflow.flushTraces();
  const lease = await queue.lease(10_000_000);
  return { exporter, stored: lease?.items ?? [] };
}

describe("QueueExporter", () => {
  afterEach(() => resetWarnings());

  it("stores each finished trace redacted, as the JSON the collector receives", async () => {
    const { stored } = await run({});
    expect(stored).toHaveLength(1);
    const trace = JSON.parse(stored[0]!.body) as mlflow.Trace;
    expect(stored[0]!.id).toBe(trace.info.traceId);
    expect(trace.data.spans[0]?.inputs).toEqual({ api_key: "[REDACTED]", i: 0 });
    expect(stored[0]!.body).not.toContain("sk-secret");
  });

  it("stores a trace cut to the ingest limits, so a long stream is not refused whole by the collector", async () => {
    const queue = new MemoryQueue();
    const exporter = new QueueExporter({ queue });
    mlflow.init({ exporter, silent: true, contextManager: new mlflow.StackContextManager() });
    const stream = mlflow.trace(function* answer() { for (let i = 0; i < 1500; i++) yield `${i} `; });
    for (const _ of stream()) { /* consume */ }
    await mlflow.flushTraces();
    const [stored] = (await queue.lease(10_000_000))!.items;
    const span = (JSON.parse(stored!.body) as mlflow.Trace).data.spans[0]!;
    expect(span.events).toHaveLength(1000);
    expect(span.outputs).toHaveLength(1500);
  });

  it("resolves export only once the queue holds the trace", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const queue = new MemoryQueue();
    const append = queue.append.bind(queue);
    queue.append = async (items: readonly QueuedTrace[]) => { await gate; await append(items); };
    const exporter = new QueueExporter({ queue });
    let done = false;
    const exported = exporter.export({ info: { traceId: "tr-x", traceLocation: { type: "MLFLOW_EXPERIMENT" }, requestTime: 0, state: "OK", traceMetadata: {}, tags: {} }, data: { spans: [] } }).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 5));
    expect(done).toBe(false);
    expect(exporter.unsettled().items.map((i) => i.id)).toEqual(["tr-x"]);
    release();
    await exported;
    expect((await queue.stats()).queued).toBe(1);
    expect(exporter.unsettled().items).toEqual([]);
  });

  it("samples: rate 0 stores nothing, a function decides per trace, and a null from the hook drops", async () => {
    expect((await run({ sample: 0 }, undefined, 5)).stored).toHaveLength(0);
    const bySpanName = await run({ sample: (t) => t.data.spans[0]?.name === "t1" }, undefined, 3);
    expect(bySpanName.stored.map((s) => (JSON.parse(s.body) as mlflow.Trace).data.spans[0]?.name)).toEqual(["t1"]);
    expect(bySpanName.exporter.stats().sampledOut).toBe(2);
    expect((await run({ redact: () => null })).stored).toHaveLength(0);
    expect(() => new QueueExporter({ queue: new MemoryQueue(), sample: 2 })).toThrow(/"sample" must be a number from 0 to 1/);
  });

  it("a rate decides once per trace: its snapshots, taken again and again, and the finished trace get the same answer", async () => {
    const queue = new MemoryQueue();
    const exporter = new QueueExporter({ queue, sample: 0.5 });
    mlflow.init({ exporter, silent: true, contextManager: new mlflow.StackContextManager() });
    const spans = Array.from({ length: 1000 }, (_, i) => mlflow.startSpan({ name: `t${i}`, parent: null }));
    // A hidden page stores snapshots every few seconds: ten rounds must not let more traces through than one.
    const snapshotted = new Set<string>();
    for (let round = 0; round < 10; round++) {
      for (const s of exporter.prepareSnapshots(getTracer().snapshotOpenTraces("hidden"))) snapshotted.add(s.id);
    }
    for (const s of spans) s.end();
    await mlflow.flushTraces();
    const stored = new Set((await queue.lease(100_000_000))!.items.map((i) => i.id));
    expect(snapshotted).toEqual(stored);
    // About half, far from what independent draws would give (1 - 0.5^10 of them after ten rounds).
    expect(stored.size).toBeGreaterThan(400);
    expect(stored.size).toBeLessThan(600);
    expect(exporter.stats().sampledOut).toBe(1000 - stored.size);
  });

  it("sampledIn: an id not ending in 8 hex digits is drawn at the rate, not always kept", async () => {
    const { sampledIn } = await import("./queue-exporter.js");
    const kept = Array.from({ length: 2000 }, (_, i) => sampledIn(`request-${i}`, 0.1)).filter(Boolean).length;
    expect(kept).toBeGreaterThan(100);
    expect(kept).toBeLessThan(320);
    expect(sampledIn("tr-00000000000000000000000000000000", 0.001)).toBe(true);
    expect(sampledIn("tr-000000000000000000000000ffffffff", 0.999)).toBe(false);
  });

  it("snapshots of open traces are sampled and redacted like finished ones, uncounted; a finished trace not stored is reported by id", async () => {
    const dropped: string[] = [];
    const queue = new MemoryQueue();
    const exporter = new QueueExporter({ queue, sample: (t) => t.data.spans[0]?.name !== "skip", onDropped: (id) => dropped.push(id) });
    mlflow.init({ exporter, silent: true, contextManager: new mlflow.StackContextManager() });
    const keep = mlflow.startSpan({ name: "keep", inputs: { password: "hunter2" } });
    const skip = mlflow.startSpan({ name: "skip", parent: null });
    const snaps = exporter.prepareSnapshots(getTracer().snapshotOpenTraces("hidden"));
    expect(snaps.map((s) => s.id)).toEqual([keep.traceId]);
    expect(snaps[0]!.body).not.toContain("hunter2");
    expect(exporter.stats()).toEqual({ sampledOut: 0, failed: 0 });
    keep.end();
    skip.end();
    await mlflow.flushTraces();
    expect(dropped).toEqual([skip.traceId]);
    expect(exporter.stats().sampledOut).toBe(1);
  });

  it("a throwing or malformed redact hook drops the trace instead of storing it raw", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    mlflow.init({ silent: false });
    const throwing = await run({ redact: () => { throw new Error("boom"); } });
    expect(throwing.stored).toHaveLength(0);
    expect(throwing.exporter.stats().failed).toBe(1);
    const malformed = await run({ redact: () => ({}) as mlflow.Trace });
    expect(malformed.stored).toHaveLength(0);
    warn.mockRestore();
  });

  it("an async sample function or redact hook gets a warning that says so: the sample keeps the trace, the redact hook's trace is dropped and counted", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    for (const [options, stored, failed, said] of [
      [{ sample: async () => false }, 1, 0, /sample function returned a Promise/],
      [{ redact: async (t: mlflow.Trace) => t }, 0, 1, /redact hook returned a Promise/],
    ] as const) {
      resetWarnings();
      warn.mockClear();
      const queue = new MemoryQueue();
      const exporter = new QueueExporter({ queue, ...(options as unknown as Omit<QueueExporterOptions, "queue">) });
      mlflow.init({ exporter, contextManager: new mlflow.StackContextManager() });
      mlflow.withSpan(() => "ok", { name: "t" });
      await mlflow.flushTraces();
      expect((await queue.lease(1_000_000))?.items ?? []).toHaveLength(stored);
      expect(exporter.stats().failed).toBe(failed);
      expect(warn.mock.calls.map((c) => String(c[0]))).toEqual([expect.stringMatching(said)]);
    }
    warn.mockRestore();
  });

  it("flush waits for pending writes and then drains", async () => {
    const queue = new MemoryQueue();
    const append = queue.append.bind(queue);
    queue.append = async (items: readonly QueuedTrace[]) => { await new Promise((r) => setTimeout(r, 5)); await append(items); };
    const seenByDrain: number[] = [];
    const exporter = new QueueExporter({ queue, drain: async () => void seenByDrain.push((await queue.stats()).queued) });
    void exporter.export({ info: { traceId: "tr-y", traceLocation: { type: "MLFLOW_EXPERIMENT" }, requestTime: 0, state: "OK", traceMetadata: {}, tags: {} }, data: { spans: [] } });
    await exporter.flush();
    expect(seenByDrain).toEqual([1]);
  });
});
