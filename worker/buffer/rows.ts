import type { SpanData, TraceInfo } from "../../core/model/types.js";
import type { ForwardingState, TraceSummary } from "../store.js";
import type { TraceRow } from "./schema.js";

// Reading stored rows back. The collector validates what it stores, but storage outlives code:
// a row written by an older version, or damaged by hand, must not take the Traces view or the
// forwarding alarm down with it. Every reader here degrades to what the row's columns still say.

const FORWARDING: readonly string[] = ["buffered", "forwarded", "dead-lettered", "not-configured"] satisfies ForwardingState[];
const STATES: readonly string[] = ["OK", "ERROR", "IN_PROGRESS", "STATE_UNSPECIFIED"];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function parse(text: unknown): unknown {
  if (typeof text !== "string") return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Only the string values of a JSON object (tags and metadata are string maps in MLflow). */
export function stringMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isObject(value)) return out;
  for (const [k, v] of Object.entries(value)) if (typeof v === "string") out[k] = v;
  return out;
}

/** A span row's body, or undefined when it is not a span this code can send or show. */
export function readSpan(body: unknown): SpanData | undefined {
  const span = parse(body);
  if (!isObject(span)) return undefined;
  if (typeof span.spanId !== "string" || typeof span.name !== "string" || typeof span.startTime !== "number") return undefined;
  if (!(span.parentId === null || typeof span.parentId === "string")) return undefined;
  if (!(span.endTime === null || typeof span.endTime === "number")) return undefined;
  if (!isObject(span.status) || !isObject(span.attributes) || !Array.isArray(span.events)) return undefined;
  return span as unknown as SpanData;
}

/** The stored TraceInfo, rebuilt from the row's columns when the JSON is unreadable. */
export function readInfo(row: TraceRow): TraceInfo {
  const info = parse(row.info);
  if (isObject(info) && typeof info.traceId === "string" && typeof info.requestTime === "number" && isObject(info.tags) && isObject(info.traceMetadata)) {
    return { ...(info as unknown as TraceInfo), tags: stringMap(info.tags), traceMetadata: stringMap(info.traceMetadata) };
  }
  const rebuilt: TraceInfo = {
    traceId: String(row.trace_id),
    traceLocation: { type: "MLFLOW_EXPERIMENT" },
    requestTime: Number(row.request_time) || 0,
    state: (STATES.includes(row.state) ? row.state : "STATE_UNSPECIFIED") as TraceInfo["state"],
    traceMetadata: {},
    tags: stringMap(parse(row.tags)),
  };
  if (typeof row.duration === "number") rebuilt.executionDuration = row.duration;
  if (typeof row.request_preview === "string") rebuilt.requestPreview = row.request_preview;
  if (typeof row.response_preview === "string") rebuilt.responsePreview = row.response_preview;
  return rebuilt;
}

const numOr = (v: unknown, fallback: number): number => (typeof v === "number" && Number.isFinite(v) ? v : fallback);
const strOrNull = (v: unknown): string | null => (typeof v === "string" ? v : null);

export function toSummary(row: TraceRow): TraceSummary {
  return {
    traceId: String(row.trace_id),
    name: strOrNull(row.name),
    state: (STATES.includes(row.state) ? row.state : "STATE_UNSPECIFIED") as TraceSummary["state"],
    requestPreview: strOrNull(row.request_preview),
    responsePreview: strOrNull(row.response_preview),
    requestTime: numOr(row.request_time, 0),
    executionDuration: typeof row.duration === "number" ? row.duration : null,
    spanCount: numOr(row.span_count, 0),
    tags: stringMap(parse(row.tags)),
    // An unknown state is shown as buffered: the alarm still owns the row.
    forwarding: (FORWARDING.includes(row.forwarding) ? row.forwarding : "buffered") as ForwardingState,
    attempts: numOr(row.attempts, 0),
    lastError: strOrNull(row.last_error),
    receivedAt: numOr(row.received_at, 0),
    updatedAt: numOr(row.updated_at, 0),
  };
}
