import { errorText } from "../debug.js";
import type { Json } from "../model/types.js";
import { platformView } from "./platform.js";

// Captures any user value as JSON-safe data, once, at the moment it is recorded (MLflow serializes
// on set too, so later mutation of the user's object does not rewrite history). It never throws:
// getters that throw, revoked proxies, cycles, BigInt and huge values all become visible markers.

export const DEFAULT_MAX_VALUE_BYTES = 256 * 1024;
const MAX_DEPTH = 48;
const MAX_TYPED_ARRAY_ITEMS = 1024;

const markerText = (what: string): string => `[${what}]`;

/** What a value that could not be read is recorded as (a throwing getter, a revoked Proxy). */
export const unserializable = (error: unknown): string => markerText(`Unserializable: ${errorText(error)}`);

/**
 * `obj[key] = value` for keys from outside (user values, JSON from the network): the key
 * "__proto__" (JSON.parse makes it an ordinary key) stays an own property instead of replacing
 * the object's prototype, which loses the key and lets later reads see the value's fields.
 */
export function setKey<T>(obj: Record<string, T>, key: string, value: T): void {
  if (key === "__proto__") Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

// An inline image or file (`data:image/png;base64,...`, as multimodal chat messages carry them).
const BASE64_DATA_URI = /^data:[^,\s]{0,100};base64,/;

/**
 * A cut string keeps its head and says how much was dropped. A base64 data URI is not cut but
 * replaced by its type and size: its head decodes to nothing, and would fill the trace's room.
 */
export function truncateString(value: string, max: number): string {
  if (value.length <= max) return value;
  const dataUri = BASE64_DATA_URI.exec(value);
  if (dataUri) return `[${dataUri[0].slice(0, -1)}, ${value.length} chars]`;
  let keep = Math.max(0, max);
  if (keep > 0 && (value.charCodeAt(keep - 1) & 0xfc00) === 0xd800) keep--; // not half of an emoji
  return `${value.slice(0, keep)}...[truncated ${value.length - keep} chars]`;
}

let utf8Encoder: TextEncoder | undefined;

/** UTF-8 length of a string. */
export function utf8Length(text: string): number {
  utf8Encoder ??= new TextEncoder();
  return utf8Encoder.encode(text).length;
}

/**
 * Converts `value` into JSON-safe data whose JSON text (UTF-8, as a collector measures it) is at
 * most `maxBytes`. Top-level `undefined` becomes `null` (Python records a function returning None
 * as `null`).
 */
export function toJsonSafe(value: unknown, maxBytes: number = DEFAULT_MAX_VALUE_BYTES): Json {
  // The walk budgets UTF-16 units; escapes and UTF-8 take up to 6 bytes for one ("\u0000", "é" as
  // 2, "😀" as 4 for 2), so a capture that may be over is measured and taken again, smaller.
  let budget = maxBytes;
  for (let attempt = 0; attempt < 8; attempt++) {
    const [out, used] = captureValue(value, budget);
    if (used * 6 + 512 <= maxBytes) return out;
    const bytes = utf8Length(JSON.stringify(out));
    if (bytes <= maxBytes) return out;
    // Scaled from what the walk used, not from its budget: a text whose walk fitted the budget
    // (3-byte characters, 1400 of them in 4096 bytes) would otherwise shrink it for ever, uncut.
    budget = Math.floor((Math.min(budget, used) * maxBytes * 0.97) / bytes);
  }
  return markerText("Too large to capture");
}

/** The captured value and about how many JSON characters it takes. */
function captureValue(value: unknown, maxBytes: number): [Json, number] {
  switch (typeof value) {
    case "string": {
      const out = value.length + 2 <= maxBytes ? value : truncateString(value, maxBytes - 2);
      return [out, out.length + 2];
    }
    case "number":
    case "boolean":
    case "undefined":
    case "bigint":
    case "symbol":
    case "function": {
      const out = primitive(value) ?? null;
      return [out, typeof out === "string" ? out.length + 2 : 24];
    }
    default:
      if (value === null) return [null, 4];
  }
  const walker = new Walker(maxBytes);
  try {
    return [walker.walk(value, 0) ?? null, walker.used()];
  } catch (error) {
    return [unserializable(error), 64];
  }
}

function primitive(value: unknown): Json | undefined {
  switch (typeof value) {
    case "number":
      return Number.isFinite(value) ? value : String(value); // NaN/Infinity are not JSON
    case "boolean":
      return value;
    case "bigint":
      return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(value)
        : value.toString();
    case "symbol":
      return value.toString();
    case "function":
      return markerText(`Function ${nameOf(value) || "anonymous"}`);
  }
  return undefined; // undefined, and anything not a primitive
}

/** A function's name, or "" when it has none that is a string (a revoked Proxy throws on reading it). */
function nameOf(fn: unknown): string {
  try {
    const name = (fn as { name?: unknown }).name;
    return typeof name === "string" ? name : "";
  } catch {
    return "";
  }
}

class Walker {
  private budget: number;
  private readonly start: number;
  private readonly ancestors: object[] = [];

  constructor(maxBytes: number) {
    this.budget = this.start = maxBytes;
  }

  /** JSON characters spent, about (numbers count 8, truncation markers nothing). */
  used(): number {
    return this.start - this.budget;
  }

  walk(value: unknown, depth: number): Json | undefined {
    if (value === null) {
      this.budget -= 4;
      return null;
    }
    if (typeof value === "string") {
      const room = Math.max(16, this.budget - 2);
      const out = value.length > room ? truncateString(value, room) : value;
      this.budget -= out.length + 2;
      return out;
    }
    if (typeof value !== "object" && typeof value !== "function") {
      const out = primitive(value);
      this.budget -= out === undefined ? 0 : 8;
      return out;
    }
    if (typeof value === "function") return primitive(value);
    const obj = value as object;
    if (this.ancestors.includes(obj)) return markerText("Circular");
    if (depth >= MAX_DEPTH) return markerText(Array.isArray(obj) ? "Array" : "Object");
    this.ancestors.push(obj);
    try {
      return this.walkObject(obj, depth);
    } catch (error) {
      return unserializable(error);
    } finally {
      this.ancestors.pop();
    }
  }

  private walkObject(obj: object, depth: number): Json | undefined {
    if (Array.isArray(obj)) return this.walkList(obj, depth);
    if (obj instanceof Date) return Number.isNaN(obj.getTime()) ? "Invalid Date" : obj.toISOString();
    if (obj instanceof Error) return this.walkError(obj, depth);
    if (obj instanceof Map) return this.walkMap(obj, depth);
    if (obj instanceof Set) return this.walkIterable((obj as Set<unknown>)[Symbol.iterator](), obj.size, depth);
    if (obj instanceof RegExp) return obj.toString();
    // new String("s"), new Number(5): what JSON.stringify gives, not their index keys or {}.
    if (obj instanceof String || obj instanceof Number || obj instanceof Boolean) return this.walk(obj.valueOf(), depth);
    if (obj instanceof ArrayBuffer) return markerText(`ArrayBuffer ${obj.byteLength} bytes`);
    if (ArrayBuffer.isView(obj)) {
      if (obj instanceof DataView) return markerText(`DataView ${obj.byteLength} bytes`);
      // Only the items kept are copied (an embedding or audio buffer may hold millions), by index:
      // `subarray` would run a subclass's constructor.
      const typed = obj as unknown as ArrayLike<number | bigint>;
      const list = this.walkList(Array.prototype.slice.call(typed, 0, MAX_TYPED_ARRAY_ITEMS), depth);
      if (typed.length > MAX_TYPED_ARRAY_ITEMS) list.push(`...[${typed.length - MAX_TYPED_ARRAY_ITEMS} more items]`);
      return list;
    }
    if (typeof (obj as PromiseLike<unknown>).then === "function") return markerText("Promise");
    if (obj instanceof WeakMap || obj instanceof WeakSet) return markerText(obj.constructor.name);
    const view = platformView(obj);
    if (view !== undefined) return this.walk(view, depth + 1) ?? null;
    const toJSON = (obj as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === "function") {
      const replaced: unknown = toJSON.call(obj);
      return replaced === obj ? this.walkEntries(obj, depth) : this.walk(replaced, depth + 1);
    }
    return this.walkEntries(obj, depth);
  }

  private walkList(items: readonly unknown[], depth: number): Json[] {
    const out: Json[] = [];
    this.budget -= 2;
    for (let i = 0; i < items.length; i++) {
      if (this.budget <= 0) {
        out.push(`...[truncated ${items.length - i} items]`);
        break;
      }
      out.push(this.walk(items[i], depth + 1) ?? null);
      this.budget -= 1;
    }
    return out;
  }

  private walkEntries(obj: object, depth: number): { [key: string]: Json } {
    const out: { [key: string]: Json } = {};
    const keys = Object.keys(obj);
    this.budget -= 2;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      if (this.budget <= 0) {
        out["..."] = `[truncated ${keys.length - i} keys]`;
        break;
      }
      let item: unknown;
      try {
        item = (obj as Record<string, unknown>)[key];
      } catch (error) {
        item = markerText(`Throws: ${errorText(error)}`);
      }
      this.entry(out, key, item, depth);
    }
    return out;
  }

  private entry(out: { [key: string]: Json }, key: string, item: unknown, depth: number): void {
    const json = this.walk(item, depth + 1);
    if (json !== undefined) {
      setKey(out, key, json);
      this.budget -= key.length + 4;
    }
  }

  /** A Set's values or a Map's entries, read only as far as the budget goes (a cache may hold millions). */
  private walkIterable(items: Iterator<unknown>, size: number, depth: number): Json[] {
    const out: Json[] = [];
    this.budget -= 2;
    for (let next = items.next(); !next.done; next = items.next()) {
      if (this.budget <= 0) {
        out.push(`...[truncated ${size - out.length} items]`);
        break;
      }
      out.push(this.walk(next.value, depth + 1) ?? null);
      this.budget -= 1;
    }
    return out;
  }

  private walkError(error: Error, depth: number): Json {
    // name and message are strings on any Error the platform made, but an app can set them to anything.
    const text = (v: unknown): Json => (typeof v === "string" ? v : (this.walk(v, depth + 1) ?? null));
    const out: { [key: string]: Json } = { name: text(error.name), message: text(error.message) };
    if (typeof error.stack === "string") out.stack = error.stack;
    const length = (v: Json | undefined) => (typeof v === "string" ? v.length : 16);
    this.budget -= length(out.name) + length(out.message) + length(out.stack) + 32;
    if (error.cause !== undefined) out.cause = this.walk(error.cause, depth + 1) ?? null;
    const rest = this.walkEntries(error, depth);
    return { ...rest, ...out };
  }

  /** An object when every key is a primitive (as Python's dict), else a list of [key, value] pairs; read only as far as the budget goes. */
  private walkMap(map: Map<unknown, unknown>, depth: number): Json {
    for (const k of map.keys()) if (typeof k === "object" && k !== null) return this.walkIterable(map.entries(), map.size, depth);
    const out: { [key: string]: Json } = {};
    this.budget -= 2;
    let i = 0;
    for (const [k, v] of map) {
      if (this.budget <= 0) {
        out["..."] = `[truncated ${map.size - i} keys]`;
        break;
      }
      this.entry(out, String(k), v, depth);
      this.budget -= 1; // an undefined value, left out, still costs its read
      i++;
    }
    return out;
  }
}
