import type { Json } from "../model/types.js";

// JSON text formatted the way Python's `json.dumps(v, ensure_ascii=False)` formats it (", " and
// ": " separators). MLflow's Python SDK writes attributes, previews and metadata like this, and
// the server compares and displays those strings, so matching it keeps our traces indistinguishable.

export function pyJsonDumps(value: Json): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "number":
      return Number.isFinite(value) ? JSON.stringify(value) : value > 0 ? "Infinity" : value < 0 ? "-Infinity" : "NaN";
    case "boolean":
      return value ? "true" : "false";
    default:
      break;
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
