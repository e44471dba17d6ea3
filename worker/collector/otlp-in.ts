import { infoFromSpans } from "../../core/model/finalize.js";
import { DEFAULT_SPAN_NAME, SpanAttributeKey, SpanStatusCode, SpanType } from "../../core/model/constants.js";
import type { EventAttributeValue, Json, SpanData, Trace } from "../../core/model/types.js";
import type { CollectorLimits } from "./limits.js";
import { decodeKeyValues, mlflowAttributeValue } from "./otlp-value.js";
import { Refusal } from "./refusal.js";
import { checkObject, validateTrace } from "./validate.js";

// `POST /v1/traces`: OTLP/HTTP JSON (ExportTraceServiceRequest), from MLflow's SDKs or any
// OpenTelemetry exporter. Spans become core spans (MLflow's `mlflow.*` attributes give span type,
// inputs and outputs, read as MLflow's own OTLP ingest reads them), grouped by trace id, with a
// TraceInfo derived as MLflow's SDK would (core's infoFromSpans: timing and state from the root,
// previews with computePreview); then every trace goes through the same validation as
// `/v1/ingest`, and its errors are reported at the OTLP path of the offending field.

const HEX32 = /^[0-9a-f]{32}$/i;
const HEX16 = /^[0-9a-f]{16}$/i;
const NANOS = /^\d{1,20}$/;
const ZERO_SPAN_ID = "0000000000000000";
const bad = (path: string, message: string, hint = "") => new Refusal(400, message, path, hint);
const HEX_HINT = "the OTLP JSON mapping sends ids as hex, not base64";

const STATUS: Record<string, SpanData["status"]["statusCode"]> = {
  "0": SpanStatusCode.UNSET,
  "1": SpanStatusCode.OK,
  "2": SpanStatusCode.ERROR,
  STATUS_CODE_UNSET: SpanStatusCode.UNSET,
  STATUS_CODE_OK: SpanStatusCode.OK,
  STATUS_CODE_ERROR: SpanStatusCode.ERROR,
};

/** A converted span and where it came from, so a later validation error can point back at it. */
interface Origin {
  span: SpanData;
  path: string;
  /** Attribute key → index in the OTLP `attributes` array. */
  attributeIndex: Map<string, number>;
}

/**
 * Not set: absent, or null, which the OTLP (proto3) JSON mapping reads as the field's default
 * (OpenTelemetry JS writes `"parentSpanId": null` for a root, some exporters `"status": null`).
 */
const unset = (v: unknown): v is undefined | null => v === undefined || v === null;

function checkArray(v: unknown, path: string): unknown[] {
  if (unset(v)) return [];
  if (!Array.isArray(v)) throw bad(path, `${path} must be an array`);
  return v;
}

/**
 * Epoch nanoseconds as epoch ms (core's times, with a fractional part: microsecond precision
 * survives a double), or `null` for a time not set: absent, null or 0, which proto3 cannot tell
 * apart (the protobuf path leaves a 0 out).
 */
function nanosToMs(v: unknown, path: string): number | null {
  if (unset(v)) return null;
  // A JSON number is accepted too, as protobuf's JSON parsers accept it for a 64-bit field: an
  // epoch time in nanoseconds is past 2^53, so it arrives rounded, to a fraction of a microsecond.
  const text = typeof v === "number" && Number.isInteger(v) && v >= 0 ? BigInt(v).toString() : v;
  if (typeof text !== "string" || !NANOS.test(text)) throw bad(path, `${path} must be epoch nanoseconds as a decimal string`);
  const ns = BigInt(text);
  return ns === 0n ? null : Number(ns / 1000n) / 1000;
}

/** A time the span must have (its start, an event's): not set is refused, never stored as 1970. */
function requiredNanosToMs(v: unknown, path: string): number {
  const ms = nanosToMs(v, path);
  if (ms === null) throw bad(path, `${path} is not set (absent or 0)`, "send the time as epoch nanoseconds");
  return ms;
}

function checkId(v: unknown, path: string, pattern: RegExp, what: string): string {
  if (typeof v !== "string" || !pattern.test(v)) throw bad(path, `${path} must be ${what}`, HEX_HINT);
  if (/^0+$/.test(v)) throw bad(path, `${path} is all zeros, which OTLP defines as invalid`);
  return v.toLowerCase();
}

/** Core event attributes are flat; a structured OTLP value is kept as its JSON text. */
function eventAttributes(attrs: { [key: string]: Json }): Record<string, EventAttributeValue> {
  const out: [string, EventAttributeValue][] = [];
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null) continue;
    const flat = Array.isArray(v) && v.every((x) => x !== null && typeof x !== "object");
    out.push([k, typeof v === "object" && !flat ? JSON.stringify(v) : (v as EventAttributeValue)]);
  }
  return Object.fromEntries(out);
}

function toSpan(v: unknown, path: string, limits: CollectorLimits): Origin {
  const s = checkObject(v, path);
  const traceId = `tr-${checkId(s.traceId, `${path}.traceId`, HEX32, "32 hex characters")}`;
  const spanId = checkId(s.spanId, `${path}.spanId`, HEX16, "16 hex characters");
  const parent = s.parentSpanId;
  // All zeros is no id in OTLP; as a parent, the OpenTelemetry Collector reads it as none (a root),
  // and some SDKs write a root's parent so.
  const parentId = unset(parent) || parent === "" || parent === ZERO_SPAN_ID ? null : checkId(parent, `${path}.parentSpanId`, HEX16, "empty or 16 hex characters");
  if (typeof s.name !== "string" && !unset(s.name)) throw bad(`${path}.name`, `${path}.name must be a string`);

  const rawAttributes = checkArray(s.attributes, `${path}.attributes`);
  const attributeIndex = new Map<string, number>();
  rawAttributes.forEach((kv, i) => {
    const key = (kv as { key?: unknown } | null)?.key;
    if (typeof key === "string") attributeIndex.set(key, i); // any other key is refused by decodeKeyValues
  });
  const decoded = decodeKeyValues(rawAttributes, `${path}.attributes`, limits.maxDepth);
  const attributes = Object.fromEntries(Object.entries(decoded).map(([k, value]) => [k, k.startsWith("mlflow.") ? mlflowAttributeValue(value) : value]));
  const spanType = attributes[SpanAttributeKey.SPAN_TYPE];
  const inputs = attributes[SpanAttributeKey.INPUTS];
  const outputs = attributes[SpanAttributeKey.OUTPUTS];

  const status = unset(s.status) ? {} : checkObject(s.status, `${path}.status`);
  const code = status.code ?? 0;
  // Its type first: String() of a sender's object may throw, and "toString" is a name STATUS inherits.
  const statusCode = (typeof code === "number" || typeof code === "string") && Object.hasOwn(STATUS, String(code)) ? STATUS[String(code)] : undefined;
  if (statusCode === undefined) {
    throw bad(`${path}.status.code`, `${path}.status.code must be 0, 1 or 2 (UNSET, OK, ERROR)`);
  }
  if (!unset(status.message) && typeof status.message !== "string") throw bad(`${path}.status.message`, `${path}.status.message must be a string`);

  const span: SpanData = {
    traceId,
    spanId,
    parentId,
    // OTLP allows an empty name and MLflow takes it; our model names every span and event, as the
    // client-side fit does. Refusing would lose the sender's whole batch (OTLP does not retry a 400).
    name: (s.name as string | null | undefined) || DEFAULT_SPAN_NAME,
    spanType: typeof spanType === "string" && spanType !== "" ? spanType : SpanType.UNKNOWN,
    startTime: requiredNanosToMs(s.startTimeUnixNano, `${path}.startTimeUnixNano`),
    // Not set: the span had not ended when it was exported.
    endTime: nanosToMs(s.endTimeUnixNano, `${path}.endTimeUnixNano`),
    status: { statusCode, description: (status.message as string | undefined) ?? "" },
    inputs,
    outputs,
    attributes,
    events: checkArray(s.events, `${path}.events`).map((e, i) => {
      const ev = checkObject(e, `${path}.events[${i}]`);
      if (typeof ev.name !== "string" && !unset(ev.name)) throw bad(`${path}.events[${i}].name`, `${path}.events[${i}].name must be a string`);
      return {
        name: (ev.name as string | null | undefined) || "event",
        timestamp: requiredNanosToMs(ev.timeUnixNano, `${path}.events[${i}].timeUnixNano`),
        attributes: eventAttributes(decodeKeyValues(ev.attributes ?? [], `${path}.events[${i}].attributes`, limits.maxDepth)),
      };
    }),
  };
  return { span, path, attributeIndex };
}

// Core field → OTLP field, for pointing a validation error at what the sender wrote.
const FIELD: Record<string, string> = {
  startTime: "startTimeUnixNano",
  endTime: "endTimeUnixNano",
  parentId: "parentSpanId",
  "status.description": "status.message",
  "status.statusCode": "status.code",
};
const RESERVED: Record<string, string> = { spanType: SpanAttributeKey.SPAN_TYPE, inputs: SpanAttributeKey.INPUTS, outputs: SpanAttributeKey.OUTPUTS };

function otlpPath(internal: string, tracePrefix: string, origins: Origin[]): string {
  const m = /^\.data\.spans\[(\d+)\](.*)$/.exec(internal.slice(tracePrefix.length));
  if (!m) return origins[0]?.path ?? "resourceSpans"; // the derived TraceInfo: its root span
  const origin = origins[Number(m[1])];
  if (!origin) return "resourceSpans";
  let rest = (m[2] ?? "").replace(/ \(key\)$/, "");
  const attr = /^\.attributes(?:\.([A-Za-z_$][\w$]*)|\[("(?:[^"\\]|\\.)*")\])/.exec(rest);
  const reserved = /^\.(spanType|inputs|outputs)/.exec(rest);
  const key = attr ? (attr[1] ?? (JSON.parse(attr[2]!) as string)) : reserved ? RESERVED[reserved[1]!] : undefined;
  if (key !== undefined) {
    const index = origin.attributeIndex.get(key);
    return index === undefined ? `${origin.path}.attributes` : `${origin.path}.attributes[${index}].value`;
  }
  rest = rest.replace(/^\.events\[(\d+)\]\.timestamp/, ".events[$1].timeUnixNano").replace(/^\.events\[(\d+)\]\.attributes.*/, ".events[$1].attributes");
  const field = FIELD[rest.slice(1)];
  return `${origin.path}${field ? `.${field}` : rest}`;
}

/** Parsed OTLP JSON → validated core traces (one per trace id). All or nothing. */
export function tracesFromOtlp(body: unknown, limits: CollectorLimits): Trace[] {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw bad("", "the body must be an OTLP ExportTraceServiceRequest object");
  const raw = (body as { resourceSpans?: unknown }).resourceSpans;
  if (!unset(raw) && !Array.isArray(raw)) throw bad("resourceSpans", "resourceSpans must be an array", "send an ExportTraceServiceRequest as OTLP/HTTP JSON");
  const resourceSpans = checkArray(raw, "resourceSpans");
  const byTrace = new Map<string, Origin[]>();
  let count = 0;
  resourceSpans.forEach((rs, i) => {
    const scopes = checkArray(checkObject(rs, `resourceSpans[${i}]`).scopeSpans, `resourceSpans[${i}].scopeSpans`);
    scopes.forEach((ss, j) => {
      const spans = checkArray(checkObject(ss, `resourceSpans[${i}].scopeSpans[${j}]`).spans, `resourceSpans[${i}].scopeSpans[${j}].spans`);
      count += spans.length;
      if (count > limits.maxSpansPerTrace) throw new Refusal(413, `more than ${limits.maxSpansPerTrace} spans in one request`, "resourceSpans", "send smaller batches");
      spans.forEach((s, k) => {
        const origin = toSpan(s, `resourceSpans[${i}].scopeSpans[${j}].spans[${k}]`, limits);
        const list = byTrace.get(origin.span.traceId);
        if (list) list.push(origin);
        else byTrace.set(origin.span.traceId, [origin]);
      });
    });
  });
  // An empty request (`{}`) is a valid one: nothing to store. Unknown fields are ignored, as OTLP
  // asks of JSON receivers, but not when they leave no span: spans under names this version does
  // not read (snake_case, the pre-1.0 `instrumentationLibrarySpans`, `{"traces": …}` meant for
  // /v1/ingest) would be dropped while the sender counts them sent.
  if (count === 0 && (resourceSpans.length > 0 || Object.keys(body).some((k) => k !== "resourceSpans"))) {
    throw bad("resourceSpans", "the request holds no spans", "send spans under resourceSpans[].scopeSpans[].spans (OTLP 1.x JSON); mlflow-edge's own format goes to /v1/ingest");
  }
  if (byTrace.size > limits.maxTracesPerBatch) throw new Refusal(413, `the request holds ${byTrace.size} traces; the limit is ${limits.maxTracesPerBatch}`, "resourceSpans", "send smaller batches");
  return [...byTrace].map(([traceId, origins], i) => {
    // A stable sort: spans started in the same millisecond keep the sender's order.
    origins.sort((a, b) => a.span.startTime - b.span.startTime);
    const spans = origins.map((o) => o.span);
    const prefix = `traces[${i}]`;
    try {
      // The spans are checked first (depth, sizes, tree): the TraceInfo is derived from them, and
      // deriving it (previews) walks their values, which may hold JSON nested thousands deep.
      const checked = validateTrace({ info: { traceId, requestTime: 0, state: "OK" }, data: { spans } }, prefix, limits);
      return { ...checked, info: infoFromSpans(traceId, checked.data.spans) };
    } catch (error) {
      if (!(error instanceof Refusal) || !error.path.startsWith(prefix)) throw error;
      const path = otlpPath(error.path, prefix, origins);
      const message = error.message.split(error.path).join(path).split(`${prefix}.data.spans`).join("span");
      throw new Refusal(error.status, message, path, error.hint, error.headers);
    }
  });
}
