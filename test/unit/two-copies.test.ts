// Two copies of mlflow-edge in one realm (two bundles of an app, a library bundling its own): they
// share one tracer and one clock, so a trace can hold spans of both copies' classes.
import { build } from "esbuild";
import { describe, expect, it } from "vitest";
import * as mlflow from "../../core/index.js";

async function anotherCopy(): Promise<typeof mlflow> {
  // A new text each time: the same data: URL would be the same module, evaluated once.
  const out = await build({ entryPoints: ["core/index.ts"], bundle: true, format: "esm", platform: "node", write: false, logLevel: "silent", banner: { js: `// copy ${Math.random()}` } });
  return import(`data:text/javascript;base64,${Buffer.from(out.outputFiles[0]!.text).toString("base64")}`);
}

describe("two copies of the package in one realm", () => {
  it("a trace holding both copies' spans, exported with some still open, has span data only (no live objects), and serializes", async () => {
    const copy = await anotherCopy();
    const mine = new mlflow.InMemoryExporter();
    mlflow.init({ exporter: mine });
    const root = mlflow.startSpan({ name: "root" });
    const theirs = new copy.InMemoryExporter();
    copy.init({ exporter: theirs, silent: true });
    const child = copy.startSpan({ name: "child", parent: root as never });
    const grand = mlflow.startSpan({ name: "grand", parent: child as never });
    expect([child.traceId, grand.traceId]).toEqual([root.traceId, root.traceId]);
    root.end();
    await copy.flushTraces(); // exported with child and grand still open
    const [trace] = [...mine.traces, ...theirs.traces];
    expect(trace!.data.spans.map((s) => [s.name, s.endTime === null])).toEqual([["root", false], ["child", true], ["grand", true]]);
    for (const s of trace!.data.spans) expect(Object.keys(s)).not.toContain("_record");
    expect(() => JSON.stringify(trace)).not.toThrow();
    grand.end();
    child.end();
  });

  it("span hooks one copy registered run for the spans of the other copy's configuration", async () => {
    const copy = await anotherCopy();
    const seen: string[] = [];
    mlflow.registerOnSpanStartHook((span) => void seen.push(`start ${span.name}`));
    mlflow.registerOnSpanEndHook((span) => span.setAttribute("tenant", "t1"));
    const theirs = new copy.InMemoryExporter();
    copy.init({ exporter: theirs, silent: true });
    copy.withSpan(() => 1, { name: "after-other-init" });
    await copy.flushTraces();
    expect(seen).toEqual(["start after-other-init"]);
    expect(theirs.traces[0]!.data.spans[0]!.attributes.tenant).toBe("t1");
    mlflow.clearOnSpanStartHooks();
    mlflow.clearOnSpanEndHooks();
  });

  it("a hooks object of another shape in the realm is replaced, not used (tracing would throw into the app)", async () => {
    const key = Symbol.for("mlflow-edge.hooks");
    const g = globalThis as unknown as Record<symbol, unknown>;
    const saved = g[key];
    g[key] = {};
    try {
      const copy = await anotherCopy();
      copy.init({ exporter: new copy.InMemoryExporter(), silent: true });
      expect(copy.withSpan(() => 42, { name: "s" })).toBe(42);
      expect(() => copy.registerOnSpanEndHook(() => {})).not.toThrow();
    } finally {
      g[key] = saved;
    }
  });

  it("a hooks slot another build made read-only, of another shape, does not stop the package from loading", async () => {
    const key = Symbol.for("mlflow-edge.hooks");
    const g = globalThis as unknown as Record<symbol, unknown>;
    const saved = Object.getOwnPropertyDescriptor(g, key);
    Object.defineProperty(g, key, { value: { v: 2 }, writable: false, configurable: true });
    try {
      const copy = await anotherCopy();
      copy.init({ exporter: new copy.InMemoryExporter(), silent: true });
      copy.registerOnSpanStartHook(() => {});
      expect(copy.withSpan(() => 42, { name: "s" })).toBe(42);
    } finally {
      Object.defineProperty(g, key, saved!);
    }
  });

  it("a clock object another build made without the count of open traces gets one", async () => {
    const key = Symbol.for("mlflow-edge.clock");
    const g = globalThis as unknown as Record<symbol, { origin: number; open?: number }>;
    const saved = g[key]!;
    g[key] = { origin: saved.origin };
    try {
      await anotherCopy();
      expect(g[key]!.open).toBe(0);
      g[key] = Object.freeze({ origin: saved.origin }); // frozen: the copy keeps its own, and loads
      const copy = await anotherCopy();
      copy.init({ exporter: new copy.InMemoryExporter(), silent: true });
      expect(copy.withSpan(() => 42, { name: "s" })).toBe(42);
    } finally {
      g[key] = saved;
    }
  });
});
