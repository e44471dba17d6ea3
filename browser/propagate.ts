import { getCurrentActiveSpan } from "../core/index.js";
import { traceparentOf } from "../core/model/remote-parent.js";

// W3C trace context on outgoing fetch, so a Worker (or any OpenTelemetry service) joins the
// browser's trace. Only allowlisted origins get the header: a traceparent reveals trace ids and is
// a non-simple header that turns cross-origin requests into CORS preflights.

export type OriginMatcher = string | RegExp;

/** What fetch resolves a relative URL against: the document's base (a `<base href>`), else the location. */
const base = (): string => (typeof document === "object" && document?.baseURI) || location.href;

function matches(url: URL, allow: readonly OriginMatcher[]): boolean {
  return allow.some((m) => {
    if (typeof m === "string") return url.origin === new URL(m, location.href).origin;
    m.lastIndex = 0; // a /g or /y RegExp would otherwise match every other request only
    return m.test(url.href);
  });
}

type Fetch = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;
let nativeFetch: Fetch | undefined;

/** The fetch that was there before instrumentation: exports use it so they never trace themselves. */
export function getNativeFetch(): Fetch {
  return nativeFetch ?? (globalThis.fetch.bind(globalThis) as Fetch);
}

/**
 * Patches `globalThis.fetch` so requests to allowlisted origins carry `traceparent` for the active
 * span. Idempotent; returns a function that restores the original fetch.
 */
export function instrumentFetch(propagateTo: readonly OriginMatcher[]): () => void {
  const original: Fetch = nativeFetch ?? (globalThis.fetch as Fetch);
  nativeFetch = original;
  const allow = [...propagateTo];
  const patched: Fetch = function fetchWithTraceparent(input, init) {
    const span = getCurrentActiveSpan();
    if (span && allow.length) {
      try {
        const url = new URL(input instanceof Request ? input.url : String(input), base());
        if (matches(url, allow)) {
          const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
          if (!headers.has("traceparent")) headers.set("traceparent", traceparentOf(span));
          return original.call(globalThis, input, { ...init, headers });
        }
      } catch {
        // an unparsable URL: let fetch itself report it
      }
    }
    return original.call(globalThis, input, init);
  };
  globalThis.fetch = patched as typeof fetch;
  return () => {
    if (globalThis.fetch === patched) globalThis.fetch = original;
  };
}
