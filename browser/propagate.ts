import { getCurrentActiveSpan } from "../core/index.js";
import { fail } from "../core/config.js";
import { isDev, warnOnce } from "../core/debug.js";
import { traceparentOf } from "../core/model/remote-parent.js";
import { sampledIn, validateSample } from "../core/export/queue-exporter.js";

// W3C trace context on outgoing fetch, so a Worker (or any OpenTelemetry service) joins the
// browser's trace. Only allowlisted origins get the header: a traceparent reveals trace ids and is
// a non-simple header that turns cross-origin requests into CORS preflights.

export type OriginMatcher = string | RegExp;

/** What an allowlist must be, for the error that names it. */
export const ORIGIN_LIST = 'an array of origins ("https://api.example.com": no path, "*" or user@) or RegExps';

/**
 * Whether `list` is an allowlist: RegExps, and origins with a scheme (a bare "api.example.com"
 * would resolve against the page and match its own origin instead; a user:password@ would allow
 * the host after the "@"; a "*" matches no origin at all; a path, "https://api.example.com/v1",
 * would allow the whole origin, not that path).
 */
export function isOriginList(list: unknown): boolean {
  return Array.isArray(list) && list.every((m) => m instanceof RegExp || (typeof m === "string" && /^https?:\/\/[^@*]+$/i.test(m) && isOrigin(m)));
}

function isOrigin(url: string): boolean {
  try {
    const { host, pathname, search, hash } = new URL(url);
    // (host: "https://%2A.example.com" is read as *.example.com, which no origin is)
    return !host.includes("*") && pathname === "/" && !search && !hash && !url.endsWith("?") && !url.endsWith("#");
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

/** Whether `value` is a platform object of `kind` ("Request", "Headers"), also one of another realm (an iframe's). */
const isA = (value: unknown, kind: string): boolean => Object.prototype.toString.call(value) === `[object ${kind}]`;

/**
 * Where a fetch of (`input`, `init`) goes, as fetch resolves it: a Request's own URL, else what
 * String() makes of it, against the document's base (`<base href>`). `undefined` when it does not
 * parse: fetch itself will say so.
 */
function destinationOf(input: RequestInfo | URL): URL | undefined {
  try {
    return new URL(isA(input, "Request") ? (input as Request).url : String(input), globalThis.document?.baseURI ?? globalThis.location?.href);
  } catch {
    return undefined;
  }
}

/**
 * `headers` (a fetch init's, in any of its forms) with `traceparent` added, in the same form: a
 * fetch wrapper of the app's further down may spread a record or an array (a Headers object spread
 * is empty). Unchanged when it already has one.
 */
function addTraceparent(headers: HeadersInit | undefined, value: string): HeadersInit {
  if (headers === undefined || headers === null) return { traceparent: value };
  if (isA(headers, "Headers")) {
    const copy = new Headers(headers);
    if (!copy.has("traceparent")) copy.set("traceparent", value);
    return copy;
  }
  // Pairs in any iterable fetch takes (an array, a Map, URLSearchParams, a polyfill's Headers), else a record.
  const iterable = typeof (headers as { [Symbol.iterator]?: unknown })[Symbol.iterator] === "function";
  const pairs: [string, string][] = iterable ? Array.from(headers as Iterable<[string, string]>) : Object.entries(headers);
  if (pairs.some((pair) => String(pair[0]).toLowerCase() === "traceparent")) return iterable ? pairs : headers;
  return iterable ? [...pairs, ["traceparent", value]] : { ...headers, traceparent: value };
}

const isPlainObject = (value: object): boolean => [Object.prototype, null].includes(Object.getPrototypeOf(value));

type Fetch = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;
let nativeFetch: Fetch | undefined;

/** The fetch that was there before instrumentation: exports use it so they never trace themselves. */
export function getNativeFetch(): Fetch {
  return nativeFetch ?? (globalThis.fetch.bind(globalThis) as Fetch);
}

/**
 * Patches `globalThis.fetch` so requests to allowlisted origins carry `traceparent` for the active
 * span. Wraps the fetch in place now (an app's own wrapper installed before, or after an earlier
 * setup was shut down, stays in the chain); returns a function that stops it: the original fetch is
 * put back, or, when the app wrapped fetch after this, the patch stays in the chain as a plain
 * pass-through (taking it out would drop the app's wrapper).
 */
export function instrumentFetch(propagateTo: readonly OriginMatcher[], sample?: number): () => void {
  if (!isOriginList(propagateTo)) fail("propagateTo", ORIGIN_LIST, propagateTo, "instrumentFetch");
  validateSample(sample, "instrumentFetch");
  const original = globalThis.fetch as Fetch;
  nativeFetch ??= original;
  const allow = propagateTo.map((m) => (typeof m === "string" ? new URL(m).origin : m)); // (checked absolute above)
  let on = true;
  const patched: Fetch = function fetchWithTraceparent(input, init) {
    const span = on ? getCurrentActiveSpan() : undefined;
    const url = span && allow.length ? destinationOf(input) : undefined;
    // Anywhere else, the request goes as the app made it.
    if (!span || !url || !allowedBy(url, allow)) return original.call(globalThis, input, init);
    // A span whose trace was exported, still active where a listener or timer registered inside it
    // keeps its zone: the server would join (and replace) a finished trace. A span that ended in a
    // trace still open is joined as any other.
    if (span._record.finished) {
      if (isDev()) {
        warnOnce(
          "traceparent-finished",
          `a request to ${url.origin} was made where span "${span.name}" is still active, but its trace ${span.traceId} was already exported ` +
            "(a listener or timer registered inside the span keeps it), so it goes without a traceparent. Start a span around the request " +
            "to trace it, or register the listener or timer outside any span. See the README, 'Limits of Zone.js mode'.",
        );
      }
      return original.call(globalThis, input, init);
    }
    // A trace the page's sample rate leaves out says so (-00): the Worker does not record its part either.
    const traceparent = typeof sample === "number" && !sampledIn(span.traceId, sample) ? traceparentOf(span, false) : traceparentOf(span);
    // A URL with no init or a plain one (what nearly all calls are): the same arguments, with the
    // header added to the init's headers in their own form, so a fetch wrapper the app installed
    // before this one sees the call as the app made it.
    let plainInit: RequestInit | undefined;
    try {
      if (!isA(input, "Request") && (init == null || isPlainObject(init))) plainInit = { ...init, headers: addTraceparent(init?.headers, traceparent) };
    } catch {
      return original.call(globalThis, input, init); // headers that cannot be read: let fetch itself report them
    }
    if (plainInit) return original.call(globalThis, input, plainInit);
    // A Request, or an init fetch reads through getters (a Request used as init, a class): the
    // Request fetch itself would build from (input, init), built here, with the header added to
    // that copy, never to the caller's own Request.
    let request: Request;
    try {
      request = new Request(input, init);
    } catch {
      return original.call(globalThis, input, init); // let fetch itself report it
    }
    if (!request.headers.has("traceparent") && allowedBy(new URL(request.url), allow)) request.headers.set("traceparent", traceparent);
    return original.call(globalThis, request); // (its body, if any, moved to the copy)
  };
  globalThis.fetch = patched as typeof fetch;
  return () => {
    on = false;
    if (globalThis.fetch === patched) globalThis.fetch = original;
  };
}
