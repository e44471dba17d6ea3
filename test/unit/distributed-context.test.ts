// withTracingContextFromHeaders without a usable traceparent: the callback runs in the current
// context, as Python's set_tracing_context_from_http_request_headers leaves it for a header it
// cannot parse: under the active span if there is one (a new trace otherwise, in
// core/api/ts-sdk-parity.test.ts).
import { AsyncLocalStorage } from "node:async_hooks";
import { describe, expect, it } from "vitest";
import * as mlflow from "../../core/index.js";
import { captureWarnings, setup } from "./helpers.js";

describe("withTracingContextFromHeaders with a missing or malformed header, inside a span", () => {
  it("spans inside nest under the active span, with one warning saying so", async () => {
    const t = setup({ contextManager: new mlflow.AsyncLocalStorageContextManager(AsyncLocalStorage) });
    const warnings = captureWarnings();
    await mlflow.withSpan(async () => {
      for (const headers of [{}, { traceparent: "garbage" }]) {
        await mlflow.withTracingContextFromHeadersAsync(headers, () => mlflow.withSpan(async () => "ok", { name: "inner" }));
      }
    }, { name: "outer" });
    const trace = await t.only();
    const [outer, ...inner] = trace.data.spans;
    expect(inner.map((s) => [s.name, s.parentId])).toEqual([
      ["inner_1", outer!.spanId],
      ["inner_2", outer!.spanId],
    ]);
    expect(warnings.messages().filter((m) => m.includes("no valid traceparent"))).toEqual([
      "[mlflow-edge] withTracingContextFromHeaders() got no valid traceparent header: spans inside nest under the active span, or start a new trace if there is none.",
    ]);
    warnings.restore();
  });
});
