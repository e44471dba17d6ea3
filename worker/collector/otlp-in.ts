import { infoFromSpans } from "../../core/model/finalize.js";
import { SpanAttributeKey, SpanStatusCode, SpanType } from "../../core/model/constants.js";
import type { EventAttributeValue, Json, SpanData, Trace } from "../../core/model/types.js";
import type { CollectorLimits } from "./limits.js";
import { Refusal } from "./refusal.js";
import { validateTrace } from "./validate.js";

// `POST /v1/traces`: OTLP/HTTP JSON (ExportTraceServiceRequest), from MLflow's SDKs or any
// OpenTelemetry exporter. Spans become core spans (MLflow's `mlflow.*` attributes give span type,
// inputs and outputs), grouped by trace id, with a TraceInfo derived as MLflow's SDK would; then
// every trace goes through the same validation as `/v1/ingest`.

const HEX32 = /^[0-9a-f]{32}$/i;
const HEX16 = /^[0-9a-f]{16}$/i;
const bad = (path: string, message: string, hint = "") => new Refusal(400, message, path, hint);

type AnyValue = Record<string, unknown>;

function decode(v: unknown, path: string, depth = 0): Json {
  if (depth > 64) throw bad(path, "value nested too deep");
  if (typeof v !== "object" || v === null) throw bad(path, "an OTLP AnyValue must be an object");
  const a = v as AnyValue;
  if ("stringValue" in a) return String(a.stringValue);
  if ("boolValue" in a) return Boolean(a.boolValue);
  if ("intValue" in a) {
    const n = Number(a.intValue);
    if (!Number.isFinite(n)) throw bad(path, "intValue is not an integer");
    return n;
  }
  if ("doubleValue" in a) {
    const n = Number(a.doubleValue);
    return Number.isFinite(n) ? n : String(a.doubleValue); // NaN/Infinity have no JSON form
  }
  if ("arrayValue" in a) {
    const values = (a.arrayValue as { values?: unknown[] } | undefined)?.values ?? [];
    if (!Array.isArray(values)) throw bad(path, "arrayValue.values must be an array");
    return values.map((x, i) => decode(x, `${path}.arrayValue.values[${i}]`, depth + 1));
  }
  if ("kvlistValue" in a) return keyValues((a.kvlistValue as { values?: unknown })?.values ?? [], `${path}.kvlistValue.values`, depth + 1);
  if ("bytesValue" in a) return String(a.bytesValue);
  return null; // an unset value
}

function keyValues(list: unknown, path: string, depth = 0): Record<string, Json> {
  if (!Array.isArray(list)) throw bad(path, `${path} must be an array of {key, value}`);
  const out: Record<string, Json> = {};
  list.forEach((kv, i) => {
    const k = (kv as { key?: unknown })?.key;
    if (typeof k !== "string" || k === "") throw bad(`${path}[${i}].key`, "an attribute key must be a non-empty string");
    out[k] = decode((kv as { value?: unknown }).value ?? {}, `${path}[${i}].value`, depth);
  });
  return out;
}

/** MLflow's reserved attributes may arrive JSON-encoded once more than needed; strip one layer. */
function unwrap(value: Json | undefined): Json | undefined {
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value) as Json;
  } catch {
    return value;
  }
}

function nanosToMs(v: unknown, path: string): number {
  if (typeof v !== "string" && typeof v !== "number") throw bad(path, `${path} must be nanoseconds as a decimal string`);
  const text = String(v);
  if (!/^\d{1,20}$/.test(text)) throw bad(path, `${path} must be nanoseconds as a decimal string`);
  const ns = BigInt(text);
  return Number(ns / 1000n) / 1000;
}

const STATUS: Record<string, SpanData["status"]["statusCode"]> = {
  "0": SpanStatusCode.UNSET,
  "1": SpanStatusCode.OK,
  "2": SpanStatusCode.ERROR,
  STATUS_CODE_UNSET: SpanStatusCode.UNSET,
  STATUS_CODE_OK: SpanStatusCode.OK,
  STATUS_CODE_ERROR: SpanStatusCode.ERROR,
};

function toSpan(v: unknown, path: string): SpanData {
  if (typeof v !== "object" || v === null) throw bad(path, `${path} must be an object`);
  const s = v as Record<string, unknown>;
  if (typeof s.traceId !== "string" || !HEX32.test(s.traceId)) throw bad(`${path}.traceId`, "traceId must be 32 hex characters", "the OTLP JSON mapping uses hex, not base64");
  if (typeof s.spanId !== "string" || !HEX16.test(s.spanId)) throw bad(`${path}.spanId`, "spanId must be 16 hex characters", "the OTLP JSON mapping uses hex, not base64");
  const parent = s.parentSpanId;
  if (parent !== undefined && parent !== "" && (typeof parent !== "string" || !HEX16.test(parent))) throw bad(`${path}.parentSpanId`, "parentSpanId must be empty or 16 hex characters");
  const attributes = keyValues(s.attributes ?? [], `${path}.attributes`);
  const spanType = unwrap(attributes[SpanAttributeKey.SPAN_TYPE]);
  const inputs = unwrap(attributes[SpanAttributeKey.INPUTS]);
  const outputs = unwrap(attributes[SpanAttributeKey.OUTPUTS]);
  const status = (s.status ?? {}) as { code?: unknown; message?: unknown };
  const events = s.events ?? [];
  if (!Array.isArray(events)) throw bad(`${path}.events`, "events must be an array");
  const traceId = `tr-${s.traceId.toLowerCase()}`;
  return {
    traceId,
    spanId: s.spanId.toLowerCase(),
    parentId: typeof parent === "string" && parent !== "" ? parent.toLowerCase() : null,
    name: typeof s.name === "string" ? s.name : "",
    spanType: typeof spanType === "string" && spanType !== "" ? spanType : SpanType.UNKNOWN,
    startTime: nanosToMs(s.startTimeUnixNano, `${path}.startTimeUnixNano`),
    endTime: s.endTimeUnixNano === undefined || s.endTimeUnixNano === "0" || s.endTimeUnixNano === 0 ? null : nanosToMs(s.endTimeUnixNano, `${path}.endTimeUnixNano`),
    status: { statusCode: STATUS[String(status.code ?? 0)] ?? SpanStatusCode.UNSET, description: typeof status.message === "string" ? status.message : "" },
    inputs,
    outputs,
    attributes,
    events: events.map((e, i) => {
      const ev = (e ?? {}) as Record<string, unknown>;
      return {
        name: typeof ev.name === "string" ? ev.name : "",
        timestamp: nanosToMs(ev.timeUnixNano ?? "0", `${path}.events[${i}].timeUnixNano`),
        attributes: keyValues(ev.attributes ?? [], `${path}.events[${i}].attributes`) as Record<string, EventAttributeValue>,
      };
    }),
  };
}

/** Parsed OTLP JSON → validated core traces (one per trace id). */
export function tracesFromOtlp(body: unknown, limits: CollectorLimits): Trace[] {
  if (typeof body !== "object" || body === null || !Array.isArray((body as { resourceSpans?: unknown }).resourceSpans)) {
    throw bad("resourceSpans", "the body must be an OTLP ExportTraceServiceRequest with a resourceSpans array");
  }
  const byTrace = new Map<string, SpanData[]>();
  let count = 0;
  (body as { resourceSpans: unknown[] }).resourceSpans.forEach((rs, i) => {
    const scopes = (rs as { scopeSpans?: unknown })?.scopeSpans ?? [];
    if (!Array.isArray(scopes)) throw bad(`resourceSpans[${i}].scopeSpans`, "scopeSpans must be an array");
    scopes.forEach((ss, j) => {
      const spans = (ss as { spans?: unknown })?.spans ?? [];
      if (!Array.isArray(spans)) throw bad(`resourceSpans[${i}].scopeSpans[${j}].spans`, "spans must be an array");
      count += spans.length;
      if (count > limits.maxSpansPerTrace) throw new Refusal(413, `more than ${limits.maxSpansPerTrace} spans in one request`, "resourceSpans", "send smaller batches");
      spans.forEach((s, k) => {
        const span = toSpan(s, `resourceSpans[${i}].scopeSpans[${j}].spans[${k}]`);
        byTrace.set(span.traceId, [...(byTrace.get(span.traceId) ?? []), span]);
      });
    });
  });
  if (count === 0) throw bad("resourceSpans", "the request holds no spans");
  return [...byTrace].map(([traceId, spans], i) => {
    spans.sort((a, b) => a.startTime - b.startTime);
    // Unfinished spans have no end; the trace is described from what arrived.
    return validateTrace({ info: infoFromSpans(traceId, spans), data: { spans } }, `traces[${i}]`, limits);
  });
}
