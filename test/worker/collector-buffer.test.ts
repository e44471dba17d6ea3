// The test Worker end to end inside workerd: a browser's part of a trace through POST /v1/ingest,
// the Worker's part from an instrumented route that continues the browser's traceparent, both in
// the sharded TraceBuffer, merged, readable through /api/traces, and forwarded to the real MLflow
// server as one trace with both parts nested.
import { env, exports } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import * as mlflow from "../../core/index.js";
import { shardOf } from "../../worker/buffer/shards.js";
import { joinedTrace, simpleTrace } from "./traces.js";
import type { TraceBuffer } from "../../worker/buffer/trace-buffer.js";
import type { StoredTrace, TracePage } from "../../worker/store.js";

const BASE = "https://collector.example";

describe("collector + instrumented route + TraceBuffer + MLflow", () => {
  it("joins the browser part and the Worker part into one trace, viewable and forwarded once", async () => {
    // The browser side: a chat span and a fetch span whose traceparent goes to the Worker.
    const exporter = new mlflow.InMemoryExporter();
    mlflow.init({ exporter, silent: true });
    let traceparent = "";
    const chat = mlflow.startSpan({ name: "chat", spanType: mlflow.SpanType.AGENT, inputs: { message: "6*7?" } });
    const fetchSpan = mlflow.startSpan({ name: "fetch /api/answer", parent: chat });
    traceparent = `00-${chat.traceId.slice(3)}-${fetchSpan.spanId}-01`;

    const workerRes = await exports.default.fetch(`${BASE}/api/answer`, { method: "POST", body: "six times seven", headers: { traceparent } });
    expect(await workerRes.json()).toEqual({ q: "six times seven", answer: 42 });
    fetchSpan.end({ outputs: { status: 200 } });
    chat.end({ outputs: "42" });
    await mlflow.flushTraces();
    const [browserPart] = exporter.drain();

    const ingest = await exports.default.fetch(`${BASE}/v1/ingest`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-mlflow-edge-key": "pk-test-app", origin: "https://app.example" },
      body: JSON.stringify({ version: 1, traces: [browserPart] }),
    });
    expect(ingest.status).toBe(200);

    // The Worker part is handed to the buffer in waitUntil; poll the query API for the merge.
    const id = chat.traceId;
    let stored: StoredTrace | undefined;
    for (let i = 0; i < 100 && (stored?.trace.data.spans.length ?? 0) < 4; i++) {
      const res = await exports.default.fetch(`${BASE}/api/traces/${id}`);
      if (res.ok) stored = (await res.json()) as StoredTrace;
      else await new Promise((r) => setTimeout(r, 20));
    }
    const names = new Map(stored!.trace.data.spans.map((s) => [s.spanId, s.name]));
    expect(stored!.trace.data.spans.map((s) => [s.name, s.parentId === null ? null : (names.get(s.parentId) ?? "?")])).toEqual([
      ["chat", null],
      ["fetch /api/answer", "chat"],
      ["POST /api/answer", "fetch /api/answer"],
      ["lookup", "POST /api/answer"],
    ]);
    expect(stored!.summary).toMatchObject({ name: "chat", spanCount: 4, forwarding: "buffered", state: "OK" });

    const page = (await (await exports.default.fetch(`${BASE}/api/traces?text=${encodeURIComponent("6*7")}`)).json()) as TracePage;
    expect(page.traces.map((t) => t.traceId)).toContain(id);

    // Forward: run the owning shard's alarm with the trace due now.
    const shard = env.TRACE_BUFFER.get(env.TRACE_BUFFER.idFromName(`shard-${shardOf(id, 4)}`));
    await runInDurableObject(shard, (_: TraceBuffer, state) => {
      state.storage.sql.exec("UPDATE traces SET next_attempt_at = 0 WHERE trace_id = ?", id);
    });
    await runDurableObjectAlarm(shard);
    const after = (await (await exports.default.fetch(`${BASE}/api/traces/${id}`)).json()) as StoredTrace;
    expect(after.summary.forwarding).toBe("forwarded");
    const fromMlflow = (await (await fetch(`${env.MLFLOW_TRACKING_URI}/api/3.0/mlflow/traces/get?trace_id=${id}`)).json()) as {
      trace: { spans: { span_id: string; parent_span_id?: string; name: string }[] };
    };
    const mnames = new Map(fromMlflow.trace.spans.map((s) => [s.span_id, s.name]));
    expect(fromMlflow.trace.spans.map((s) => [s.name, s.parent_span_id ? mnames.get(s.parent_span_id) : null]).sort()).toEqual(
      [
        ["POST /api/answer", "fetch /api/answer"],
        ["chat", null],
        ["fetch /api/answer", "chat"],
        ["lookup", "POST /api/answer"],
      ].sort(),
    );
  });

  it("a part that would grow the stored trace past a row is refused with 413 (not a 503 retried for ever); the parts stored stay", async () => {
    const { worker } = joinedTrace(); // a part without the true root: parts merge
    const part = (prefix: string) => ({
      ...worker,
      info: { ...worker.info, tags: Object.fromEntries(Array.from({ length: 14 }, (_, i) => [`${prefix}${i}`, "x".repeat(65_000)])) },
    });
    const send = (...traces: unknown[]) =>
      exports.default.fetch(`${BASE}/v1/ingest`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-mlflow-edge-key": "pk-test-app", origin: "https://app.example" },
        body: JSON.stringify({ version: 1, traces }),
      });
    expect((await send(part("a"))).status).toBe(200);
    // Beside a trace of another shard, first in the batch: the refusal names the batch's index, not the shard's.
    let other = simpleTrace("another shard");
    while (shardOf(other.info.traceId, 4) === shardOf(worker.info.traceId, 4)) other = simpleTrace("another shard");
    const refused = await send(other, part("b"));
    expect(refused.status).toBe(413);
    expect(await refused.json()).toMatchObject({ path: "traces[1].info", error: expect.stringMatching(/^traces\[1\]\.info \(merged with the parts already stored\) is \d+ bytes/) });
    const stored = (await (await exports.default.fetch(`${BASE}/api/traces/${worker.info.traceId}`)).json()) as StoredTrace;
    expect(Object.keys(stored.trace.info.tags).filter((k) => /^[ab]\d+$/.test(k))).toHaveLength(14);
  });
});
