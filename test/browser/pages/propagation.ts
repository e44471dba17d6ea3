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
/** `count` fetches inside one span with a RegExp allowlist: which of them carried traceparent. */
async function runRegex(source: string, flags: string, count: number) {
  mlflow.init({ exporter: new mlflow.InMemoryExporter(), contextManager: new mlflow.StackContextManager() });
  const restore = instrumentFetch([new RegExp(source, flags)]);
  try {
    // Every fetch starts inside the span (stack context: none survives an await).
    const responses = await mlflow.withSpan(() => Promise.all(Array.from({ length: count }, () => fetch("/echo-headers"))), { name: "calls" });
    return Promise.all(responses.map(async (r) => "traceparent" in ((await r.json()) as Record<string, string>)));
  } finally {
    restore();
  }
}
/**
 * A page with `<base href>`: a relative URL goes where the base says, and the allowlist is checked
 * against that. Returns the host each request reached and whether it carried traceparent.
 */
async function runBase(allow: string[], baseHref: string) {
  mlflow.init({ exporter: new mlflow.InMemoryExporter(), contextManager: new mlflow.StackContextManager() });
  const base = document.head.appendChild(Object.assign(document.createElement("base"), { href: baseHref }));
  const restore = instrumentFetch(allow);
  try {
    const headers = await mlflow.withSpan(async () => (await fetch("echo-headers")).json() as Promise<Record<string, string>>, { name: "call" });
    return { host: headers.host, traceparent: "traceparent" in headers };
  } finally {
    restore();
    base.remove();
  }
}
Object.assign(globalThis, { runPropagation: run, runRegexPropagation: runRegex, runBasePropagation: runBase });
