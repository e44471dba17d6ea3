// A trace made in two places (a page and its Worker, a client and a remote service), each part sent
// to the real MLflow on its own, in either order: MLflow shows one trace with both parts' spans,
// named and summarized by the caller's part, as MLflow's Python SDK leaves it (a remote part logs
// only its spans), and never left IN_PROGRESS when the remote part is all MLflow has.
import { beforeEach, describe, expect, it } from "vitest";
import * as mlflow from "../../core/index.js";
import { mlflowUri, newExperiment, readViaRest } from "./readback.js";

let experimentId: string;
beforeEach(async () => {
  experimentId = await newExperiment("distributed");
  mlflow.init({ trackingUri: mlflowUri(), experimentId, silent: true });
});

/** The caller's part: its root span, with the headers it would send along. */
async function callerPart(): Promise<{ traceId: string; headers: Record<string, string> }> {
  let headers: Record<string, string> = {};
  const ask = mlflow.trace(async function client_root(q: string) {
    headers = mlflow.getTracingContextHeadersForHttpRequest();
    mlflow.updateCurrentTrace({ tags: { side: "client" } });
    return `client answer to ${q}`;
  });
  await ask("client question");
  await mlflow.flushTraces();
  return { traceId: mlflow.getLastActiveTraceId()!, headers };
}

async function remotePart(headers: Record<string, string>, name: string): Promise<void> {
  const handle = mlflow.trace((question: string) => {
    mlflow.updateCurrentTrace({ tags: { side: "server" } });
    return `server answer to ${question}`;
  }, { name, spanType: mlflow.SpanType.AGENT });
  mlflow.withTracingContextFromHeaders(headers, () => handle("server question"));
  await mlflow.flushTraces();
}

describe("a trace in two parts, sent to MLflow apart", () => {
  it("a remote part sent after the caller's adds its spans and leaves the caller's name, previews, tags and start", async () => {
    const { traceId, headers } = await callerPart();
    const before = await readViaRest(traceId);
    await remotePart(headers, "remote_handler");
    const after = await readViaRest(traceId);
    expect(after.spans.map((s) => [s.name, s.parent])).toEqual([["client_root", null], ["remote_handler", "client_root"]]);
    expect(after.info.tags["mlflow.traceName"]).toBe("client_root");
    expect(after.info.request_preview).toBe(before.info.request_preview);
    expect(after.info.request_preview).toContain("client question");
    expect(after.info.response_preview).toBe(before.info.response_preview);
    expect(after.info.request_time).toBe(before.info.request_time);
    // (MLflow itself stretches the duration over spans logged later, as for Python's remote parts.)
    expect(after.info.execution_duration).toBeGreaterThanOrEqual(before.info.execution_duration!);
    expect(after.info.tags.side).toBe("client");
    expect(after.info.state).toBe("OK");
  });

  it("a remote part that comes first is a finished trace on its own, and the caller's part takes the trace over when it comes", async () => {
    // The caller's part is made (for the ids) but held back, as a page's queue holds it.
    const held: mlflow.Trace[] = [];
    mlflow.init({ exporter: { export: (t) => void held.push(t) }, silent: true });
    let headers: Record<string, string> = {};
    await mlflow.trace(async function client_root(q: string) {
      headers = mlflow.getTracingContextHeadersForHttpRequest();
      return `client answer to ${q}`;
    })("client question");
    mlflow.init({ trackingUri: mlflowUri(), experimentId, silent: true });
    const traceId = held[0]!.info.traceId;

    await remotePart(headers, "first_handler");
    const alone = await readViaRest(traceId);
    expect(alone.info.state).toBe("OK");
    expect(alone.info.tags["mlflow.traceName"]).toBe("first_handler");
    expect(alone.info.request_preview).toContain("server question");

    // A second remote part (the page called its Worker twice) adds its spans only.
    await remotePart(headers, "second_handler");
    const twice = await readViaRest(traceId);
    expect(twice.spans.map((s) => s.name).sort()).toEqual(["first_handler", "second_handler"]);
    expect(twice.info.tags["mlflow.traceName"]).toBe("first_handler");

    const exporter = new mlflow.MlflowExporter({ trackingUri: mlflowUri(), experimentId });
    await exporter.export(held[0]!);
    const whole = await readViaRest(traceId);
    expect(whole.spans.map((s) => [s.name, s.parent])).toEqual([["client_root", null], ["first_handler", "client_root"], ["second_handler", "client_root"]]);
    expect(whole.info.tags["mlflow.traceName"]).toBe("client_root");
    expect(whole.info.request_preview).toContain("client question");
    expect(whole.info.state).toBe("OK");
  });
});
