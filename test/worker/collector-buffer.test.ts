// The test Worker end to end inside workerd: a browser's part of a trace through POST /v1/ingest,
// the Worker's part from an instrumented route that continues the browser's traceparent, both in
// the sharded TraceBuffer, merged, readable through /api/traces, and forwarded to the real MLflow
// server as one trace with both parts nested.
import { env, exports } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import * as mlflow from "../../core/index.js";
import { shardOf } from "../../worker/buffer/shards.js";
import { joinedTrace, readableSpansOf, simpleTrace } from "./traces.js";
import { toOtlpExportRequest } from "../../core/serialize/otlp.js";
import { ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import type { TraceBuffer } from "../../worker/buffer/trace-buffer.js";
import type { StoredTrace, TracePage } from "../../worker/store.js";
import type { SpanData, Trace } from "../../core/model/types.js";

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
      if ((stored?.trace.data.spans.length ?? 0) < 4) await new Promise((r) => setTimeout(r, 20)); // the browser part alone, or nothing yet
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

  const send = (...traces: unknown[]) =>
    exports.default.fetch(`${BASE}/v1/ingest`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-mlflow-edge-key": "pk-test-app", origin: "https://app.example" },
      body: JSON.stringify({ version: 1, traces }),
    });
  /** `n` spans under the Worker part's parent (the browser's span), ids from `first`, `inputs` of `size` characters. */
  const spansOf = (worker: Trace, first: number, n: number, size = 10) => {
    const root = worker.data.spans[0]!;
    return Array.from({ length: n }, (_, i) => {
      const inputs = "x".repeat(size);
      return { ...root, spanId: (first + i).toString(16).padStart(16, "0"), name: "s", inputs, outputs: undefined, events: [], attributes: { "mlflow.spanInputs": inputs } };
    });
  };
  const shardOfTrace = (id: string) => env.TRACE_BUFFER.get(env.TRACE_BUFFER.idFromName(`shard-${shardOf(id, 4)}`));
  const totals = (id: string) =>
    runInDurableObject(shardOfTrace(id), (_: TraceBuffer, state) => ({
      row: state.storage.sql.exec<{ span_count: number; span_bytes: number | null }>("SELECT span_count, span_bytes FROM traces WHERE trace_id = ?", id).one(),
      actual: state.storage.sql.exec<{ n: number; bytes: number }>("SELECT COUNT(*) AS n, SUM(length(CAST(body AS BLOB))) AS bytes FROM spans WHERE trace_id = ?", id).one(),
    }));

  it("the 2000-span limit holds for the trace merged from all its parts: a part that would take it over is refused with 413 naming the limit, nothing stored is lost", async () => {
    const { worker } = joinedTrace();
    const id = worker.info.traceId;
    const part = (first: number, n: number) => ({ info: worker.info, data: { spans: spansOf(worker, first, n) } });
    expect((await send(part(1, 1500))).status).toBe(200);
    const over = await send(part(2001, 600));
    expect(over.status).toBe(413);
    expect(await over.json()).toMatchObject({ path: "traces[0]", error: expect.stringMatching(/^traces\[0\] \(trace tr-[0-9a-f]{32}, merged with the parts already stored\) would hold 2100 spans; a stored trace holds at most 2000 \(TRACE_MAX_SPANS\)$/) });
    let stored = (await (await exports.default.fetch(`${BASE}/api/traces/${id}`)).json()) as StoredTrace;
    expect(stored.trace.data.spans).toHaveLength(1500);
    expect(stored.summary.spanCount).toBe(1500);
    // Up to the limit exactly, then a resend of a stored part (nothing new) still goes in.
    expect((await send(part(2001, 500))).status).toBe(200);
    expect(await (await send(part(1, 1500))).json()).toMatchObject({ duplicates: 1 });
    expect((await send(part(9001, 1))).status).toBe(413);
    stored = (await (await exports.default.fetch(`${BASE}/api/traces/${id}`)).json()) as StoredTrace;
    expect(stored.trace.data.spans).toHaveLength(2000);
    // The row's running totals are what the spans table holds (the put did not need to read it).
    const { row, actual } = await totals(id);
    expect(row).toEqual({ span_count: 2000, span_bytes: actual.bytes });
    expect(actual.n).toBe(2000);
  });

  it("over OTLP (whose senders do not resend a 413), a trace over the limit is left out and the other traces of the request are stored: partialSuccess names it, in JSON and in protobuf", async () => {
    const otlp = (spans: SpanData[], proto = false) =>
      exports.default.fetch(`${BASE}/v1/traces`, {
        method: "POST",
        headers: { "content-type": proto ? "application/x-protobuf" : "application/json", "x-mlflow-edge-key": "pk-test-app", origin: "https://app.example" },
        body: proto ? ProtobufTraceSerializer.serializeRequest(readableSpansOf(spans) as never)!.slice() : JSON.stringify(toOtlpExportRequest(spans)),
      });
    const { worker } = joinedTrace();
    const full = spansOf(worker, 1, 2000);
    for (const part of [full.slice(0, 1000), full.slice(1000)]) expect((await otlp(part)).status).toBe(200);
    for (const proto of [false, true]) {
      const innocent = simpleTrace(`innocent ${proto}`);
      const one = spansOf(worker, proto ? 9001 : 9000, 1);
      const res = await otlp([...innocent.data.spans, ...one], proto);
      expect(res.status).toBe(200);
      const id = worker.info.traceId;
      if (proto) {
        const bytes = new Uint8Array(await res.arrayBuffer());
        const text = new TextDecoder().decode(bytes);
        // partial_success (field 1) { rejected_spans (1): 1, error_message (2) }, after its length (a varint)
        let at = 1;
        while (bytes[at]! & 0x80) at++;
        expect([bytes[0], bytes[at + 1], bytes[at + 2], bytes[at + 3]]).toEqual([0x0a, 0x08, 1, 0x12]);
        expect(text).toContain(`refused 1 of 2 traces; a part (trace ${id}, merged with the parts already stored) would hold 2001 spans`);
      } else {
        expect(await res.json()).toEqual({ partialSuccess: { rejectedSpans: "1", errorMessage: expect.stringContaining(`(trace ${id}, merged with the parts already stored) would hold 2001 spans`) } });
      }
      const stored = (await (await exports.default.fetch(`${BASE}/api/traces/${innocent.info.traceId}`)).json()) as StoredTrace;
      expect(stored.trace.data.spans).toHaveLength(innocent.data.spans.length);
    }
    // Only the trace over the limit in the request: the 413 as before.
    expect((await otlp(spansOf(worker, 9100, 1))).status).toBe(413);
  });

  it("so does the 4 MiB of span JSON: five parts of 800 KB go in, a sixth is refused with 413; a row from before the running total is summed once", async () => {
    const { worker } = joinedTrace();
    const id = worker.info.traceId;
    // Two spans whose inputs (kept twice, as inputs and as the mlflow.spanInputs attribute) are 200,000 characters.
    const part = (k: number) => ({ info: worker.info, data: { spans: spansOf(worker, 100 * k + 1, 2, 200_000) } });
    for (let k = 0; k < 5; k++) expect((await send(part(k))).status).toBe(200);
    const { row, actual } = await totals(id);
    expect(row.span_bytes).toBe(actual.bytes);
    expect(actual.bytes).toBeGreaterThan(4_000_000);
    // A shard written before span_bytes existed: the total is summed from the spans, then kept.
    await runInDurableObject(shardOfTrace(id), (_: TraceBuffer, state) => {
      state.storage.sql.exec("UPDATE traces SET span_bytes = NULL WHERE trace_id = ?", id);
    });
    const over = await send(part(5));
    expect(over.status).toBe(413);
    expect(await over.json()).toMatchObject({ path: "traces[0]", error: expect.stringMatching(/would hold \d+ bytes of span JSON; a stored trace holds at most 4194304 \(TRACE_MAX_BYTES\)$/) });
    const stored = (await (await exports.default.fetch(`${BASE}/api/traces/${id}`)).json()) as StoredTrace;
    expect(stored.trace.data.spans).toHaveLength(10);
    // A span sent again smaller (it ended later) still replaces its stored copy: the total shrinks.
    const smaller = { ...spansOf(worker, 1, 1, 10)[0]!, endTime: worker.data.spans[0]!.endTime! + 1 };
    expect((await send({ info: worker.info, data: { spans: [smaller] } })).status).toBe(200);
    const after = await totals(id);
    expect(after.row).toEqual({ span_count: 10, span_bytes: after.actual.bytes });
    expect(after.actual.bytes).toBeLessThan(actual.bytes);
  });
});
