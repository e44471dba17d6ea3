import type { IngestError } from "../../core/export/ingest-format.js";

// Every refusal the collector makes has one shape (docs/ingest-protocol.md): what failed, where in
// the request (a JSON path, "" for the whole request) and how to fix it.

export class Refusal extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 413 | 415 | 422 | 429 | 503,
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

/** A JSON path segment: `.key`, or `["odd key"]` when the key is not an identifier. */
export function pathKey(path: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}${path ? "." : ""}${key}` : `${path}[${JSON.stringify(key.slice(0, 60))}]`;
}
