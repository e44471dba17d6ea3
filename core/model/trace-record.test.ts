import { describe, expect, it } from "vitest";
import * as mlflow from "../index.js";
import { getTracer } from "../tracer.js";
import { setup, shape, sleep } from "../../test/unit/helpers.js";

describe("cancelOpenTraces (a page being closed)", () => {
  it("ends the open spans with a 'cancelled' event, children first, and exports the trace now", async () => {
    const t = setup();
    const tokens = mlflow.trace(async function* tokens() {
      yield "a";
      await new Promise(() => {}); // stalls
    }, { spanType: mlflow.SpanType.LLM });
    let root!: mlflow.Span;
    void mlflow.withSpan(async (span) => {
      root = span;
      mlflow.withSpan(() => "done", { name: "retrieve", parent: span }); // already ended: no event
      const stream = span.run(() => tokens());
      for await (const _ of stream) await sleep(1);
    }, { name: "ask", inputs: { q: "hi" } });
    await sleep(10);
    expect(t.exporter.traces).toHaveLength(0);
    getTracer().cancelOpenTraces("page closed");
    expect(t.exporter.traces).toHaveLength(1); // synchronously: the page is going away
    const trace = t.exporter.traces[0]!;
    const spans = shape(trace);
    expect(spans.map((s) => [s.name, s.parent, s.status, (s.events ?? []).map((e) => e.name)])).toEqual([
      ["ask", null, "OK", ["cancelled"]],
      ["retrieve", "ask", "OK", []],
      ["tokens", "ask", "OK", ["mlflow.chunk.item.0", "cancelled"]],
    ]);
    expect(trace.data.spans.every((s) => s.endTime !== null)).toBe(true);
    expect(trace.data.spans[0]!.events[0]!.attributes).toEqual({ reason: "page closed" });
    expect(trace.data.spans[2]!.endTime!).toBeLessThanOrEqual(trace.data.spans[0]!.endTime!); // child ended first
    expect(trace.info.state).toBe("OK");
    // Ending it later changes nothing already exported.
    root.end({ outputs: "late" });
    expect(t.exporter.traces).toHaveLength(1);
    expect(trace.data.spans[0]!.outputs).toBeUndefined();
    expect(getTracer().openTraceCount).toBe(0);
  });

  it("a trace whose root ended but a returned stream was never iterated is exported without waiting", async () => {
    const t = setup({ openSpanTimeoutMs: 60_000 });
    const gen = mlflow.trace(function* gen() { yield 1; });
    const parent = mlflow.trace(function parent() { return gen(); });
    parent(); // returns the un-iterated generator: the trace waits for it
    await sleep(5);
    expect(t.exporter.traces).toHaveLength(0);
    getTracer().cancelOpenTraces("page closed");
    expect(shape(await t.only()).map((s) => s.name)).toEqual(["parent"]);
  });
});

describe("snapshotOpenTraces (a hidden page that may be discarded)", () => {
  it("returns each open trace as cancelling it now would export it, and leaves it running untouched", async () => {
    const t = setup();
    const tokens = mlflow.trace(async function* tokens() {
      yield "a";
      await sleep(30);
      yield "b";
    }, { spanType: mlflow.SpanType.LLM });
    const done = mlflow.withSpan(async (span) => {
      mlflow.withSpan(() => "x", { name: "step", parent: span });
      const chunks: string[] = [];
      for await (const c of span.run(() => tokens())) chunks.push(c);
      mlflow.withSpan(() => "y", { name: "step", parent: span }); // a second "step": both renamed at the end
      return chunks.join("");
    }, { name: "ask", inputs: { q: "hi" } });
    await sleep(10);
    const [snap, ...more] = getTracer().snapshotOpenTraces("page discarded");
    expect(more).toEqual([]);
    expect(shape(snap!).map((s) => [s.name, s.status, (s.events ?? []).map((e) => e.name)])).toEqual([
      ["ask", "OK", ["cancelled"]],
      ["step", "OK", []],
      ["tokens", "OK", ["mlflow.chunk.item.0", "cancelled"]],
    ]);
    expect(snap!.data.spans.every((s) => s.endTime !== null)).toBe(true);
    expect(snap!.data.spans[0]!.events[0]!.attributes).toEqual({ reason: "page discarded" });
    expect(snap!.info.state).toBe("OK");
    expect(snap!.info.requestPreview).toBe('{"q": "hi"}');
    expect(t.exporter.traces).toHaveLength(0); // nothing exported: the trace is still open

    expect(await done).toBe("ab");
    const trace = await t.only();
    expect(shape(trace).map((s) => [s.name, (s.events ?? []).map((e) => e.name)])).toEqual([
      ["ask", []],
      ["step_1", []],
      ["tokens", ["mlflow.chunk.item.0", "mlflow.chunk.item.1"]],
      ["step_2", []],
    ]);
    expect(trace.data.spans[0]!.outputs).toBe("ab");
    expect(trace.info.responsePreview).toBe('"ab"');
    // The snapshot is a copy: finalizing the real trace did not reach into it.
    expect(snap!.data.spans.map((s) => s.name)).toEqual(["ask", "step", "tokens"]);
  });

  it("with `seen`, a trace is snapshotted again only once it changed (a span started or ended, a chunk)", async () => {
    setup();
    const seen = new Map<string, string>();
    const root = mlflow.startSpan({ name: "ask" });
    const ids = () => getTracer().snapshotOpenTraces("hidden", seen).map((t) => t.info.traceId);
    expect(ids()).toEqual([root.traceId]);
    expect(ids()).toEqual([]); // nothing new: not copied again
    const child = mlflow.startSpan({ name: "answer", parent: root });
    expect(ids()).toEqual([root.traceId]);
    child.addEvent("mlflow.chunk.item.0");
    expect(ids()).toEqual([root.traceId]);
    child.end();
    expect(ids()).toEqual([root.traceId]);
    expect(ids()).toEqual([]);
    root.end();
  });

  it("an error already recorded stays ERROR in the snapshot; no open trace, no snapshot", async () => {
    setup();
    let release!: () => void;
    const failing = mlflow.withSpan(async (span) => {
      span.recordException(new TypeError("bad"));
      await new Promise<void>((r) => (release = r));
    }, { name: "failing" });
    await sleep(1);
    const [snap] = getTracer().snapshotOpenTraces("page discarded");
    expect(snap!.data.spans[0]!.status).toEqual({ statusCode: mlflow.SpanStatusCode.ERROR, description: "TypeError: bad" });
    expect(snap!.info.state).toBe("ERROR");
    release();
    await failing;
    expect(getTracer().snapshotOpenTraces("page discarded")).toEqual([]);
  });
});
