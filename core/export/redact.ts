import type { Json, SpanData, SpanEvent, Trace } from "../model/types.js";

// Redaction runs on the finished trace before it is stored anywhere (IndexedDB, a Durable Object):
// data at rest never holds what the hook removed. The default masks values under secret-looking
// keys, deep in inputs, outputs and attributes, and inside strings that embed JSON or query strings
// (MLflow's trace metadata and previews are JSON text of the root's inputs and outputs).

/** Gets the finished trace; returns the trace to keep (a copy, or the same object) or `null` to drop it. */
export type RedactHook = (trace: Trace) => Trace | null;

export const REDACTED = "[REDACTED]";

export interface RedactorOptions {
  /** More keys to mask: strings match the normalized key (case, `-`, `_` ignored) exactly; RegExps test the raw key. */
  keys?: readonly (string | RegExp)[];
  /** More patterns to mask inside any string (each match becomes [REDACTED]). Use the `g` flag. */
  patterns?: readonly RegExp[];
}

// Compared after lowercasing and dropping everything but letters and digits, so apiKey, api_key,
// API-KEY and x-api-key all match. A suffix match, so access_token and client_secret do too, while
// token counts (input_tokens, mlflow.chat.tokenUsage) do not.
const SECRET_KEY = /(authorization|apikey|password|passwd|passphrase|secret|cookie|token|credentials?|privatekey|accesskey|bearer|jwt|auth)$/;

// Secret-shaped values wherever they appear: auth schemes, and well-known key formats.
const SECRET_VALUES: readonly RegExp[] = [
  /\b(?:Bearer|Basic|Token)\s+[A-Za-z0-9\-._~+/]+=*/gi,
  /\bsk-[A-Za-z0-9_-]{16,}/g, // OpenAI, Anthropic (sk-ant-…)
  /\bAIza[0-9A-Za-z_-]{35}/g, // Google (Gemini's ?key=)
  /\b(?:gsk|hf)_[A-Za-z0-9]{20,}/g, // Groq, Hugging Face
  /\bAKIA[0-9A-Z]{16}\b/g, // AWS access key id
  /\bgh[pousr]_[A-Za-z0-9]{30,}/g, // GitHub tokens
  /\bxox[abprs]-[A-Za-z0-9-]{10,}/g, // Slack tokens
];

// "key": value inside JSON text, plain or escaped once (JSON inside a JSON string). A bare value
// never starts an object or array, so a key whose value is one does not swallow the keys inside.
const JSON_PAIR = /"([^"\\]{1,80})"(\s*:\s*)("(?:[^"\\]|\\.)*"|[^,{}[\]\s]+)/g;
const ESCAPED_JSON_PAIR = /\\"([^"\\]{1,80})\\"(\s*:\s*)(\\"(?:(?!\\").)*\\"|[^,{}[\]\s\\]+)/g;
// key=value in query strings and form bodies.
const QUERY_PAIR = /([A-Za-z0-9_.-]{1,80})=([^&\s#"']+)/g;

/** Builds a redaction hook; `redactSecrets` is the default one. */
export function createRedactor(options: RedactorOptions = {}): RedactHook {
  const exact = new Set((options.keys ?? []).filter((k): k is string => typeof k === "string").map(normalize));
  const regexps = (options.keys ?? []).filter((k): k is RegExp => k instanceof RegExp);
  const patterns = [...SECRET_VALUES, ...(options.patterns ?? [])];
  const isSecretKey = (key: string): boolean => {
    const n = normalize(key);
    return SECRET_KEY.test(n) || exact.has(n) || regexps.some((r) => r.test(key));
  };
  const scrub = (text: string): string => {
    let out = text;
    if (out.includes('"')) {
      out = out.replace(JSON_PAIR, (m, k: string, sep: string) => (isSecretKey(k) ? `"${k}"${sep}"${REDACTED}"` : m));
      out = out.replace(ESCAPED_JSON_PAIR, (m, k: string, sep: string) => (isSecretKey(k) ? `\\"${k}\\"${sep}\\"${REDACTED}\\"` : m));
    }
    if (out.includes("=")) out = out.replace(QUERY_PAIR, (m, k: string) => (isSecretKey(k) ? `${k}=${REDACTED}` : m));
    for (const pattern of patterns) out = out.replace(pattern, (m) => (/^(Bearer|Basic|Token)\s/i.test(m) ? `${m.split(/\s/)[0]} ${REDACTED}` : REDACTED));
    return out;
  };
  const value = (v: Json, depth: number): Json => {
    if (typeof v === "string") return scrub(v);
    if (v === null || typeof v !== "object" || depth > 64) return v;
    if (Array.isArray(v)) return v.map((item) => value(item, depth + 1));
    const out: { [key: string]: Json } = {};
    for (const key of Object.keys(v)) out[key] = isSecretKey(key) ? REDACTED : value(v[key] as Json, depth + 1);
    return out;
  };
  const record = <T extends Json>(r: Record<string, T>): Record<string, T> => value(r as { [key: string]: Json }, 0) as Record<string, T>;
  const event = (e: SpanEvent): SpanEvent => ({ ...e, attributes: record(e.attributes as Record<string, Json>) as SpanEvent["attributes"] });
  const span = (s: SpanData): SpanData => ({
    ...s,
    name: scrub(s.name),
    status: { ...s.status, description: scrub(s.status.description) },
    inputs: s.inputs === undefined ? undefined : value(s.inputs, 0),
    outputs: s.outputs === undefined ? undefined : value(s.outputs, 0),
    attributes: record(s.attributes),
    events: s.events.map(event),
  });
  return (trace) => ({
    info: {
      ...trace.info,
      requestPreview: trace.info.requestPreview === undefined ? undefined : scrub(trace.info.requestPreview),
      responsePreview: trace.info.responsePreview === undefined ? undefined : scrub(trace.info.responsePreview),
      traceMetadata: record(trace.info.traceMetadata),
      tags: record(trace.info.tags),
    },
    data: { spans: trace.data.spans.map(span) },
  });
}

function normalize(key: string): string {
  return key.toLowerCase().replace(/[^a-z0-9]/g, "");
}

/**
 * The default redaction: masks values under keys like authorization, api_key/apiKey, password,
 * token, secret, cookie (any case, at any depth) and secret-shaped strings (Bearer …, sk-…).
 * @example
 * initBrowser({ collectorUrl, redact: (trace) => redactSecrets(myOwnMasking(trace)) });
 */
export const redactSecrets: RedactHook = createRedactor();
