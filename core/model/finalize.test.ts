import { describe, expect, it } from "vitest";
import { aggregateTokenUsage } from "./finalize.js";
import { SpanStatusCode } from "./constants.js";
import type { Json, SpanData } from "./types.js";

// The trace's token usage: what MLflow shows as the trace's total tokens.

const span = (spanId: string, parentId: string | null, usage?: { input_tokens: number; output_tokens: number }): SpanData => ({
  traceId: "tr-00000000000000000000000000000001",
  spanId,
  parentId,
  name: spanId,
  spanType: "UNKNOWN",
  startTime: 1,
  endTime: 2,
  status: { statusCode: SpanStatusCode.OK, description: "" },
  inputs: undefined,
  outputs: undefined,
  attributes: usage ? { "mlflow.chat.tokenUsage": { ...usage, total_tokens: usage.input_tokens + usage.output_tokens } } : {},
  events: [],
});

describe("aggregateTokenUsage", () => {
  it("sums the LLM spans of a tree once: a span's usage covers its descendants'", () => {
    const spans = [span("a", null), span("b", "a", { input_tokens: 10, output_tokens: 5 }), span("b1", "b", { input_tokens: 10, output_tokens: 5 }), span("c", "a", { input_tokens: 1, output_tokens: 2 })];
    expect(aggregateTokenUsage(spans)).toEqual({ input_tokens: 11, output_tokens: 7, total_tokens: 18 });
  });

  it("counts parts still waiting for their root (a Worker's spans under a browser span not yet stored)", () => {
    const spans = [span("w", "browser-span", { input_tokens: 3, output_tokens: 4 }), span("x", "other-missing", { input_tokens: 1, output_tokens: 1 })];
    expect(aggregateTokenUsage(spans)).toEqual({ input_tokens: 4, output_tokens: 5, total_tokens: 9 });
  });

  it("terminates on parts whose spans point at each other, and on a very deep chain", () => {
    const loop = [span("a", "b", { input_tokens: 1, output_tokens: 1 }), span("b", "a"), span("r", null, { input_tokens: 2, output_tokens: 0 })];
    expect(aggregateTokenUsage(loop)).toEqual({ input_tokens: 2, output_tokens: 0, total_tokens: 2 });
    const deep = [span("s0", null), ...Array.from({ length: 50_000 }, (_, i) => span(`s${i + 1}`, `s${i}`))];
    deep.push(span("leaf", "s50000", { input_tokens: 7, output_tokens: 0 }));
    expect(aggregateTokenUsage(deep)).toEqual({ input_tokens: 7, output_tokens: 0, total_tokens: 7 });
    expect(aggregateTokenUsage([span("a", null)])).toBeUndefined();
  });

  it("adds up as MLflow does: a missing count is 0, cache counts when present, and unaddable usage gives none", () => {
    const withUsage = (spanId: string, usage: Json) => ({ ...span(spanId, "r"), attributes: { "mlflow.chat.tokenUsage": usage } });
    expect(aggregateTokenUsage([span("r", null), withUsage("a", { input_tokens: 7, output_tokens: 2 }), withUsage("b", { input_tokens: 1, cache_read_input_tokens: 5 })]))
      .toEqual({ input_tokens: 8, output_tokens: 2, total_tokens: 0, cache_read_input_tokens: 5 });
    // Python cannot add null or "3" to a count, nor read counts from a string: the trace gets no usage.
    for (const bad of [{ input_tokens: null }, { input_tokens: "3" }, { cache_read_input_tokens: null }, "abc", [1]] as Json[]) {
      expect(aggregateTokenUsage([span("r", null), withUsage("a", { input_tokens: 1 }), withUsage("b", bad)])).toBeUndefined();
    }
    // null usage is no usage: the span's children count instead.
    expect(aggregateTokenUsage([span("r", null), { ...withUsage("a", null), spanId: "a" }, { ...withUsage("c", { input_tokens: 2 }), parentId: "a" }]))
      .toEqual({ input_tokens: 2, output_tokens: 0, total_tokens: 0 });
  });

  it("counts that add up past a double (1e308 twice) give no usage, not Infinity, which MLflow's UI cannot parse", () => {
    const withUsage = (spanId: string, usage: Json) => ({ ...span(spanId, "r"), attributes: { "mlflow.chat.tokenUsage": usage } });
    expect(aggregateTokenUsage([span("r", null), withUsage("a", { input_tokens: 1e308 }), withUsage("b", { input_tokens: 1e308 })])).toBeUndefined();
    expect(aggregateTokenUsage([span("r", null), withUsage("a", { input_tokens: 1e308 })])).toEqual({ input_tokens: 1e308, output_tokens: 0, total_tokens: 0 });
  });
});
