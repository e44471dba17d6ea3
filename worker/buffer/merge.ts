import type { SpanData, Trace, TraceInfo } from "../../core/model/types.js";

// One trace can arrive in parts: the browser's spans in one batch, the Worker's (whose root points
// at a browser span) in another, a resend of either at any time. Parts are merged by span id. The
// part that holds the true root (parentId null) describes the trace: its previews, state, start
// and duration win; tags and metadata are unioned, the root part winning a conflict.

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
  const [primary, secondary] = fromRoot || !existing.fromRoot ? [next, existing] : [existing, next];
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

/** Spans of a merged trace in start order (what MLflow and the Traces view expect). */
// A stable sort: spans that started in the same millisecond (in Workers the clock only moves on
// I/O) keep the order they were stored in, parents before their children.
export const inStartOrder = (spans: SpanData[]): SpanData[] => [...spans].sort((a, b) => a.startTime - b.startTime);

/** The name the Traces table shows: `mlflow.traceName`, else the root span's name. */
export function traceName(info: TraceInfo, spans: readonly SpanData[]): string | null {
  const tagged = info.tags["mlflow.traceName"];
  if (tagged) return tagged;
  const ids = new Set(spans.map((s) => s.spanId));
  return spans.find((s) => s.parentId === null || !ids.has(s.parentId))?.name ?? null;
}
