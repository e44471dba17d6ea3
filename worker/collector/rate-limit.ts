// A token bucket per caller (ingest key, or the client address for open collectors). It lives
// in the isolate's memory: Cloudflare runs many isolates, so the limit is per isolate, a brake on
// a runaway page rather than a global quota (docs/collector.md). Refusals carry Retry-After,
// which the browser client honours.

export interface RateLimit {
  /** Sustained requests per second per caller (default 50). */
  perSecond: number;
  /** Burst size (default 100). */
  burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly limit: RateLimit,
    private readonly now: () => number = Date.now,
  ) {}

  /** 0 when allowed, else the ms to wait before the next request would be. */
  take(caller: string): number {
    const now = this.now();
    const b = this.buckets.get(caller) ?? { tokens: this.limit.burst, at: now };
    b.tokens = Math.min(this.limit.burst, b.tokens + ((now - b.at) / 1000) * this.limit.perSecond);
    b.at = now;
    if (this.buckets.size > 10_000) this.buckets.clear(); // bounded memory against key spraying
    this.buckets.set(caller, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - b.tokens) / this.limit.perSecond) * 1000);
  }
}
