import { msToNs } from "../model/clock.js";
import { toOtelTraceId } from "../model/ids.js";
import type { Json, SpanData } from "../model/types.js";
import { pyJsonDumps } from "./py-json.js";
import { setKey } from "./safe-json.js";

// MLflow's own span JSON (Python `Span.to_dict`, the `traces.json` artifact and what
// `get-trace-artifact` returns): base64 ids, integer nanoseconds (beyond 2^53, so written as text
// from bigints, never through a JS number) and every attribute value JSON-encoded with Python's
// separators. Also the attribute set MLflow 3.18's Python SDK puts on every span.

/** `mlflow.spanLogLevel` (MLflow 3.18+): Python stamps it on every span when the span ends. */
export const SPAN_LOG_LEVEL_KEY = "mlflow.spanLogLevel";
const LOG_LEVEL = { DEBUG: 10, INFO: 20, ERROR: 40 } as const;
// mlflow/tracing/utils/default_log_level.py: the user-visible operations default to INFO.
const INFO_SPAN_TYPES = new Set(["LLM", "CHAT_MODEL", "TOOL", "RETRIEVER", "AGENT", "EMBEDDING"]);

/** Lowercase hex (even length) → standard base64, as MLflow writes ids in span JSON. */
export function hexToBase64(hex: string): string {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new TypeError(`not a hex id: ${JSON.stringify(hex)}`);
  let binary = "";
  for (let i = 0; i < hex.length; i += 2) binary += String.fromCharCode(parseInt(hex.slice(i, i + 2), 16));
  return btoa(binary);
}

/** Standard base64 → lowercase hex (for reading MLflow's span JSON back). */
export function base64ToHex(b64: string): string {
  const binary = atob(b64);
  let hex = "";
  for (let i = 0; i < binary.length; i++) hex += binary.charCodeAt(i).toString(16).padStart(2, "0");
  return hex;
}

/**
 * The attributes MLflow's Python SDK holds for this span, as parsed values: ours (reserved keys
 * included) plus `mlflow.spanLogLevel` when the user did not set one (ERROR if an exception was
 * recorded, INFO for model/tool/retriever/agent/embedding spans, DEBUG otherwise).
 */
export function wireAttributes(span: SpanData): Record<string, Json> {
  const attrs: Record<string, Json> = { ...span.attributes };
  if (attrs[SPAN_LOG_LEVEL_KEY] === undefined) {
    attrs[SPAN_LOG_LEVEL_KEY] = span.events.some((e) => e.name === "exception")
      ? LOG_LEVEL.ERROR
      : INFO_SPAN_TYPES.has(span.spanType)
        ? LOG_LEVEL.INFO
        : LOG_LEVEL.DEBUG;
  }
  return attrs;
}

/** Span end time to send: an unfinished span (exported at the open-span timeout) gets its start. */
export const wireEndTime = (span: SpanData): number => span.endTime ?? span.startTime;

/** One span as MLflow's span JSON text (Python `json.dumps(span.to_dict())` with ensure_ascii=False). */
export function spanToMlflowJson(span: SpanData): string {
  const attrs = wireAttributes(span);
  const encoded: Record<string, Json> = {};
  for (const key of Object.keys(attrs)) setKey(encoded, key, pyJsonDumps(attrs[key] as Json));
  const events = span.events.map(
    (e) => `{"name": ${JSON.stringify(e.name)}, "time_unix_nano": ${msToNs(e.timestamp)}, "attributes": ${pyJsonDumps(e.attributes as Json)}}`,
  );
  return (
    `{"trace_id": ${JSON.stringify(hexToBase64(toOtelTraceId(span.traceId)))}, ` +
    `"span_id": ${JSON.stringify(hexToBase64(span.spanId))}, ` +
    `"parent_span_id": ${span.parentId === null ? "null" : JSON.stringify(hexToBase64(span.parentId))}, ` +
    `"name": ${JSON.stringify(span.name)}, "kind": "SPAN_KIND_INTERNAL", ` +
    `"start_time_unix_nano": ${msToNs(span.startTime)}, "end_time_unix_nano": ${msToNs(wireEndTime(span))}, ` +
    `"events": [${events.join(", ")}], ` +
    `"status": {"code": ${JSON.stringify(span.status.statusCode)}, "message": ${JSON.stringify(span.status.description)}}, ` +
    `"attributes": ${pyJsonDumps(encoded)}, "links": []}`
  );
}

/** The `traces.json` artifact: `{"spans": [...]}` (Python `TraceData.to_dict`). */
export function traceDataToMlflowJson(spans: readonly SpanData[]): string {
  return `{"spans": [${spans.map(spanToMlflowJson).join(", ")}]}`;
}
