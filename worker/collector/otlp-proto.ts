import type { CollectorLimits } from "./limits.js";
import { Refusal } from "./refusal.js";

// OTLP/HTTP protobuf (`content-type: application/x-protobuf`): what OpenTelemetry's Python, Java,
// Go and Node proto exporters send by default, MLflow's Python SDK among them. The request is
// decoded into the shape of the OTLP JSON mapping (hex ids, int64 as decimal strings, bytes as
// base64), so one strict converter (otlp-in.ts) checks both encodings the same way. Only what that
// converter reads is kept: resource, scope, links, kind and trace state are skipped, and so are
// unknown fields (proto3 lets a newer sender add them).

type Obj = Record<string, unknown>;

const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
const FIXED32 = 5;
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

const malformed = (why: string) =>
  new Refusal(400, `the body is not a valid OTLP protobuf ExportTraceServiceRequest: ${why}`, "", "send what your OpenTelemetry exporter builds, with content-type: application/x-protobuf");

class Reader {
  pos = 0;
  private readonly view: DataView;
  constructor(readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  private need(n: number, end: number): void {
    if (this.pos + n > end) throw malformed("it ends inside a field");
  }
  /** A varint as a number (tags, lengths, enums: exact up to 2^53). */
  uint(end: number): number {
    let v = 0;
    for (let i = 0, mul = 1; i < 10; i++, mul *= 128) {
      this.need(1, end);
      const b = this.buf[this.pos++]!;
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
    }
    throw malformed("a varint is longer than 10 bytes");
  }
  /** A varint as the exact 64-bit value. */
  varint64(end: number): bigint {
    let v = 0n;
    for (let i = 0n; i < 70n; i += 7n) {
      this.need(1, end);
      const b = this.buf[this.pos++]!;
      v |= BigInt(b & 0x7f) << i;
      if (b < 0x80) return BigInt.asUintN(64, v);
    }
    throw malformed("a varint is longer than 10 bytes");
  }
  fixed64(end: number): bigint {
    this.need(8, end);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }
  double(end: number): number {
    this.need(8, end);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }
  /** A length-delimited field's bytes, as [start, end) in the buffer. */
  span(end: number): [number, number] {
    const n = this.uint(end);
    this.need(n, end);
    const start = this.pos;
    this.pos += n;
    return [start, this.pos];
  }
  skip(wire: number, end: number): void {
    if (wire === VARINT) this.uint(end);
    else if (wire === FIXED64) (this.need(8, end), (this.pos += 8));
    else if (wire === LEN) this.span(end);
    else if (wire === FIXED32) (this.need(4, end), (this.pos += 4));
    else throw malformed(`wire type ${wire} is not used by OTLP`);
  }
}

/**
 * Reads the fields of one message, from the reader's position to `end`. `on` returns whether it
 * took the field; a field it does not take (unknown, or with another wire type) is skipped.
 */
function readFields(r: Reader, end: number, on: (field: number, wire: number) => boolean): void {
  while (r.pos < end) {
    const key = r.uint(end);
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (field === 0) throw malformed("a field has number 0");
    if (!on(field, wire)) r.skip(wire, end);
  }
}

function readText(r: Reader, end: number): string {
  const [a, b] = r.span(end);
  try {
    return utf8.decode(r.buf.subarray(a, b));
  } catch {
    throw malformed("a string is not valid UTF-8");
  }
}

function readHex(r: Reader, end: number): string {
  const [a, b] = r.span(end);
  let out = "";
  for (let i = a; i < b; i++) out += HEX[r.buf[i]!];
  return out;
}

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/**
 * Decodes an ExportTraceServiceRequest into the OTLP JSON mapping's shape. Read as protobuf
 * libraries read it: a known field with another wire type is skipped like an unknown one, a
 * singular field seen twice takes the last value, and a singular message seen twice is merged.
 */
export function decodeOtlpProto(bytes: Uint8Array, limits: CollectorLimits): Obj {
  if (bytes[0] === 0x7b || bytes[0] === 0x5b) throw malformed("it looks like JSON; send JSON with content-type: application/json");
  const r = new Reader(bytes);
  // Two bytes of protobuf make an empty span or value, which takes a hundred bytes of heap: the
  // decoded values are counted as they are made, so a small (or gzipped) body cannot exhaust an
  // isolate's memory before the span count is checked.
  // Merging repeated arrays or kvlists (below) moves their elements: each move is counted too, so
  // the decoding work, not only its result, stays proportional to this budget.
  let values = Math.floor(limits.maxBodyBytes / 8);
  let spans = limits.maxSpansPerTrace;
  const charge = (n: number): void => {
    values -= n;
    if (values < 0) throw new Refusal(413, "the request decodes into too many values", "resourceSpans", "send smaller batches");
  };
  const made = <T>(value: T): T => {
    charge(1);
    return value;
  };

  /** A sub-message inside a message ending at `outer`: `read` gets the sub-message's end. */
  const sub = <T>(outer: number, read: (end: number) => T): T => {
    const [start, end] = r.span(outer);
    r.pos = start;
    const value = read(end);
    r.pos = end;
    return value;
  };

  /** The repeated message field `field` of a message, each read with `read`. */
  const repeated = <T>(field: number, read: (end: number) => T) => (end: number): T[] => {
    const out: T[] = [];
    readFields(r, end, (f, w) => f === field && w === LEN && (out.push(sub(end, read)), true));
    return out;
  };

  const keyValue = (depth: number) => (end: number): Obj => {
    const kv: Obj = made({ key: "", value: {} });
    readFields(r, end, (f, w) => {
      if (w !== LEN) return false;
      if (f === 1) kv.key = readText(r, end);
      else if (f === 2) kv.value = mergeValue(kv.value as Obj, sub(end, anyValue(depth)), charge);
      else return false;
      return true;
    });
    return kv;
  };

  // AnyValue nests (arrays, kvlists): the depth is capped here so that a hostile request cannot
  // exhaust the stack; otlp-in.ts then refuses what is deeper than the limit, by path.
  const anyValue = (depth: number) => (end: number): Obj => {
    if (depth > limits.maxDepth + 1) throw new Refusal(400, `an attribute value is nested more than ${limits.maxDepth} levels deep`, "resourceSpans");
    let v: Obj = made({});
    readFields(r, end, (f, w) => {
      if (f === 1 && w === LEN) v = { stringValue: readText(r, end) };
      else if (f === 2 && w === VARINT) v = { boolValue: r.varint64(end) !== 0n };
      else if (f === 3 && w === VARINT) v = { intValue: BigInt.asIntN(64, r.varint64(end)).toString() };
      else if (f === 4 && w === FIXED64) {
        const d = r.double(end);
        // JSON has no NaN or Infinity: such a number is kept as its text, as core keeps its own.
        v = Number.isFinite(d) ? { doubleValue: d } : { stringValue: String(d) };
      } else if (f === 5 && w === LEN) v = mergeValue(v, { arrayValue: { values: sub(end, repeated(1, anyValue(depth + 1))) } }, charge);
      else if (f === 6 && w === LEN) v = mergeValue(v, { kvlistValue: { values: sub(end, repeated(1, keyValue(depth + 1))) } }, charge);
      else if (f === 7 && w === LEN) {
        const [a, b] = r.span(end);
        v = { bytesValue: base64(r.buf.subarray(a, b)) };
      } else return false;
      return true;
    });
    return v;
  };

  const event = (end: number): Obj => {
    const ev: Obj = made({ name: "", attributes: [] as Obj[] });
    readFields(r, end, (f, w) => {
      if (f === 1 && w === FIXED64) ev.timeUnixNano = r.fixed64(end).toString();
      else if (f === 2 && w === LEN) ev.name = readText(r, end);
      else if (f === 3 && w === LEN) (ev.attributes as Obj[]).push(sub(end, keyValue(0)));
      else return false;
      return true;
    });
    return ev;
  };

  const status = (end: number): Obj => {
    const st: Obj = {};
    readFields(r, end, (f, w) => {
      if (f === 2 && w === LEN) st.message = readText(r, end);
      else if (f === 3 && w === VARINT) st.code = Number(BigInt.asIntN(32, r.varint64(end))); // an int32 enum
      else return false;
      return true;
    });
    return st;
  };

  const span = (end: number): Obj => {
    if (--spans < 0) throw new Refusal(413, `more than ${limits.maxSpansPerTrace} spans in one request`, "resourceSpans", "send smaller batches");
    // Absent times stay absent (proto3 cannot tell them from 0): otlp-in.ts refuses a span without a start.
    const s: Obj = made({ traceId: "", spanId: "", parentSpanId: "", name: "", attributes: [] as Obj[], events: [] as Obj[] });
    readFields(r, end, (f, w) => {
      if (w === FIXED64 && (f === 7 || f === 8)) {
        const ns = r.fixed64(end);
        if (ns !== 0n) s[f === 7 ? "startTimeUnixNano" : "endTimeUnixNano"] = ns.toString();
        return true;
      }
      if (w !== LEN) return false;
      if (f === 1) s.traceId = readHex(r, end);
      else if (f === 2) s.spanId = readHex(r, end);
      else if (f === 4) s.parentSpanId = readHex(r, end);
      else if (f === 5) s.name = readText(r, end);
      else if (f === 9) (s.attributes as Obj[]).push(sub(end, keyValue(0)));
      else if (f === 11) (s.events as Obj[]).push(sub(end, event));
      else if (f === 15) s.status = { ...(s.status as Obj | undefined), ...sub(end, status) }; // a message seen twice is merged
      else return false;
      return true;
    });
    return s;
  };

  // ExportTraceServiceRequest.resource_spans (1) → ResourceSpans.scope_spans (2) → ScopeSpans.spans (2).
  // Each ResourceSpans and ScopeSpans is a value too (an empty one is two bytes).
  const scopeSpans = repeated(2, (end) => made({ spans: repeated(2, span)(end) }));
  return { resourceSpans: repeated(1, (end) => made({ scopeSpans: scopeSpans(end) }))(bytes.length) };
}

/**
 * Protobuf's merge of an AnyValue read twice (a field repeated, or two messages concatenated): an
 * empty one changes nothing, two arrays or two kvlists are joined, otherwise the later value wins.
 * The join appends to the earlier list in place (a field repeated n times costs n, not n² copies)
 * and charges every element it moves to the decoder's value budget.
 */
function mergeValue(before: Obj, after: Obj, charge: (n: number) => void): Obj {
  if (Object.keys(after).length === 0) return before;
  const list = (v: Obj) => ((v.arrayValue ?? v.kvlistValue) as { values: unknown[] } | undefined)?.values;
  const joined = (before.arrayValue && after.arrayValue) || (before.kvlistValue && after.kvlistValue) ? list(before) : undefined;
  if (!joined) return after;
  const more = list(after)!;
  charge(more.length);
  for (const item of more) joined.push(item);
  return before;
}

const varint = (n: number): number[] => {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 0x80)) out.push((n % 0x80) | 0x80);
  out.push(n);
  return out;
};

/** A message of an integer (field 1) and a text (field 2): google.rpc.Status and OTLP's ExportTracePartialSuccess have that shape. */
function intAndText(n: number, message: string): number[] {
  const text = new TextEncoder().encode(message);
  return [0x08, ...varint(n), 0x12, ...varint(text.length), ...text];
}

/** A google.rpc.Status message: code (1) and message (2), the error body OTLP/HTTP protobuf senders read. */
export function encodeStatus(code: number, message: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(intAndText(code, message));
}

/** An ExportTraceServiceResponse whose partial_success (1) says how many spans were rejected (1) and why (2). */
export function encodePartialSuccess(rejectedSpans: number, message: string): Uint8Array<ArrayBuffer> {
  const inner = intAndText(rejectedSpans, message);
  return Uint8Array.from([0x0a, ...varint(inner.length), ...inner]);
}
