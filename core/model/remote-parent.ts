import { isHex, toMlflowTraceId } from "./ids.js";

/**
 * A parent span that lives in another process (a browser tab calling a Worker, say), known from a
 * W3C `traceparent` header. A span started under it joins that trace: same trace id, its parent id
 * pointing at the remote span; the collector merges both parts by trace id.
 */
export interface RemoteParent {
  /** MLflow trace id, `tr-<32 hex>`. */
  readonly traceId: string;
  /** The remote span's id, 16 hex characters. */
  readonly spanId: string;
  readonly remote: true;
}

/** Parses `00-<32 hex>-<16 hex>-<2 hex flags>`; anything else (hostile or malformed) gives undefined. */
export function parseTraceparent(header: string | null | undefined): RemoteParent | undefined {
  if (typeof header !== "string" || header.length > 512) return undefined;
  const m = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/.exec(header.trim().toLowerCase());
  if (!m || m[1] === "ff" || (m[1] === "00" && m[5] !== undefined)) return undefined;
  const [, , traceHex, spanHex] = m as unknown as [string, string, string, string];
  if (!isHex(traceHex, 32) || !isHex(spanHex, 16)) return undefined;
  return { traceId: toMlflowTraceId(traceHex), spanId: spanHex, remote: true };
}

/** The W3C `traceparent` naming a span (`00-<32 hex trace id>-<16 hex span id>-01`), for another process to join. */
export function traceparentOf(span: { traceId: string; spanId: string }): string {
  return `00-${span.traceId.replace(/^tr-/, "")}-${span.spanId}-01`;
}

export const isRemoteParent = (value: unknown): value is RemoteParent =>
  typeof value === "object" && value !== null && (value as RemoteParent).remote === true;
