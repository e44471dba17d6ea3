import { checkFieldsOption } from "./limits.js";

// A token bucket per caller (ingest key and client address, or the client address alone for open
// collectors). It lives in the isolate's memory: Cloudflare runs many isolates, so the limit is per
// isolate, a brake on a runaway page rather than a global quota (docs/collector.md). Refusals carry
// Retry-After, which the browser client honours.

export interface RateLimit {
  /** Sustained requests per second per caller (default 50). */
  perSecond: number;
  /** Burst size (default 100). */
  burst: number;
}

export const DEFAULT_RATE_LIMIT: RateLimit = { perSecond: 50, burst: 100 };

/** The rate limit with defaults filled in; a bad value fails at construction, naming the field. */
export function resolveRateLimit(overrides: Partial<RateLimit> = {}): RateLimit {
  const limit = { ...DEFAULT_RATE_LIMIT };
  checkFieldsOption(overrides, "rateLimit", "{ perSecond: 50, burst: 100 }");
  for (const [key, value] of Object.entries(overrides)) {
    if (!(key in DEFAULT_RATE_LIMIT)) throw new TypeError(`createCollector(): unknown rateLimit field "${key}".`);
    if (value === undefined) continue;
    const ok = typeof value === "number" && Number.isFinite(value) && (key === "burst" ? Number.isInteger(value) && value >= 1 : value > 0);
    if (!ok) throw new TypeError(`createCollector(): rateLimit.${key} must be ${key === "burst" ? "an integer >= 1" : "a number > 0"}; got ${JSON.stringify(value)}.`);
    limit[key as keyof RateLimit] = value;
  }
  return limit;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * The client a request's address stands for: an IPv4 address, or the /64 network of an IPv6 one
 * (a host commonly holds a whole /64 and takes new addresses in it at will, so each of its
 * addresses as a caller of its own would hand it a fresh burst per address). An IPv6 address
 * ending in an IPv4 one (`::ffff:198.51.100.7`) is that IPv4 address.
 */
export function clientOf(address: string): string {
  if (!address.includes(":")) return address;
  const v4 = /:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(address);
  if (v4) return v4[1]!;
  const [head = "", tail] = address.split("::");
  const groups = head ? head.split(":") : [];
  if (tail !== undefined) {
    const rest = tail ? tail.split(":") : [];
    groups.push(...Array<string>(Math.max(0, 8 - groups.length - rest.length)).fill("0"), ...rest);
  }
  return `${groups.slice(0, 4).map((g) => (Number.parseInt(g, 16) || 0).toString(16)).join(":")}::/64`;
}

/**
 * Callers remembered at once. Past it, a bucket that has refilled (the same as no bucket) is
 * forgotten first, then the least recently seen: a caller being held back that keeps sending stays
 * held back. (Forgetting everyone at once handed a throttled page a fresh burst whenever enough
 * other addresses sent a request.)
 */
const MAX_CALLERS = 10_000;

export class RateLimiter {
  /** In the order callers were last seen, least recent first (a Map keeps insertion order). */
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly limit: RateLimit,
    private readonly now: () => number = Date.now,
  ) {}

  /** 0 when allowed, else the ms to wait before the next request would be. */
  take(caller: string): number {
    const now = this.now();
    const known = this.buckets.get(caller);
    const b = known ?? { tokens: this.limit.burst, at: now };
    b.tokens = this.refilled(b, now);
    b.at = now;
    if (known) this.buckets.delete(caller);
    else if (this.buckets.size >= MAX_CALLERS) this.makeRoom(now);
    this.buckets.set(caller, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - b.tokens) / this.limit.perSecond) * 1000);
  }

  private refilled(b: Bucket, now: number): number {
    return Math.min(this.limit.burst, b.tokens + (Math.max(0, now - b.at) / 1000) * this.limit.perSecond);
  }

  private makeRoom(now: number): void {
    for (const [caller, b] of this.buckets) if (this.refilled(b, now) >= this.limit.burst) this.buckets.delete(caller);
    // Every caller is still spending: the least recently seen tenth goes, so that this scan does
    // not run again on every new caller.
    let excess = this.buckets.size - Math.floor(MAX_CALLERS * 0.9);
    for (const caller of this.buckets.keys()) {
      if (excess-- <= 0) break;
      this.buckets.delete(caller);
    }
  }
}
