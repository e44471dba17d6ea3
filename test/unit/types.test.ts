// Compile-time checks (tsc runs them in `npm test`); at run time they are no-ops.
import { describe, expectTypeOf, it } from "vitest";
import * as mlflow from "../../core/index.js";

describe("public types", () => {
  it("trace(fn) keeps the function's exact signature", () => {
    const f = mlflow.trace(async (city: string, days?: number) => ({ city, days }));
    expectTypeOf(f).toEqualTypeOf<(city: string, days?: number) => Promise<{ city: string; days: number | undefined }>>();
    const g = mlflow.trace(function* gen(n: number) { yield n; });
    expectTypeOf(g).returns.toEqualTypeOf<Generator<number, void, unknown>>();
    expectTypeOf(mlflow.trace(Math.pow)).toEqualTypeOf<(x: number, y: number) => number>();
  });

  it("withSpan returns T for sync callbacks and Promise<T> for async ones", () => {
    expectTypeOf(mlflow.withSpan(() => 1, { name: "s" })).toEqualTypeOf<number>();
    expectTypeOf(mlflow.withSpan(async () => "x", { name: "a" })).toEqualTypeOf<Promise<string>>();
  });

  it("the decorator keeps the method's type; outputReducer accepts a typed reducer", () => {
    class C {
      @mlflow.trace({ spanType: mlflow.SpanType.LLM, outputReducer: (chunks: string[]) => chunks.join("") })
      *m(prompt: string): Generator<string> { yield prompt; }
      @mlflow.trace
      bare(x: number) { return x; }
    }
    expectTypeOf(new C().m).toEqualTypeOf<(prompt: string) => Generator<string>>();
    expectTypeOf(new C().bare).toEqualTypeOf<(x: number) => number>();
  });

  it("span types accept built-ins and custom strings; the exported span data is typed, never any", () => {
    expectTypeOf<"func">().toMatchTypeOf<mlflow.SpanType>();
    expectTypeOf<mlflow.SpanData["inputs"]>().toEqualTypeOf<mlflow.Json | undefined>();
    expectTypeOf<mlflow.Trace["info"]["state"]>().toEqualTypeOf<mlflow.TraceState>();
    expectTypeOf(mlflow.getCurrentActiveSpan()).toEqualTypeOf<mlflow.LiveSpan | null>();
  });

  it("setStatus takes a status object with the code as a name or a SpanStatusCode, as the README shows", () => {
    const span = mlflow.startSpan({ name: "s" });
    span.setStatus({ statusCode: "ERROR", description: "bad input" });
    span.setStatus({ statusCode: mlflow.SpanStatusCode.OK });
    span.setStatus(span.status);
    // @ts-expect-error not a status name
    span.setStatus({ statusCode: "BROKEN" });
    span.end();
  });
});
