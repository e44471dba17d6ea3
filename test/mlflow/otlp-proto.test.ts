// OTLP protobuf as MLflow's own Python SDK encodes it: the programs of python_programs.py run
// against the real server, each trace is read back and encoded into an ExportTraceServiceRequest
// exactly as MLflow's RestStore.log_spans does (otlp_proto_requests.py), and the collector's
// `POST /v1/traces` must take it with `content-type: application/x-protobuf` and store every span
// as MLflow has it: ids, names, times, status, span type, inputs, outputs, attributes, events.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, inject, it } from "vitest";
import type { Json, SpanData, Trace } from "../../core/model/types.js";
import { createCollector } from "../../worker/collector/app.js";
import { MemoryStore } from "../worker/memory-store.js";
import { mlflowUri, newExperiment } from "./readback.js";

interface PySpan {
  trace_id: string;
  span_id: string;
  parent_span_id: string | null;
  name: string;
  start_time_unix_nano: number | string;
  end_time_unix_nano: number | string | null;
  status: { code: string; message: string };
  attributes: Record<string, string>;
  events: { name: string; time_unix_nano: number | string; attributes?: Record<string, unknown> }[];
}
type Encoded = Record<string, { request: string; spans: PySpan[] }>;

const script = fileURLToPath(new URL("./otlp_proto_requests.py", import.meta.url));
let encoded: Encoded;

beforeAll(async () => {
  const experimentId = await newExperiment("otlp-proto");
  encoded = await new Promise<Encoded>((resolve, reject) => {
    execFile(
      inject("mlflowPython"),
      [script, mlflowUri(), experimentId],
      { maxBuffer: 64 * 1024 * 1024, env: { ...process.env, MLFLOW_DISABLE_TELEMETRY: "true", DO_NOT_TRACK: "true" } },
      (error, stdout, stderr) => (error ? reject(new Error(`otlp_proto_requests.py failed: ${error.message}\n${stderr}`)) : resolve(JSON.parse(stdout) as Encoded)),
    );
  });
}, 300_000);

const SECRET = "proto-secret-0001";
const hex = (b64: string) => Buffer.from(b64, "base64").toString("hex");
// MLflow's span dict keeps times as integer nanoseconds; JSON.parse may have rounded them by < 1 µs.
const ms = (ns: number | string) => Number(BigInt(Math.round(Number(ns) / 1000))) / 1000;

async function post(body: Uint8Array<ArrayBuffer>): Promise<{ status: number; type: string | null; body: Uint8Array; store: MemoryStore }> {
  const store = new MemoryStore();
  const app = createCollector({ store, secret: SECRET });
  const res = await app.request("https://collector.example/v1/traces", {
    method: "POST",
    body,
    headers: { "content-type": "application/x-protobuf", authorization: `Bearer ${SECRET}` },
  });
  return { status: res.status, type: res.headers.get("content-type"), body: new Uint8Array(await res.arrayBuffer()), store };
}

/** What a Python span records, read as MLflow reads its span dict (attribute values are JSON text). */
function expected(span: PySpan) {
  const attributes = Object.fromEntries(Object.entries(span.attributes).map(([k, v]) => [k, JSON.parse(v) as Json]));
  return {
    spanId: hex(span.span_id),
    parentId: span.parent_span_id ? hex(span.parent_span_id) : null,
    name: span.name,
    status: span.status.code, // STATUS_CODE_OK…, as core names them too
    description: span.status.message,
    spanType: attributes["mlflow.spanType"] ?? "UNKNOWN",
    inputs: attributes["mlflow.spanInputs"],
    outputs: attributes["mlflow.spanOutputs"],
    attributes,
    events: span.events.map((e) => ({ name: e.name, attributes: e.attributes ?? {} })),
  };
}

function actual(span: SpanData) {
  return {
    spanId: span.spanId,
    parentId: span.parentId,
    name: span.name,
    status: span.status.statusCode,
    description: span.status.description,
    spanType: span.spanType,
    inputs: span.inputs,
    outputs: span.outputs,
    attributes: span.attributes,
    events: span.events.map((e) => ({ name: e.name, attributes: e.attributes })),
  };
}

describe("POST /v1/traces with MLflow's own protobuf encoding", () => {
  it("covers every program", () => {
    expect(Object.keys(encoded).length).toBeGreaterThanOrEqual(15);
  });

  it("stores each program's spans as MLflow has them", async () => {
    for (const [program, { request, spans }] of Object.entries(encoded)) {
      if (spans.some((s) => s.name.length > 1000)) continue; // long_values: refused (next test)
      const { status, type, body, store } = await post(Uint8Array.from(Buffer.from(request, "base64")));
      expect.soft(status, program).toBe(200);
      expect.soft(type, program).toBe("application/x-protobuf");
      expect.soft(body.length, program).toBe(0); // an empty ExportTraceServiceResponse
      const traces = [...store.traces.values()] as Trace[];
      expect(traces.map((t) => t.info.traceId), program).toEqual([`tr-${hex(spans[0]!.trace_id)}`]);
      const stored = traces[0]!.data.spans;
      const bySpanId = new Map(stored.map((s) => [s.spanId, s]));
      expect(stored.length, program).toBe(spans.length);
      for (const py of spans) {
        const want = expected(py);
        const got = bySpanId.get(want.spanId);
        expect(got, `${program}: span ${py.name}`).toBeDefined();
        expect(actual(got!), `${program}: span ${py.name}`).toEqual(want);
        expect(got!.startTime, program).toBeCloseTo(ms(py.start_time_unix_nano), 2);
        if (py.end_time_unix_nano) expect(got!.endTime!, program).toBeCloseTo(ms(py.end_time_unix_nano), 2);
      }
    }
  });
});

/** google.rpc.Status { code = 1; message = 2 } as OTLP/HTTP protobuf senders read a refusal. */
function readStatus(bytes: Uint8Array): { code: number; message: string } {
  const out = { code: 0, message: "" };
  for (let i = 0; i < bytes.length; ) {
    const key = bytes[i++]!;
    let n = 0;
    for (let shift = 0; ; shift += 7) {
      const b = bytes[i++]!;
      n |= (b & 0x7f) << shift;
      if (b < 0x80) break;
    }
    if (key === 0x08) out.code = n;
    else if (key === 0x12) (out.message = Buffer.from(bytes.subarray(i, i + n)).toString("utf8")), (i += n);
    else throw new Error(`unexpected field key ${key}`);
  }
  return out;
}

describe("a refusal to a protobuf sender", () => {
  it("is a protobuf google.rpc.Status naming the field, and stores nothing (a span name longer than the collector takes)", async () => {
    const { request } = encoded.long_values!;
    const { status, type, body, store } = await post(Uint8Array.from(Buffer.from(request, "base64")));
    expect(status).toBe(400);
    expect(type).toBe("application/x-protobuf");
    const decoded = readStatus(body);
    expect(decoded.code).toBe(3); // INVALID_ARGUMENT
    expect(decoded.message).toMatch(/resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.name .*1000/);
    expect(store.traces.size).toBe(0);
  });
});
