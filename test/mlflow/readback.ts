// Reading traces back from the real MLflow server through its own REST API and through the MLflow
// Python client, all normalized to one shape so tests compare them field by field.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { inject } from "vitest";
import { msToNs } from "../../core/model/clock.js";
import type { Json, Trace } from "../../core/index.js";

export const mlflowUri = (): string => inject("mlflowUri");

export interface NormalSpan {
  name: string;
  parent: string | null;
  span_type: string;
  inputs: Json;
  outputs: Json;
  /** User attributes (keys outside `mlflow.*`). */
  attributes: Record<string, Json>;
  /** The reserved `mlflow.*` keys present. */
  reserved: string[];
  status: string;
  status_message: string;
  events: { name: string; attributes: Record<string, Json> }[];
  start_ns: string;
  end_ns: string;
}

export interface NormalTrace {
  info: {
    trace_id: string;
    state: string;
    request_preview: string | null;
    response_preview: string | null;
    request_time: number;
    execution_duration: number | null;
    tags: Record<string, string>;
    metadata: Record<string, string>;
    client_request_id: string | null;
  };
  spans: NormalSpan[];
}

/** JSON.parse that keeps `*_unix_nano` integers exact (they exceed 2^53) as decimal strings. */
export function parseNanoJson(text: string): unknown {
  return JSON.parse(text.replace(/("[a-z_]*unix_nano"\s*:\s*)(-?\d+)/gi, '$1"$2"'));
}

async function get(path: string): Promise<{ status: number; text: string }> {
  const res = await fetch(mlflowUri() + path);
  return { status: res.status, text: await res.text() };
}

export async function getJson(path: string): Promise<unknown> {
  const { status, text } = await get(path);
  if (status !== 200) throw new Error(`GET ${path} → ${status}: ${text.slice(0, 500)}`);
  return parseNanoJson(text);
}

export async function postJson(path: string, body: unknown): Promise<unknown> {
  const res = await fetch(mlflowUri() + path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`POST ${path} → ${res.status}: ${text.slice(0, 500)}`);
  return JSON.parse(text) as unknown;
}

let counter = 0;
/** A fresh experiment per test file/test, so searches and counts see only that test's traces. */
export async function newExperiment(prefix: string): Promise<string> {
  const name = `${prefix}-${Date.now()}-${process.pid}-${++counter}`;
  const body = (await postJson("/api/2.0/mlflow/experiments/create", { name })) as { experiment_id: string };
  return body.experiment_id;
}

type AnyValue = Record<string, unknown>;
/** Proto-JSON AnyValue (snake_case, as `traces/get` answers) → plain value. */
export function decodeAnyValue(v: AnyValue | undefined): Json {
  if (!v || Object.keys(v).length === 0) return null;
  if ("string_value" in v) return v.string_value as string;
  if ("bool_value" in v) return v.bool_value as boolean;
  if ("int_value" in v) return Number(v.int_value);
  if ("double_value" in v) return Number(v.double_value);
  if ("array_value" in v) return (((v.array_value as { values?: AnyValue[] }).values) ?? []).map(decodeAnyValue);
  if ("kvlist_value" in v) {
    const out: Record<string, Json> = {};
    for (const kv of ((v.kvlist_value as { values?: { key: string; value: AnyValue }[] }).values) ?? []) out[kv.key] = decodeAnyValue(kv.value);
    return out;
  }
  throw new Error(`unknown AnyValue ${JSON.stringify(v)}`);
}

const STATUS: Record<string, string> = { STATUS_CODE_OK: "OK", STATUS_CODE_ERROR: "ERROR", STATUS_CODE_UNSET: "UNSET" };

function sortSpans(spans: NormalSpan[]): NormalSpan[] {
  return spans.sort((a, b) => (BigInt(a.start_ns) < BigInt(b.start_ns) ? -1 : BigInt(a.start_ns) > BigInt(b.start_ns) ? 1 : a.name < b.name ? -1 : 1));
}

function spanFromAttrs(
  base: { name: string; parent: string | null; status: string; status_message: string; start_ns: string; end_ns: string },
  attrs: Record<string, Json>,
  events: NormalSpan["events"],
): NormalSpan {
  const user: Record<string, Json> = {};
  for (const [k, v] of Object.entries(attrs)) if (!k.startsWith("mlflow.")) user[k] = v;
  return {
    ...base,
    span_type: attrs["mlflow.spanType"] as string,
    // Absent and null read back alike in MLflow's Python client (span.inputs is None for both).
    inputs: attrs["mlflow.spanInputs"] ?? null,
    outputs: attrs["mlflow.spanOutputs"] ?? null,
    attributes: user,
    reserved: Object.keys(attrs).filter((k) => k.startsWith("mlflow.")).sort(),
    events,
  };
}

function infoFromRest(info: Record<string, unknown>): NormalTrace["info"] {
  const duration = info.execution_duration as string | undefined;
  return {
    trace_id: info.trace_id as string,
    state: info.state as string,
    request_preview: (info.request_preview as string | undefined) ?? null,
    response_preview: (info.response_preview as string | undefined) ?? null,
    request_time: Date.parse(info.request_time as string),
    execution_duration: duration === undefined ? null : Math.round(Number(duration.replace(/s$/, "")) * 1000),
    tags: (info.tags as Record<string, string>) ?? {},
    metadata: (info.trace_metadata as Record<string, string>) ?? {},
    client_request_id: (info.client_request_id as string | undefined) ?? null,
  };
}

/** `GET /api/3.0/mlflow/traces/get`: trace info and OTLP-typed spans from the server's database. */
export async function readViaRest(traceId: string): Promise<NormalTrace> {
  const body = (await getJson(`/api/3.0/mlflow/traces/get?trace_id=${encodeURIComponent(traceId)}`)) as {
    trace: { trace_info: Record<string, unknown>; spans: Record<string, unknown>[] };
  };
  const spans = body.trace.spans;
  const names = new Map(spans.map((s) => [s.span_id as string, s.name as string]));
  const normal = spans.map((s) => {
    const attrs: Record<string, Json> = {};
    for (const kv of (s.attributes as { key: string; value: AnyValue }[]) ?? []) attrs[kv.key] = decodeAnyValue(kv.value);
    const events = ((s.events as Record<string, unknown>[]) ?? []).map((e) => {
      const a: Record<string, Json> = {};
      for (const kv of (e.attributes as { key: string; value: AnyValue }[]) ?? []) a[kv.key] = decodeAnyValue(kv.value);
      return { name: e.name as string, attributes: a };
    });
    const status = (s.status as { code?: string; message?: string }) ?? {};
    return spanFromAttrs(
      {
        name: s.name as string,
        parent: s.parent_span_id ? (names.get(s.parent_span_id as string) ?? "<missing>") : null,
        status: STATUS[status.code ?? "STATUS_CODE_UNSET"] ?? "?",
        status_message: status.message ?? "",
        start_ns: String(s.start_time_unix_nano),
        end_ns: String(s.end_time_unix_nano),
      },
      attrs,
      events,
    );
  });
  return { info: infoFromRest(body.trace.trace_info), spans: sortSpans(normal) };
}

/** `GET /ajax-api/2.0/mlflow/get-trace-artifact` (what MLflow's UI reads): MLflow's span JSON. */
/**
 * A trace as MLflow's UI reads it: the info (GetTraceInfoV3) and the spans from the tracking store,
 * or from traces.json when the spans went to the artifact store (`traces/get` cannot serve those).
 */
export async function readViaUi(traceId: string): Promise<NormalTrace> {
  const body = (await getJson(`/api/3.0/mlflow/traces/${encodeURIComponent(traceId)}`)) as { trace: { trace_info: Record<string, unknown> } };
  const info = infoFromRest(body.trace.trace_info);
  if (info.tags["mlflow.trace.spansLocation"] === "TRACKING_STORE") return readViaRest(traceId);
  return { info, spans: await readViaArtifact(traceId) };
}

export async function readViaArtifact(traceId: string): Promise<NormalSpan[]> {
  const body = (await getJson(`/ajax-api/2.0/mlflow/get-trace-artifact?request_id=${encodeURIComponent(traceId)}`)) as {
    spans: Record<string, unknown>[];
  };
  const names = new Map(body.spans.map((s) => [s.span_id as string, s.name as string]));
  const normal = body.spans.map((s) => {
    const attrs: Record<string, Json> = {};
    for (const [k, v] of Object.entries(s.attributes as Record<string, string>)) attrs[k] = JSON.parse(v) as Json;
    const status = s.status as { code: string; message: string };
    return spanFromAttrs(
      {
        name: s.name as string,
        parent: s.parent_span_id ? (names.get(s.parent_span_id as string) ?? "<missing>") : null,
        status: STATUS[status.code] ?? "?",
        status_message: status.message ?? "",
        start_ns: String(s.start_time_unix_nano),
        end_ns: String(s.end_time_unix_nano),
      },
      attrs,
      ((s.events as { name: string; attributes: Record<string, Json> }[]) ?? []).map((e) => ({ name: e.name, attributes: e.attributes ?? {} })),
    );
  });
  return sortSpans(normal);
}

/** The trace as we sent it, in the same shape (what the server should give back). */
export function normalizeLocal(trace: Trace): NormalSpan[] {
  const names = new Map(trace.data.spans.map((s) => [s.spanId, s.name]));
  return sortSpans(
    trace.data.spans.map((s) =>
      spanFromAttrs(
        {
          name: s.name,
          parent: s.parentId === null ? null : (names.get(s.parentId) ?? "<missing>"),
          status: STATUS[s.status.statusCode] ?? "?",
          status_message: s.status.description,
          start_ns: msToNs(s.startTime).toString(),
          end_ns: msToNs(s.endTime ?? s.startTime).toString(),
        },
        // What MLflow stores on top of ours: the log level Python stamps on every span.
        { ...s.attributes, "mlflow.spanLogLevel": 0 },
        s.events.map((e) => ({ name: e.name, attributes: e.attributes as Record<string, Json> })),
      ),
    ),
  );
}

const python = (): string => inject("mlflowPython");
const script = fileURLToPath(new URL("./read_traces.py", import.meta.url));

export interface PythonReadback {
  traces: Record<string, NormalTrace>;
  searches: string[][];
}

/** Reads traces (and runs searches) with MLflow's Python client: one process for many traces. */
export function readViaPython(traceIds: string[], searches: { experiment_id: string; filter: string }[] = []): Promise<PythonReadback> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      python(),
      [script, mlflowUri()],
      { maxBuffer: 64 << 20, env: { ...process.env, MLFLOW_DISABLE_TELEMETRY: "true", DO_NOT_TRACK: "true" } },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`read_traces.py failed: ${error.message}\n${stderr}`));
        else resolve(JSON.parse(stdout) as PythonReadback);
      },
    );
    child.stdin!.end(JSON.stringify({ trace_ids: traceIds, searches }));
  });
}

/** `search_traces` over REST (SearchTracesV3): the trace ids matching `filter`. */
export async function searchViaRest(experimentId: string, filter: string): Promise<string[]> {
  const body = (await postJson("/api/3.0/mlflow/traces/search", {
    locations: [{ type: "MLFLOW_EXPERIMENT", mlflow_experiment: { experiment_id: experimentId } }],
    filter,
    max_results: 100,
  })) as { traces?: { trace_id: string }[] };
  return (body.traces ?? []).map((t) => t.trace_id).sort();
}
