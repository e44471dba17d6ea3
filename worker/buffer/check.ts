import type { Trace } from "../../core/model/types.js";
import { isRecord } from "../../core/serialize/trace-info.js";

// The minimum a trace needs before a shard writes it. The collector validates every field first;
// this guards the other callers (instrumented Workers put through the binding directly) so a bad
// trace is refused with its path instead of failing deep in SQLite, and refuses the whole batch
// before anything is written (put is one transaction, nothing half-stored).

const TRACE_ID = /^tr-[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;

export function checkTraces(traces: unknown): asserts traces is Trace[] {
  if (!Array.isArray(traces)) throw new TypeError("put(traces): traces must be an array of core Trace objects");
  traces.forEach((trace: unknown, i) => {
    const at = `traces[${i}]`;
    if (!isRecord(trace) || !isRecord(trace.info) || !isRecord(trace.data)) throw new TypeError(`${at} must be { info, data: { spans } }`);
    const { info, data } = trace;
    if (typeof info.traceId !== "string" || !TRACE_ID.test(info.traceId)) throw new TypeError(`${at}.info.traceId must be tr-<32 lowercase hex>`);
    if (typeof info.requestTime !== "number" || !Number.isFinite(info.requestTime)) throw new TypeError(`${at}.info.requestTime must be epoch milliseconds`);
    if (!isRecord(info.tags) || !isRecord(info.traceMetadata)) throw new TypeError(`${at}.info.tags and traceMetadata must be objects`);
    if (!Array.isArray(data.spans)) throw new TypeError(`${at}.data.spans must be an array`);
    data.spans.forEach((span: unknown, j) => {
      const sat = `${at}.data.spans[${j}]`;
      if (!isRecord(span)) throw new TypeError(`${sat} must be a span object`);
      if (typeof span.spanId !== "string" || !SPAN_ID.test(span.spanId)) throw new TypeError(`${sat}.spanId must be 16 lowercase hex`);
      if (!(span.parentId === null || (typeof span.parentId === "string" && SPAN_ID.test(span.parentId)))) throw new TypeError(`${sat}.parentId must be null or 16 lowercase hex`);
      if (typeof span.startTime !== "number" || !Number.isFinite(span.startTime)) throw new TypeError(`${sat}.startTime must be epoch milliseconds`);
      if (!(span.endTime === null || (typeof span.endTime === "number" && Number.isFinite(span.endTime)))) throw new TypeError(`${sat}.endTime must be epoch milliseconds or null`);
      // What rows.ts readSpan and the forwarder need to send or show the span: a span stored
      // without it would be acknowledged, then left out of the trace or never sent.
      if (typeof span.name !== "string") throw new TypeError(`${sat}.name must be a string`);
      if (!isRecord(span.status) || !isRecord(span.attributes) || !Array.isArray(span.events)) throw new TypeError(`${sat} needs status and attributes objects and an events array`);
      if (span.traceId !== info.traceId) throw new TypeError(`${sat}.traceId must be its trace's id ${info.traceId}`);
      span.events.forEach((event: unknown, k) => {
        if (!isRecord(event) || typeof event.name !== "string" || typeof event.timestamp !== "number" || !Number.isFinite(event.timestamp) || !isRecord(event.attributes)) {
          throw new TypeError(`${sat}.events[${k}] must be { name, timestamp (epoch milliseconds), attributes }`);
        }
      });
    });
  });
}
