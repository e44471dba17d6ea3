import { parseRetryAfter } from "../core/export/backoff.js";
import { warnOnce } from "../core/debug.js";
import { ingestHeaders } from "../core/export/ingest-format.js";
import { uploadAllowanceMs } from "../core/export/queue.js";
import type { Transport, TransportResult } from "../core/export/transport.js";
import { getNativeFetch } from "./propagate.js";

export interface FetchTransportOptions {
  /** Full URL of the collector's ingest endpoint, e.g. `https://collector.example.com/v1/ingest`. */
  url: string;
  ingestKey?: string;
  /**
   * Abort a request after this long (default 25 s, inside the queue's 30 s lease), plus the time its body takes to upload at
   * 128 kbit/s (a 1 MB trace: about a minute more); the batch is retried.
   */
  timeoutMs?: number;
}

/**
 * A Transport on the native fetch (Sentry's `getNativeImplementation('fetch')` idea): the fetch as
 * it was before `instrumentFetch`, so exports never trace themselves or carry a traceparent.
 * `fetch` is called synchronously, before any await: on pagehide there is no later.
 */
export function createFetchTransport(options: FetchTransportOptions): Transport {
  const headers = ingestHeaders(options.ingestKey);
  // Below the queue's 30 s lease, so a request is aborted before its lease can expire and another
  // tab send the same traces while they are still on the wire.
  const timeoutMs = options.timeoutMs ?? 25_000;
  return (body, hint) => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs + uploadAllowanceMs(hint.bytes));
    let response: Promise<Response>;
    try {
      response = getNativeFetch()(options.url, {
        method: "POST",
        body,
        headers,
        keepalive: hint.keepalive,
        credentials: "omit", // the ingest key identifies the site; cookies would only widen CORS
        // Followed, a redirect ends wherever it points (a login page, an http→https hop that turns
        // the POST into a GET), and that page's 200 would be taken for the collector's: the traces
        // deleted, never stored. Not followed, it is a failed attempt: the traces stay and are retried.
        redirect: "manual",
        signal: controller.signal,
      });
    } catch {
      clearTimeout(timer);
      return Promise.resolve({ status: 0 });
    }
    return response.then((r) => readResult(r, options.url), () => ({ status: 0 })).finally(() => clearTimeout(timer));
  };
}

async function readResult(response: Response, url: string): Promise<TransportResult> {
  if (response.type === "opaqueredirect") {
    warnOnce("collector-redirect", `the collector URL ${url} answers with a redirect, which is not followed: traces stay queued and are retried. Set collectorUrl to the URL it redirects to.`);
    return { status: 0 };
  }
  const result: TransportResult = { status: response.status };
  const retryAfterMs = parseRetryAfter(response.headers.get("retry-after"), Date.now());
  if (retryAfterMs !== undefined) result.retryAfterMs = retryAfterMs;
  try {
    const text = await response.text(); // read even on success, so the connection is reusable
    if (!response.ok && text) result.detail = text.slice(0, 500);
    // The collector acknowledges with JSON, or nothing. Another body is something else answering
    // at that URL (an app's page for unknown paths, a health check, a portal): not taken for an
    // acknowledgement, which would delete the traces.
    const type = response.headers.get("content-type") ?? "";
    if (response.ok && text && !/^[^;]*[/+]json\s*(?:;|$)/i.test(type)) {
      warnOnce("collector-not-json", `the collector URL ${url} answered ${response.status} with ${type ? `a ${type.split(";")[0]} body` : "a body"}, not the collector's JSON acknowledgement: traces stay queued and are retried. Check collectorUrl.`);
      return { status: 0 };
    }
  } catch {
    // a body that breaks off changes nothing: the status decides
  }
  return result;
}
