import { vi } from "vitest";
import * as mlflow from "../../core/index.js";
import { resetWarnings } from "../../core/debug.js";
import type { InitOptions, Json, SpanData, Trace } from "../../core/index.js";

/** Fresh tracer with an in-memory exporter; returns a reader that flushes first. */
export function setup(options: Omit<InitOptions, "exporter"> = {}) {
  const exporter = new mlflow.InMemoryExporter();
  mlflow.init({ exporter, ...options });
  resetWarnings();
  return {
    exporter,
    async traces(): Promise<Trace[]> {
      await mlflow.flushTraces();
      return exporter.traces;
    },
    async only(): Promise<Trace> {
      await mlflow.flushTraces();
      if (exporter.traces.length !== 1) throw new Error(`expected 1 trace, got ${exporter.traces.length}`);
      return exporter.traces[0] as Trace;
    },
  };
}

export type SpanShape = {
  name: string;
  parent: string | null;
  spanType: string;
  inputs?: Json;
  outputs?: Json;
  status: string;
  attrs?: Record<string, Json>;
  events?: { name: string; attributes: Record<string, unknown> }[];
};

const short = (code: string) => code.replace("STATUS_CODE_", "");

/**
 * The span tree in a form a test can compare exactly: parents by name, status without the
 * STATUS_CODE_ prefix, user attributes (non-`mlflow.*`) and events without timestamps.
 */
export function shape(trace: Trace): SpanShape[] {
  const byId = new Map(trace.data.spans.map((s) => [s.spanId, s] as const));
  return trace.data.spans.map((s: SpanData) => {
    const out: SpanShape = {
      name: s.name,
      parent: s.parentId === null ? null : (byId.get(s.parentId)?.name ?? `<missing ${s.parentId}>`),
      spanType: s.spanType,
      status: short(s.status.statusCode),
    };
    if (s.inputs !== undefined) out.inputs = s.inputs;
    if (s.outputs !== undefined) out.outputs = s.outputs;
    const attrs = Object.fromEntries(Object.entries(s.attributes).filter(([k]) => !k.startsWith("mlflow.")));
    if (Object.keys(attrs).length) out.attrs = attrs;
    if (s.events.length) out.events = s.events.map((e) => ({ name: e.name, attributes: e.attributes }));
    return out;
  });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function captureWarnings() {
  const spy = vi.spyOn(console, "warn").mockImplementation(() => {});
  return {
    messages: () => spy.mock.calls.map((c) => String(c[0])),
    restore: () => spy.mockRestore(),
  };
}
