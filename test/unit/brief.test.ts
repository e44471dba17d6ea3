// Every example of the product brief, run in Node (AsyncLocalStorage context) against its exact
// expected traces (test/programs/brief.ts), plus the details a tree does not show.
import { describe, expect, it } from "vitest";
import * as mlflow from "../../core/index.js";
import { programs, longDocument, sleep } from "../programs/brief.js";
import { traceShape } from "../programs/shape.js";
import { setup, shape } from "./helpers.js";

describe("the product brief's examples produce their exact traces", () => {
  for (const program of programs) {
    it(program.name, async () => {
      const t = setup(program.init);
      await program.run();
      expect((await t.traces()).map(traceShape)).toEqual(program.expected);
    });
  }
});

describe("what the trees do not show", () => {
  it("records the function name as mlflow.spanFunctionName and leaves no active span behind", async () => {
    const t = setup();
    await programs[0]!.run();
    expect((await t.only()).data.spans.map((s) => s.attributes["mlflow.spanFunctionName"])).toEqual(["trace_test", "add_1", "minus_1"]);
    expect(mlflow.getCurrentActiveSpan()).toBeNull();
  });

  it("keeps duplicate names as given with dedupeSpanNames: false", async () => {
    const t = setup({ dedupeSpanNames: false });
    await programs.find((p) => p.name.includes("duplicate"))!.run();
    expect(shape(await t.only()).map((s) => s.name)).toEqual(["run", "step", "step"]);
  });

  it("rethrows the very same error object, with its stack in the exception event", async () => {
    const t = setup();
    const thrown = new RangeError("out of range");
    const f = mlflow.trace(function f() { throw thrown; });
    expect(() => f()).toThrow(thrown);
    let caught: unknown;
    try { f(); } catch (e) { caught = e; }
    expect(caught).toBe(thrown);
    const [first] = await t.traces();
    expect(first!.data.spans[0]!.events[0]!.attributes["exception.stacktrace"]).toBe(thrown.stack);
  });

  it("records an async rejection and passes the same rejection through", async () => {
    const t = setup();
    const err = new TypeError("no document 42");
    const failing = mlflow.trace(async function fetchDoc(id: string) { await sleep(1); throw err; });
    await expect(failing("42")).rejects.toBe(err);
    const span = (await t.only()).data.spans[0]!;
    expect(span.status).toEqual({ statusCode: "STATUS_CODE_ERROR", description: "TypeError: no document 42" });
  });

  it("with @trace outermost, the span's duration covers the inner decorator's work", async () => {
    const t = setup();
    function slowDown<A extends unknown[], R>(fn: (...args: A) => Promise<R>, _ctx: ClassMethodDecoratorContext) {
      return async function (this: unknown, ...args: A): Promise<R> { await sleep(30); return fn.apply(this, args); };
    }
    class S {
      @mlflow.trace()
      @slowDown
      async quick() { return 1; }
    }
    await new S().quick();
    const span = (await t.only()).data.spans[0]!;
    expect(span.endTime! - span.startTime).toBeGreaterThanOrEqual(25);
  });

  it("starts a stream span when iteration starts, not when the generator is created", async () => {
    const t = setup();
    const gen = mlflow.trace(function* numbers() { yield 1; });
    const it = gen();
    const before = Date.now();
    await sleep(15);
    expect(t.exporter.traces).toHaveLength(0);
    expect([...it]).toEqual([1]);
    expect((await t.only()).data.spans[0]!.startTime).toBeGreaterThanOrEqual(before + 10);
  });

  it("cuts the default request preview to 1000 characters ending in '...'", async () => {
    const t = setup();
    const doc = longDocument.repeat(2);
    mlflow.trace(function summarize(documentContent: string) { return documentContent.length; })(doc);
    const info = (await t.only()).info;
    expect(info.requestPreview).toBe(`{"documentContent": "${doc}"}`.slice(0, 997) + "...");
    expect(info.responsePreview).toBe(String(doc.length));
  });
});
