import { msToNs } from "../model/clock.js";
import { STATUS_ERROR, STATUS_OK, STATUS_UNSET } from "../model/constants.js";
import { toOtelTraceId } from "../model/ids.js";
import type { EventAttributeValue, Json, SpanData } from "../model/types.js";
import { wireAttributes, wireEndTime } from "./mlflow-json.js";

// OTLP/HTTP JSON (ExportTraceServiceRequest) exactly as MLflow's Python SDK fills the protobuf
// (`Span.to_otel_proto`, `_set_otel_proto_anyvalue`): attribute values typed (a dict becomes a
// kvlist, a string a plain stringValue), never MLflow's JSON-encoded strings, because the server
// JSON-encodes every value itself and only strips one layer of double encoding. Ids are hex and
// nanoseconds decimal strings, per the OTLP JSON mapping. The server accepts JSON since 3.12.

export type OtlpAnyValue =
  | { stringValue: string }
  | { boolValue: boolean }
  | { intValue: string }
  | { doubleValue: number | "NaN" | "Infinity" | "-Infinity" }
  | { arrayValue: { values: OtlpAnyValue[] } }
  | { kvlistValue: { values: OtlpKeyValue[] } }
  | Record<string, never>;

export interface OtlpKeyValue {
  key: string;
  value: OtlpAnyValue;
}

export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** 1 = SPAN_KIND_INTERNAL, what MLflow's spans are. */
  kind: 1;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: OtlpKeyValue[];
  events: { name: string; timeUnixNano: string; attributes: OtlpKeyValue[] }[];
  status: { code: 0 | 1 | 2; message?: string };
}

export interface OtlpExportRequest {
  resourceSpans: { resource: { attributes: OtlpKeyValue[] }; scopeSpans: { spans: OtlpSpan[] }[] }[];
}

// int64 bounds: integers outside them can only travel as doubles.
const INT64_MIN = -(2 ** 63);
const INT64_MAX = 2 ** 63;

/** A captured JSON value → OTLP AnyValue. `null` leaves the value unset, as Python does for None. */
export function toAnyValue(value: Json | EventAttributeValue): OtlpAnyValue {
  if (value === null) return {};
  switch (typeof value) {
    case "boolean":
      return { boolValue: value };
    case "string":
      return { stringValue: value };
    case "number":
      if (Number.isInteger(value) && value >= INT64_MIN && value < INT64_MAX) return { intValue: BigInt(value).toString() };
      if (Number.isNaN(value)) return { doubleValue: "NaN" };
      if (!Number.isFinite(value)) return { doubleValue: value > 0 ? "Infinity" : "-Infinity" };
      return { doubleValue: value };
    default:
      break;
  }
  if (Array.isArray(value)) return { arrayValue: { values: (value as Json[]).map(toAnyValue) } };
  return { kvlistValue: { values: toKeyValues(value as { [key: string]: Json }) } };
}

function toKeyValues(record: Record<string, Json | EventAttributeValue>): OtlpKeyValue[] {
  return Object.keys(record).map((key) => ({ key, value: toAnyValue(record[key] as Json) }));
}

const STATUS_CODE: Record<string, 0 | 1 | 2> = {
  [STATUS_UNSET]: 0,
  [STATUS_OK]: 1,
  [STATUS_ERROR]: 2,
};

export function toOtlpSpan(span: SpanData): OtlpSpan {
  const out: OtlpSpan = {
    traceId: toOtelTraceId(span.traceId),
    spanId: span.spanId,
    name: span.name,
    kind: 1,
    startTimeUnixNano: msToNs(span.startTime).toString(),
    endTimeUnixNano: msToNs(wireEndTime(span)).toString(),
    attributes: toKeyValues(wireAttributes(span)),
    events: span.events.map((e) => ({ name: e.name, timeUnixNano: msToNs(e.timestamp).toString(), attributes: toKeyValues(e.attributes) })),
    status: { code: STATUS_CODE[span.status.statusCode] ?? 0 },
  };
  if (span.parentId !== null) out.parentSpanId = span.parentId;
  if (span.status.description) out.status.message = span.status.description;
  return out;
}

/**
 * The request body for `POST /v1/traces`. No resource attributes and no scope: MLflow's Python SDK
 * sends neither, and the server turns resource attributes such as `service.name` into trace tags.
 */
export function toOtlpExportRequest(spans: readonly SpanData[]): OtlpExportRequest {
  return { resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ spans: spans.map(toOtlpSpan) }] }] };
}
