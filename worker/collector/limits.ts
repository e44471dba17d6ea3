import { INGEST_LIMITS } from "../../core/export/fit.js";

// How much the collector takes. Every limit is a refusal with a clear message, never a truncation
// of someone's data. Defaults fit the browser client (60 KB keepalive batches, 1 MB for a single
// large trace) and MLflow's own limits (tag values, span counts) with room to spare.

export interface CollectorLimits {
  /** Request body bytes (default 1 MiB). */
  maxBodyBytes: number;
  /**
   * Traces in one `/v1/ingest` batch, trace ids in one OTLP request (default 512: OpenTelemetry's
   * batch processors export up to 512 spans at a time, which may all be traces of their own).
   */
  maxTracesPerBatch: number;
  /** Spans in one trace, or in one OTLP request (default 2000). */
  maxSpansPerTrace: number;
  /** JSON size of one value: inputs, outputs, one attribute, one event (default 256 KiB). */
  maxValueBytes: number;
  /** Attributes on one span (default 256); events on one span (default 1000). */
  maxAttributes: number;
  maxEvents: number;
  /** Tags and metadata entries on one trace (default 200 each). */
  maxTags: number;
  /** Characters of a key, a name or an id-like string (default 1000). */
  maxNameLength: number;
  /** Characters of a tag or metadata value, a preview, a status description (default 64 KiB). */
  maxTextLength: number;
  /** Nesting depth of any JSON value (default 64). */
  maxDepth: number;
}

/** The ingest protocol's limits (core/export/fit.ts, which clients cut their traces to), plus the collector's own. */
export const DEFAULT_LIMITS: CollectorLimits = {
  ...INGEST_LIMITS,
  maxTracesPerBatch: 512,
  maxDepth: 64,
};

const MAX_DEPTH = 256;

/** A createCollector() option that holds fields (`limits`, `rateLimit`): null, a string or an array is a TypeError naming it. */
export function checkFieldsOption(value: unknown, name: string, example: string): void {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`createCollector(): ${name} must be an object like ${example}; got ${value === null ? "null" : Array.isArray(value) ? "an array" : typeof value}.`);
  }
}

export function resolveLimits(overrides: Partial<CollectorLimits> = {}): CollectorLimits {
  const limits = { ...DEFAULT_LIMITS };
  checkFieldsOption(overrides, "limits", "{ maxBodyBytes: 1048576 }");
  for (const [key, value] of Object.entries(overrides)) {
    if (!(key in DEFAULT_LIMITS)) throw new TypeError(`createCollector(): unknown limit "${key}".`);
    if (value === undefined) continue;
    if (!Number.isInteger(value) || (value as number) < 1) throw new TypeError(`createCollector(): limits.${key} must be a positive integer; got ${JSON.stringify(value)}.`);
    // Decoding walks values recursively: deeper than this would overflow the stack (a 503 retried for ever).
    if (key === "maxDepth" && (value as number) > MAX_DEPTH) throw new TypeError(`createCollector(): limits.maxDepth must be at most ${MAX_DEPTH}; got ${value}.`);
    limits[key as keyof CollectorLimits] = value as number;
  }
  return limits;
}
