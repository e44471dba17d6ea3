// traceparent on fetch: allowlisted origins only, only inside a span, never changing other headers.
import * as mlflow from "../../../core/index.js";
import { instrumentFetch, traceparentOf } from "../../../browser/index.js";

async function run(allow: string[]) {
  const exporter = new mlflow.InMemoryExporter();
  mlflow.init({ exporter, contextManager: new mlflow.StackContextManager() });
  const restore = instrumentFetch(allow);
  const echo = async (init?: RequestInit) => (await fetch("/echo-headers", init)).json() as Promise<Record<string, string>>;
  try {
    const outside = await echo();
    let expected = "";
    const inside = await mlflow.withSpan((span) => {
      expected = traceparentOf(span);
      return echo({ headers: { "x-app": "kept" } });
    }, { name: "call" });
    return { outside: outside.traceparent ?? null, inside: inside.traceparent ?? null, app: inside["x-app"] ?? null, expected };
  } finally {
    restore();
  }
}
Object.assign(globalThis, { runPropagation: run });
