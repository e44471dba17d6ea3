import { warnOnce } from "../debug.js";
import { parseTraceparent, traceparentOf } from "../model/remote-parent.js";
import { getTracer } from "../tracer.js";

// MLflow's distributed tracing helpers (the TS SDK's names): carry the active span to another
// process as a W3C `traceparent` header, and start spans there as children of it. The browser's
// instrumentFetch and the Worker's instrument() do both on their own; these are for other code.

/** Request headers as a Fetch `Headers` or a plain record (Node's `req.headers`). */
export type TracingHeaders = { get(name: string): string | null } | Record<string, string | string[] | undefined>;

/**
 * `{ traceparent }` naming the active span, to send with an HTTP request so the receiver joins this
 * trace; `{}` (with a warning, once) when no span is active.
 * @example
 * await fetch(url, { headers: { ...mlflow.getTracingContextHeadersForHttpRequest() } });
 */
export function getTracingContextHeadersForHttpRequest(): Record<string, string> {
  const active = getTracer().contextManager.active();
  if (!active) {
    warnOnce("headers-no-span", "getTracingContextHeadersForHttpRequest() found no active span: no traceparent header to send.");
    return {};
  }
  return { traceparent: traceparentOf(active) };
}

function traceparentIn(headers: TracingHeaders | null | undefined): string | undefined {
  try {
    return readTraceparent(headers);
  } catch {
    return undefined; // headers that cannot be read (a throwing get(), a revoked Proxy): as none
  }
}

function readTraceparent(headers: TracingHeaders | null | undefined): string | undefined {
  if (!headers || typeof headers !== "object") return undefined;
  if (typeof headers.get === "function") return (headers as { get(name: string): string | null }).get("traceparent") ?? undefined;
  for (const key of Object.keys(headers)) {
    if (key.toLowerCase() !== "traceparent") continue;
    const value = (headers as Record<string, unknown>)[key];
    const first = Array.isArray(value) ? value[0] : value;
    return typeof first === "string" ? first : undefined;
  }
  return undefined;
}

/**
 * Runs `callback` with the span named by the request's `traceparent` header as the active parent:
 * spans started inside join the caller's trace. A missing or malformed header (it comes from
 * outside) is not an error: the callback runs anyway in the current context, as Python's
 * `set_tracing_context_from_http_request_headers` leaves it for a header it cannot parse, so its
 * spans nest under the active span if there is one and start a new trace otherwise, with a warning
 * once. (MLflow's SDKs throw for a missing header; a request must not fail over a tracing header.)
 * @example
 * app.post("/answer", (req, res) => mlflow.withTracingContextFromHeaders(req.headers, () => handle(req, res)));
 */
export function withTracingContextFromHeaders<T>(headers: TracingHeaders, callback: () => T): T {
  const parent = parseTraceparent(traceparentIn(headers));
  if (!parent) {
    warnOnce("headers-no-traceparent", "withTracingContextFromHeaders() got no valid traceparent header: spans inside nest under the active span, or start a new trace if there is none.");
    return callback();
  }
  return getTracer().contextManager.with(parent, callback);
}

/** `withTracingContextFromHeaders` for an async callback (the TS SDK's separate name). */
export function withTracingContextFromHeadersAsync<T>(headers: TracingHeaders, callback: () => Promise<T>): Promise<T> {
  return withTracingContextFromHeaders(headers, callback);
}
