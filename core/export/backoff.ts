// Retry timing for deliveries. Full jitter (AWS Architecture Blog, "Exponential Backoff And
// Jitter"): many tabs, or many users behind one failing collector, spread their retries instead of
// returning in lockstep.

export interface BackoffOptions {
  /** First retry waits up to this long (default 1 s). */
  baseMs?: number;
  /** No retry waits longer than this (default 60 s), except when the collector says so. */
  maxMs?: number;
}

/** Never retry faster than this, even when the jitter draws zero: no hot loop against a failing server. */
const FLOOR_MS = 50;

/** Delay before retry number `failures` (1 = first retry): uniform in [0, min(max, base·2^(failures-1))]. */
export function backoffDelay(failures: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const base = options.baseMs ?? 1_000;
  const max = options.maxMs ?? 60_000;
  const ceiling = Math.min(max, base * 2 ** Math.min(Math.max(0, failures - 1), 30));
  return Math.max(FLOOR_MS, Math.floor(random() * ceiling));
}

/** What to do after a response. */
export type Verdict = "ok" | "retry" | "reject";

/**
 * 2xx: delivered. 408, 429, 5xx and no response: try again later. Other 4xx (400 bad batch, 401/403
 * key, 413 too large): the request itself is wrong and will be wrong next time too.
 */
export function verdictOf(status: number): Verdict {
  if (status >= 200 && status < 300) return "ok";
  if (status === 408 || status === 429) return "retry";
  if (status >= 400 && status < 500) return "reject";
  return "retry";
}

/** Largest wait a `Retry-After` may impose; a collector asking for more is treated as a bug. */
const MAX_RETRY_AFTER_MS = 3_600_000;

/**
 * `Retry-After` (delay-seconds or an HTTP-date, RFC 9110 §10.2.3) in ms from `now`; `undefined`
 * when absent or unparsable, so a garbage header falls back to ordinary backoff.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(text)) ms = Number(text) * 1000;
  // V8's Date.parse takes nearly anything ("-5", "abc 12" are dates in 2001): only an HTTP-date's shape is read as one.
  else if (!/^(mon|tue|wed|thu|fri|sat|sun)[a-z]*,? /i.test(text)) return undefined;
  else {
    // HTTP dates are in GMT; asctime's form says no zone, which Date.parse would take as local time.
    const date = Date.parse(/\b(GMT|UTC|Z)$|[+-]\d{4}$/i.test(text) ? text : `${text} GMT`);
    if (Number.isNaN(date)) return undefined;
    ms = date - now;
  }
  return Math.min(Math.max(0, ms), MAX_RETRY_AFTER_MS);
}
