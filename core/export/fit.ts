import { warnOnce } from "../debug.js";
import { CHUNK_EVENT_PREFIX, DEFAULT_SPAN_NAME, OMITTED_CHUNKS, SpanType } from "../model/constants.js";
import type { EventAttributeValue, Json, SpanData, SpanEvent, Trace } from "../model/types.js";
import { setKey, toJsonSafe, truncateString, utf8Length } from "../serialize/safe-json.js";

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
  /** JSON bytes (UTF-8) of one span's events together: 1000 large chunks would not fit a request. */
  maxEventBytes: 512 * 1024,
  /** Tags, and metadata entries, on one trace. */
  maxTags: 200,
  /** Characters of a key or a name. */
  maxNameLength: 1000,
  /** Characters of a tag or metadata value, a preview, a status description. */
  maxTextLength: 64 * 1024,
} as const;

const L = INGEST_LIMITS;

/** The names of the limits a trace was cut to, for the one warning. */
type Cuts = Set<string>;

function usableKey(key: string, cuts: Cuts): boolean {
  if (key !== "" && key.length <= L.maxNameLength) return true;
  cuts.add("maxNameLength");
  return false;
}

/** `s` within `max` characters. */
function cut(s: string, max: number, cuts: Cuts, limit: keyof typeof L): string {
  if (s.length <= max) return s;
  cuts.add(limit);
  return truncateString(s, max - 40);
}
const fitText = (s: string, cuts: Cuts) => cut(s, L.maxTextLength, cuts, "maxTextLength");
/** A name within maxNameLength; an empty one becomes `fallback` (the collector refuses empty names). */
function fitName(s: string, cuts: Cuts, fallback: string): string {
  if (s !== "" || fallback === "") return cut(s, L.maxNameLength, cuts, "maxNameLength");
  cuts.add("empty names");
  return fallback;
}

/** The first `max` usable entries of `map`, each value through `each`. */
function fitEntries<V, W>(map: Record<string, V>, max: number, cuts: Cuts, limit: keyof typeof L, each: (v: V) => W): Record<string, W> {
  const out: Record<string, W> = {};
  let n = 0;
  for (const key of Object.keys(map)) {
    if (!usableKey(key, cuts)) continue;
    if (n++ < max) setKey(out, key, each(map[key] as V));
    else cuts.add(limit);
  }
  return out;
}

/** A value whose JSON may be over the limit (only in traces large enough for that) is taken again. */
function fitValue(v: Json, large: boolean, cuts: Cuts): Json {
  if (!large || utf8Length(JSON.stringify(v)) <= L.maxValueBytes) return v;
  cuts.add("maxValueBytes");
  return toJsonSafe(v, L.maxValueBytes);
}

function eventValue(v: EventAttributeValue, room: number, cuts: Cuts): EventAttributeValue {
  if (typeof v === "number" && !Number.isFinite(v)) return cuts.add("finite numbers"), String(v); // JSON has no NaN
  if (typeof v !== "string" || utf8Length(v) + 2 <= room) return v;
  cuts.add("maxValueBytes");
  return toJsonSafe(v, room) as string;
}

function fitEvent(e: SpanEvent, cuts: Cuts): SpanEvent {
  // One event's attributes share the value limit (an exception's message and its stack trace).
  const keys = Object.keys(e.attributes);
  const room = Math.max(64, Math.floor((L.maxValueBytes - keys.reduce((n, k) => n + utf8Length(k) + 6, 64)) / Math.max(1, keys.length)));
  return { name: fitName(e.name, cuts, "event"), timestamp: e.timestamp, attributes: fitEntries(e.attributes, Infinity, cuts, "maxAttributes", (v) => eventValue(v, room, cuts)) };
}

const isChunk = (e: SpanEvent) => e.name.startsWith(CHUNK_EVENT_PREFIX);

function fitSpan(s: SpanData, large: boolean, cuts: Cuts): SpanData {
  if (s.events.length > L.maxEvents) cuts.add("maxEvents");
  const events = fitEvents(s.events, large, cuts);
  // A stream's chunks not kept as events here are added to the count of those its span left out
  // already, so the attribute says how many the trace lacks; put first, so the attribute limit
  // cannot cut it.
  let attributes = s.attributes;
  const dropped = events.length < s.events.length ? s.events.filter(isChunk).length - events.filter(isChunk).length : 0;
  if (dropped > 0 || OMITTED_CHUNKS in attributes) {
    const before = Number(attributes[OMITTED_CHUNKS] ?? 0);
    const { [OMITTED_CHUNKS]: _, ...rest } = attributes;
    attributes = { [OMITTED_CHUNKS]: (Number.isFinite(before) ? before : 0) + dropped, ...rest };
  }
  return {
    ...s,
    name: fitName(s.name, cuts, DEFAULT_SPAN_NAME),
    spanType: fitName(s.spanType, cuts, SpanType.UNKNOWN),
    status: { statusCode: s.status.statusCode, description: fitText(s.status.description, cuts) },
    inputs: s.inputs === undefined ? undefined : fitValue(s.inputs, large, cuts),
    outputs: s.outputs === undefined ? undefined : fitValue(s.outputs, large, cuts),
    attributes: fitEntries(attributes, L.maxAttributes, cuts, "maxAttributes", (v) => fitValue(v, large, cuts)),
    events,
  };
}

/**
 * The events that fit maxEvents and, in a trace large enough for it to matter, maxEventBytes: the
 * other events first (the exception that ended a long answer stays), then as many of a stream's
 * chunks, from its first, as the room left takes; in their order.
 */
function fitEvents(list: SpanEvent[], large: boolean, cuts: Cuts): SpanEvent[] {
  if (list.length <= L.maxEvents && !large) return list.map((e) => fitEvent(e, cuts));
  let count = 0;
  let bytes = 0;
  /** Takes `e` if it fits what is left; names the limit it would pass otherwise. */
  const take = (e: SpanEvent): SpanEvent | undefined => {
    if (count >= L.maxEvents) return void cuts.add("maxEvents");
    const kept = fitEvent(e, cuts);
    const size = large ? utf8Length(JSON.stringify(kept)) : 0;
    if (bytes + size > L.maxEventBytes) return void cuts.add("maxEventBytes");
    count++;
    bytes += size;
    return kept;
  };
  const others = new Map(list.filter((e) => !isChunk(e)).map((e) => [e, take(e)]));
  let chunksOpen = true;
  const out: SpanEvent[] = [];
  for (const e of list) {
    const kept = others.has(e) ? others.get(e) : chunksOpen ? take(e) : undefined;
    if (kept) out.push(kept);
    else if (!others.has(e)) chunksOpen = false; // no later chunk: the list stays a prefix of the stream
  }
  return out;
}

/**
 * The JSON a collector receives for `trace`, cut to INGEST_LIMITS first when it does not fit, and
 * its UTF-8 size (a queue entry needs it).
 */
export function ingestJson(trace: Trace): { json: string; bytes: number } {
  const json = JSON.stringify(trace);
  const bytes = utf8Length(json);
  const fitted = fitForIngest(trace, bytes);
  let out = fitted === trace ? json : JSON.stringify(fitted);
  if (out.includes('"__proto__":')) out = renameProtoKeys(out, trace.info.traceId);
  return out === json ? { json, bytes } : { json: out, bytes: utf8Length(out) };
}

/**
 * A collector refuses a "__proto__" key (user data parsed from JSON can hold one; a JavaScript
 * server cannot safely copy it as data), so it is sent as "[__proto__]". In JSON.stringify's
 * output a key always follows `{` or `,`, which tells it from the same text inside a string.
 */
function renameProtoKeys(json: string, traceId: string): string {
  warnOnce("fit:__proto__", `trace ${traceId} has "__proto__" keys, which a collector refuses; they were sent as "[__proto__]".`);
  return json.replace(/([{,])"__proto__":/g, '$1"[__proto__]":');
}

/**
 * The trace cut to INGEST_LIMITS, with one warning naming the limits it was cut to; the same object
 * when it already fits. `bodyBytes` is the size of its JSON: under the value limit no single value
 * can be over it, so values are measured only in larger traces.
 */
export function fitForIngest(trace: Trace, bodyBytes: number): Trace {
  const cuts: Cuts = new Set();
  const large = bodyBytes > L.maxValueBytes;
  const { info } = trace;
  const map = (m: Record<string, string>) => fitEntries(m, L.maxTags, cuts, "maxTags", (v) => fitText(String(v), cuts));
  if (trace.data.spans.length > L.maxSpansPerTrace) cuts.add("maxSpansPerTrace");
  const fitted: Trace = {
    info: {
      ...info,
      tags: map(info.tags),
      traceMetadata: map(info.traceMetadata),
      ...(info.requestPreview === undefined ? {} : { requestPreview: fitText(info.requestPreview, cuts) }),
      ...(info.responsePreview === undefined ? {} : { responsePreview: fitText(info.responsePreview, cuts) }),
      ...(info.clientRequestId === undefined ? {} : { clientRequestId: fitName(info.clientRequestId, cuts, "") }),
    },
    data: { spans: trace.data.spans.slice(0, L.maxSpansPerTrace).map((s) => fitSpan(s, large, cuts)) },
  };
  if (!cuts.size) return trace;
  const limits = [...cuts].join(", ");
  warnOnce(`fit:${limits}`, `trace ${info.traceId} was cut to the ingest limits a collector takes (${limits}); see the README, 'Guarantees and limits'.`);
  return fitted;
}
