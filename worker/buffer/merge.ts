import { TraceMetadataKey } from "../../core/model/constants.js";
import { aggregateTokenUsage, rootOf } from "../../core/model/finalize.js";
import type { SpanData, Trace, TraceInfo } from "../../core/model/types.js";
import { pyJsonDumps } from "../../core/serialize/py-json.js";

// One trace can arrive in parts: the browser's spans in one batch, the Worker's (whose root points
// at a browser span) in another, a resend of either at any time. Parts are merged by span id. The
// part that holds the true root (parentId null) describes the trace: its previews, state, start
// and duration win; tags and metadata are unioned, the root part winning a conflict. A copy of a
// span or of the root part never replaces one that ended later (see TraceBuffer.putOne).

export interface StoredInfo {
  info: TraceInfo;
  /** Whether `info` came from the part with the true root. */
  fromRoot: boolean;
}

export const hasTrueRoot = (trace: Trace): boolean => trace.data.spans.some((s) => s.parentId === null);

export function mergeInfo(existing: StoredInfo | undefined, incoming: Trace): StoredInfo {
  const fromRoot = hasTrueRoot(incoming);
  const next: StoredInfo = { info: incoming.info, fromRoot };
  if (!existing) return next;
  // Of two parts with the true root (a resend, or a hidden page's snapshot arriving after the
  // finished trace), the one that ended later: an earlier end is an older view of the trace.
  const incomingWins = fromRoot ? !existing.fromRoot || endOf(incoming.info) >= endOf(existing.info) : !existing.fromRoot;
  const [primary, secondary] = incomingWins ? [next, existing] : [existing, next];
  const info: TraceInfo = {
    ...secondary.info,
    ...primary.info,
    tags: { ...secondary.info.tags, ...primary.info.tags },
    traceMetadata: { ...secondary.info.traceMetadata, ...primary.info.traceMetadata },
  };
  if (!primary.fromRoot) {
    // No root yet: the trace spans at least from the earliest part's start to the latest end.
    const start = Math.min(existing.info.requestTime, incoming.info.requestTime);
    const end = Math.max(endOf(existing.info), endOf(incoming.info));
    info.requestTime = start;
    info.executionDuration = end - start;
    if (existing.info.state === "ERROR" || incoming.info.state === "ERROR") info.state = "ERROR";
  }
  return { info, fromRoot: primary.fromRoot };
}

const endOf = (info: TraceInfo): number => info.requestTime + (info.executionDuration ?? 0);

/** Spans of a merged trace, the true root first, then in start order (what MLflow and the Traces view expect). */
// The root goes first whatever its time says: the browser's and the Worker's clocks differ, so a
// Worker span can claim to start before the browser root it runs under. A stable sort otherwise:
// spans that started in the same millisecond (in Workers the clock only moves on I/O) keep the
// order they were stored in, parents before their children.
export const inStartOrder = (spans: SpanData[]): SpanData[] =>
  [...spans].sort((a, b) => (a.parentId === null ? 0 : 1) - (b.parentId === null ? 0 : 1) || a.startTime - b.startTime);

/**
 * Token usage of the merged trace. Each part summed only its own spans, and the root part's
 * metadata wins the union, so the Worker's LLM calls under a browser root would be left out.
 */
export function withMergedUsage(info: TraceInfo, spans: SpanData[]): TraceInfo {
  const usage = aggregateTokenUsage(spans);
  if (!usage) return info;
  return { ...info, traceMetadata: { ...info.traceMetadata, [TraceMetadataKey.TOKEN_USAGE]: pyJsonDumps(usage) } };
}

/** The name the Traces table shows: `mlflow.traceName`, else the root span's name. */
export function traceName(info: TraceInfo, spans: readonly SpanData[]): string | null {
  const tagged = info.tags["mlflow.traceName"];
  if (tagged) return tagged;
  return rootOf(spans)?.name ?? null;
}
