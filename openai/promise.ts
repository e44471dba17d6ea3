import { fail } from "../core/api/settle.js";
import { reportSdkError } from "../core/debug.js";
import type { LiveSpan } from "../core/model/live-span.js";
import { parseSse, streamRecorder, type StreamApi } from "./stream.js";

// The client's `APIPromise` is returned as itself behind a proxy, so `.withResponse()`,
// `.asResponse()` and `instanceof APIPromise` keep working. Observing it from the side must not
// change what the caller gets: awaiting an APIPromise parses the body (and reads it for JSON), so
// tracing parses only when the caller does. `asResponse()` hands the caller the raw Response with
// its body unread; tracing reads a clone instead.

/** The parts of the client's APIPromise (and its raw Response) used here. */
interface ApiPromiseLike extends PromiseLike<unknown> {
  asResponse?: () => Promise<RawResponse>;
}
interface RawResponse {
  clone(): { text(): Promise<string> };
  readonly headers?: { get(name: string): string | null };
}

/** Methods that make the client parse the body: tracing records the parsed value. */
const PARSING = new Set<PropertyKey>(["then", "catch", "finally", "withResponse", "parse", "_thenUnwrap"]);

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
  let observing = false;
  const observeParsed = () => {
    if (observing) return;
    observing = true;
    target.then((value) => once(() => record(value)), onError);
  };
  // A failed request (HTTP error, network) is recorded even if nobody ever awaits the call;
  // `asResponse()` waits for the response without parsing it.
  if (typeof target.asResponse === "function") target.asResponse().then(undefined, onError);
  else observeParsed();

  const asResponse = () => {
    const raw = target.asResponse!();
    if (!observing) {
      observing = true;
      raw.then((response) => {
        response
          .clone()
          .text()
          .then((body) => once(() => recordRaw(span, api, body, record)), onError);
      }, onError);
    }
    return raw;
  };

  return new Proxy(target, {
    get(t, prop) {
      if (prop === "asResponse" && typeof t.asResponse === "function") return asResponse;
      if (PARSING.has(prop)) observeParsed();
      const value: unknown = Reflect.get(t, prop, t);
      // Bound to the real promise: APIPromise keeps its state in private (#) fields.
      return typeof value === "function" && prop !== "constructor" ? (value as Function).bind(t) : value;
    },
  });
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
