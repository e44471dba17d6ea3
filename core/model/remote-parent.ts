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
  /**
   * The caller's sampled flag: `false` (`-00`) when the caller does not record its trace (a page's
   * `sample` rate left it out). Spans under it are then not exported either, as MLflow's Python SDK
   * and OpenTelemetry's parent-based sampler record nothing under such a parent; their own
   * outgoing `traceparent` carries `-00` on.
   */
  readonly sampled: boolean;
  readonly remote: true;
}

/**
 * Parses `00-<32 hex>-<16 hex>-<2 hex flags>` (lower-case hex, as W3C Trace Context requires);
 * anything else (hostile or malformed) gives undefined.
 */
export function parseTraceparent(header: string | null | undefined): RemoteParent | undefined {
  if (typeof header !== "string" || header.length > 512) return undefined;
  const m = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/.exec(header.trim());
  if (!m || m[1] === "ff" || (m[1] === "00" && m[5] !== undefined)) return undefined;
  const [, , traceHex, spanHex, flags] = m as unknown as [string, string, string, string, string];
  if (!isHex(traceHex, 32) || !isHex(spanHex, 16)) return undefined;
  return { traceId: toMlflowTraceId(traceHex), spanId: spanHex, sampled: (parseInt(flags, 16) & 1) === 1, remote: true };
}

/**
 * The W3C `traceparent` naming a span (`00-<32 hex trace id>-<16 hex span id>-01`), for another
 * process to join; `-00` when its trace is not recorded (`sampled` false, or the span's trace
 * continues a caller's that is not).
 */
export function traceparentOf(span: { traceId: string; spanId: string }, sampled = isSampled(span)): string {
  return `00-${span.traceId.replace(/^tr-/, "")}-${span.spanId}-${sampled ? "01" : "00"}`;
}

const isSampled = (span: object): boolean => {
  const s = span as { sampled?: unknown; _record?: { sampledOut?: unknown } };
  return s.sampled !== false && s._record?.sampledOut !== true;
};

export const isRemoteParent = (value: unknown): value is RemoteParent =>
  typeof value === "object" && value !== null && (value as RemoteParent).remote === true;
