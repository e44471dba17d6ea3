import type { Json, SpanData, Trace } from "../../core/index.js";

// A span tree in a form tests can compare exactly, in Node and in the browser alike: parents by
// name, status without the STATUS_CODE_ prefix, user attributes (non-`mlflow.*`), events without
// timestamps (a non-empty exception stacktrace becomes "<stack>", since frames differ by runtime).

export type SpanShape = {
  name: string;
  parent: string | null;
  spanType: string;
  inputs?: Json;
  outputs?: Json;
  status: string;
  attrs?: Record<string, Json>;
  events?: { name: string; attributes: Record<string, unknown> }[];
};

export function shape(trace: Trace): SpanShape[] {
  const byId = new Map(trace.data.spans.map((s) => [s.spanId, s] as const));
  return trace.data.spans.map((s: SpanData) => {
    const out: SpanShape = {
      name: s.name,
      parent: s.parentId === null ? null : (byId.get(s.parentId)?.name ?? `<missing ${s.parentId}>`),
      spanType: s.spanType,
      status: s.status.statusCode.replace("STATUS_CODE_", ""),
    };
    if (s.inputs !== undefined) out.inputs = s.inputs;
    if (s.outputs !== undefined) out.outputs = s.outputs;
    const attrs = Object.fromEntries(Object.entries(s.attributes).filter(([k]) => !k.startsWith("mlflow.")));
    if (Object.keys(attrs).length) out.attrs = attrs;
    if (s.events.length) {
      out.events = s.events.map((e) => {
        const attributes: Record<string, unknown> = { ...e.attributes };
        if (typeof attributes["exception.stacktrace"] === "string" && attributes["exception.stacktrace"] !== "") attributes["exception.stacktrace"] = "<stack>";
        return { name: e.name, attributes };
      });
    }
    return out;
  });
}

/** What a test compares for a trace: its span tree and the trace-level fields a user sees. */
export type TraceShape = {
  spans: SpanShape[];
  state: string;
  tags: Record<string, string>;
  requestPreview?: string;
  responsePreview?: string;
};

export function traceShape(trace: Trace): TraceShape {
  const out: TraceShape = { spans: shape(trace), state: trace.info.state, tags: trace.info.tags };
  if (trace.info.requestPreview !== undefined) out.requestPreview = trace.info.requestPreview;
  if (trace.info.responsePreview !== undefined) out.responsePreview = trace.info.responsePreview;
  return out;
}
