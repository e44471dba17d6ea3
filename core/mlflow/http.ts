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
  /**
   * Epoch ms past which nothing is tried and no try runs on (a try's timeout is cut to it): the
   * request fails with its last failure instead. A Worker's send must end within its invocation.
   */
  deadline?: number;
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
  const timeoutMs = settings.deadline === undefined ? settings.timeoutMs : Math.max(0, Math.min(settings.timeoutMs, settings.deadline - Date.now()));
  // Not sent at all: a request the deadline already ended would still reach the server (the
  // abort comes a tick later), which would take spans of a trace reported as lost.
  if (timeoutMs === 0) throw new UntriedError("the send's deadline passed before this try (earlier tries, or the wait for a send slot while MLflow answered slowly, used its time)");
  const timer = setTimeout(() => controller.abort(), timeoutMs);
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
    if (controller.signal.aborted) {
      throw new TimeoutError(timeoutMs < settings.timeoutMs ? `no answer in the ${timeoutMs} ms left before the send's deadline` : `timed out after ${timeoutMs} ms`);
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

class TimeoutError extends Error {}
/** The deadline had passed when a try was due (a wait that ended late): nothing was sent. */
class UntriedError extends TimeoutError {}

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
  /** When the server started failing: the start of the first request that failed since it last answered. */
  since?: number;
  /** Requests that failed since then. */
  requests?: number;
  /** When the server last gave an answer that is not a failure to retry (a new outage starts no earlier). */
  answeredAt?: number;
  lastFailure?: number;
  /** Once the budget is spent: no request is tried before this; then one goes, to see. */
  refusedUntil?: number;
  /** That one request in flight: the others wait for it (true: the server answered), at most `timeoutMs` + 1 s. */
  probe?: Promise<boolean>;
  probeAt?: number;
  last?: string;
}

/** Forgets an outage nothing has confirmed lately (the app idle meanwhile) or that a clock step made meaningless. */
function forgetStale(outage: Outage, now: number, settings: HttpSettings): void {
  const quiet = settings.retry.maxDelayMs + settings.timeoutMs;
  const stale = outage.lastFailure !== undefined && (now - outage.lastFailure > quiet || now < outage.lastFailure);
  if (stale || (outage.refusedUntil !== undefined && outage.refusedUntil - now > settings.retry.maxDelayMs)) outage.since = outage.lastFailure = outage.refusedUntil = outage.requests = undefined;
  // A probe older than one try can be is one whose invocation ended (Workers): it never settles.
  if (outage.probeAt !== undefined && (now - outage.probeAt > settings.timeoutMs + 1_000 || now < outage.probeAt)) outage.probe = outage.probeAt = undefined;
}

/**
 * Sends `req`, retrying as the policy allows; resolves with the answer or throws a typed error.
 * With `settings.outage` (a client that retries itself), the time budget also counts from when
 * the server started failing every request (an answer ends that), and once it is spent a request
 * fails at once, untried, except one every `maxDelayMs` that the others wait for: a script's last
 * traces against a server that is down do not wait a budget each.
 */
export async function sendWithRetry(settings: HttpSettings, req: HttpRequest): Promise<HttpAnswer> {
  const started = Date.now();
  // (A caller that does not retry here, the Worker's buffer, schedules its own tries.)
  const outage = settings.retry.maxAttempts > 1 ? settings.outage : undefined;
  if (!outage) return sendTrying(settings, req, started);
  forgetStale(outage, started, settings);
  if (outage.refusedUntil === undefined) return sendTrying(settings, req, started, outage);
  const notTried = () =>
    new MlflowNetworkError(req.method, req.url, `not tried: the server has failed every request for ${Math.round((Date.now() - (outage.since ?? started)) / 1000)} s (last: ${outage.last})`, 0);
  if (outage.probe) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), settings.timeoutMs + 1_000)));
    const answered = await Promise.race([outage.probe, late]).finally(() => timer !== undefined && clearTimeout(timer));
    if (!answered) throw notTried();
    return sendTrying(settings, req, Date.now(), outage);
  }
  if (started < outage.refusedUntil) throw notTried();
  let answered!: (ok: boolean) => void;
  outage.probe = new Promise<boolean>((resolve) => (answered = resolve));
  outage.probeAt = started;
  const probe = outage.probe;
  try {
    const answer = await sendTrying(settings, req, started, outage);
    answered(true);
    return answer;
  } catch (error) {
    answered(outage.refusedUntil === undefined); // a 4xx is an answer too
    throw error;
  } finally {
    if (outage.probe === probe) outage.probe = outage.probeAt = undefined;
  }
}

async function sendTrying(settings: HttpSettings, req: HttpRequest, started: number, outage?: Outage): Promise<HttpAnswer> {
  const wait = settings.sleep ?? sleepMs;
  let countedIn: number | undefined;
  let previous: MlflowHttpError | MlflowNetworkError | undefined;
  for (let tries = 1; ; tries++) {
    let failure: MlflowHttpError | MlflowNetworkError;
    let retryAfterMs: number | undefined;
    try {
      const { response, text } = await attemptOnce(settings, req);
      if (outage && !isRetryableStatus(response.status)) {
        outage.since = outage.lastFailure = outage.refusedUntil = outage.requests = undefined; // it answers
        outage.answeredAt = Date.now();
      }
      if (response.ok || req.accept?.includes(response.status)) return { status: response.status, text };
      const { errorCode, message } = describeErrorBody(text);
      failure = new MlflowHttpError(req.method, req.url, response.status, response.statusText, errorCode, message, tries);
      if (!isRetryableStatus(response.status)) throw failure;
      retryAfterMs = parseRetryAfter(response.headers.get("retry-after"));
      failure.retryAfterMs = retryAfterMs;
    } catch (error) {
      if (error instanceof MlflowHttpError) throw error;
      // A retry's wait that ended past the deadline (timers run late on a busy isolate) sent
      // nothing: what MLflow last answered is the failure to report.
      if (error instanceof UntriedError && previous) throw previous;
      failure = new MlflowNetworkError(req.method, req.url, networkDetail(error), tries, error);
    }
    previous = failure;
    const delay = nextDelay(tries, settings.retry, retryAfterMs, settings.random);
    const now = Date.now();
    let outageSpent = false;
    if (outage) {
      outage.since ??= Math.max(started, outage.answeredAt ?? started); // failing since this request, or since the last answer
      if (countedIn !== outage.since) {
        countedIn = outage.since; // this request, counted once in this outage
        outage.requests = (outage.requests ?? 0) + 1;
      }
      outage.lastFailure = now;
      outage.last = failure.message;
      // Others are refused only when more than this one request failed: one trace the server fails
      // (a 500 about it alone) while nothing else is sent refuses nobody.
      outageSpent = now - outage.since + delay > settings.retry.maxElapsedMs && (outage.requests ?? 0) > 1;
      if (outageSpent) outage.refusedUntil = now + settings.retry.maxDelayMs;
    }
    const pastDeadline = settings.deadline !== undefined && now + delay >= settings.deadline;
    if (tries >= settings.retry.maxAttempts || now - started + delay > settings.retry.maxElapsedMs || outageSpent || pastDeadline) throw failure;
    await wait(delay);
  }
}
