import type { Json } from "../../core/model/types.js";
import { Refusal } from "./refusal.js";

// OTLP JSON AnyValue / KeyValue decoding, strict: every value has exactly one of the typed fields
// with the type the OTLP JSON mapping gives it, or the request is refused with the value's path.
// A lenient decoder would quietly turn `{"stringValue": {}}` into "[object Object]" and store it.

const bad = (path: string, message: string, hint = "") => new Refusal(400, message, path, hint);
const VALUE_FIELDS = ["stringValue", "boolValue", "intValue", "doubleValue", "arrayValue", "kvlistValue", "bytesValue"] as const;
const INT = /^-?\d{1,20}$/;
const INT64_END = 2n ** 63n;
const inInt64 = (n: bigint) => n >= -INT64_END && n < INT64_END;
const DOUBLE = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

export function decodeAnyValue(v: unknown, path: string, maxDepth: number, depth = 0): Json {
  if (depth > maxDepth) throw bad(path, `${path} is nested more than ${maxDepth} levels deep`);
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw bad(path, `${path} must be an OTLP AnyValue object`);
  const a = v as Record<string, unknown>;
  // In the OTLP (proto3) JSON mapping a null field is an unset one: OpenTelemetry JS's serializer
  // writes a NaN or Infinity double as `{"doubleValue": null}` (JSON.stringify has no NaN).
  const present = VALUE_FIELDS.filter((f) => a[f] !== undefined && a[f] !== null);
  if (present.length > 1) throw bad(path, `${path} sets ${present.join(" and ")}; an AnyValue holds one value`);
  const unknown = Object.keys(a).filter((k) => !(VALUE_FIELDS as readonly string[]).includes(k));
  if (present.length === 0) {
    if (unknown.length > 0) throw bad(path, `${path} has no AnyValue field (got ${unknown.slice(0, 3).join(", ")})`, `use one of ${VALUE_FIELDS.join(", ")}`);
    return null; // an unset value: what Python's exporter sends for None
  }
  const field = present[0]!;
  const x = a[field];
  switch (field) {
    case "stringValue":
    case "bytesValue": // base64 text; MLflow has no bytes attribute type, the text is kept
      if (typeof x !== "string") throw bad(`${path}.${field}`, `${path}.${field} must be a string`);
      return x;
    case "boolValue":
      if (typeof x !== "boolean") throw bad(`${path}.boolValue`, `${path}.boolValue must be true or false`);
      return x;
    case "intValue": {
      // int64 travels as a decimal string in OTLP JSON; a plain JSON integer is accepted too (up
      // to 2^63 in size: int64's ends as a double rounds them).
      const ok = (typeof x === "string" && INT.test(x) && inInt64(BigInt(x))) || (typeof x === "number" && Number.isInteger(x) && Math.abs(x) <= 2 ** 63);
      if (!ok) throw bad(`${path}.intValue`, `${path}.intValue must be an int64 (a decimal string from -9223372036854775808 to 9223372036854775807)`);
      // Beyond 2^53 a JavaScript number would round it (an id, a hash): keep its exact digits.
      const n = Number(x);
      return Number.isSafeInteger(n) || typeof x === "number" ? n : String(x);
    }
    case "doubleValue": {
      // proto3 JSON spells the non-finite doubles as strings; JSON has no NaN, so such a value is
      // kept as its text, as the protobuf path and core keep it.
      if (x === "NaN" || x === "Infinity" || x === "-Infinity") return x;
      const n = typeof x === "number" ? x : typeof x === "string" && DOUBLE.test(x.trim()) ? Number(x) : Number.NaN;
      if (!Number.isFinite(n)) throw bad(`${path}.doubleValue`, `${path}.doubleValue must be a number, "NaN", "Infinity" or "-Infinity"`);
      return n;
    }
    case "arrayValue":
      return listOf(x, `${path}.arrayValue`).map((item, i) => decodeAnyValue(item, `${path}.arrayValue.values[${i}]`, maxDepth, depth + 1));
    default:
      return decodeKeyValues(listOf(x, `${path}.kvlistValue`), `${path}.kvlistValue.values`, maxDepth, depth + 1);
  }
}

function listOf(container: unknown, path: string): unknown[] {
  if (typeof container !== "object" || container === null || Array.isArray(container)) throw bad(path, `${path} must be an object with a values array`);
  const values = (container as { values?: unknown }).values ?? [];
  if (!Array.isArray(values)) throw bad(`${path}.values`, `${path}.values must be an array`);
  return values;
}

/** `[{key, value}, …]` → a record (a repeated key: the last one wins, as in OpenTelemetry SDKs). */
export function decodeKeyValues(list: unknown, path: string, maxDepth: number, depth = 0): { [key: string]: Json } {
  if (!Array.isArray(list)) throw bad(path, `${path} must be an array of {key, value}`);
  const entries: [string, Json][] = list.map((kv, i) => {
    if (typeof kv !== "object" || kv === null) throw bad(`${path}[${i}]`, `${path}[${i}] must be a {key, value} object`);
    const k = (kv as { key?: unknown }).key;
    if (typeof k !== "string" || k === "") throw bad(`${path}[${i}].key`, `${path}[${i}].key must be a non-empty string`);
    return [k, decodeAnyValue((kv as { value?: unknown }).value ?? {}, `${path}[${i}].value`, maxDepth, depth)];
  });
  // fromEntries defines own properties: a key "__proto__" stays data instead of a prototype.
  return Object.fromEntries(entries);
}

/**
 * MLflow's own OTLP ingest JSON-encodes every decoded value and then strips one layer of double
 * encoding (`sanitize_attributes`): a string that is itself JSON of a string, object or array is
 * replaced by what it encodes; JSON of a number, boolean or null stays the string it is. So
 * `"\"LLM\""` → `"LLM"`, `"{\"q\":1}"` → `{q: 1}`, but `"42"` stays `"42"`.
 */
export function mlflowAttributeValue(value: Json): Json {
  if (typeof value !== "string") return value;
  try {
    const inner = JSON.parse(value) as Json;
    return typeof inner === "string" || (typeof inner === "object" && inner !== null) ? inner : value;
  } catch {
    return value;
  }
}
