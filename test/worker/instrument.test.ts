// instrument() and the Hono middleware inside workerd (nodejs_compat: AsyncLocalStorage found on
// its own). Traces go to an in-memory exporter here; test/worker/e2e covers the real buffer and MLflow.
import { createExecutionContext, createMessageBatch, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { Hono } from "hono";
import { AsyncLocalStorage } from "node:async_hooks";
import { HTTPException } from "hono/http-exception";
import { describe, expect, it, vi } from "vitest";
import { resetWarnings } from "../../core/debug.js";
import { trace, withSpan } from "../../core/index.js";
import { InMemoryExporter } from "../../core/export/exporter.js";
import type { Trace } from "../../core/model/types.js";
import { mlflowTracing } from "../../worker/hono.js";
import { instrument } from "../../worker/instrument.js";
import { exported, sleep } from "./worker-tracing.js";
import { requestSpan } from "../../worker/request-span.js";
import { createCollector } from "../../worker/collector/app.js";
import { MemoryStore } from "./memory-store.js";
import { simpleTrace } from "./traces.js";

const tree = (t: Trace) => t.data.spans.map((s) => [s.name, t.data.spans.find((p) => p.spanId === s.parentId)?.name ?? s.parentId]);
const root = (t: Trace) => t.data.spans.find((s) => !t.data.spans.some((p) => p.spanId === s.parentId))!;

async function call<Env>(handler: ExportedHandler<Env>, request: Request, env = {} as Env) {
  const ctx = createExecutionContext();
  const response = await handler.fetch!(request as Request<unknown, IncomingRequestCfProperties>, env, ctx);
  const body = await response.text();
  await waitOnExecutionContext(ctx);
  return { response, body };
}

const retrieve = trace(async function retrieve(q: string) {
  await sleep(2);
  return [`doc about ${q}`];
}, { spanType: "RETRIEVER" });
const generate = trace(async function generate(docs: string[]) {
  await sleep(1);
  return `answer from ${docs.length} docs`;
}, { spanType: "LLM" });

describe("instrument(): module Worker fetch", () => {
  const worker = instrument<object, ExportedHandler<object>>(
    {
      async fetch(request) {
        const q = new URL(request.url).searchParams.get("q") ?? "";
        const [docs, extra] = await Promise.all([retrieve(q), retrieve(`${q}!`)]);
        await new Promise((r) => setTimeout(r, 1));
        return Response.json({ answer: await generate([...docs, ...extra]) });
      },
    },
    { exporter: () => exported },
  );

  it("one root span per request with method, path and status; handler spans nest under it across await, timers and Promise.all", async () => {
    const { response, body } = await call(worker, new Request("https://app.example/api/ask?q=llamas"));
    expect(response.status).toBe(200);
    expect(JSON.parse(body)).toEqual({ answer: "answer from 2 docs" });
    expect(exported.traces).toHaveLength(1);
    const t = exported.traces[0]!;
    expect(tree(t)).toEqual([
      ["GET /api/ask", null],
      ["retrieve_1", "GET /api/ask"],
      ["retrieve_2", "GET /api/ask"],
      ["generate", "GET /api/ask"],
    ]);
    const r = root(t);
    expect(r.attributes).toMatchObject({ "http.request.method": "GET", "url.path": "/api/ask", "http.response.status_code": 200 });
    expect(r.inputs).toEqual({ method: "GET", url: "https://app.example/api/ask?q=llamas" });
    expect(r.outputs).toEqual({ status: 200 });
    expect(r.status.statusCode).toBe("STATUS_CODE_OK");
    expect(t.info.state).toBe("OK");
  });

  it("continues the caller's traceparent: same trace id, the root's parent is the caller's span", async () => {
    const traceHex = "4bf92f3577b34da6a3ce929d0e0e4736";
    const headers = { traceparent: `00-${traceHex}-00f067aa0ba902b7-01` };
    await call(worker, new Request("https://app.example/api/ask?q=x", { headers }));
    const t = exported.traces[0]!;
    expect(t.info.traceId).toBe(`tr-${traceHex}`);
    expect(root(t).parentId).toBe("00f067aa0ba902b7");
  });

  it("records nothing under a caller that does not record its trace (-00), and the invocation does not wait for an export", async () => {
    const headers = { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00" };
    // (Waiting for an export that never comes would hold the invocation to the export deadline, 25 s: past this test's timeout.)
    const { response, body } = await call(worker, new Request("https://app.example/api/ask?q=x", { headers }));
    expect(response.status).toBe(200);
    expect(JSON.parse(body)).toEqual({ answer: "answer from 2 docs" });
    expect(exported.traces).toHaveLength(0);
  });

  it("ignores a malformed or hostile traceparent and starts its own trace", async () => {
    for (const bad of ["garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", `00-${"a".repeat(32)}-${"b".repeat(16)}-01<script>`, "x".repeat(10_000)]) {
      await call(worker, new Request("https://app.example/api/ask", { headers: { traceparent: bad } }));
    }
    expect(exported.traces).toHaveLength(4);
    for (const t of exported.traces) expect(root(t).parentId).toBeNull();
    expect(new Set(exported.traces.map((t) => t.info.traceId)).size).toBe(4);
  });

  it("concurrent requests in one isolate stay in their own traces", async () => {
    await Promise.all(["a", "b", "c"].map((q) => call(worker, new Request(`https://app.example/api/ask?q=${q}`))));
    expect(exported.traces).toHaveLength(3);
    for (const t of exported.traces) {
      expect(t.data.spans).toHaveLength(4);
      const q = new URL(String((root(t).inputs as { url: string }).url)).searchParams.get("q");
      expect(t.data.spans.find((s) => s.name === "retrieve_1")?.inputs).toEqual({ q });
    }
  });

  it("a thrown error is recorded on the request span and rethrown unchanged", async () => {
    const failing = instrument<object, ExportedHandler<object>>(
      {
        async fetch() {
          await retrieve("x");
          throw new RangeError("no answer");
        },
      },
      { exporter: () => exported },
    );
    const ctx = createExecutionContext();
    const error = await Promise.resolve(failing.fetch!(new Request("https://app.example/x") as never, {}, ctx)).catch((e: unknown) => e);
    await waitOnExecutionContext(ctx);
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toBe("no answer");
    const r = root(exported.traces[0]!);
    expect(r.status).toEqual({ statusCode: "STATUS_CODE_ERROR", description: "RangeError: no answer" });
    expect(r.events.map((e) => e.name)).toEqual(["exception"]);
    expect(exported.traces[0]!.info.state).toBe("ERROR");
  });

  it("a 5xx response marks the span ERROR; a 4xx does not", async () => {
    const statusWorker = instrument<object, ExportedHandler<object>>(
      { fetch: (request) => new Response("x", { status: Number(new URL(request.url).searchParams.get("s")) }) },
      { exporter: () => exported },
    );
    await call(statusWorker, new Request("https://app.example/?s=503"));
    await call(statusWorker, new Request("https://app.example/?s=404"));
    expect(exported.traces.map((t) => [root(t).status.statusCode, root(t).attributes["http.response.status_code"]])).toEqual([
      ["STATUS_CODE_ERROR", 503],
      ["STATUS_CODE_OK", 404],
    ]);
  });

  it("does not delay the response: it is returned while the export is still pending, and waitUntil covers the export", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = { export: async (t: Trace) => { await gate; exported.export(t); } };
    const quick = instrument<object, ExportedHandler<object>>({ fetch: () => new Response("hi") }, { exporter: () => slow });
    const ctx = createExecutionContext();
    const response = await quick.fetch!(new Request("https://app.example/") as never, {}, ctx);
    expect(await response.text()).toBe("hi");
    expect(exported.traces).toHaveLength(0); // response in hand, trace not yet handed on
    release();
    await waitOnExecutionContext(ctx);
    expect(exported.traces).toHaveLength(1);
  });

  it("explicit context: requestSpan(request) is the parent for code that passes it", async () => {
    const explicit = instrument<object, ExportedHandler<object>>(
      {
        async fetch(request) {
          const out = await withSpan(async () => "done", { name: "explicit-child", parent: requestSpan(request) });
          return new Response(out);
        },
      },
      { exporter: () => exported },
    );
    await call(explicit, new Request("https://app.example/e"));
    expect(tree(exported.traces[0]!)).toEqual([
      ["GET /e", null],
      ["explicit-child", "GET /e"],
    ]);
  });
});

describe("instrument(): streaming responses", () => {
  const chunks = ["data: one\n\n", "data: two\n\n", "data: three\n\n"];
  const streaming = () =>
    instrument<object, ExportedHandler<object>>(
      {
        fetch() {
          const encoder = new TextEncoder();
          let i = 0;
          const body = new ReadableStream<Uint8Array>({
            async pull(controller) {
              await sleep(20);
              if (i < chunks.length) controller.enqueue(encoder.encode(chunks[i++]));
              else controller.close();
            },
          });
          return new Response(body, { headers: { "content-type": "text/event-stream" } });
        },
      },
      { exporter: () => exported },
    );

  it("the span ends when the stream has been read to the end, not when the handler returned", async () => {
    const ctx = createExecutionContext();
    const started = Date.now();
    const response = await streaming().fetch!(new Request("https://app.example/sse") as never, {}, ctx);
    const returnedAfter = Date.now() - started;
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    expect(await response.text()).toBe(chunks.join(""));
    await waitOnExecutionContext(ctx);
    const r = root(exported.traces[0]!);
    expect(r.endTime! - r.startTime).toBeGreaterThanOrEqual(60);
    expect(returnedAfter).toBeLessThan(60);
    expect(r.attributes["http.response.body.size"]).toBe(new TextEncoder().encode(chunks.join("")).byteLength);
    expect(r.status.statusCode).toBe("STATUS_CODE_OK");
  });

  it("a stream cancelled by the client ends the span with a 'cancelled' event", async () => {
    const ctx = createExecutionContext();
    const response = await streaming().fetch!(new Request("https://app.example/sse") as never, {}, ctx);
    const reader = response.body!.getReader();
    await reader.read();
    await reader.cancel("client went away");
    await waitOnExecutionContext(ctx);
    const r = root(exported.traces[0]!);
    expect(r.events.map((e) => [e.name, e.attributes])).toEqual([["cancelled", { reason: "client went away" }]]);
    expect(r.endTime).not.toBeNull();
  });
});

describe("instrument(): a traced model call whose stream becomes the response body", () => {
  // As env.AI.run(model, { stream: true }) answers: a ReadableStream of SSE bytes, handed on as-is.
  const events = ["data: {\"response\":\"Hel\"}\n\n", "data: {\"response\":\"lo\"}\n\n", "data: [DONE]\n\n"];
  const runModel = trace(async function runModel(prompt: string) {
    const encoder = new TextEncoder();
    let i = 0;
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        await sleep(20);
        if (i < events.length) controller.enqueue(encoder.encode(events[i++]));
        else controller.close();
      },
    });
  }, { spanType: "LLM" });
  const worker = instrument<object, ExportedHandler<object>>(
    { async fetch() { return new Response(await runModel("hi"), { headers: { "content-type": "text/event-stream" } }); } },
    { exporter: () => exported },
  );

  it("workerd streams it to the client and the model span lasts until the last chunk, with the text as outputs", async () => {
    const { body } = await call(worker, new Request("https://app.example/chat"));
    expect(body).toBe(events.join(""));
    const t = exported.traces[0]!;
    expect(tree(t)).toEqual([
      ["GET /chat", null],
      ["runModel", "GET /chat"],
    ]);
    const model = t.data.spans.find((s) => s.name === "runModel")!;
    expect(model.endTime! - model.startTime).toBeGreaterThanOrEqual(60);
    expect(model.attributes["mlflow.spanOutputs"]).toBe(events.join(""));
    expect(model.events.map((e) => e.name)).toEqual(["mlflow.chunk.item.0", "mlflow.chunk.item.1", "mlflow.chunk.item.2"]);
  });

  it("the garbage collector running while workerd streams the body does not end the model span early", async () => {
    // workerd keeps reading a stream handed to `new Response()` after dropping the JS object; the
    // span once ended at the first collection with "stream dropped unfinished" (a flaky test here).
    let garbage: unknown;
    const pressured = trace(async function runModel() {
      let i = 0;
      return new ReadableStream<Uint8Array>({
        async pull(controller) {
          await sleep(2);
          for (let k = 0; k < 200; k++) garbage = new Array(10_000).fill(k); // the collector runs
          if (i < events.length) controller.enqueue(new TextEncoder().encode(events[i++]));
          else controller.close();
        },
      });
    }, { spanType: "LLM" });
    const app = instrument<object, ExportedHandler<object>>({ async fetch() { return new Response(await pressured()); } }, { exporter: () => exported });
    for (let n = 0; n < 5; n++) expect((await call(app, new Request("https://app.example/chat"))).body).toBe(events.join(""));
    expect(garbage).toBeDefined();
    for (const t of exported.traces) {
      const model = t.data.spans.find((s) => s.name === "runModel")!;
      expect(model.events.map((e) => e.name)).toEqual(["mlflow.chunk.item.0", "mlflow.chunk.item.1", "mlflow.chunk.item.2"]);
      expect(model.attributes["mlflow.spanOutputs"]).toBe(events.join(""));
    }
    expect(exported.traces).toHaveLength(5);
  });
});

describe("options are checked where the Worker wraps its handler (its top level, so a bad one fails the upload)", () => {
  it.each([
    ["exportDeadlineMs", { exportDeadlineMs: Number.NaN }],
    ["spanName", { spanName: "GET /" }],
    ["exporter", { exporter: new InMemoryExporter() }], // a function of env is expected
    ["maxValueBytes", { maxValueBytes: "256k" }],
    ["continueTrace", { continueTrace: "no" }],
    ["ignoreRequest", { ignoreRequest: ["/health"] }], // a function of the request is expected
    // Functions a typeof test takes, whose instances cannot run(): every request would fail.
    ["asyncLocalStorage", { asyncLocalStorage: () => ({}) }],
    ["asyncLocalStorage", { asyncLocalStorage: function run() {}.bind(null) }],
    ["asyncLocalStorage", { asyncLocalStorage: class NoRun { getStore() {} } }],
  ] as [string, Record<string, unknown>][])("%s: %j", (field, bad) => {
    expect(() => instrument({ fetch: () => new Response("ok") }, bad as never)).toThrow(new RegExp(`^mlflow-edge instrument\\(\\): "${field}" must be `));
    expect(() => mlflowTracing(bad as never)).toThrow(new RegExp(`^mlflow-edge mlflowTracing\\(\\): "${field}" must be `));
  });

  it("an unknown option names the one meant; init()'s MLflow options point to the env", () => {
    const handler = { fetch: () => new Response("ok") };
    expect(() => instrument(handler, { exportDeadLineMs: 1_000 } as never)).toThrow('mlflow-edge instrument(): unknown option "exportDeadLineMs"; did you mean "exportDeadlineMs"?');
    expect(() => mlflowTracing({ trackingUri: "http://127.0.0.1:5000" } as never)).toThrow(/^mlflow-edge mlflowTracing\(\): "trackingUri" is not supported: a Worker takes MLflow's settings from its env \(MLFLOW_TRACKING_URI/);
    expect(() => instrument(handler, { experimentName: "x" } as never)).toThrow(/"experimentName" is not supported/);
    expect(() => instrument(handler, { contextManager: {} } as never)).toThrow(/"contextManager" is not supported: a Worker carries context with AsyncLocalStorage/);
    // Misspelt as well: the env advice still comes.
    expect(() => instrument(handler, { trackinguri: "http://127.0.0.1:5000" } as never)).toThrow(/unknown option "trackinguri"; "trackingUri" is not supported either: a Worker takes MLflow's settings from its env/);
  });

  it("accepts the documented options", () => {
    expect(() => instrument({ fetch: () => new Response("ok") }, { exporter: () => exported, spanType: "AGENT", exportDeadlineMs: 10_000, continueTrace: false, spanName: (r) => r.method })).not.toThrow();
    expect(() => mlflowTracing({ experimentId: "7", dedupeSpanNames: false, maxValueBytes: 4096, openSpanTimeoutMs: 1_000, silent: true, asyncLocalStorage: undefined })).not.toThrow();
    expect(() => mlflowTracing({ asyncLocalStorage: AsyncLocalStorage })).not.toThrow();
  });
});

describe("instrument(): scheduled and queue handlers", () => {
  it("each invocation is a root span named for its trigger", async () => {
    const worker = instrument<object, ExportedHandler<object>>(
      {
        async scheduled() {
          await retrieve("nightly");
        },
        async queue(batch) {
          for (const m of batch.messages) m.ack();
        },
      },
      { exporter: () => exported },
    );
    const ctx = createExecutionContext();
    await worker.scheduled!(createScheduledController({ cron: "0 3 * * *", scheduledTime: 1_700_000_000_000 }), {}, ctx);
    const batch = createMessageBatch("jobs", [{ id: "m1", timestamp: new Date(), attempts: 1, body: { n: 1 } }]);
    await worker.queue!(batch, {}, ctx);
    await waitOnExecutionContext(ctx);
    expect(exported.traces.map(tree)).toEqual([
      [["scheduled 0 3 * * *", null], ["retrieve", "scheduled 0 3 * * *"]],
      [["queue jobs", null]],
    ]);
    expect(root(exported.traces[1]!).inputs).toEqual({ queue: "jobs", messages: 1 });
  });
});

describe("mlflowTracing(): Hono middleware", () => {
  const app = new Hono();
  app.use(mlflowTracing({ exporter: () => exported }));
  app.get("/posts/:id", async (c) => c.json({ id: c.req.param("id"), docs: await retrieve(c.req.param("id")) }));
  app.get("/boom", async () => {
    throw new TypeError("bad input");
  });
  app.get("/private", () => {
    throw new HTTPException(401, { message: "no token" }); // what bearerAuth throws
  });

  it("names the span by the matched route and nests handler spans", async () => {
    const ctx = createExecutionContext();
    const res = await app.fetch(new Request("https://app.example/posts/42"), {}, ctx);
    expect(await res.json()).toEqual({ id: "42", docs: ["doc about 42"] });
    await waitOnExecutionContext(ctx);
    const t = exported.traces[0]!;
    expect(tree(t)).toEqual([["GET /posts/:id", null], ["retrieve", "GET /posts/:id"]]);
    expect(root(t).attributes).toMatchObject({ "http.route": "/posts/:id", "url.path": "/posts/42", "http.response.status_code": 200 });
  });

  it("an error that Hono turns into a 500 is on the span as an exception, status ERROR", async () => {
    const ctx = createExecutionContext();
    const res = await app.fetch(new Request("https://app.example/boom"), {}, ctx);
    expect(res.status).toBe(500);
    expect(await res.text()).toBe("Internal Server Error");
    await waitOnExecutionContext(ctx);
    const r = root(exported.traces[0]!);
    expect(r.status).toEqual({ statusCode: "STATUS_CODE_ERROR", description: "TypeError: bad input" }); // not just "HTTP 500"
    expect(r.events[0]).toMatchObject({ name: "exception", attributes: { "exception.type": "TypeError", "exception.message": "bad input" } });
  });

  it("an HTTPException answering 4xx (an auth check saying no) is not an error, as a 4xx is not with instrument()", async () => {
    const ctx = createExecutionContext();
    const res = await app.fetch(new Request("https://app.example/private"), {}, ctx);
    expect(res.status).toBe(401);
    await res.text();
    await waitOnExecutionContext(ctx);
    const r = root(exported.traces[0]!);
    expect([r.status.statusCode, r.attributes["http.response.status_code"]]).toEqual(["STATUS_CODE_OK", 401]);
    expect(r.events.map((e) => [e.name, e.attributes["exception.message"]])).toEqual([["exception", "no token"]]); // kept, as an event
  });
});

describe("the collector mounted in a traced app", () => {
  const batch = () => JSON.stringify({ version: 1, traces: [simpleTrace("page")] });
  const ingest = (body: string) => new Request("https://app.example/v1/ingest", { method: "POST", body, headers: { "content-type": "application/json" } });
  for (const how of ["mlflowTracing() on the whole app", "instrument() around the whole app"] as const) {
    it(`${how}: the collector's own requests (ingest, reads, health, a refusal) are no traces of the app; the app's routes still are`, async () => {
      const store = new MemoryStore();
      const app = new Hono();
      if (how === "mlflowTracing() on the whole app") app.use(mlflowTracing({ exporter: () => exported }));
      app.route("/", createCollector({ store, readAccess: "open" }));
      // A collector route called in-process inside the app's own request is part of that trace.
      app.get("/posts/:id", async (c) => c.json({ id: c.req.param("id"), health: (await app.fetch(new Request("https://app.example/health"), {})).status }));
      const worker: ExportedHandler = how === "instrument() around the whole app" ? instrument({ fetch: (r, env, ctx) => app.fetch(r, env, ctx) }, { exporter: () => exported }) : app;
      const send = async (request: Request) => {
        const ctx = createExecutionContext();
        const res = await worker.fetch!(request as Request<unknown, IncomingRequestCfProperties>, {}, ctx);
        await res.text();
        await waitOnExecutionContext(ctx);
        return res.status;
      };
      expect(await send(ingest(batch()))).toBe(200);
      expect(await send(ingest("{"))).toBe(400);
      expect(await send(new Request("https://app.example/api/traces"))).toBe(200);
      expect(await send(new Request("https://app.example/health"))).toBe(200);
      expect(await send(new Request("https://app.example/posts/7"))).toBe(200);
      expect(exported.traces.map((t) => root(t).attributes["url.path"])).toEqual(["/posts/7"]);
      expect(store.traces.size).toBe(1); // the page's trace itself was taken
    });
  }
});

describe("the collector mounted in a traced app: the app's own requests on the collector's paths", () => {
  for (const how of ["mlflowTracing() on the whole app", "instrument() around the whole app"] as const) {
    it(`${how}: a method the collector does not answer on /health reaches the app's route and is traced`, async () => {
      const app = new Hono();
      if (how === "mlflowTracing() on the whole app") app.use(mlflowTracing({ exporter: () => exported }));
      app.route("/", createCollector({ store: new MemoryStore(), readAccess: "open" }));
      app.post("/health", (c) => c.text("pinged")); // the app's own (a monitor's POST), after the collector
      const worker: ExportedHandler = how === "instrument() around the whole app" ? instrument({ fetch: (r, env, ctx) => app.fetch(r, env, ctx) }, { exporter: () => exported }) : app;
      const { response, body } = await call(worker, new Request("https://app.example/health", { method: "POST" }));
      expect([response.status, body]).toEqual([200, "pinged"]);
      expect((await call(worker, new Request("https://app.example/health", { method: "HEAD" }))).response.status).toBe(200); // the collector's
      expect(exported.traces.map((t) => root(t).name)).toEqual(["POST /health"]);
    });
  }
});

describe("instrument(): configuration mistakes never fail the Worker's requests", () => {
  it("a tracking URI without an experiment: the request succeeds and a warning names the problem", async () => {
    resetWarnings();
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const worker = instrument<Record<string, string>, ExportedHandler<Record<string, string>>>({ fetch: () => new Response("still fine") });
    const { response, body } = await call(worker, new Request("https://app.example/"), { MLFLOW_TRACKING_URI: "http://127.0.0.1:5000" });
    expect([response.status, body]).toEqual([200, "still fine"]);
    expect(warn.mock.calls.map((c) => String(c[0])).join("\n")).toMatch(/MLFLOW_EXPERIMENT_ID or MLFLOW_EXPERIMENT_NAME/);
    warn.mockRestore();
  });
});

describe("tracedOpenAI inside a Worker", () => {
  it("the official client's streamed call is a CHAT_MODEL span under the request span, chunks kept, completion aggregated", async () => {
    const { default: OpenAI } = await import("openai");
    const { tracedOpenAI } = await import("../../openai/index.js");
    const { fakeLlm } = await import("../../demo/llm/fake-llm.js");
    const worker = instrument<object, ExportedHandler<object>>(
      {
        async fetch() {
          const client = tracedOpenAI(new OpenAI({ apiKey: "unused", baseURL: "http://llm.local/v1", fetch: (url, init) => fakeLlm(new Request(url as string, init as RequestInit), { chunkDelayMs: 0 }) }));
          const stream = await client.chat.completions.create({ model: "demo-mini", messages: [{ role: "user", content: "hello worker" }], stream: true });
          let text = "";
          for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
          return new Response(text);
        },
      },
      { exporter: () => exported },
    );
    const { body } = await call(worker, new Request("https://app.example/chat"));
    expect(body).toContain("hello worker");
    const t = exported.traces[0]!;
    expect(tree(t)).toEqual([["GET /chat", null], ["Completions", "GET /chat"]]);
    const llm = t.data.spans[1]!;
    expect(llm.spanType).toBe("CHAT_MODEL");
    expect(llm.events.length).toBeGreaterThan(3);
    expect((llm.outputs as { choices: { message: { content: string } }[] }).choices[0]!.message.content).toBe(body);
  });
});
