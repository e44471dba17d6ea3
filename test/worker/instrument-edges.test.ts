// instrument() and mlflowTracing() at the edges of a request's life inside workerd: an app on
// another copy of Hono, concurrent requests of one browser trace, HEAD requests and bodies nobody
// reads, Content-Length, class-based handlers. The bytes on the wire (Content-Length,
// Content-Encoding) are checked from Node in test/unit/workerd-response.test.ts.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { Hono } from "hono";
import { describe, expect, it, vi } from "vitest";
import { resetWarnings } from "../../core/debug.js";
import * as mlflow from "../../core/index.js";
import type { Trace } from "../../core/model/types.js";
import { getTracer } from "../../core/tracer.js";
import { mlflowTracing } from "../../worker/hono.js";
import { instrument, resetWorkerTracing } from "../../worker/instrument.js";
import { exported, sleep } from "./worker-tracing.js";

const root = (t: Trace) => t.data.spans[0]!;
const names = () => exported.traces.map((t) => root(t).name);

describe("mlflowTracing(): an app built on another copy of Hono", () => {
  // hono/route reads the match through a symbol private to its copy; an app whose Hono is another
  // copy (npm installs one when versions differ) hands the middleware a request without it.
  function otherCopyContext(url: string, matchedRoutes?: { method: string; path: string }[]) {
    const ctx = createExecutionContext();
    const req = { raw: new Request(url), ...(matchedRoutes ? { matchedRoutes } : {}) };
    const c = { env: {}, executionCtx: ctx, req, res: undefined as Response | undefined, error: undefined };
    return { c, ctx };
  }

  it("the request still succeeds; the span is named by that copy's matched routes, else by the path", async () => {
    const middleware = mlflowTracing({ exporter: () => exported });
    const routes = [
      { method: "ALL", path: "/*" },
      { method: "GET", path: "/posts/:id" },
    ];
    for (const [url, matched] of [
      ["https://app.example/posts/7", routes],
      ["https://app.example/posts/8", undefined],
    ] as const) {
      const { c, ctx } = otherCopyContext(url, matched && [...matched]);
      await middleware(c as never, async () => {
        c.res = new Response("still fine");
      });
      expect(c.res!.status).toBe(200);
      expect(await c.res!.text()).toBe("still fine");
      await waitOnExecutionContext(ctx);
    }
    expect(names()).toEqual(["GET /posts/:id", "GET /posts/8"]);
    expect(exported.traces.map((t) => root(t).attributes["http.route"])).toEqual(["/posts/:id", undefined]);
  });
});

describe("instrument(): concurrent requests of one browser trace are separate exports", () => {
  // A browser's trace makes two calls at once: both requests carry its trace id. Each request's
  // waitUntil must last until its own export has settled, not the first one of that trace id.
  const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  const exportMs: Record<string, number> = { "/a": 50, "/b": 10, "/c": 300 };
  const delivered: string[] = [];
  const slow = {
    async export(trace: Trace) {
      const path = String(root(trace).attributes["url.path"]);
      await sleep(exportMs[path] ?? 0);
      delivered.push(path);
      exported.export(trace);
    },
  };
  const worker = instrument<object, ExportedHandler<object>>(
    {
      async fetch(request) {
        if (new URL(request.url).pathname === "/b") await sleep(20);
        return new Response(null, { status: 204 });
      },
    },
    { exporter: () => slow },
  );
  async function call(path: string) {
    const ctx = createExecutionContext();
    await worker.fetch!(new Request(`https://app.example${path}`, { headers: { traceparent } }) as never, {}, ctx);
    await waitOnExecutionContext(ctx);
    return [...delivered];
  }

  it("each request's waitUntil ends after its own export, also for a later request of the same trace", async () => {
    delivered.length = 0;
    const [afterA, afterB] = await Promise.all([call("/a"), call("/b")]);
    expect(afterA).toContain("/a");
    expect(afterB).toContain("/b");
    await sleep(100);
    expect(await call("/c")).toContain("/c");
    expect(new Set(exported.traces.map((t) => t.info.traceId))).toEqual(new Set(["tr-0af7651916cd43dd8448eb211c80319c"]));
    expect(exported.traces).toHaveLength(3);
  });
});

describe("getLastActiveTraceId() in concurrent requests of one isolate", () => {
  it("is the request's own trace once a traced call in it ended (undefined before), never another request's", async () => {
    const answer = mlflow.trace(async function answer(q: string) {
      await sleep(q === "slow" ? 60 : 5);
      return q;
    });
    const worker = instrument<object, ExportedHandler<object>>(
      {
        async fetch(request) {
          const q = new URL(request.url).searchParams.get("q")!;
          const before = mlflow.getLastActiveTraceId() ?? null;
          await answer(q);
          return Response.json({ before, after: mlflow.getLastActiveTraceId(), own: mlflow.getCurrentActiveSpan()!.traceId });
        },
      },
      { exporter: () => exported },
    );
    const call = async (q: string) => {
      const ctx = createExecutionContext();
      const res = await worker.fetch!(new Request(`https://app.example/ask?q=${q}`) as never, {}, ctx);
      const seen = (await res.json()) as { before: string | null; after: string; own: string }; // the span ends when the body is read
      await waitOnExecutionContext(ctx);
      return seen;
    };
    await call("first"); // a finished request before: its trace is not the next one's
    const [slow, fast] = await Promise.all([call("slow"), call("fast")]);
    for (const seen of [slow, fast]) expect(seen).toEqual({ before: null, after: seen.own, own: expect.stringMatching(/^tr-/) });
    expect(slow.own).not.toBe(fast.own);
    // Outside any invocation it is the last root that ended, as in Python.
    expect(mlflow.getLastActiveTraceId()).toBe(exported.traces.at(-1)!.info.traceId);
  });
});

describe("work a handler hands to ctx.waitUntil", () => {
  it("its spans, started after the response, stay in the request's trace; ctx is otherwise the runtime's own", async () => {
    let runs = 0;
    let seenProps: unknown = "unread";
    let lastInWaitUntil: string | undefined;
    const remember = mlflow.trace(async function remember(answer: string) {
      await sleep(5);
      return answer.length;
    });
    const worker = instrument<object, ExportedHandler<object>>(
      {
        async fetch(_request, _env, ctx) {
          ctx.passThroughOnException(); // called on the real ctx: no "Illegal invocation"
          ctx.waitUntil((async () => {
            await sleep(30); // well after the response went out
            await remember("forty-two");
            lastInWaitUntil = mlflow.getLastActiveTraceId();
          })());
          // A rejected one releases its hold too (the runtime reports the rejection, as untraced).
          ctx.waitUntil((async () => { await sleep(10); throw new Error("a failed cache write"); })());
          // A lazy thenable (a query builder) is run once, not once by the hold and once by the runtime.
          ctx.waitUntil({ then: (ok: (v: unknown) => void) => (runs++, ok(undefined)) } as never);
          const { waitUntil } = ctx; // unbound, as some code passes it on
          waitUntil(sleep(1));
          seenProps = ctx.props;
          return new Response("forty-two");
        },
      },
      { exporter: () => exported },
    );
    const ctx = createExecutionContext();
    const res = await worker.fetch!(new Request("https://app.example/later") as never, {}, ctx);
    expect(await res.text()).toBe("forty-two");
    // The runtime reports the rejected waitUntil promise, as it would untraced.
    expect(await waitOnExecutionContext(ctx).then(() => "settled", (e: Error) => e.message)).toBe("a failed cache write");
    expect(exported.traces.map((t) => t.data.spans.map((s) => [s.name, s.parentId === null ? null : "GET /later"]))).toEqual([
      [["GET /later", null], ["remember", "GET /later"]],
    ]);
    expect(getTracer().openTraceCount).toBe(0);
    expect([runs, lastInWaitUntil, seenProps]).toEqual([1, exported.traces[0]!.info.traceId, ctx.props]);
  });

  it("mlflowTracing(): c.executionCtx.waitUntil work stays in the request's trace too", async () => {
    const remember = mlflow.trace(async function remember() { await sleep(5); });
    const app = new Hono();
    app.use(mlflowTracing({ exporter: () => exported }));
    app.get("/later", (c) => {
      c.executionCtx.waitUntil((async () => { await sleep(30); await remember(); })());
      return c.text("ok");
    });
    const ctx = createExecutionContext();
    const res = await app.fetch(new Request("https://app.example/later"), {}, ctx);
    expect(await res.text()).toBe("ok");
    await waitOnExecutionContext(ctx);
    expect(exported.traces.map((t) => t.data.spans.map((s) => s.name))).toEqual([["GET /later", "remember"]]);
  });

  it("a hold ends in time for the export deadline: work that outlasts it starts its own trace, the request's is exported", async () => {
    const late = mlflow.trace(async function late() { await sleep(1); });
    const worker = instrument<object, ExportedHandler<object>>(
      {
        async fetch(_request, _env, ctx) {
          ctx.waitUntil((async () => { await sleep(300); await late(); })());
          return new Response(null, { status: 204 });
        },
      },
      { exporter: () => exported, exportDeadlineMs: 100, silent: true }, // held at most 50 ms
    );
    const ctx = createExecutionContext();
    const started = Date.now();
    await worker.fetch!(new Request("https://app.example/deadline") as never, {}, ctx);
    await sleep(150); // past the hold, within the deadline: the request's trace is out
    expect(exported.traces.map((t) => t.data.spans.map((s) => s.name))).toEqual([["GET /deadline"]]);
    expect(Date.now() - started).toBeLessThan(300);
    await waitOnExecutionContext(ctx);
    expect(exported.traces.map((t) => t.data.spans.map((s) => s.name))).toEqual([["GET /deadline"], ["late"]]);
  });
});

describe("a handler that forgot its return", () => {
  it("resolves to what the handler resolved to, as untraced (the runtime says what is wrong), and its trace is exported as an ERROR, not left open", async () => {
    const results: unknown[] = [undefined, undefined, { status: 200, body: "hello" }]; // the last one Response-shaped, which the runtime refuses too
    let n = 0;
    const worker = instrument<object, ExportedHandler<object>>({ async fetch() { return results[n++] as Response; } }, { exporter: () => exported, silent: true });
    for (const result of results) {
      const ctx = createExecutionContext();
      expect(await worker.fetch!(new Request("https://app.example/forgot") as never, {}, ctx)).toBe(result);
      await waitOnExecutionContext(ctx);
    }
    expect(exported.traces.map((t) => [t.info.state, t.data.spans[0]!.status.description])).toEqual([
      ...Array(2).fill(["ERROR", "TypeError: the handler resolved to undefined, not a Response"]),
      ["ERROR", "TypeError: the handler resolved to object, not a Response"],
    ]);
    expect(getTracer().openTraceCount).toBe(0);
  });
});

describe("a Response of another class than the global one", () => {
  it("is a Response (as @hono/node-server's in Node): recorded OK with its status, not as a forgotten return", async () => {
    const NativeResponse = globalThis.Response;
    class Other extends NativeResponse {}
    // What fetch() gives back is of the platform's class, whatever the global says.
    const worker = instrument<object, ExportedHandler<object>>({ async fetch() { return new NativeResponse("hi", { status: 201 }); } }, { exporter: () => exported, silent: true });
    const ctx = createExecutionContext();
    let res: Response;
    try {
      globalThis.Response = Other; // the global replaced, as @hono/node-server does
      res = await worker.fetch!(new Request("https://app.example/other") as never, {}, ctx);
    } finally {
      globalThis.Response = NativeResponse;
    }
    expect(await res.text()).toBe("hi");
    await waitOnExecutionContext(ctx);
    expect(exported.traces.map((t) => [t.info.state, t.data.spans[0]!.attributes["http.response.status_code"]])).toEqual([["OK", 201]]);
  });
});

describe("a hold counted from the end of a streamed body", () => {
  it("an evaluation registered with waitUntil at the start of a stream longer than the hold, run after the body, stays in the request's trace", async () => {
    const evaluate = mlflow.trace(async function evaluate(answer: string) { await sleep(20); return answer.length; });
    const worker = instrument<object, ExportedHandler<object>>(
      {
        async fetch(_request, _env, ctx) {
          let streamed!: (text: string) => void;
          const done = new Promise<string>((r) => (streamed = r));
          ctx.waitUntil(done.then(async (text) => { await sleep(10); return evaluate(text); }));
          let i = 0;
          return new Response(new ReadableStream({
            async pull(controller) {
              if (i === 4) {
                controller.close();
                streamed("the answer");
                return;
              }
              await sleep(75); // 300 ms in all: three times the hold
              controller.enqueue(new TextEncoder().encode(`chunk${i++} `));
            },
          }));
        },
      },
      { exporter: () => exported, exportDeadlineMs: 200, silent: true }, // held at most 100 ms after the body ends
    );
    const ctx = createExecutionContext();
    const res = await worker.fetch!(new Request("https://app.example/ask") as never, {}, ctx);
    expect(await res.text()).toBe("chunk0 chunk1 chunk2 chunk3 ");
    await waitOnExecutionContext(ctx);
    expect(exported.traces.map((t) => t.data.spans.map((s) => s.name))).toEqual([["GET /ask", "evaluate"]]);
  });
});

describe("a child still running when the hold ends", () => {
  it("is exported then, marked unfinished, within exportDeadlineMs: after the invocation its timers never fire, and the trace stayed in memory unexported", async () => {
    const slowCall = mlflow.trace(async function slowCall() { await sleep(1_000); });
    const worker = instrument<object, ExportedHandler<object>>(
      { fetch: () => { void slowCall(); return new Response("ok"); } }, // not awaited: a race's loser, a fallback
      { exporter: () => exported, exportDeadlineMs: 200, openSpanTimeoutMs: Infinity, silent: true },
    );
    const ctx = createExecutionContext();
    const started = Date.now();
    const res = await worker.fetch!(new Request("https://app.example/slow") as never, {}, ctx);
    await res.text();
    await waitOnExecutionContext(ctx); // the invocation's end, as workerd sees it
    expect(Date.now() - started).toBeLessThan(600);
    const traces = exported.traces.filter((t) => t.data.spans[0]!.name === "GET /slow");
    expect(traces.map((t) => t.data.spans.map((s) => [s.name, s.endTime === null ? "unfinished" : "ended"]))).toEqual([[["GET /slow", "ended"], ["slowCall", "unfinished"]]]);
  });
});

describe("two layers with different tracing options", () => {
  it("warn once that the first layer's tracer serves the isolate (the other exporter would get nothing, silently); layers alike do not", async () => {
    resetWorkerTracing();
    resetWarnings();
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const warned = () => warn.mock.calls.map((c) => String(c[0])).filter((m) => /different tracing options/.test(m));
    try {
      // Two layers written alike, each with its own inline exporter arrow: no warning.
      for (const path of ["/x", "/y"]) {
        const layer = instrument<object, ExportedHandler<object>>({ fetch: () => new Response("x") }, { exporter: () => exported });
        const ctx = createExecutionContext();
        await (await layer.fetch!(new Request(`https://app.example${path}`) as never, {}, ctx)).text();
        await waitOnExecutionContext(ctx);
      }
      expect(warned()).toEqual([]);
      const other = new mlflow.InMemoryExporter();
      const a = instrument<object, ExportedHandler<object>>({ fetch: () => new Response("a") }, { exporter: () => exported });
      const b = instrument<object, ExportedHandler<object>>({ fetch: () => new Response("b") }, { exporter: () => other }); // only the exporter differs
      for (const [worker, path] of [[a, "/a"], [b, "/b"], [b, "/b2"]] as const) {
        const ctx = createExecutionContext();
        await (await worker.fetch!(new Request(`https://app.example${path}`) as never, {}, ctx)).text();
        await waitOnExecutionContext(ctx);
      }
      expect(warned()).toHaveLength(1);
    } finally {
      warn.mockRestore();
    }
  });
});

describe("instrument() and init() in one Worker", () => {
  it("init() replaced by instrument() is warned about, and so is init() inside a request (what follows in it begins new traces)", async () => {
    resetWarnings();
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const mine = new mlflow.InMemoryExporter();
    mlflow.init({ exporter: mine }); // at the module's top level, as a user might
    const step = mlflow.trace(async function step() { await sleep(1); });
    const worker = instrument<object, ExportedHandler<object>>(
      {
        async fetch() {
          await step();
          mlflow.init({ exporter: mine }); // the natural place to use env
          await step();
          return new Response("ok");
        },
      },
      { exporter: () => exported },
    );
    const ctx = createExecutionContext();
    await (await worker.fetch!(new Request("https://app.example/both") as never, {}, ctx)).text();
    await waitOnExecutionContext(ctx);
    const warned = warn.mock.calls.map((c) => String(c[0]));
    warn.mockRestore();
    expect(warned.filter((m) => m.includes("replace what init() set up"))).toHaveLength(1);
    expect(warned.filter((m) => m.includes('configured again (init) inside the open span "GET /both"'))).toHaveLength(1);
    expect(exported.traces.map((t) => t.data.spans.map((s) => s.name))).toEqual([["GET /both", "step"]]);
    await mlflow.flushTraces();
    expect(mine.drain().map((t) => t.data.spans.map((s) => s.name))).toEqual([["step"]]);
  });
});

describe("responses whose body is never streamed out", () => {
  it("HEAD requests through mlflowTracing: each trace is finished and exported, and none stays open", async () => {
    const app = new Hono();
    // (A short deadline: a HEAD span must end at once, not when the unread body gives up.)
    app.use(mlflowTracing({ exporter: () => exported, exportDeadlineMs: 2_000 }));
    app.get("/hello", (c) => c.text("hello"));
    for (let i = 0; i < 3; i++) {
      const ctx = createExecutionContext();
      const res = await app.fetch(new Request("https://app.example/hello", { method: "HEAD" }), {}, ctx);
      expect(res.status).toBe(200);
      expect(res.body).toBeNull();
      await waitOnExecutionContext(ctx);
    }
    expect(names()).toEqual(["HEAD /hello", "HEAD /hello", "HEAD /hello"]);
    for (const t of exported.traces) {
      expect(root(t)).toMatchObject({ attributes: { "http.response.status_code": 200 }, status: { statusCode: "STATUS_CODE_OK" }, events: [] });
      expect(root(t).endTime! - root(t).startTime).toBeLessThan(1_000);
    }
    expect(getTracer().openTraceCount).toBe(0);
  });

  it("a CORS preflight is answered untraced; an OPTIONS request of the app's own is traced", async () => {
    const worker = instrument<object, ExportedHandler<object>>({ fetch: () => new Response(null, { status: 204 }) }, { exporter: () => exported });
    for (const headers of [{ origin: "https://page.example", "access-control-request-method": "POST", "access-control-request-headers": "traceparent" }, {}] as Record<string, string>[]) {
      const ctx = createExecutionContext();
      const res = await worker.fetch!(new Request("https://app.example/api/chat", { method: "OPTIONS", headers }) as never, {}, ctx);
      expect(res.status).toBe(204);
      await waitOnExecutionContext(ctx);
    }
    expect(exported.traces.map((t) => root(t).name)).toEqual(["OPTIONS /api/chat"]);
  });

  it("a response whose body the handler already read cannot be sent (500 from the runtime): the span is ERROR with the exception, not OK 200", async () => {
    const handlers: (() => Promise<Response>)[] = [
      async () => {
        const r = new Response("hello");
        await r.text();
        return r;
      },
      async () => {
        // Read to the end through a reader, then released: disturbed, not locked.
        const r = new Response("hello");
        const reader = r.body!.getReader();
        while (!(await reader.read()).done) { /* drain */ }
        reader.releaseLock();
        return r;
      },
    ];
    for (const fetch of handlers) {
      const worker = instrument<object, ExportedHandler<object>>({ fetch }, { exporter: () => exported, exportDeadlineMs: 200 });
      const ctx = createExecutionContext();
      await worker.fetch!(new Request("https://app.example/used") as never, {}, ctx);
      await waitOnExecutionContext(ctx);
    }
    expect(exported.traces).toHaveLength(2);
    for (const t of exported.traces) {
      const r = root(t);
      expect(r.status.statusCode).toBe("STATUS_CODE_ERROR");
      expect(r.events.map((e) => [e.name, e.attributes["exception.type"]])).toEqual([["exception", "TypeError"]]);
    }
    expect(getTracer().openTraceCount).toBe(0);
  });

  it("a response dropped unread ends its span at the export deadline, with a 'body not read' event", async () => {
    const worker = instrument<object, ExportedHandler<object>>({ fetch: () => new Response("nobody reads this") }, { exporter: () => exported, exportDeadlineMs: 50 });
    const ctx = createExecutionContext();
    await worker.fetch!(new Request("https://app.example/dropped") as never, {}, ctx);
    await waitOnExecutionContext(ctx);
    expect(exported.traces).toHaveLength(1);
    expect(root(exported.traces[0]!).events.map((e) => e.name)).toEqual(["body not read"]);
    expect(getTracer().openTraceCount).toBe(0);
  });
});

describe("instrument(): the response body and its Content-Length", () => {
  const sized = (body: string, length: string) =>
    instrument<object, ExportedHandler<object>>({ fetch: () => new Response(body, { headers: { "content-length": length, "x-kept": "yes" } }) }, { exporter: () => exported });

  it("the handler's headers are kept; the span ends when the body has been read", async () => {
    const ctx = createExecutionContext();
    const response = await sized("hello world", "11").fetch!(new Request("https://app.example/sized") as never, {}, ctx);
    expect(response.headers.get("x-kept")).toBe("yes");
    expect(await response.text()).toBe("hello world");
    await waitOnExecutionContext(ctx);
    expect(root(exported.traces[0]!)).toMatchObject({ attributes: { "http.response.body.size": 11 }, status: { statusCode: "STATUS_CODE_OK" } });
  });

  it("cancelled by the client: the span ends with a 'cancelled' event", async () => {
    const ctx = createExecutionContext();
    const response = await sized("hello world", "11").fetch!(new Request("https://app.example/sized") as never, {}, ctx);
    await response.body!.cancel("client went away");
    await waitOnExecutionContext(ctx);
    expect(root(exported.traces[0]!).events.map((e) => [e.name, e.attributes])).toEqual([["cancelled", { reason: "client went away" }]]);
  });

  it("a stale Content-Length (a new body under old headers) does not cut the body or fail the span", async () => {
    for (const length of ["20", "5"]) {
      const ctx = createExecutionContext();
      const response = await sized("hello world", length).fetch!(new Request("https://app.example/stale") as never, {}, ctx);
      expect(await response.text()).toBe("hello world");
      await waitOnExecutionContext(ctx);
    }
    expect(exported.traces.map((t) => root(t).status.statusCode)).toEqual(["STATUS_CODE_OK", "STATUS_CODE_OK"]);
    expect(getTracer().openTraceCount).toBe(0);
  });
});

describe("instrument(): class-based handlers", () => {
  class App {
    readonly #greeting = "hi";
    calls = 0;
    get label() {
      return `app:${this.#greeting}`;
    }
    async fetch(request: Request) {
      this.calls++;
      return new Response(`${this.#greeting} ${new URL(request.url).pathname}`);
    }
    async email(message: { to: string }) {
      this.calls++;
      return `${this.#greeting} ${message.to}`;
    }
    async tail() {
      return this.helper();
    }
    helper() {
      return this.calls;
    }
  }

  it("an instance keeps its other methods, called on the instance itself, and its properties", async () => {
    const app = new App();
    const worker = instrument<object, ExportedHandler<object>>(app as unknown as ExportedHandler<object>, { exporter: () => exported }) as unknown as App;
    const ctx = createExecutionContext();
    const response = await (worker as unknown as ExportedHandler<object>).fetch!(new Request("https://app.example/x") as never, {}, ctx);
    expect(await response.text()).toBe("hi /x");
    await waitOnExecutionContext(ctx);
    expect(await worker.email({ to: "bob@example.com" })).toBe("hi bob@example.com");
    expect(await worker.tail()).toBe(2);
    expect([app.calls, worker.label, worker.helper()]).toEqual([2, "app:hi", 2]);
    expect(names()).toEqual(["GET /x", "email example.com", "tail"]); // email and tail are invocations too, each its root span
  });

  it("a class or a function instead of a handler object is a TypeError naming the problem", () => {
    expect(() => instrument(App as never)).toThrow(new TypeError("mlflow-edge instrument(): the handler must be an object with fetch, scheduled or queue methods (instrument({ fetch }) or instrument(new App())); got a class."));
    expect(() => instrument((() => new Response("x")) as never)).toThrow(/^mlflow-edge instrument\(\): the handler must be an object .* got a function\.$/);
  });
});

describe("the handler's ctx: libraries that wrap waitUntil, handlers traced twice, no ctx at all", () => {
  const tree = (t: Trace) => t.data.spans.map((s) => [s.name, t.data.spans.find((p) => p.spanId === s.parentId)?.name ?? s.parentId]);

  it("a library that assigns its own ctx.waitUntil, calling the one it replaced, runs once: no endless recursion (Sentry #17514)", async () => {
    let calls = 0;
    const worker = instrument<object, ExportedHandler<object>>(
      {
        fetch(_r, _e, ctx) {
          const replaced = ctx.waitUntil;
          ctx.waitUntil = (p: Promise<unknown>) => {
            if (++calls > 100) throw new Error(`waitUntil re-entered ${calls} times`);
            return replaced.call(ctx, p);
          };
          ctx.waitUntil(mlflow.withSpan(() => sleep(5), { name: "after" }));
          return new Response("ok");
        },
      },
      { exporter: () => exported },
    );
    const ctx = createExecutionContext();
    expect(await (await worker.fetch!(new Request("https://app.example/patch") as never, {}, ctx)).text()).toBe("ok");
    await waitOnExecutionContext(ctx);
    expect(calls).toBe(1); // the handler's one call; the trace's export goes to the runtime directly
    expect(exported.traces.map(tree)).toEqual([[["GET /patch", null], ["after", "GET /patch"]]]);
  });

  it("Sentry's flush lock (context.waitUntil = p => originalWaitUntil.call(originalContext, …)) works inside instrument()", async () => {
    let pending = 0;
    function makeFlushLock(context: ExecutionContext) {
      const originalContext = (context as { _originalContext?: ExecutionContext })._originalContext ?? context;
      const originalWaitUntil = originalContext.waitUntil;
      context.waitUntil = (promise: Promise<unknown>): void => {
        pending++;
        originalWaitUntil.call(originalContext, promise.finally(() => pending--));
      };
    }
    const worker = instrument<object, ExportedHandler<object>>(
      { fetch(_r, _e, ctx) { makeFlushLock(ctx); ctx.waitUntil(sleep(5)); return new Response("ok"); } },
      { exporter: () => exported },
    );
    const ctx = createExecutionContext();
    expect(await (await worker.fetch!(new Request("https://app.example/sentry") as never, {}, ctx)).text()).toBe("ok");
    expect(pending).toBe(1); // the lock saw the handler's promise
    await waitOnExecutionContext(ctx);
    expect(pending).toBe(0);
    expect(names()).toEqual(["GET /sentry"]);
  });

  it("instrument(instrument(handler)) and mlflowTracing() on an app and its sub-app: one trace per request", async () => {
    const step = mlflow.trace(async function step() { await sleep(1); });
    const inner = instrument<object, ExportedHandler<object>>({ async fetch() { await step(); return new Response("ok"); } }, { exporter: () => exported });
    const twice = instrument<object, ExportedHandler<object>>(inner, { exporter: () => exported });
    let ctx = createExecutionContext();
    await (await twice.fetch!(new Request("https://app.example/twice") as never, {}, ctx)).text();
    await waitOnExecutionContext(ctx);
    const sub = new Hono();
    sub.use(mlflowTracing({ exporter: () => exported }));
    sub.get("/x", async (c) => (await step(), c.text("ok")));
    const app = new Hono();
    app.use(mlflowTracing({ exporter: () => exported }));
    app.route("/api", sub);
    ctx = createExecutionContext();
    await (await app.fetch(new Request("https://app.example/api/x"), {}, ctx)).text();
    await waitOnExecutionContext(ctx);
    expect(exported.traces.map(tree)).toEqual([
      [["GET /twice", null], ["step", "GET /twice"]],
      [["GET /api/x", null], ["step", "GET /api/x"]],
    ]);
  });

  it("instrument(instrument(handler)): one trace per scheduled event too, its work nested", async () => {
    const step = mlflow.trace(async function step() { await sleep(1); });
    const inner = instrument<object, ExportedHandler<object>>({ async scheduled() { await step(); } }, { exporter: () => exported });
    const twice = instrument<object, ExportedHandler<object>>(inner, { exporter: () => exported });
    const ctx = createExecutionContext();
    await twice.scheduled!({ cron: "* * * * *", scheduledTime: 0, noRetry() {} } as never, {}, ctx);
    await waitOnExecutionContext(ctx);
    await vi.waitFor(() => expect(exported.traces.map(tree)).toEqual([[["scheduled * * * * *", null], ["step", "scheduled * * * * *"]]]));
    await sleep(50);
    expect(exported.traces).toHaveLength(1); // (two before: the inner layer started a root of its own)
  });

  it("no ctx (a Durable Object's fetch(request)) or one without waitUntil ({} in a unit test): the request is answered, traced", async () => {
    const worker = instrument<object, ExportedHandler<object>>({ fetch: () => new Response("answered") }, { exporter: () => exported, silent: true });
    const doFetch = worker.fetch as unknown as (request: Request) => Promise<Response>;
    expect(await (await doFetch(new Request("https://do.example/x"))).text()).toBe("answered");
    expect(await (await worker.fetch!(new Request("https://app.example/y") as never, {}, {} as ExecutionContext)).text()).toBe("answered");
    await vi.waitFor(() => expect(names()).toEqual(["GET /x", "GET /y"]));
  });
});

describe("a request traced twice, and retried", () => {
  const rootOf = (t: Trace) => t.data.spans.find((s) => s.parentId === null) ?? t.data.spans[0]!;

  it("the same Request handled again after its handler returned (a retry of a dropped 503) gets a trace of its own", async () => {
    let n = 0;
    const attempt = mlflow.trace(async function attempt() { await sleep(1); });
    const worker = instrument<object, ExportedHandler<object>>(
      { async fetch() { await attempt(); return ++n === 1 ? new Response("busy", { status: 503 }) : new Response("ok"); } },
      { exporter: () => exported, exportDeadlineMs: 1_000 },
    );
    const app = new Hono();
    app.use(mlflowTracing({ exporter: () => exported, exportDeadlineMs: 1_000 }));
    app.get("/again", async (c) => (await attempt(), ++n === 3 ? c.text("busy", 503) : c.text("ok")));
    const ctx = createExecutionContext();
    for (const [fetch, url] of [[worker.fetch!, "https://app.example/retry"], [app.fetch, "https://app.example/again"]] as const) {
      const request = new Request(url);
      expect((await (fetch as (r: Request, e: object, c: ExecutionContext) => Promise<Response>)(request, {}, ctx)).status).toBe(503); // dropped unread
      expect(await (await (fetch as (r: Request, e: object, c: ExecutionContext) => Promise<Response>)(request, {}, ctx)).text()).toBe("ok");
    }
    await waitOnExecutionContext(ctx);
    const seen = exported.traces.map((t) => [rootOf(t).name, rootOf(t).attributes["http.response.status_code"], t.data.spans.length]);
    expect(seen.sort()).toEqual([
      ["GET /again", 200, 2],
      ["GET /again", 503, 2],
      ["GET /retry", 200, 2],
      ["GET /retry", 503, 2],
    ]);
  });

  it("an instrument()ed Worker serving a Hono app with mlflowTracing(): one trace, named by the route", async () => {
    const app = new Hono();
    app.use(mlflowTracing({ exporter: () => exported, spanType: "AGENT" }));
    app.get("/posts/:id", () => {
      throw new Error("post store down");
    });
    const worker = instrument<object, ExportedHandler<object>>({ fetch: (r, e, ctx) => app.fetch(r as unknown as Request, e, ctx) }, { exporter: () => exported });
    const ctx = createExecutionContext();
    const res = await worker.fetch!(new Request("https://app.example/posts/7") as never, {}, ctx);
    expect(res.status).toBe(500);
    await res.text();
    await waitOnExecutionContext(ctx);
    const span = rootOf(exported.traces[0]!);
    expect(exported.traces).toHaveLength(1);
    expect([span.name, span.attributes["http.route"], span.spanType, span.status.description]).toEqual(["GET /posts/:id", "/posts/:id", "AGENT", "Error: post store down"]);
    expect(span.events.map((e) => e.name)).toEqual(["exception"]);
  });

  it("a sub-app's mlflowTracing({ spanName, spanType }) describes the app's span", async () => {
    const sub = new Hono();
    sub.use(mlflowTracing({ exporter: () => exported, spanName: () => "sub-app span", spanType: "AGENT" }));
    sub.get("/x", (c) => c.text("ok"));
    const app = new Hono();
    app.use(mlflowTracing({ exporter: () => exported }));
    app.route("/api", sub);
    const ctx = createExecutionContext();
    await (await app.fetch(new Request("https://app.example/api/x"), {}, ctx)).text();
    await waitOnExecutionContext(ctx);
    // The app's layer named it by its route already: the sub-app's type is added, its name is not forced over it.
    expect(exported.traces.map((t) => [rootOf(t).name, rootOf(t).spanType])).toEqual([["GET /api/x", "AGENT"]]);
  });

  it("an app's and a sub-app's mlflowTracing() record a thrown error once", async () => {
    const sub = new Hono();
    sub.use(mlflowTracing({ exporter: () => exported }));
    sub.get("/x", () => {
      throw new Error("boom");
    });
    const app = new Hono();
    app.use(mlflowTracing({ exporter: () => exported }));
    app.route("/api", sub);
    const ctx = createExecutionContext();
    const res = await app.fetch(new Request("https://app.example/api/x"), {}, ctx);
    expect(res.status).toBe(500);
    await res.text();
    await waitOnExecutionContext(ctx);
    expect(exported.traces.map((t) => rootOf(t).events.map((e) => e.name))).toEqual([["exception"]]);
  });

  it("the same Request handled twice at once gets two traces, each with its own children", async () => {
    const attempt = mlflow.trace(async function attempt() { await sleep(20); });
    const worker = instrument<object, ExportedHandler<object>>({ async fetch() { await attempt(); return new Response("ok"); } }, { exporter: () => exported, exportDeadlineMs: 1_000 });
    const fetch = worker.fetch as unknown as (r: Request, e: object, c: ExecutionContext) => Promise<Response>;
    const ctx = createExecutionContext();
    const request = new Request("https://app.example/twice");
    const [a, b] = await Promise.all([fetch(request, {}, ctx), fetch(request, {}, ctx)]);
    await a.text();
    await b.text();
    await waitOnExecutionContext(ctx);
    expect(exported.traces.map((t) => t.data.spans.map((s) => s.name))).toEqual([["GET /twice", "attempt"], ["GET /twice", "attempt"]]);
  });

  it("a handler that defines ctx.waitUntil as an accessor works, and its work still holds the trace", async () => {
    const worker = instrument<object, ExportedHandler<object>>(
      {
        fetch(_r, _e, ctx) {
          const replaced = ctx.waitUntil.bind(ctx);
          Object.defineProperty(ctx, "waitUntil", { configurable: true, get: () => (p: Promise<unknown>) => replaced(p) });
          ctx.waitUntil(mlflow.withSpan(() => sleep(5), { name: "later" }));
          return new Response("ok");
        },
      },
      { exporter: () => exported },
    );
    const ctx = createExecutionContext();
    const res = await worker.fetch!(new Request("https://app.example/accessor") as never, {}, ctx);
    expect(await res.text()).toBe("ok");
    await waitOnExecutionContext(ctx);
    expect(exported.traces.map((t) => t.data.spans.map((s) => s.name))).toEqual([["GET /accessor", "later"]]);
  });
});

type InitBrowser = (options: { collectorUrl: string; ingestKey?: string }) => { stats(): Promise<{ storage: string }> };

describe("a page's module rendered on a Worker (server-side rendering on Cloudflare)", () => {
  // The page's initBrowser() call runs in the Worker too when the app renders there: it must not
  // take the Worker's tracing over (its spans would go to a memory queue meant for a tab).
  it("initBrowser() sets nothing up there: the request is traced by instrument() as before, its page span nested", async () => {
    // (Imported by a computed path: a static import would type-check the browser code against the Worker's types.)
    const browserInit: string = "../../browser/init.js";
    const { initBrowser } = (await import(browserInit)) as { initBrowser: InitBrowser };
    resetWarnings();
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const worker = instrument<object, ExportedHandler<object>>(
      {
        async fetch() {
          const tracing = initBrowser({ collectorUrl: "/collect", ingestKey: "pk-site" });
          const page = await mlflow.trace(async () => "<p>hi</p>", { name: "renderPage" })();
          return new Response(`${page} ${(await tracing.stats()).storage}`);
        },
      },
      { exporter: () => exported },
    );
    const ctx = createExecutionContext();
    const res = await worker.fetch!(new Request("https://app.example/chat"), {}, ctx);
    expect(await res.text()).toBe("<p>hi</p> none");
    await waitOnExecutionContext(ctx);
    expect(exported.traces.map((t) => t.data.spans.map((s) => s.name))).toEqual([["GET /chat", "renderPage"]]);
    expect(warn.mock.calls.map((c) => String(c[0]))).toEqual([expect.stringMatching(/initBrowser\(\) ran outside a browser/)]);
    warn.mockRestore();
  });
});

describe("ignoreRequest: requests left out of tracing", () => {
  const health = (r: Request) => new URL(r.url).pathname === "/health";
  const lookup = mlflow.trace(async (q: string) => q.length, { name: "lookup" });
  // The handler calls a traced function and reads the traceparent it would send on.
  const handle = async (request: Request) => {
    await lookup(request.url);
    return new Response(mlflow.getTracingContextHeadersForHttpRequest().traceparent ?? "none");
  };

  it("instrument(): an ignored request leaves no trace, nor do the spans under it, and sends -00 on; the others are traced", async () => {
    const worker = instrument<object, ExportedHandler<object>>({ fetch: handle }, { exporter: () => exported, ignoreRequest: health });
    const sent: string[] = [];
    for (const path of ["/health", "/ask"]) {
      const ctx = createExecutionContext();
      sent.push(await (await worker.fetch!(new Request(`https://app.example${path}`), {}, ctx)).text());
      await waitOnExecutionContext(ctx);
    }
    expect(names()).toEqual(["GET /ask"]);
    expect(exported.traces[0]!.data.spans.map((s) => s.name)).toEqual(["GET /ask", "lookup"]);
    expect(sent[0]).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    expect(sent[1]).toMatch(/-01$/);
  });

  it("mlflowTracing(): the same for a Hono app's routes", async () => {
    const app = new Hono();
    app.use(mlflowTracing({ exporter: () => exported, ignoreRequest: health }));
    app.get("/health", (c) => handle(c.req.raw));
    app.get("/posts/:id", (c) => handle(c.req.raw));
    for (const path of ["/health", "/posts/7"]) {
      const ctx = createExecutionContext();
      await (await app.fetch(new Request(`https://app.example${path}`), {}, ctx)).text(); // (the request span ends with its body)
      await waitOnExecutionContext(ctx);
    }
    expect(names()).toEqual(["GET /posts/:id"]);
  });

  it("any layer may leave a request out: a Hono app's mlflowTracing({ ignoreRequest }) inside an instrument()ed Worker", async () => {
    const app = new Hono();
    app.use(mlflowTracing({ exporter: () => exported, ignoreRequest: health }));
    app.get("*", (c) => handle(c.req.raw));
    const worker = instrument(app, { exporter: () => exported });
    for (const path of ["/health", "/ask"]) {
      const ctx = createExecutionContext();
      await (await worker.fetch(new Request(`https://app.example${path}`), {}, ctx)).text();
      await waitOnExecutionContext(ctx);
    }
    expect(names()).toEqual(["GET /*"]);
  });

  it.each([
    ["throws", (): boolean => { throw new Error("bad rule"); }, /ignoreRequest threw \(Error: bad rule\), so the request is traced/],
    ["answers with a Promise", async (): Promise<boolean> => true, /ignoreRequest returned a Promise; it must answer at once/],
  ] as const)("an ignoreRequest that %s leaves the request traced, with one warning", async (_, ignoreRequest, said) => {
    resetWarnings();
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const worker = instrument<object, ExportedHandler<object>>({ fetch: handle }, { exporter: () => exported, ignoreRequest: ignoreRequest as () => boolean });
    for (let i = 0; i < 2; i++) {
      const ctx = createExecutionContext();
      expect(await (await worker.fetch!(new Request("https://app.example/ask"), {}, ctx)).text()).toMatch(/-01$/);
      await waitOnExecutionContext(ctx);
    }
    expect(names()).toEqual(["GET /ask", "GET /ask"]);
    expect(warn.mock.calls.map((c) => String(c[0])).filter((m) => m.includes("ignoreRequest"))).toEqual([expect.stringMatching(said)]);
    warn.mockRestore();
  });
});

describe("what the app's own code sees of its ctx, its handler object and its responses", () => {
  it("a frozen ctx (a test's hand-made one): the handler's ctx.waitUntil and passThroughOnException work as untraced", async () => {
    const kept: Promise<unknown>[] = [];
    const ctx = Object.freeze({ waitUntil: (p: Promise<unknown>) => void kept.push(p), passThroughOnException: () => undefined, props: {} });
    const worker = instrument<object, ExportedHandler<object>>(
      {
        fetch(_request, _env, c) {
          c.passThroughOnException();
          c.waitUntil(Promise.resolve("cache write"));
          return new Response("ok");
        },
      },
      { exporter: () => exported },
    );
    // (Before: the proxy reported another value for a frozen method: TypeError on each ctx call.)
    expect(await (await worker.fetch!(new Request("https://app.example/frozen"), {}, ctx as unknown as ExecutionContext)).text()).toBe("ok");
    await Promise.all(kept);
    expect(kept.length).toBeGreaterThanOrEqual(1);
  });

  it("mlflowTracing(): a route answering with a body it already read reaches the runtime as untraced, not the app's onError", async () => {
    const errors: string[] = [];
    const app = new Hono();
    app.onError((error, c) => (errors.push(String(error)), c.text("from onError", 500)));
    app.use(mlflowTracing({ exporter: () => exported }));
    app.get("/used", async () => {
      const r = new Response("read already");
      await r.text();
      return r;
    });
    const ctx = createExecutionContext();
    const res = await app.fetch(new Request("https://app.example/used"), {}, ctx);
    await waitOnExecutionContext(ctx);
    // (Before: Hono's c.res setter made a new Response of it, which threw into onError: its 500 went out.)
    expect(errors).toEqual([]);
    expect(res.bodyUsed).toBe(true); // the route's own response, which the runtime refuses to send, as untraced
    expect(exported.traces.map((t) => root(t).status.statusCode)).toEqual(["STATUS_CODE_ERROR"]);
  });

  it("exportDeadlineMs 0: a body read a moment after the response is recorded whole, not as a body nobody read", async () => {
    const worker = instrument<object, ExportedHandler<object>>({ fetch: () => new Response("hello world") }, { exporter: () => exported, exportDeadlineMs: 0 });
    const ctx = createExecutionContext();
    const res = await worker.fetch!(new Request("https://app.example/zero"), {}, ctx);
    await sleep(5);
    expect(await res.text()).toBe("hello world");
    await waitOnExecutionContext(ctx);
    await mlflow.flushTraces();
    const span = root(exported.traces[0]!);
    // (Before: the unread wait was the deadline itself, 0 ms: "body not read", 0 bytes.)
    expect([span.attributes["http.response.body.size"], span.events.map((e) => e.name)]).toEqual([11, []]);
  });

  it("a class the handler object carries is the class itself on the instrumented one", async () => {
    class Helper {
      constructor(readonly name: string) {}
    }
    const handler = { Helper, fetch: () => new Response("ok") };
    const worker = instrument(handler, { exporter: () => exported }) as typeof handler;
    // (Before: a wrapper function calling it without new: "Class constructor Helper cannot be invoked without 'new'".)
    expect(worker.Helper).toBe(Helper);
    expect(new worker.Helper("x").name).toBe("x");
  });
});
