// traceparent on fetch: allowlisted origins only, only inside a span, never changing other headers.
import * as mlflow from "../../../core/index.js";
import { createBrowserContextManager, initBrowser, instrumentFetch, traceparentOf, ZoneContextManager } from "../../../browser/index.js";

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
/**
 * The request as the echo server saw it, made by `kind`'s fetch call inside a span, without and then
 * with instrumentation: only the traceparent may differ. (An iframe must be on the page for the
 * other realm's Request.)
 */
async function runShapes(kind: string) {
  mlflow.init({ exporter: new mlflow.InMemoryExporter(), contextManager: new mlflow.StackContextManager() });
  const url = `${location.origin}/echo-headers`;
  const make = (): Promise<Response> => {
    // fetch(url, request): a Request used as the init, as service workers and proxies do.
    if (kind === "request-as-init") return fetch(url, new Request(url, { method: "POST", headers: { "x-app": "kept", "content-type": "text/plain" } }));
    if (kind === "other-realm-request") {
      const R = ((document.querySelector("iframe") as HTMLIFrameElement).contentWindow as unknown as { Request: typeof Request }).Request;
      return fetch(new R(url, { method: "PUT", body: "from the frame", headers: { "x-app": "kept", authorization: "Bearer abc" } }));
    }
    if (kind === "class-init") {
      class Options { method = "POST"; body = "hello"; get headers() { return { "x-app": "kept" }; } }
      return fetch(url, new Options() as unknown as RequestInit);
    }
    if (kind === "own-traceparent") return fetch(url, { headers: [["x-app", "kept"], ["traceparent", "00-11111111111111111111111111111111-2222222222222222-01"]] });
    throw new Error(kind);
  };
  const seen = async () => (await mlflow.withSpan(make, { name: "call" })).json() as Promise<Record<string, string>>;
  const plain = await seen();
  const restore = instrumentFetch([location.origin]);
  try {
    return { plain, patched: await seen() };
  } finally {
    restore();
  }
}
Object.assign(globalThis, { runPropagation: run, runRegexPropagation: runRegex, runBasePropagation: runBase, runShapes });
/**
 * The app wraps fetch after initBrowser (an auth header, logging), then tracing is shut down and set
 * up again: what a request inside a span carried at each step (the app's header, a traceparent).
 */
async function runWrapperAcrossSetups() {
  const options = { collectorUrl: location.origin, storage: "memory" as const, context: "stack" as const, propagateTo: [location.origin] };
  const seen = async () => {
    const h = await mlflow.withSpan(async () => (await fetch("/echo-headers")).json() as Promise<Record<string, string>>, { name: "call" });
    return { wrapper: h["x-app-wrapper"] ?? null, traceparent: h.traceparent !== undefined };
  };
  const first = initBrowser(options);
  const inner = globalThis.fetch;
  globalThis.fetch = ((input: RequestInfo | URL, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    headers.set("x-app-wrapper", "yes");
    return inner(input, { ...init, headers });
  }) as typeof fetch;
  const before = await seen();
  await first.shutdown();
  const afterShutdown = await seen();
  const second = initBrowser(options);
  const afterSecondSetup = await seen();
  await second.shutdown();
  return { before, afterShutdown, afterSecondSetup };
}
/** fetch(object with a `url` field that is not a Request): fetch goes where its String() says. */
async function runUrlField(allowed: string, real: string) {
  mlflow.init({ exporter: new mlflow.InMemoryExporter(), contextManager: new mlflow.StackContextManager() });
  const restore = instrumentFetch([allowed]);
  try {
    const input = { url: `${allowed}/echo-headers`, toString: () => real } as unknown as RequestInfo;
    const h = await mlflow.withSpan(async () => (await fetch(input)).json() as Promise<Record<string, string>>, { name: "call" });
    return { host: h.host, traceparent: h.traceparent !== undefined };
  } finally {
    restore();
  }
}
/**
 * An app's fetch wrapper installed before instrumentFetch that spreads the init's headers (as many
 * do) sees the call as the app made it: what the server got.
 */
async function runWrapperBefore(form: "record" | "array" | "Headers" | "Map" | "URLSearchParams" | "null") {
  mlflow.init({ exporter: new mlflow.InMemoryExporter(), contextManager: new mlflow.StackContextManager() });
  const native = globalThis.fetch;
  globalThis.fetch = ((input: RequestInfo | URL, init?: RequestInit) =>
    native(input, { ...init, headers: { ...Object.fromEntries(new Headers(init?.headers)), "x-app-wrapper": "yes" } })) as typeof fetch;
  const restore = instrumentFetch([location.origin]);
  const pairs: [string, string][] = [["x-app", "kept"], ["content-type", "text/plain"]];
  const headers = form === "record" ? Object.fromEntries(pairs) : form === "array" ? pairs : form === "Map" ? new Map(pairs) : form === "URLSearchParams" ? new URLSearchParams(pairs) : new Headers(pairs);
  try {
    // fetch(url, null): no init at all, as fetch reads it.
    if (form === "null") return await mlflow.withSpan(async () => (await fetch("/echo-headers", null as unknown as RequestInit)).json() as Promise<Record<string, string>>, { name: "call" });
    return await mlflow.withSpan(async () => (await fetch("/echo-headers", { method: "POST", body: "x", headers: headers as HeadersInit })).json() as Promise<Record<string, string>>, { name: "call" });
  } finally {
    restore();
    globalThis.fetch = native;
  }
}
Object.assign(globalThis, { runWrapperAcrossSetups, runUrlField, runWrapperBefore });

/**
 * Calls fetch as odd code does, inside a span, natively and then instrumented with the page's
 * origin allowlisted (through a frozen /g RegExp, as a deep-frozen config holds it): what each call
 * came to (the status and what the server saw, or the error), and how fetch itself looks.
 */
async function runAsNative() {
  mlflow.init({ exporter: new mlflow.InMemoryExporter(), contextManager: new mlflow.StackContextManager() });
  const url = `${location.origin}/echo-headers`;
  const calls: Record<string, () => Promise<Response>> = {
    "no argument": () => (fetch as () => Promise<Response>)(),
    "this not the window": () => fetch.call({}, url),
    "headers null": () => fetch(url, { headers: null as unknown as HeadersInit }),
    "headers a number": () => fetch(url, { headers: 5 as unknown as HeadersInit }),
    "headers a string": () => fetch(url, { headers: "" as unknown as HeadersInit }),
    "an init's non-enumerable fields": () => fetch(url, Object.defineProperties({}, { method: { value: "POST" }, body: { value: "x" }, headers: { value: { "x-app": "kept" } } })),
    "a Request whose toStringTag says otherwise": () => {
      const request = new Request(url, { headers: { "x-app": "kept", authorization: "Bearer x" } });
      Object.defineProperty(request, Symbol.toStringTag, { value: "Object" });
      return fetch(request);
    },
  };
  const outcomes = async () => {
    const out: Record<string, unknown> = {};
    for (const [name, call] of Object.entries(calls)) {
      out[name] = await mlflow.withSpan(() => call(), { name: "call" }).then(
        async (r) => {
          const h = (await r.json().catch(() => ({}))) as Record<string, string>;
          return { status: r.status, method: h["x-echo-method"], app: h["x-app"], auth: h.authorization, traceparent: "traceparent" in h };
        },
        (e: Error) => ({ error: `${e.name}: ${e.message}` }),
      );
    }
    return out;
  };
  const shape = () => {
    let constructs: string;
    try {
      void new (fetch as unknown as new (u: string) => unknown)(url);
      constructs = "yes";
    } catch (e) {
      constructs = (e as Error).name;
    }
    return { length: fetch.length, name: fetch.name, constructs };
  };
  const native = { calls: await outcomes(), shape: shape() };
  const restore = instrumentFetch([Object.freeze(new RegExp(`^${location.origin.replace(/[.]/g, "\\.")}/`, "g"))]);
  try {
    const traced = { calls: await outcomes(), shape: shape() };
    const sent = await mlflow.withSpan(async () => ((await (await fetch(url)).json()) as Record<string, string>).traceparent ?? null, { name: "call" });
    return { native, traced, sent };
  } finally {
    restore();
  }
}
Object.assign(globalThis, { runAsNative });
/**
 * Zone.js with async/await lowered: a click listener registered inside a span keeps that span's
 * zone after its trace was exported, and makes an untraced request to an allowlisted origin (as a
 * UI rendered by one action calls the API). What each click's request carried, what a request
 * made in a child span that ended while its trace was open carried, and the warnings.
 */
async function runFinishedTrace() {
  const contextManager = createBrowserContextManager("zone") as ZoneContextManager;
  await contextManager.asyncLowered;
  mlflow.init({ exporter: new mlflow.InMemoryExporter(), contextManager });
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => void warnings.push(args.map(String).join(" "));
  const restore = instrumentFetch([location.origin]);
  const sent = async () => ((await (await fetch("/echo-headers")).json()) as Record<string, string>).traceparent ?? null;
  const button = document.createElement("button");
  const clicks: Promise<string | null>[] = [];
  try {
    let traceId = "";
    let endedChild: string | null = null;
    await mlflow.withSpan(async (span) => {
      traceId = span.traceId.slice(3);
      await new Promise((r) => setTimeout(r, 1));
      button.addEventListener("click", () => clicks.push(sent()));
      const child = mlflow.startSpan({ name: "child" });
      child.end();
      endedChild = await child.run(sent); // its trace still open: joined
    }, { name: "render-answer" });
    await mlflow.flushTraces();
    button.click();
    button.click();
    return { traceId, endedChild, clicks: await Promise.all(clicks), warnings };
  } finally {
    restore();
    console.warn = warn;
  }
}
Object.assign(globalThis, { runFinishedTrace });
/** The synchronous stack: a request before and one after an await inside a span, whether each carried traceparent, and the warnings. */
async function runFetchAfterAwait() {
  mlflow.init({ exporter: new mlflow.InMemoryExporter(), contextManager: new mlflow.StackContextManager() });
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => void warnings.push(args.map(String).join(" "));
  const restore = instrumentFetch([location.origin]);
  const carried = async () => "traceparent" in ((await (await fetch("/echo-headers")).json()) as Record<string, string>);
  try {
    const sent = await mlflow.withSpan(async () => [await carried(), await carried()], { name: "call" });
    return { sent, warnings };
  } finally {
    restore();
    console.warn = warn;
  }
}
Object.assign(globalThis, { runFetchAfterAwait });

/**
 * initBrowser({ sample }): the traceparent a traced request carries says whether the page keeps
 * the trace (-01) or its sample rate leaves it out (-00), for each of `n` traces; and how many the
 * page kept (stats().sampledOut).
 */
async function runSampledFlags(sample: number, n: number) {
  const setup = initBrowser({ collectorUrl: location.origin, storage: "memory", context: "stack", propagateTo: [location.origin], sample });
  const flags: string[] = [];
  for (let i = 0; i < n; i++) {
    const h = await mlflow.withSpan(async () => (await fetch("/echo-headers")).json() as Promise<Record<string, string>>, { name: `call-${i}` });
    flags.push(h.traceparent!.slice(-2));
  }
  await mlflow.flushTraces();
  const stats = await setup.stats();
  await setup.shutdown();
  return { flags, sampledOut: stats.sampledOut };
}
Object.assign(globalThis, { runSampledFlags });
