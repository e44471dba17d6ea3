import type { IngestError } from "../../core/export/ingest-format.js";

// Every refusal the collector makes has one shape (docs/ingest-protocol.md): what failed, where in
// the request (a JSON path, "" for the whole request) and how to fix it.

export class Refusal extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 405 | 413 | 415 | 422 | 429 | 503,
    message: string,
    readonly path: string = "",
    readonly hint: string = "",
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  get body(): IngestError {
    return { error: this.message, path: this.path, hint: this.hint };
  }
}

// gRPC status codes, which OTLP/HTTP puts in its error body (a google.rpc.Status as JSON).
const GRPC_CODE: Record<Refusal["status"], number> = { 400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 413: 8, 415: 3, 422: 3, 429: 8, 503: 14 };

/** The `{code, message}` an OTLP/HTTP client reads from a refusal, beside our own fields. */
export function otlpStatus(r: Refusal): { code: number; message: string } {
  return { code: GRPC_CODE[r.status], message: r.message };
}

/** A JSON path segment: `.key`, or `["odd key"]` (cut to 60 characters) when the key is not a short identifier. */
export function pathKey(path: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) && key.length <= 60 ? `${path}${path ? "." : ""}${key}` : `${path}[${JSON.stringify(key.slice(0, 60))}]`;
}
