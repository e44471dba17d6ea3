// A trace made in two places (a page and its Worker, a client and a remote service), each part sent
// to the real MLflow on its own, in either order: MLflow shows one trace with both parts' spans,
// named and summarized by the caller's part, as MLflow's Python SDK leaves it (a remote part logs
// only its spans), and never left IN_PROGRESS when the remote part is all MLflow has.
import { beforeEach, describe, expect, it } from "vitest";
import * as mlflow from "../../core/index.js";
import { FaultProxy } from "./fault-proxy.js";
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

async function remotePart(headers: Record<string, string>, name: string, fail = false): Promise<void> {
  const handle = mlflow.trace((question: string) => {
    mlflow.updateCurrentTrace({ tags: { side: "server" } });
    if (fail) throw new Error("the model is down");
    return `server answer to ${question}`;
  }, { name, spanType: mlflow.SpanType.AGENT });
  try {
    mlflow.withTracingContextFromHeaders(headers, () => handle("server question"));
  } catch {
    // the failure is what the part records
  }
  await mlflow.flushTraces();
}

/** Headers naming a caller's span whose part is never sent. */
const unsentCaller = (): Record<string, string> => ({ traceparent: `00-${crypto.randomUUID().replace(/-/g, "")}-${"ab".repeat(8)}-01` });

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

  it("a remote part that failed, sent after the caller's OK part, leaves the trace the caller's: as in Python, the true root decides its state", async () => {
    const { traceId, headers } = await callerPart();
    await remotePart(headers, "remote_handler", true);
    const { info, spans } = await readViaRest(traceId);
    expect(spans.map((s) => [s.name, s.status])).toEqual([["client_root", "OK"], ["remote_handler", "ERROR"]]);
    expect(info.tags["mlflow.traceName"]).toBe("client_root");
    expect(info.tags.side).toBe("client");
    expect(info.request_preview).toContain("client question");
    expect(info.state).toBe("OK");
  });

  it("a part without the root is delivered whole when MLflow will not say whether it has the trace (the auth plugin's 403, a 5xx, a route it lacks)", async () => {
    const proxy = new FaultProxy(mlflowUri());
    await proxy.start();
    try {
      mlflow.init({ trackingUri: proxy.url, experimentId, silent: true });
      const getInfo = /^\/api\/3\.0\/mlflow\/traces\/tr-[0-9a-f]{32}$/;
      for (const fault of [{ status: 403, body: "Permission denied" }, { status: 500 }, { status: 404, body: "<!doctype html><title>404 Not Found</title>" }]) {
        proxy.inject(getInfo, fault, 20);
        const headers = unsentCaller();
        await remotePart(headers, `alone_${fault.status}`);
        const info = (await readViaRest(mlflow.parseTraceparent(headers.traceparent)!.traceId)).info;
        expect(info.tags["mlflow.traceName"]).toBe(`alone_${fault.status}`);
        expect(info.state).toBe("OK");
        proxy.faults.length = 0;
      }
    } finally {
      await proxy.stop();
    }
  });
});
