// The I/O seam of delivery (Sentry's TransportRequestExecutor idea): a runtime supplies only "send
// these bytes"; batching, backoff, Retry-After and the keepalive budget live in sender.ts.

/** What the sender knows about the request it asks for. */
export interface TransportHint {
  /** Send with `fetch(..., { keepalive: true })` so the request survives the page unloading. */
  keepalive: boolean;
  /** UTF-8 length of `body`. */
  bytes: number;
}

export interface TransportResult {
  /** HTTP status; 0 when the request never got a response (network error, offline, timeout). */
  status: number;
  /** From a `Retry-After` header, in ms from now. */
  retryAfterMs?: number;
  /** The start of an error response's body, for the warning when a batch is refused. */
  detail?: string;
}

/** Sends one ingest batch. Must not reject: a failure is `{ status: 0 }`. */
export type Transport = (body: string, hint: TransportHint) => Promise<TransportResult>;
