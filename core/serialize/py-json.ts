import type { Json } from "../model/types.js";

// JSON text formatted the way Python's `json.dumps(v, ensure_ascii=False)` formats it (", " and
// ": " separators). MLflow's Python SDK writes attributes, previews and metadata like this, and
// the server compares and displays those strings, so matching it keeps our traces indistinguishable.

/**
 * A number as Python's `repr` writes a float: the same shortest digits as JavaScript, but in
 * exponent form below 1e-4 (`1e-05`, `2.5e-09`: at least two exponent digits, signed), where
 * JavaScript writes `0.00001`. (A non-integer is never 1e16 or more; integers print alike.)
 */
function pyNumber(n: number): string {
  if (Number.isInteger(n) || Math.abs(n) >= 1e-4) return JSON.stringify(n);
  const [mantissa, exponent] = n.toExponential().split("e") as [string, string];
  const e = Number(exponent);
  return `${mantissa}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
}

export function pyJsonDumps(value: Json): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "number":
      return Number.isFinite(value) ? pyNumber(value) : value > 0 ? "Infinity" : value < 0 ? "-Infinity" : "NaN";
    case "boolean":
      return value ? "true" : "false";
  }
  if (Array.isArray(value)) {
    let out = "[";
    for (let i = 0; i < value.length; i++) out += (i ? ", " : "") + pyJsonDumps(value[i] as Json);
    return out + "]";
  }
  let out = "{";
  let first = true;
  for (const key in value) {
    out += (first ? "" : ", ") + JSON.stringify(key) + ": " + pyJsonDumps(value[key] as Json);
    first = false;
  }
  return out + "}";
}

/** `json.dumps(v)` with Python's default ensure_ascii: every character past `~` as `\uXXXX` (UTF-16 units). */
export const pyJsonDumpsAscii = (value: Json): string =>
  pyJsonDumps(value).replace(/[\u007f-\uffff]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));

/** The first `max` characters as Python counts them (code points), never half a surrogate pair. */
export function pyPrefix(text: string, max: number): string {
  if (text.length <= max) return text;
  let units = 0;
  for (let chars = 0; chars < max && units < text.length; chars++) units += (text.codePointAt(units) as number) > 0xffff ? 2 : 1;
  return text.slice(0, units);
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * `text` with every lone surrogate (half an emoji, from a careless cut upstream) replaced by U+FFFD.
 * MLflow's server parses requests with protobuf, which stops at one and silently drops the rest of
 * the message: a trace's tags and metadata, or its spans.
 */
export function wellFormed(text: string): string {
  const s = text as string & { toWellFormed?: () => string };
  return s.toWellFormed ? s.toWellFormed() : text.replace(LONE_SURROGATE, "\ufffd");
}

/** JSON.stringify with every string value well-formed, for requests to MLflow (tag and metadata keys: see `cut`). */
export function wellFormedJson(value: unknown): string {
  const json = JSON.stringify(value);
  // JSON.stringify writes a lone surrogate as a \udXXX escape: only then is a second, slower pass needed.
  return /\\ud[89a-f]/i.test(json) ? JSON.stringify(value, (_key, v: unknown) => (typeof v === "string" ? wellFormed(v) : v)) : json;
}
