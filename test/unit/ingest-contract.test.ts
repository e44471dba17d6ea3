// The client's side of the ingest contract: whatever the tracing API records, once cut by
// fitForIngest, the collector's own validation (worker/collector/validate.ts) accepts. Refused, the
// browser would drop the whole trace; cut, it arrives with a warning naming what was cut.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import * as mlflow from "../../core/index.js";
import { fitForIngest, INGEST_LIMITS, ingestJson } from "../../core/export/fit.js";
import { resetWarnings } from "../../core/debug.js";
import { utf8Length } from "../../core/serialize/safe-json.js";
import type { Trace } from "../../core/model/types.js";
import { DEFAULT_LIMITS } from "../../worker/collector/limits.js";
import { validateTrace } from "../../worker/collector/validate.js";

let exporter: mlflow.InMemoryExporter;
let warn: ReturnType<typeof vi.spyOn>;
beforeEach(() => {
  exporter = new mlflow.InMemoryExporter();
  mlflow.init({ exporter });
  resetWarnings();
  warn = vi.spyOn(console, "warn").mockImplementation(() => {});
});
afterEach(() => {
  warn.mockRestore();
  mlflow.init({ silent: true });
});

function record(fn: (span: mlflow.LiveSpan) => void): Trace {
  mlflow.withSpan((span) => { fn(span); }, { name: "root" });
  return exporter.drain()[0]!;
}
const fit = (t: Trace) => fitForIngest(t, utf8Length(JSON.stringify(t)));
const accepted = (t: Trace) => validateTrace(JSON.parse(JSON.stringify(t)), "trace", DEFAULT_LIMITS);

describe("fitForIngest: what the tracing API records, the collector accepts", () => {
  const cases: [string, (span: mlflow.LiveSpan) => void][] = [
    ["a streamed answer of 1 500 chunks", () => {
      const stream = mlflow.trace(function* answer() { for (let i = 0; i < 1500; i++) yield `token${i} `; }, { outputReducer: (c: string[]) => c.join("") });
      for (const _ of stream()) { /* consume */ }
    }],
    ["300 attributes on a span", (s) => { for (let i = 0; i < 300; i++) s.setAttribute(`a${i}`, i); }],
    ["250 tags and an empty metadata key", () => mlflow.updateCurrentTrace({ tags: Object.fromEntries(Array.from({ length: 250 }, (_, i) => [`t${i}`, "v"])), metadata: { "": "x" } })],
    ["a tag value of 100 000 characters", () => mlflow.updateCurrentTrace({ tags: { big: "é".repeat(100_000) } })],
    ["an exception with a 200 000-emoji message", (s) => s.recordException(new Error("😀".repeat(200_000)))],
    ["an empty attribute key", (s) => { s.addEvent("e", { n: Number.NaN }); s.setAttribute("", 1); }],
    ["a child span named with 5 000 characters and an empty span type", () => { mlflow.withSpan(() => 1, { name: "n".repeat(5000), spanType: "" }); }],
  ];
  for (const [label, program] of cases) {
    it(label, () => {
      const t = record(program);
      expect(() => accepted(t)).toThrow(); // as recorded, the collector would refuse the whole trace
      const fitted = fit(t);
      expect(() => accepted(fitted)).not.toThrow();
      expect(fitted.data.spans.length).toBe(t.data.spans.length);
      expect(warn).toHaveBeenCalledWith(expect.stringContaining(`trace ${t.info.traceId} was cut to the ingest limits a collector takes`));
    });
  }

  it('"__proto__" keys (user data parsed from JSON) are kept as data, and sent to a collector as "[__proto__]"', () => {
    const parsed = JSON.parse('{"answer": {"__proto__": {"polluted": true}, "text": "hi"}}') as Record<string, unknown>;
    const t = record((s) => {
      s.setInputs(parsed);
      s.setAttribute("__proto__", { also: "kept" });
      s.addEvent("e", JSON.parse('{"__proto__": 1}') as Record<string, unknown>);
      mlflow.updateCurrentTrace({ tags: JSON.parse('{"__proto__": "tag"}') as Record<string, string> });
    });
    const [root] = t.data.spans;
    // Captured as data: an own key, and the prototype untouched (no inherited "polluted").
    const answer = (root!.inputs as Record<string, Record<string, unknown>>).answer!;
    expect(Object.keys(answer)).toEqual(["__proto__", "text"]);
    expect(Object.getPrototypeOf(answer)).toBe(Object.prototype);
    expect((answer as { polluted?: unknown }).polluted).toBeUndefined();
    expect(Object.keys(root!.attributes)).toContain("__proto__");
    expect(Object.keys(root!.events[0]!.attributes)).toEqual(["__proto__"]);
    expect(Object.keys(t.info.tags)).toContain("__proto__");
    expect(() => accepted(t)).toThrow(/__proto__/); // as recorded, the collector refuses it
    const sent = JSON.parse(ingestJson(t).json) as Trace;
    expect(() => validateTrace(sent, "trace", DEFAULT_LIMITS)).not.toThrow();
    expect((sent.data.spans[0]!.inputs as Record<string, unknown>).answer).toEqual({ "[__proto__]": { polluted: true }, text: "hi" });
    expect(sent.info.tags["[__proto__]"]).toBe("tag");
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('"__proto__" keys, which a collector refuses'));
  });

  it("captures large values within the collector's byte limit as recorded, in any script", () => {
    const t = record((s) => { s.setInputs("x".repeat(300_000)); s.setAttribute("doc", "😀".repeat(200_000)); s.setOutputs({ text: "é".repeat(200_000) }); });
    expect(() => accepted(t)).not.toThrow();
    expect(fit(t)).toBe(t);
  });

  it("keeps a long stream's whole output and its first chunks as events", () => {
    const t = record(() => {
      const stream = mlflow.trace(function* answer() { for (let i = 0; i < 1500; i++) yield `${i},`; }, { outputReducer: (c: string[]) => c.join("") });
      for (const _ of stream()) { /* consume */ }
    });
    const span = fit(t).data.spans.find((s) => s.name === "answer")!;
    expect(span.events).toHaveLength(INGEST_LIMITS.maxEvents);
    expect(span.events[0]!.name).toBe("mlflow.chunk.item.0");
    expect(span.outputs).toBe(Array.from({ length: 1500 }, (_, i) => `${i},`).join(""));
    expect(span.attributes["chunks.omitted"]).toBe(500); // the chunks the trace lacks are counted
  });

  it("keeps a stream of large chunks within one request: its first chunks as events up to 512 KiB, its whole output", () => {
    const chunk = (i: number) => ({ type: "response.output_text.delta", sequence_number: i, delta: "x".repeat(1500) });
    const t = record(() => {
      const stream = mlflow.trace(function* answer() { for (let i = 0; i < 4000; i++) yield chunk(i); }, { outputReducer: (c: unknown[]) => c.length });
      for (const _ of stream()) { /* consume */ }
    });
    const fitted = fit(t);
    const span = fitted.data.spans.find((s) => s.name === "answer")!;
    expect(span.events.length).toBeGreaterThan(100);
    expect(span.events.length).toBeLessThan(INGEST_LIMITS.maxEvents);
    expect(utf8Length(JSON.stringify(span.events))).toBeLessThanOrEqual(INGEST_LIMITS.maxEventBytes);
    expect(span.outputs).toBe(4000);
    // Those the span left out itself (past its own bound) and those cut here, together.
    expect(span.attributes["chunks.omitted"]).toBe(4000 - span.events.length);
    expect(utf8Length(JSON.stringify(fitted))).toBeLessThan(INGEST_LIMITS.maxBodyBytes); // one request takes it
    expect(warn).toHaveBeenCalledWith(expect.stringContaining("maxEventBytes"));
  });

  it("a long answer that failed keeps its exception event, and the count of chunks it lacks, however many attributes the span has", () => {
    const t = record(() => {
      const stream = mlflow.trace(function* answer() {
        mlflow.getCurrentActiveSpan()!.setAttributes(Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`a${i}`, i])));
        for (let i = 0; i < 1500; i++) yield "tok";
        throw new Error("the model stopped");
      });
      expect(() => [...stream()]).toThrow("the model stopped");
    });
    const span = fit(t).data.spans.find((s) => s.name === "answer")!;
    expect(span.events).toHaveLength(INGEST_LIMITS.maxEvents);
    expect(span.events.at(-1)!.name).toBe("exception");
    expect(span.events.slice(0, -1).map((e) => e.name)).toEqual(Array.from({ length: 999 }, (_, i) => `mlflow.chunk.item.${i}`));
    expect(span.attributes["chunks.omitted"]).toBe(501);
    expect(Object.keys(span.attributes)).toHaveLength(INGEST_LIMITS.maxAttributes);
  });

  it("the exception that ended a long answer of large chunks is kept within the 512 KiB of events too", () => {
    for (const size of [450, 600]) {
      const t = record(() => {
        const stream = mlflow.trace(function* answer() {
          for (let i = 0; i < 1200; i++) yield "y".repeat(size);
          throw new Error("the model stopped");
        });
        expect(() => [...stream()]).toThrow("the model stopped");
      });
      const span = fit(t).data.spans.find((s) => s.name === "answer")!;
      expect(span.events.at(-1)!.name).toBe("exception");
      const chunks = span.events.slice(0, -1);
      expect(chunks.length).toBeGreaterThan(500);
      expect(chunks.map((e) => e.name)).toEqual(chunks.map((_, i) => `mlflow.chunk.item.${i}`));
      expect(span.events.reduce((n, e) => n + utf8Length(JSON.stringify(e)), 0)).toBeLessThanOrEqual(INGEST_LIMITS.maxEventBytes);
      expect(span.attributes["chunks.omitted"]).toBe(1200 - chunks.length);
    }
  });

  it("returns a trace that fits as it is, and says nothing", () => {
    // NaN in an event is recorded as "NaN" (JSON has no NaN; the collector refuses null there).
    const t = record((s) => { s.setInputs({ q: "é".repeat(1000) }); s.addEvent("e", { a: 1, n: Number.NaN }); });
    expect(t.data.spans[0]!.events[0]!.attributes.n).toBe("NaN");
    expect(fit(t)).toBe(t);
    expect(() => accepted(t)).not.toThrow();
    expect(warn).not.toHaveBeenCalled();
  });
});
