import { getCurrentActiveSpan } from "../core/index.js";
import { fail } from "../core/config.js";
import { traceparentOf } from "../core/model/remote-parent.js";

// W3C trace context on outgoing fetch, so a Worker (or any OpenTelemetry service) joins the
// browser's trace. Only allowlisted origins get the header: a traceparent reveals trace ids and is
// a non-simple header that turns cross-origin requests into CORS preflights.

export type OriginMatcher = string | RegExp;

/** What an allowlist must be, for the error that names it. */
export const ORIGIN_LIST = 'an array of origins ("https://api.example.com", no "*" or user@) or RegExps';

/**
 * Whether `list` is an allowlist: RegExps, and origins with a scheme (a bare "api.example.com"
 * would resolve against the page and match its own origin instead; a user:password@ would allow
 * the host after the "@"; a "*" matches no origin at all).
 */
export function isOriginList(list: unknown): boolean {
  return Array.isArray(list) && list.every((m) => m instanceof RegExp || (typeof m === "string" && /^https?:\/\/[^@*]+$/i.test(m) && parses(m)));
}

function parses(url: string): boolean {
  try {
    return Boolean(new URL(url));
  } catch {
    return false;
  }
}

/** Whether `url` is allowlisted: `allow` holds origins (as `URL.origin` writes them) and RegExps. */
function allowedBy(url: URL, allow: readonly OriginMatcher[]): boolean {
  return allow.some((m) => {
    if (typeof m === "string") return url.origin === m;
    m.lastIndex = 0; // a /g or /y RegExp would otherwise match every other request only
    return m.test(url.href);
  });
}

/**
 * Where a fetch of (`input`, `init`) goes, as fetch resolves it: a Request's own URL (also one of
 * another realm, an iframe's), else the string against the document's base (`<base href>`).
 * `undefined` when it does not parse: fetch itself will say so.
 */
function destinationOf(input: RequestInfo | URL): URL | undefined {
  const href = typeof input === "object" && input !== null && !(input instanceof URL) && typeof (input as Request).url === "string" ? (input as Request).url : String(input);
  try {
    return new URL(href, globalThis.document?.baseURI ?? globalThis.location?.href);
  } catch {
    return undefined;
  }
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
  if (!isOriginList(propagateTo)) fail("propagateTo", ORIGIN_LIST, propagateTo, "instrumentFetch");
  const original: Fetch = nativeFetch ?? (globalThis.fetch as Fetch);
  nativeFetch = original;
  const allow = propagateTo.map((m) => (typeof m === "string" ? new URL(m).origin : m)); // (checked absolute above)
  const patched: Fetch = function fetchWithTraceparent(input, init) {
    const span = getCurrentActiveSpan();
    const url = span && allow.length ? destinationOf(input) : undefined;
    // Anywhere else, the request goes as the app made it.
    if (!span || !url || !allowedBy(url, allow)) return original.call(globalThis, input, init);
    // The Request fetch itself would build from (input, init), built here: so a Request used as
    // init, or one from another realm, means what it means to fetch, and the header is added to
    // a copy, never to the caller's own Request.
    let request: Request;
    try {
      request = new Request(input, init);
    } catch {
      return original.call(globalThis, input, init); // let fetch itself report it
    }
    if (!request.headers.has("traceparent")) request.headers.set("traceparent", traceparentOf(span));
    return original.call(globalThis, request); // (its body, if any, moved to the copy)
  };
  globalThis.fetch = patched as typeof fetch;
  return () => {
    if (globalThis.fetch === patched) globalThis.fetch = original;
  };
}
