import { META_INPUTS, META_OUTPUTS, META_SIZE_BYTES, META_SIZE_STATS, type TraceState } from "../model/constants.js";
import type { Json, SpanData, TraceInfo } from "../model/types.js";
import { spanToMlflowJson } from "./mlflow-json.js";
import { truncatePreview } from "./preview.js";
import { pyJsonDumps, pyPrefix, wellFormed } from "./py-json.js";
import { setKey } from "./safe-json.js";

// TraceInfo V3 as the StartTraceV3 request carries it (proto JSON, snake_case), with the size
// statistics MLflow's Python SDK adds just before export (tracing/utils::add_size_stats_to_trace_metadata).
// `num_spans` matters: with it set, the server's `get_trace` waits until that many spans are stored.

export interface TraceInfoV3Json {
  trace_id: string;
  client_request_id?: string;
  trace_location: { type: "MLFLOW_EXPERIMENT"; mlflow_experiment: { experiment_id: string } };
  request_preview?: string;
  response_preview?: string;
  /** RFC 3339, millisecond precision. */
  request_time: string;
  /** Protobuf Duration JSON, e.g. `"1.500s"`. */
  execution_duration?: string;
  state: TraceState;
  trace_metadata: Record<string, string>;
  tags: Record<string, string>;
}

export interface SizeStats {
  total_size_bytes: number;
  num_spans: number;
  max: number;
  p25: number;
  p50: number;
  p75: number;
}

/** Integer milliseconds → protobuf Duration JSON (`1500` → `"1.500s"`). */
export function durationJson(ms: number): string {
  const whole = Math.max(0, Math.round(ms));
  return `${Math.floor(whole / 1000)}.${String(whole % 1000).padStart(3, "0")}s`;
}

/** Epoch milliseconds → protobuf Timestamp JSON. */
export const timestampJson = (ms: number): string => new Date(Math.floor(ms)).toISOString();

/**
 * Bytes of the text Python's `json.dumps` would write for the same value: it escapes every
 * non-ASCII UTF-16 unit as `\uXXXX` (ensure_ascii defaults to true there), 6 bytes each.
 */
export function pythonAsciiJsonBytes(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) n += text.charCodeAt(i) < 0x80 ? 1 : 6;
  return n;
}

/** Python's `_calculate_percentile`: linear interpolation between the nearest ranks. */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const index = p * (sorted.length - 1);
  const lower = Math.floor(index);
  if (lower + 1 >= sorted.length) return sorted[sorted.length - 1] as number;
  const weight = index - lower;
  return (sorted[lower] as number) * (1 - weight) + (sorted[lower + 1] as number) * weight;
}

/** The StartTraceV3 TraceInfo for a finished trace, sent to `experimentId`, without size stats. */
export function toTraceInfoV3(info: TraceInfo, experimentId: string): TraceInfoV3Json {
  const out: TraceInfoV3Json = {
    trace_id: info.traceId,
    trace_location: { type: "MLFLOW_EXPERIMENT", mlflow_experiment: { experiment_id: experimentId } },
    request_time: timestampJson(info.requestTime),
    state: info.state,
    // Python always writes both, "" when the root has no inputs/outputs (base_mlflow._truncate_metadata).
    trace_metadata: { [META_INPUTS]: "", [META_OUTPUTS]: "", ...info.traceMetadata },
    tags: { ...info.tags },
  };
  if (info.clientRequestId !== undefined) out.client_request_id = info.clientRequestId;
  // Python leaves an empty preview out, and the server then stores none (null), not "".
  if (info.requestPreview) out.request_preview = info.requestPreview;
  if (info.responsePreview) out.response_preview = info.responsePreview;
  if (info.executionDuration !== undefined) out.execution_duration = durationJson(info.executionDuration);
  return out;
}

/**
 * `mlflow.trace.sizeStats` as Python computes it: each span's JSON size, plus the trace info
 * with no spans, plus the ", " separators between spans. Python measures its own JSON of the
 * info (`execution_duration_ms` instead of the Duration string), so the total may differ by a few
 * bytes; `num_spans` and the per-span sizes are exact for ASCII data.
 */
export function computeSizeStats(info: TraceInfoV3Json, spans: readonly SpanData[]): SizeStats {
  const spanSizes = spans.map((s) => pythonAsciiJsonBytes(spanToMlflowJson(s)));
  const infoJson = pyJsonDumps(info as unknown as Json);
  const metadataSize = pythonAsciiJsonBytes(`{"info": ${infoJson}, "data": {"spans": []}}`);
  const total = spanSizes.reduce((a, b) => a + b, 0) + metadataSize + Math.max(0, spanSizes.length - 1) * 2;
  const sorted = [...spanSizes].sort((a, b) => a - b);
  return {
    total_size_bytes: total,
    num_spans: spanSizes.length,
    max: sorted.length ? (sorted[sorted.length - 1] as number) : 0,
    p25: Math.trunc(percentile(sorted, 0.25)),
    p50: Math.trunc(percentile(sorted, 0.5)),
    p75: Math.trunc(percentile(sorted, 0.75)),
  };
}

// What Python's TraceInfo.to_proto cuts every StartTraceV3 request to (tracing/constant.py). The
// server refuses longer session ids (metadata `mlflow.trace.session`) and trace names outright.
const METADATA_MAX_CHARS = 250;
const TAG_KEY_MAX_CHARS = 250;
const TAG_VALUE_MAX_CHARS = 4096;

function cut(map: Record<string, string>, keyMax: number, valueMax: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(map)) setKey(out, wellFormed(pyPrefix(k, keyMax)), pyPrefix(v, valueMax));
  return out;
}

/**
 * The TraceInfo to send: `toTraceInfoV3` plus `mlflow.trace.sizeStats` and `mlflow.trace.sizeBytes`
 * (measured before the cut, as Python measures), with keys and values cut as Python cuts them.
 */
export function toStartTraceInfo(info: TraceInfo, experimentId: string, spans: readonly SpanData[]): TraceInfoV3Json {
  const out = toTraceInfoV3(info, experimentId);
  const stats = computeSizeStats(out, spans);
  out.trace_metadata[META_SIZE_STATS] = pyJsonDumps(stats as unknown as Json);
  out.trace_metadata[META_SIZE_BYTES] = String(stats.total_size_bytes);
  out.trace_metadata = cut(out.trace_metadata, METADATA_MAX_CHARS, METADATA_MAX_CHARS);
  out.tags = cut(out.tags, TAG_KEY_MAX_CHARS, TAG_VALUE_MAX_CHARS);
  // Ours are cut already; another client's may not be, and MLflow's column holds 1000 (on
  // PostgreSQL or MySQL a longer one fails the request, which would be retried for ever).
  if (out.request_preview) out.request_preview = truncatePreview(out.request_preview);
  if (out.response_preview) out.response_preview = truncatePreview(out.response_preview);
  return out;
}

/** What we need from the server's StartTraceV3 answer, checked: hostile input gives `undefined`. */
export interface ReturnedTraceInfo {
  traceId: string;
  tags: Record<string, string>;
  metadata: Record<string, string>;
}

/** A plain JSON object (not null, not an array). */
export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Only the string values of a JSON object (tags and metadata are string maps in MLflow). */
export function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isRecord(v)) return out;
  for (const key of Object.keys(v)) if (typeof v[key] === "string") setKey(out, key, v[key] as string);
  return out;
}

/** Reads `{"trace": {"trace_info": {...}}}`; `undefined` if the answer does not have that shape. */
export function parseStartTraceResponse(body: unknown): ReturnedTraceInfo | undefined {
  if (!isRecord(body) || !isRecord(body.trace) || !isRecord(body.trace.trace_info)) return undefined;
  const info = body.trace.trace_info;
  if (typeof info.trace_id !== "string") return undefined;
  return { traceId: info.trace_id, tags: stringMap(info.tags), metadata: stringMap(info.trace_metadata) };
}
