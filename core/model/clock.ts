import { warnOnce } from "../debug.js";

// Epoch milliseconds with sub-millisecond precision where the runtime has a monotonic clock.
// (In Workers `performance.now()` only advances on I/O: that is the platform's timing model.)
// The monotonic clock can drift from the wall clock: it stops while a laptop sleeps (a tab left
// open for days), and does not follow the system clock being set. So as a trace starts while no
// other is open in the realm, past a second apart, times follow the wall clock again (as Python's
// time.time_ns() does); while any trace is open they stay monotonic, so no span of it moves. The
// anchor and the count of open traces are shared by every tracer and every copy of mlflow-edge.

const perf = (globalThis as { performance?: { now(): number; timeOrigin: number } }).performance;
const monotonic = perf && typeof perf.now === "function" && typeof perf.timeOrigin === "number" ? perf : undefined;
const DRIFT_MS = 1_000;
interface Anchor {
  origin: number;
  /** Traces open in the realm, whichever tracer holds them. */
  open: number;
}
/** The realm's anchor; one another build made without the count gets it, or (frozen) gives way to this copy's own. */
function sharedAnchor(): Anchor {
  const realm = globalThis as Record<symbol, Anchor | undefined>;
  const key = Symbol.for("mlflow-edge.clock");
  const own = (): Anchor => ({ origin: realm[key]?.origin ?? (monotonic ? monotonic.timeOrigin : 0), open: 0 });
  try {
    const anchor = (realm[key] ??= own());
    if (!(anchor.open >= 0)) anchor.open = 0;
    return anchor;
  } catch {
    return own(); // a slot or object that cannot be written: loading must never fail for it
  }
}
const anchor = sharedAnchor();

export const nowMs: () => number = monotonic ? () => anchor.origin + monotonic.now() : () => Date.now();

/** Before a new trace's first time is read: with no trace open, re-anchors to the wall clock if they drifted apart. */
export function followWallClock(): void {
  if (anchor.open > 0 || !monotonic) return;
  const mono = monotonic.now();
  const wall = Date.now();
  if (Math.abs(wall - (anchor.origin + mono)) > DRIFT_MS) anchor.origin = wall - mono;
}

/** A trace is open (from its root's start until it is exported), whichever tracer holds it. */
export function traceOpened(): void {
  anchor.open++;
}

export function traceClosed(): void {
  if (anchor.open > 0) anchor.open--;
}

/** Epoch ms (fractional) → integer nanoseconds, exact to the microsecond. */
export function msToNs(ms: number): bigint {
  const whole = Math.floor(ms);
  return BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e6));
}

/** Integer nanoseconds (bigint, or a number/decimal string) → epoch ms. */
export function nsToMs(ns: bigint | number | string): number {
  const big = typeof ns === "bigint" ? ns : BigInt(typeof ns === "number" ? Math.trunc(ns) : ns);
  return Number(big / 1_000_000n) + Number(big % 1_000_000n) / 1e6;
}

/** MLflow keeps times as int64 nanoseconds: up to the year 2262. */
const MAX_NS = 2n ** 63n - 1n;
const MAX_MS = Number(MAX_NS / 1_000_000n);

/**
 * A time the user gave in epoch nanoseconds (`startTimeNs`, `endTimeNs`) as epoch ms, or
 * `undefined` with a warning when it is not one (NaN, a string, a negative number): the caller
 * then uses the current time, so a span is neither lost nor dated 1970.
 */
export function userTimeMs(ns: unknown, field: string): number | undefined {
  if (typeof ns === "bigint" ? ns >= 0n && ns <= MAX_NS : typeof ns === "number" && ns >= 0 && ns < 2 ** 63) return nsToMs(ns as number | bigint);
  return badTime(ns, field, "epoch nanoseconds (a number or bigint from 0 to 2^63 - 1, MLflow's int64)");
}

/** An event's `timestamp`: epoch ms as a number, epoch ns as a bigint; `undefined` with a warning otherwise (NaN from `Date.parse`, nanoseconds given as a number). */
export function eventTimeMs(timestamp: number | bigint): number | undefined {
  if (typeof timestamp === "bigint") return userTimeMs(timestamp, "an event's timestamp");
  if (timestamp >= 0 && timestamp <= MAX_MS) return timestamp;
  return badTime(timestamp, "an event's timestamp", "epoch milliseconds (a number; or epoch nanoseconds as a bigint)");
}

function badTime(value: unknown, field: string, expected: string): undefined {
  const shown = typeof value === "number" || typeof value === "bigint" ? String(value) : typeof value;
  warnOnce(`bad-time-${field}`, `${field} must be ${expected}; got ${shown}, so the current time was used.`);
  return undefined;
}
