import type { Trace, TraceInfo } from "../core/model/types.js";

// The seam between the collector (Hono app) and where traces live: the sharded TraceBuffer
// Durable Objects in production, anything with these methods in a test. Every method is
// idempotent by trace id; nothing here is deleted before MLflow acknowledged it.

/** Where a trace is on its way to MLflow. */
export type ForwardingState = "buffered" | "forwarded" | "dead-lettered" | "not-configured";

/** One row of the Traces table (what `GET /api/traces` lists). */
export interface TraceSummary {
  traceId: string;
  /** `mlflow.traceName`, else the root span's name. */
  name: string | null;
  state: TraceInfo["state"];
  requestPreview: string | null;
  responsePreview: string | null;
  /** Epoch ms. */
  requestTime: number;
  executionDuration: number | null;
  spanCount: number;
  tags: Record<string, string>;
  forwarding: ForwardingState;
  /** Forwarding attempts so far. */
  attempts: number;
  /** The last forwarding failure, as MLflow (or the network) put it. */
  lastError: string | null;
  /** Epoch ms: first and latest time a part of this trace was received. */
  receivedAt: number;
  updatedAt: number;
}

export interface TraceQuery {
  /** Page size, 1..200 (default 50). */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
  status?: "OK" | "ERROR" | "IN_PROGRESS";
  /** `key` or `key=value`. */
  tag?: string;
  /** Case-insensitive substring of the name, previews or trace id. */
  text?: string;
  forwarding?: ForwardingState;
}

export interface TracePage {
  /** Newest first (by requestTime, then trace id). */
  traces: TraceSummary[];
  nextCursor: string | null;
}

export interface StoredTrace {
  summary: TraceSummary;
  /** All spans received so far, merged by span id. */
  trace: Trace;
}

export interface PutResult {
  /** Trace ids seen for the first time. */
  stored: number;
  /** Trace ids already known that gained spans or info (a later part of a split trace). */
  merged: number;
  /** Trace ids already known with nothing new (a resend). */
  duplicates: number;
}

export interface TraceStore {
  /** Resolves only once every trace is durably stored (or was already). */
  put(traces: Trace[]): Promise<PutResult>;
  list(query: TraceQuery): Promise<TracePage>;
  get(traceId: string): Promise<StoredTrace | null>;
  /** Moves a dead-lettered trace back to the forwarding queue; false when there is no dead-lettered trace of that id. */
  retry(traceId: string): Promise<boolean>;
}
