// Shared by the TraceBuffer tests: drive a shard's alarm without waiting for real time, read its
// rows, steer the fault proxy, and read a trace back from the real MLflow server.
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import type { TraceBuffer } from "../../worker/buffer/trace-buffer.js";
import type { TraceStore } from "../../worker/store.js";

export const proxy = env.MLFLOW_TRACKING_URI;
type Stub = DurableObjectStub<TraceBuffer>;

// RPC calls typed as the plain interface (the generated stub types are too deep for the Json type).
export const api = (stub: DurableObjectStub) => stub as unknown as TraceStore & Pick<TraceBuffer, "stats">;

export async function fault(match: string, status: number, count: number, headers: Record<string, string> = {}, body?: string): Promise<void> {
  await fetch(`${proxy}/__proxy/faults`, { method: "POST", body: JSON.stringify({ match, status, count, headers, body }) });
}
export const resetProxy = () => fetch(`${proxy}/__proxy/reset`, { method: "POST" });

export const sql = <T>(stub: Stub, query: string, ...params: (string | number | null)[]) =>
  runInDurableObject(stub, (_: TraceBuffer, state) => state.storage.sql.exec(query, ...params).toArray() as T[]);

/** Runs the alarm now with every pending trace due (tests never wait for real time). */
export async function forwardNow(stub: Stub): Promise<boolean> {
  await sql(stub, "UPDATE traces SET next_attempt_at = 0 WHERE next_attempt_at IS NOT NULL");
  return runDurableObjectAlarm(stub);
}

export type Row = Record<string, string | number | null>;
export const row = async (stub: Stub, id: string) => (await sql<Row>(stub, "SELECT * FROM traces WHERE trace_id = ?", id))[0];

export interface MlflowTrace {
  info: { request_time: string; execution_duration?: string; state: string; request_preview?: string; response_preview?: string; tags: Record<string, string>; trace_metadata: Record<string, string> };
  /** [span name, parent span name | null], sorted by name. */
  tree: [string, string | null][];
}

/** The trace as the real MLflow stores it (GET /api/3.0/mlflow/traces/get), or undefined. */
export async function fromMlflow(traceId: string): Promise<MlflowTrace | undefined> {
  const res = await fetch(`${proxy}/api/3.0/mlflow/traces/get?trace_id=${traceId}`);
  if (res.status === 404) return undefined;
  if (res.status !== 200) throw new Error(`MLflow traces/get ${res.status}: ${await res.text()}`);
  const body = (await res.json()) as { trace: { trace_info: MlflowTrace["info"]; spans: { span_id: string; parent_span_id?: string; name: string }[] } };
  const names = new Map(body.trace.spans.map((s) => [s.span_id, s.name]));
  const tree = body.trace.spans
    .map((s): [string, string | null] => [s.name, s.parent_span_id ? (names.get(s.parent_span_id) ?? "<remote>") : null])
    .sort((a, b) => (a[0] < b[0] ? -1 : 1));
  return { info: body.trace.trace_info, tree };
}
