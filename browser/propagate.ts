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

/** Whether `url` is allowlisted: `allow` holds origins (as `URL.origin` writes them) and RegExps without /g or /y. */
const allowedBy = (url: URL, allow: readonly OriginMatcher[]): boolean => allow.some((m) => (typeof m === "string" ? url.origin === m : m.test(url.href)));

/**
 * Whether `value` is a platform object of `kind` ("Request", "Headers"), also one of another realm
 * (an iframe's), or an instance of this realm's class whatever its `Symbol.toStringTag` says.
 */
const isA = (value: unknown, kind: "Request" | "Headers"): boolean => {
  const type = (globalThis as Record<string, unknown>)[kind];
  return Object.prototype.toString.call(value) === `[object ${kind}]` || (typeof type === "function" && value instanceof type);
};

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
  if (headers === undefined) return { traceparent: value };
  // What fetch refuses (null, a number, a string) it must still refuse: the caller's fetch reports it.
  if (headers === null || (typeof headers !== "object" && typeof headers !== "function")) throw new TypeError("not headers");
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

/** A copy of a plain init with every own property as it is (fetch reads non-enumerable ones and getters too), and `headers`. */
const withHeaders = (init: RequestInit | undefined, headers: HeadersInit): RequestInit => {
  const fields: PropertyDescriptorMap = init ? Object.getOwnPropertyDescriptors(init) : {};
  fields.headers = { value: headers, enumerable: true, configurable: true, writable: true };
  return Object.defineProperties({}, fields);
};

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
  // (Origins checked absolute above. A /g or /y RegExp is matched through a copy without those flags:
  // its lastIndex would make it match every other request only, and the app's own may be frozen.)
  const allow = propagateTo.map((m) => (typeof m === "string" ? new URL(m).origin : m.global || m.sticky ? new RegExp(m.source, m.flags.replace(/[gy]/g, "")) : m));
  let on = true;
  /** The request to make instead of the caller's, with `traceparent` added; `undefined`: the caller's, as it is. */
  const withTraceparent = (input: RequestInfo | URL, init: RequestInit | undefined): [RequestInfo | URL, RequestInit?] | undefined => {
    const span = on ? getCurrentActiveSpan() : undefined;
    const url = span && allow.length ? destinationOf(input) : undefined;
    // Anywhere else, the request goes as the app made it.
    if (!span || !url || !allowedBy(url, allow)) return undefined;
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
      return undefined;
    }
    // A trace the page's sample rate leaves out says so (-00): the Worker does not record its part either.
    const traceparent = typeof sample === "number" && !sampledIn(span.traceId, sample) ? traceparentOf(span, false) : traceparentOf(span);
    // A URL with no init or a plain one (what nearly all calls are): the same arguments, with the
    // header added to the init's headers in their own form, so a fetch wrapper the app installed
    // before this one sees the call as the app made it. (Headers fetch refuses: the call as it is.)
    if (!isA(input, "Request") && (init == null || isPlainObject(init))) return [input, withHeaders(init, addTraceparent(init?.headers, traceparent))];
    // A Request, or an init fetch reads through getters (a Request used as init, a class): the
    // Request fetch itself would build from (input, init), built here, with the header added to
    // that copy, never to the caller's own Request. (One fetch refuses: the call as it is.)
    const request = new Request(input, init);
    if (!request.headers.has("traceparent") && allowedBy(new URL(request.url), allow)) request.headers.set("traceparent", traceparent);
    return [request]; // (its body, if any, moved to the copy)
  };
  // A method, as fetch is one: no constructor (`new fetch()` throws), named fetch. Called with the
  // caller's `this` and arguments, so that what fetch refuses (no argument, an object not the
  // window as `this`) it still refuses.
  const patched = {
    fetch(this: unknown, ...args: [RequestInfo | URL, RequestInit?]): Promise<Response> {
      let call: [RequestInfo | URL, RequestInit?] | undefined;
      try {
        call = args.length ? withTraceparent(args[0], args[1]) : undefined;
      } catch {
        // the call as it is: a fault of the SDK's, or a value fetch will report itself
      }
      return original.apply(this, call ?? args);
    },
  }.fetch;
  Object.defineProperty(patched, "length", { value: original.length });
  globalThis.fetch = patched as typeof fetch;
  return () => {
    on = false;
    if (globalThis.fetch === patched) globalThis.fetch = original;
  };
}
