import { fail } from "../core/api/settle.js";
import { relayStream, whenDropped, type WebStream } from "../core/api/stream.js";
import { reportSdkError } from "../core/debug.js";
import type { LiveSpan } from "../core/model/live-span.js";
import { parseSse, streamRecorder, type StreamApi } from "./stream.js";

// The client's `APIPromise` is returned as itself behind a proxy, so `.withResponse()`,
// `.asResponse()` and `instanceof APIPromise` keep working. Observing it from the side must not
// change what the caller gets: awaiting an APIPromise parses the body (and reads it for JSON), so
// tracing parses only when the caller does. `asResponse()` hands the caller the raw Response with
// its body unread; tracing reads a clone of a JSON body, and relays a streamed one (a clone would
// read on after the caller cancels, and keep the model generating).

/** The parts of the client's APIPromise (and its raw Response) used here. */
interface ApiPromiseLike extends PromiseLike<unknown> {
  asResponse?: () => Promise<RawResponse>;
}
interface RawResponse {
  clone(): { text(): Promise<string> };
  readonly headers?: { get(name: string): string | null };
  readonly body?: WebStream | null;
  readonly url?: string;
  readonly redirected?: boolean;
  readonly type?: string;
}

/**
 * Methods that make the client parse the body: tracing records the parsed value. (`_thenUnwrap`
 * makes a new promise that parses the body itself: tracing parsing this one too read the body twice.)
 */
const PARSING = new Set<PropertyKey>(["then", "catch", "finally", "withResponse", "parse"]);
/** Those that chain on the client's parsed promise, the one parse() returns. */
const CHAINING = new Set<PropertyKey>(["then", "catch", "finally", "withResponse"]);

export function observePromise<P extends object>(
  promise: P,
  span: LiveSpan,
  api: StreamApi | undefined,
  record: (value: unknown) => void,
): P {
  const target = promise as P & ApiPromiseLike;
  let settled = false;
  const once = (fn: () => void) => {
    if (settled) return;
    settled = true;
    try {
      fn();
    } catch (error) {
      reportSdkError("tracedOpenAI", error);
    }
  };
  const onError = (error: unknown) => once(() => fail(span, error));
  /** Ends the span unread after openSpanTimeoutMs unless `still()` says otherwise by then; returns a canceller. */
  const unreadAfter = (what: string, still: () => boolean): (() => void) => {
    const ms = span._record.tracer.openSpanTimeoutMs;
    if (!ms) return () => undefined;
    const timer = setTimeout(() => {
      if (still()) once(() => {
        span.addEvent({ name: "cancelled", attributes: { reason: `${what} not read within ${ms} ms` } });
        span.end();
      });
    }, ms);
    (timer as { unref?: () => void }).unref?.(); // never keeps a Node process alive
    return () => clearTimeout(timer);
  };
  const endIfUnread = () => void (observing || unreadAfter("result", () => !observing));
  let observing = false;
  const observeParsed = (failed = onError) => {
    if (observing) return;
    observing = true;
    target.then((value) => once(() => record(value)), failed);
  };
  // A failed request (HTTP error, network) is recorded even if nobody ever awaits the call;
  // `asResponse()` waits for the response without parsing it. A result nobody reads (`void
  // create(…)`) ends its span unread after openSpanTimeoutMs, rather than holding its trace for ever.
  // Watching marks the client's promise handled: a failure the caller has not taken up by then is
  // raised again, and handled when the caller takes the promise up (a then, catch, await…), so the
  // host reports it exactly as untraced: unhandled if nobody did by its check (Node's crash, the
  // page's `unhandledrejection`), `rejectionHandled` if someone does later.
  let taken = false;
  let raised: Promise<never> | undefined;
  const take = () => {
    taken = true;
    raised?.catch(() => undefined);
  };
  const onUntaken = (error: unknown) => {
    onError(error);
    if (!taken) raised = Promise.reject(error);
  };
  if (typeof target.asResponse === "function") target.asResponse().then(() => endIfUnread(), onUntaken);
  else observeParsed(onUntaken);

  // The clone is read as the caller reads the original: where the two share backpressure (a
  // custom fetch's Node stream), an original never read stalls it, so that too ends unread.
  const readClone = (response: RawResponse) => {
    const stop = unreadAfter("body", () => true);
    response
      .clone()
      .text()
      .then((body) => once(() => recordRaw(span, api, body, record)), onError)
      .finally(stop);
  };
  // The client hands the same Response to every asResponse() call: so does tracing, relayed or not,
  // each call through a promise of the caller's own (a rejection one of them leaves is reported).
  let relayedResponse: Promise<RawResponse> | undefined;
  const asResponse = () => {
    if (relayedResponse) return relayedResponse.then((response) => response);
    const raw = target.asResponse!();
    if (observing || settled) return raw; // parsed, or ended unread: nothing more to record
    observing = true;
    if (!api) {
      raw.then(readClone, onError);
      return raw.then((response) => response); // the caller's own: unhandled if the caller leaves it so
    }
    relayedResponse = raw.then((response) => {
      // A body that is no web stream (a custom fetch's Node stream): read from a clone instead.
      if (typeof response.body?.getReader !== "function") return (readClone(response), response);
      try {
        const out = relayed(response as RawResponse & { body: WebStream }, span, api);
        settled = true; // the relay records it from here
        return out;
      } catch (error) {
        reportSdkError("tracedOpenAI.asResponse", error);
        return response;
      }
    });
    return relayedResponse.then((response) => response);
  };
  // The client's parse() gives every call its one parsed promise, which tracing also watches: the
  // caller's is derived from it, once, so a rejection the caller leaves is reported as untraced.
  // Untraced, then/catch/finally/withResponse chain on that same promise, so handling the call
  // handles what parse() gave: the derived one is handled with them.
  let parsedForCaller: Promise<unknown> | undefined;
  let chained = false;
  const chain = () => {
    chained = true;
    parsedForCaller?.catch(() => undefined);
  };
  const parsed = (parse: () => Promise<unknown>) => {
    take();
    if (!parsedForCaller) {
      parsedForCaller = parse().then((value) => value);
      if (chained) parsedForCaller.catch(() => undefined);
    }
    return parsedForCaller;
  };

  return new Proxy(target, {
    get(t, prop) {
      if (prop === "asResponse" && typeof t.asResponse === "function") return () => (take(), asResponse());
      if (PARSING.has(prop)) observeParsed();
      const value: unknown = Reflect.get(t, prop, t);
      if (typeof value !== "function" || prop === "constructor") return value;
      if (prop === "parse") return () => parsed(() => (value as () => Promise<unknown>).call(t));
      // Bound to the real promise: APIPromise keeps its state in private (#) fields. Calling one of
      // the methods that read the result takes the promise up (reading one does not).
      if (CHAINING.has(prop)) return (...args: unknown[]) => (take(), chain(), (value as Function).apply(t, args));
      return (value as Function).bind(t);
    },
  });
}

/**
 * The raw Response of a streamed call, its body relayed: each SSE event is a chunk of the span as
 * it passes, the span ends with the body (read to the end, broken off or cancelled), and
 * cancelling the body cancels the request, as it does untraced.
 */
function relayed(response: RawResponse & { body: WebStream }, span: LiveSpan, api: StreamApi): RawResponse {
  const rec = streamRecorder(span, api);
  const decoder = new TextDecoder();
  let text = "";
  // Complete events go to the span as they arrive; a partial one waits for the rest of its bytes.
  const take = (all: boolean) => {
    const cut = all ? text.length : Math.max(text.lastIndexOf("\n\n"), text.lastIndexOf("\r\n\r\n"));
    if (cut <= 0) return;
    for (const chunk of parseSse(text.slice(0, cut))) rec.chunk(chunk);
    text = text.slice(cut);
  };
  const hooks = {
    pulled: () => rec.start(), // reading began: no longer unread
    chunk(value: unknown) {
      text += typeof value === "string" ? value : decoder.decode(value as Uint8Array, { stream: true });
      take(false);
    },
    done() {
      text += decoder.decode();
      take(true);
      rec.finish();
    },
    failed(error: unknown) {
      take(false);
      rec.fail(error);
    },
    cancelled() {
      take(false);
      rec.abandon("response body cancelled");
    },
  };
  const body = relayStream(response.body, whenDropped(hooks, rec)); // a body dropped unread ends its span when collected
  rec.watchIdle(); // and one kept but never read, after openSpanTimeoutMs
  const { Response } = globalThis as unknown as { Response: new (body: WebStream, init: RawResponse) => RawResponse };
  const out = new Response(body, response); // status, status text and headers as they came
  // And what a Response made here cannot carry: where the request went, and the kind it is.
  try {
    for (const key of ["url", "redirected", "type"] as const) Object.defineProperty(out, key, { value: response[key] });
  } catch (error) {
    reportSdkError("tracedOpenAI.asResponse", error); // the body is the relay's already: the Response goes out as it is
  }
  return out;
}

/** What the caller read raw: the JSON body, or the SSE body's chunks folded as a stream would be. */
function recordRaw(span: LiveSpan, api: StreamApi | undefined, body: string, record: (value: unknown) => void): void {
  if (api) {
    const rec = streamRecorder(span, api);
    for (const chunk of parseSse(body)) rec.chunk(chunk);
    rec.finish();
    return;
  }
  let value: unknown = body;
  try {
    value = JSON.parse(body);
  } catch {
    // not JSON: kept as text
  }
  record(value);
}
