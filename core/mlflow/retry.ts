// Exponential backoff with jitter, honouring the server's Retry-After. Jitter spreads the retries
// of many clients (browser tabs, Worker isolates) that failed at the same moment.

export interface RetryPolicy {
  /** Total tries, the first included (default 12). 1 turns retrying off. */
  maxAttempts?: number;
  /** Delay before the first retry (default 250 ms); doubles each time. */
  initialDelayMs?: number;
  /** Cap on one backoff delay (default 10 s); a server's Retry-After is waited in full, within maxElapsedMs. */
  maxDelayMs?: number;
  /**
   * Give up once this much time has passed since the first try (default 60 s), or, for the
   * requests of one client, since the server started failing them all: an outage costs one
   * budget, not one per trace, and requests after it fail at once for maxDelayMs between tries.
   */
  maxElapsedMs?: number;
}

export interface ResolvedRetryPolicy {
  maxAttempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
  maxElapsedMs: number;
}

// 12 tries: their waits (0.25 s doubling to 10 s) reach the 60 s budget, so an outage of up to a
// minute (a server restarting) loses nothing.
export const DEFAULT_RETRY: ResolvedRetryPolicy = { maxAttempts: 12, initialDelayMs: 250, maxDelayMs: 10_000, maxElapsedMs: 60_000 };

function nonNegative(name: string, value: number | undefined, fallback: number, integer = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value >= 0) || (integer && !Number.isInteger(value))) {
    throw new TypeError(`retry.${name} must be a ${integer ? "non-negative integer" : "number >= 0"}; got ${String(value)}.`);
  }
  return value;
}

export function resolveRetryPolicy(policy: RetryPolicy | undefined): ResolvedRetryPolicy {
  const p = policy ?? {};
  const maxAttempts = nonNegative("maxAttempts", p.maxAttempts, DEFAULT_RETRY.maxAttempts, true);
  if (maxAttempts < 1) throw new TypeError("retry.maxAttempts must be at least 1.");
  return {
    maxAttempts,
    initialDelayMs: nonNegative("initialDelayMs", p.initialDelayMs, DEFAULT_RETRY.initialDelayMs),
    maxDelayMs: nonNegative("maxDelayMs", p.maxDelayMs, DEFAULT_RETRY.maxDelayMs),
    maxElapsedMs: nonNegative("maxElapsedMs", p.maxElapsedMs, DEFAULT_RETRY.maxElapsedMs),
  };
}

/**
 * Delay before retry number `retry` (1 = the first retry): "equal jitter", half fixed and half
 * random, so delays keep growing while clients still spread out.
 */
export function backoffDelay(retry: number, policy: ResolvedRetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.max(0, retry - 1));
  return ceiling / 2 + random() * (ceiling / 2);
}

/** The wait before the next try: the server's Retry-After when given (never retried sooner), else the backoff. */
export function nextDelay(retry: number, policy: ResolvedRetryPolicy, retryAfterMs: number | undefined, random?: () => number): number {
  if (retryAfterMs !== undefined) return retryAfterMs;
  return backoffDelay(retry, policy, random);
}

// Not unref'd in Node: a script ending in `await flushTraces()` against a server that is down must
// see its retries through (bounded by maxElapsedMs) and the error, not exit with the await unsettled.
export const sleepMs = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
