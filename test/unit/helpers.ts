import { vi } from "vitest";
import * as mlflow from "../../core/index.js";
import { resetWarnings } from "../../core/debug.js";
import type { InitOptions, Trace } from "../../core/index.js";

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

export { shape, type SpanShape } from "../programs/shape.js";

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function captureWarnings() {
  const spy = vi.spyOn(console, "warn").mockImplementation(() => {});
  return {
    messages: () => spy.mock.calls.map((c) => String(c[0])),
    restore: () => spy.mockRestore(),
  };
}
