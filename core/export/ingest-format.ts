import type { Trace } from "../model/types.js";

// The wire format of `POST /v1/ingest`, browser → collector (docs/ingest-protocol.md is the
// prose version, and the Worker collector implements its server side). A batch is the core Trace
// objects as they are; trace ids make delivery idempotent, so a batch may arrive twice.

export const INGEST_PATH = "/v1/ingest";
export const INGEST_VERSION = 1;
/** Request header carrying the optional ingest key (a public, per-site key, not a secret). */
export const INGEST_KEY_HEADER = "x-mlflow-edge-key";

/** The request body. */
export interface IngestBatch {
  version: typeof INGEST_VERSION;
  traces: Trace[];
}

/** A 4xx response body: what failed, where in the body, how to fix it. */
export interface IngestError {
  error: string;
  /** JSON path of the offending value, e.g. `traces[3].info.traceId`; "" for the whole request. */
  path: string;
  hint: string;
}

const HEAD = `{"version":${INGEST_VERSION},"traces":[`;
const TAIL = "]}";
/** Bytes of a batch body beyond its traces' `QueuedTrace.bytes` (which count one comma each). */
export const INGEST_ENVELOPE_BYTES = HEAD.length + TAIL.length - 1;

/**
 * Builds a batch body from traces already serialized as JSON text (queue entries), without parsing
 * them again: byte-exact with `JSON.stringify({ version: 1, traces })`.
 */
export function encodeIngestBatch(traceBodies: readonly string[]): string {
  return HEAD + traceBodies.join(",") + TAIL;
}

/** Request headers for a batch. */
export function ingestHeaders(ingestKey?: string): Record<string, string> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (ingestKey) headers[INGEST_KEY_HEADER] = ingestKey;
  return headers;
}
