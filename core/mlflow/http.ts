import { errorText } from "../debug.js";
import { MlflowHttpError, MlflowNetworkError, isRetryableStatus } from "./errors.js";
import { parseRetryAfter } from "../export/backoff.js";
import { nextDelay, sleepMs, type ResolvedRetryPolicy } from "./retry.js";

// One MLflow HTTP call: timeout per try, retries with backoff on network errors, 408, 429 and 5xx,
// and a typed error naming the server's own message for everything else.

export type FetchLike = (url: string, init?: RequestInit) => Promise<Response>;

export interface HttpSettings {
  fetch: FetchLike;
  /** Headers on every request (auth, custom). */
  headers: Record<string, string>;
  /** Per-try timeout in ms. */
  timeoutMs: number;
  retry: ResolvedRetryPolicy;
  /** Shared by a client's requests: when the server started failing them all (see sendWithRetry). */
  outage?: Outage;
  /** Test seam for the jitter; Math.random otherwise. */
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface HttpRequest {
  method: "GET" | "POST" | "PUT" | "PATCH";
  url: string;
  headers?: Record<string, string>;
  body?: string;
  /** Statuses that are an answer, not an error (e.g. 404 from get-by-name). */
  accept?: readonly number[];
}

export interface HttpAnswer {
  status: number;
  text: string;
}

const MAX_MESSAGE = 1000;

/** MLflow's `{error_code, message}`, FastAPI's `{detail}`, or the text itself. */
export function describeErrorBody(text: string): { errorCode: string | undefined; message: string } {
  try {
    const body = JSON.parse(text) as unknown;
    if (body && typeof body === "object" && !Array.isArray(body)) {
      const b = body as Record<string, unknown>;
      const errorCode = typeof b.error_code === "string" ? b.error_code : undefined;
      const raw = b.message ?? b.detail;
      const message = typeof raw === "string" ? raw : raw === undefined ? text : JSON.stringify(raw);
      return { errorCode, message: message.slice(0, MAX_MESSAGE) };
    }
  } catch {
    // not JSON: keep the text
  }
  return { errorCode: undefined, message: text.trim().replace(/\s+/g, " ").slice(0, MAX_MESSAGE) };
}

async function attemptOnce(settings: HttpSettings, req: HttpRequest): Promise<{ response: Response; text: string }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), settings.timeoutMs);
  try {
    const response = await settings.fetch(req.url, {
      method: req.method,
      headers: { ...settings.headers, ...req.headers },
      body: req.body,
      signal: controller.signal,
    });
    // The timeout covers the body too: a server that stalls mid-answer is a failed try.
    const text = await response.text();
    return { response, text };
  } catch (error) {
    // Runtimes reject an aborted fetch differently (AbortError, the reason, a TypeError).
    if (controller.signal.aborted) throw new TimeoutError(`timed out after ${settings.timeoutMs} ms`);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

class TimeoutError extends Error {}

function networkDetail(error: unknown): string {
  if (error instanceof Error && !(error instanceof TimeoutError)) {
    const cause = (error as { cause?: unknown }).cause;
    const code = cause && typeof cause === "object" ? (cause as { code?: unknown }).code : undefined;
    return `${error.message}${typeof code === "string" ? ` (${code})` : ""}`;
  }
  return errorText(error);
}

/** A server failing every request of a client: since when, and the last failure. */
export interface Outage {
  since?: number;
  /** Once the budget is spent: no request is tried before this (one goes then, to see). */
  refusedUntil?: number;
  last?: string;
}

/**
 * Sends `req`, retrying as the policy allows; resolves with the answer or throws a typed error.
 * With `settings.outage`, the time budget counts from when the server started failing the client's
 * requests (an answer ends the outage), and once it is spent a request fails at once, without
 * being tried, except one every `maxDelayMs`: a script's last traces against a server that is down
 * do not wait a budget each.
 */
export async function sendWithRetry(settings: HttpSettings, req: HttpRequest): Promise<HttpAnswer> {
  const started = Date.now();
  const wait = settings.sleep ?? sleepMs;
  // (A caller that does not retry here, the Worker's buffer, schedules its own tries.)
  const outage = settings.retry.maxAttempts > 1 ? settings.outage : undefined;
  if (outage?.refusedUntil !== undefined) {
    if (started < outage.refusedUntil) {
      throw new MlflowNetworkError(req.method, req.url, `not tried: the server has failed every request for over ${Math.round(settings.retry.maxElapsedMs / 1000)} s (last: ${outage.last})`, 0);
    }
    outage.refusedUntil = started + settings.retry.maxDelayMs; // this one goes, to see; the others wait for its answer
  }
  for (let tries = 1; ; tries++) {
    let failure: MlflowHttpError | MlflowNetworkError;
    let retryAfterMs: number | undefined;
    try {
      const { response, text } = await attemptOnce(settings, req);
      if (outage && !isRetryableStatus(response.status)) outage.since = outage.refusedUntil = undefined; // it answers
      if (response.ok || req.accept?.includes(response.status)) return { status: response.status, text };
      const { errorCode, message } = describeErrorBody(text);
      failure = new MlflowHttpError(req.method, req.url, response.status, response.statusText, errorCode, message, tries);
      if (!isRetryableStatus(response.status)) throw failure;
      retryAfterMs = parseRetryAfter(response.headers.get("retry-after"));
      failure.retryAfterMs = retryAfterMs;
    } catch (error) {
      if (error instanceof MlflowHttpError) throw error;
      failure = new MlflowNetworkError(req.method, req.url, networkDetail(error), tries, error);
    }
    const delay = nextDelay(tries, settings.retry, retryAfterMs, settings.random);
    let since = started;
    if (outage) {
      since = outage.since = Math.min(outage.since ?? started, started);
      outage.last = failure.message;
    }
    if (tries >= settings.retry.maxAttempts || Date.now() - since + delay > settings.retry.maxElapsedMs) {
      if (outage && Date.now() - since + delay > settings.retry.maxElapsedMs) outage.refusedUntil = Date.now() + settings.retry.maxDelayMs;
      throw failure;
    }
    await wait(delay);
  }
}
