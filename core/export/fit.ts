import { warnOnce } from "../debug.js";
import { DEFAULT_SPAN_NAME, SpanType } from "../model/constants.js";
import type { EventAttributeValue, Json, SpanData, SpanEvent, Trace } from "../model/types.js";
import { toJsonSafe, truncateString, utf8Length } from "../serialize/safe-json.js";

// What a collector takes (docs/ingest-protocol.md), and the client's side of that contract: a trace
// the SDK produced is cut to fit before it is stored, rather than refused whole by the collector
// (which refuses, never truncates) and dropped. The Worker collector's defaults are these numbers.

export const INGEST_LIMITS = {
  /** Request body bytes. */
  maxBodyBytes: 1 << 20,
  /** Spans in one trace. */
  maxSpansPerTrace: 2000,
  /** JSON bytes (UTF-8) of one value: inputs, outputs, one attribute, one event's attributes. */
  maxValueBytes: 256 * 1024,
  /** Attributes and events on one span. */
  maxAttributes: 256,
  maxEvents: 1000,
  /** Tags, and metadata entries, on one trace. */
  maxTags: 200,
  /** Characters of a key or a name. */
  maxNameLength: 1000,
  /** Characters of a tag or metadata value, a preview, a status description. */
  maxTextLength: 64 * 1024,
} as const;

const L = INGEST_LIMITS;

/** Records what was changed, for the one warning; every change goes through here. */
type Cuts = Set<string>;

const usableKey = (key: string) => key !== "" && key.length <= L.maxNameLength;

function name(text: string, fallback: string, cuts: Cuts, what: string): string {
  if (text === "") return cuts.add(`empty ${what}s`), fallback;
  if (text.length <= L.maxNameLength) return text;
  cuts.add(`${what}s over ${L.maxNameLength} characters`);
  return truncateString(text, L.maxNameLength - 40);
}

function text(value: string, cuts: Cuts, what: string): string {
  if (value.length <= L.maxTextLength) return value;
  cuts.add(`${what}s over ${L.maxTextLength} characters`);
  return truncateString(value, L.maxTextLength - 40);
}

function stringMap(map: Record<string, string>, cuts: Cuts, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  let n = 0;
  for (const key of Object.keys(map)) {
    if (!usableKey(key)) cuts.add(`${what} keys that are empty or over ${L.maxNameLength} characters`);
    else if (n++ >= L.maxTags) cuts.add(`${what} beyond ${L.maxTags}`);
    else out[key] = text(String(map[key]), cuts, `${what} value`);
  }
  return out;
}

/** A value whose JSON may be over the limit (only in traces large enough for that) is taken again. */
function value(v: Json, large: boolean, cuts: Cuts): Json {
  if (!large || utf8Length(JSON.stringify(v)) <= L.maxValueBytes) return v;
  cuts.add(`values over ${L.maxValueBytes} bytes of JSON`);
  return toJsonSafe(v, L.maxValueBytes);
}

function eventValue(v: EventAttributeValue, room: number, cuts: Cuts): EventAttributeValue {
  if (typeof v === "number" && !Number.isFinite(v)) return cuts.add("non-finite numbers in events"), String(v);
  if (typeof v !== "string" || utf8Length(v) + 2 <= room) return v;
  cuts.add(`event attributes over ${L.maxValueBytes} bytes together`);
  return toJsonSafe(v, room) as string;
}

function event(e: SpanEvent, cuts: Cuts): SpanEvent {
  const keys = Object.keys(e.attributes).filter((k) => usableKey(k) || (cuts.add(`event attribute keys that are empty or over ${L.maxNameLength} characters`), false));
  // One event's attributes share the value limit (an exception's message and its stack trace).
  const keyBytes = keys.reduce((n, k) => n + utf8Length(k) + 6, 64);
  const room = Math.max(64, Math.floor((L.maxValueBytes - keyBytes) / Math.max(1, keys.length)));
  const attributes: Record<string, EventAttributeValue> = {};
  for (const k of keys) attributes[k] = eventValue(e.attributes[k] as EventAttributeValue, room, cuts);
  return { name: name(e.name, "event", cuts, "event name"), timestamp: e.timestamp, attributes };
}

function span(s: SpanData, large: boolean, cuts: Cuts): SpanData {
  const attributes: Record<string, Json> = {};
  let n = 0;
  for (const key of Object.keys(s.attributes)) {
    if (!usableKey(key)) cuts.add(`attribute keys that are empty or over ${L.maxNameLength} characters`);
    else if (n++ >= L.maxAttributes) cuts.add(`attributes beyond ${L.maxAttributes} on a span`);
    else attributes[key] = value(s.attributes[key] as Json, large, cuts);
  }
  if (s.events.length > L.maxEvents) cuts.add(`events beyond ${L.maxEvents} on a span (a stream's later chunks; its outputs still hold the whole stream)`);
  return {
    ...s,
    name: name(s.name, DEFAULT_SPAN_NAME, cuts, "span name"),
    spanType: name(s.spanType, SpanType.UNKNOWN, cuts, "span type"),
    status: { statusCode: s.status.statusCode, description: text(s.status.description, cuts, "status description") },
    inputs: s.inputs === undefined ? undefined : value(s.inputs, large, cuts),
    outputs: s.outputs === undefined ? undefined : value(s.outputs, large, cuts),
    attributes,
    events: s.events.slice(0, L.maxEvents).map((e) => event(e, cuts)),
  };
}

/**
 * The trace cut to INGEST_LIMITS, with one warning naming what was cut; the same object when it
 * already fits. `bodyBytes` is the size of its JSON: under the value limit no single value can be
 * over it, so values are measured only in larger traces.
 */
export function fitForIngest(trace: Trace, bodyBytes: number): Trace {
  const cuts: Cuts = new Set();
  const large = bodyBytes > L.maxValueBytes;
  const { info } = trace;
  if (trace.data.spans.length > L.maxSpansPerTrace) cuts.add(`spans beyond ${L.maxSpansPerTrace} in a trace`);
  const fitted: Trace = {
    info: {
      ...info,
      tags: stringMap(info.tags, cuts, "tag"),
      traceMetadata: stringMap(info.traceMetadata, cuts, "metadata"),
      ...(info.requestPreview === undefined ? {} : { requestPreview: text(info.requestPreview, cuts, "preview") }),
      ...(info.responsePreview === undefined ? {} : { responsePreview: text(info.responsePreview, cuts, "preview") }),
      ...(info.clientRequestId === undefined || info.clientRequestId.length <= L.maxNameLength ? {} : { clientRequestId: name(info.clientRequestId, "", cuts, "client request id") }),
    },
    data: { spans: trace.data.spans.slice(0, L.maxSpansPerTrace).map((s) => span(s, large, cuts)) },
  };
  if (!cuts.size) return trace;
  const what = [...cuts].join("; ");
  warnOnce(`fit:${what}`, `trace ${info.traceId} was cut to what a collector accepts (${what}). See the README, 'Limits'.`);
  return fitted;
}
