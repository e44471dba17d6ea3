// A page that traces on request and delivers to the stub collector through initBrowser. The
// delivery specs drive it through `globalThis.app`. Query parameters configure initBrowser:
//   retryBase, retryMax (ms), maxTraces, maxBytes, storage=memory, redact=off,
//   sample=<rate 0..1> or sample=keep (a function keeping traces whose label starts with "keep")
import * as mlflow from "../../../core/index.js";
import { initBrowser } from "../../../browser/index.js";

const params = new URLSearchParams(location.search);
const num = (key: string) => (params.has(key) ? Number(params.get(key)) : undefined);

const warnings: string[] = [];
const warn = console.warn.bind(console);
console.warn = (...args: unknown[]) => {
  warnings.push(args.map(String).join(" "));
  warn(...args);
};

// A tail-sampling function looks at the finished trace, as a user's would (e.g. keep errors only).
function keepLabelled(t: mlflow.Trace): boolean {
  const inputs = t.data.spans[0]?.inputs;
  const label = inputs && typeof inputs === "object" && !Array.isArray(inputs) ? inputs["label"] : undefined;
  return typeof label === "string" && label.startsWith("keep");
}
const sample = params.get("sample");

const setup = () => initBrowser({
  collectorUrl: location.origin,
  ingestKey: "site-key-1",
  context: "stack",
  retry: { baseMs: num("retryBase") ?? 100, maxMs: num("retryMax") ?? 1_000 },
  maxQueuedTraces: num("maxTraces"),
  maxQueuedBytes: num("maxBytes"),
  storage: params.get("storage") === "memory" ? "memory" : undefined,
  redact: params.get("redact") === "off" ? false : undefined,
  sample: sample === null ? undefined : sample === "keep" ? keepLabelled : Number(sample),
});
let tracing = setup();
const first = tracing;

/** Finishes one trace (synchronously: export starts before this returns) and returns its id. */
function traceOne(label: string, options: { padBytes?: number; secrets?: boolean } = {}): string {
  const inputs: Record<string, unknown> = { label, pad: "x".repeat(options.padBytes ?? 0) };
  if (options.secrets) {
    Object.assign(inputs, {
      apiKey: "sk-test-SECRET0123456789abcdef",
      config: { api_key: "SECRET-api-key-value" },
      headers: { Authorization: "Bearer SECRET-bearer-token" },
      nested: [{ password: "SECRET-hunter2" }],
    });
  }
  mlflow.withSpan(
    (span) => {
      mlflow.withSpan(() => `child of ${label}`, { name: "child", parent: span, attributes: { cookie: options.secrets ? "SECRET-cookie" : "none" } });
      return `done ${label}`;
    },
    { name: "root", inputs },
  );
  return mlflow.getLastActiveTraceId() as string;
}

/**
 * Starts asking a question whose answer streams and then stalls (a slow model), the way a user
 * leaves mid-answer; resolves with the trace id once two chunks have been shown.
 */
let feed: (chunk: string | undefined) => void = () => {};
let asking: mlflow.Span | undefined;
function startAnswer(label: string): Promise<string> {
  const answer = mlflow.trace(async function* answer(question: string) {
    yield "Once";
    yield " upon";
    // More comes with moreAnswer(text), the end with finishAnswer(), if ever.
    for (let next; (next = await new Promise<string | undefined>((resolve) => (feed = resolve))) !== undefined; ) yield next;
    yield " a time";
  }, { spanType: mlflow.SpanType.LLM });
  return new Promise((shown) => {
    void mlflow.withSpan(async (span) => {
      asking = span;
      let n = 0;
      for await (const _chunk of span.run(() => answer(label))) if (++n === 2) shown(span.traceId);
    }, { name: "ask", inputs: { label } });
  });
}

/**
 * A streamed answer the page reads twice from and then forgets, without return() or cancel (a
 * component unmounted mid-answer); resolves with the trace id.
 */
async function dropAnswer(label: string): Promise<string> {
  let traceId = "";
  const answer = mlflow.trace(async function* answer(question: string) {
    traceId = mlflow.getCurrentActiveSpan()!.traceId;
    yield "Once";
    yield " upon";
    await new Promise(() => {}); // the consumer stops asking before this
  }, { spanType: mlflow.SpanType.LLM });
  const it = answer(label);
  await it.next();
  await it.next();
  return traceId;
}

/** Every row of the queue's object store, read with the raw IndexedDB API (not through idb). */
function readIdb(): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open("mlflow-edge");
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      if (!db.objectStoreNames.contains("traces")) return db.close(), resolve([]);
      const req = db.transaction("traces").objectStore("traces").getAll();
      req.onsuccess = () => (db.close(), resolve(req.result));
      req.onerror = () => (db.close(), reject(req.error));
    };
  });
}

/** What a browser does when the tab is hidden (switched away, or about to close). */
function hide(): void {
  Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
  document.dispatchEvent(new Event("visibilitychange"));
}

/** The user comes back to the tab. */
function show(): void {
  Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "visible" });
  document.dispatchEvent(new Event("visibilitychange"));
}

Object.assign(globalThis, {
  app: {
    traceOne,
    startAnswer,
    dropAnswer,
    /** Starts a span that stays open (a request still pending); returns its trace id. */
    openSpan: (label: string) => mlflow.startSpan({ name: "pending", inputs: { label } }).traceId,
    finishAnswer: () => feed(undefined),
    moreAnswer: (chunk: string) => feed(chunk),
    /** Changes the open answer's root inputs (what the sample=keep function judges by). */
    relabelAnswer: (label: string) => asking?.setInputs({ label }),
    traceMany: (n: number, padBytes = 0, prefix = "t") => Array.from({ length: n }, (_, i) => traceOne(`${prefix}${i}`, { padBytes })),
    flush: () => tracing.flush(),
    shutdown: () => tracing.shutdown(),
    /**
     * An effect's cleanup and the effect again, as React's StrictMode runs them in development:
     * shutdown() not awaited, initBrowser() at once. Whether a new setup was made.
     */
    remount: () => {
      const was = tracing;
      void was.shutdown();
      tracing = setup();
      return tracing !== was;
    },
    /** initBrowser() again, as a hot module reload or a second bundle does; whether it returned the first setup. */
    initAgain: () => {
      const again = setup();
      const same = again === first;
      tracing = again;
      return same;
    },
    /** A second app on the page, sending elsewhere: what initBrowser() says. */
    initElsewhere: () => {
      try {
        initBrowser({ collectorUrl: "https://other-collector.example", ingestKey: "other-key-1" });
        return "no error";
      } catch (error) {
        return (error as Error).message;
      }
    },
    stats: () => tracing.stats(),
    readIdb,
    hide,
    show,
    warnings,
  },
});
