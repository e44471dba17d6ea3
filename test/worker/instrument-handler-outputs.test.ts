// What a Worker handler does to its own request span is kept, and what it hands back goes to the
// runtime as it made it. Found by a review of the Worker tracing; each test fails on the code before.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import * as mlflow from "../../core/index.js";
import type { Trace } from "../../core/model/types.js";
import { mlflowTracing } from "../../worker/hono.js";
import { instrument } from "../../worker/instrument.js";
import { exported } from "./worker-tracing.js";

const root = (t: Trace) => t.data.spans[0]!;

describe("outputs the handler set on its request span", () => {
  // trace() and withSpan keep outputs the function set itself; in a handler the active span is the
  // request span, whose outputs were overwritten with { status }.
  it("instrument(): kept, and the trace's response preview with them; the status is the outputs only where the handler set none", async () => {
    const worker = instrument<object, ExportedHandler<object>>(
      {
        async fetch(request) {
          if (new URL(request.url).pathname === "/ask") mlflow.getCurrentActiveSpan()!.setOutputs({ answer: "42" });
          return new Response("42");
        },
      },
      { exporter: () => exported },
    );
    for (const path of ["/ask", "/plain"]) {
      const ctx = createExecutionContext();
      const res = await worker.fetch!(new Request(`https://app.example${path}`) as never, {}, ctx);
      await res.text();
      await waitOnExecutionContext(ctx);
    }
    const [ask, plain] = exported.traces;
    expect(root(ask!).outputs).toEqual({ answer: "42" });
    expect(ask!.info.responsePreview).toBe('{"answer": "42"}');
    expect(root(plain!).outputs).toEqual({ status: 200 });
  });

  it("mlflowTracing(): kept too", async () => {
    const app = new Hono();
    app.use(mlflowTracing({ exporter: () => exported }));
    app.get("/ask", (c) => {
      mlflow.getCurrentActiveSpan()!.setOutputs({ answer: "42" });
      return c.text("42");
    });
    const ctx = createExecutionContext();
    const res = await app.fetch(new Request("https://app.example/ask"), {}, ctx);
    await res.text();
    await waitOnExecutionContext(ctx);
    expect(root(exported.traces[0]!).outputs).toEqual({ answer: "42" });
  });
});

describe("a response whose body is locked to a reader, not read", () => {
  // A relay takes its reader only when read: it was sent in place of the handler's response, and
  // workerd ended the failed relay as a whole, empty 200 (untraced, the response is aborted).
  it("is handed to the runtime as the handler made it, and the span says why it cannot be sent", async () => {
    let made: Response | undefined;
    const worker = instrument<object, ExportedHandler<object>>(
      {
        async fetch() {
          made = new Response("hello");
          made.body!.getReader();
          return made;
        },
      },
      { exporter: () => exported, exportDeadlineMs: 200 },
    );
    const ctx = createExecutionContext();
    const res = await worker.fetch!(new Request("https://app.example/locked") as never, {}, ctx);
    expect(res).toBe(made);
    expect(res.body?.locked).toBe(true);
    await waitOnExecutionContext(ctx);
    await mlflow.flushTraces();
    expect(root(exported.traces[0]!).status).toEqual({ statusCode: "STATUS_CODE_ERROR", description: "TypeError: the response body is locked to a reader, so it cannot be sent" });
  });
});

describe("mlflowTracing() and requests no route took", () => {
  it("a 404 around which only middleware matched gets no http.route and is named by its path; an app.all() route that answers keeps its pattern", async () => {
    const app = new Hono();
    app.use(mlflowTracing({ exporter: () => exported }));
    app.use("/api/*", async (_c, next) => next()); // an auth check, say
    app.get("/api/posts/:id", (c) => c.text("post"));
    app.all("/hooks/*", (c) => c.text("ok"));
    for (const [path, status] of [["/wp-login.php", 404], ["/api/nothing-here", 404], ["/hooks/github", 200]] as const) {
      const ctx = createExecutionContext();
      const res = await app.fetch(new Request(`https://app.example${path}`, { method: "POST" }), {}, ctx);
      expect(res.status).toBe(status);
      await res.text();
      await waitOnExecutionContext(ctx);
    }
    expect(exported.traces.map((t) => [root(t).name, root(t).attributes["http.route"]])).toEqual([
      ["POST /wp-login.php", undefined],
      ["POST /api/nothing-here", undefined],
      ["POST /hooks/*", "/hooks/*"],
    ]);
  });
});
