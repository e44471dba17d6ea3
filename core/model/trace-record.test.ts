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
