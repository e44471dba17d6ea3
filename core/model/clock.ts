import { warnOnce } from "../debug.js";

// Epoch milliseconds with sub-millisecond precision where the runtime has a monotonic clock.
// (In Workers `performance.now()` only advances on I/O: that is the platform's timing model.)
// The monotonic clock can drift from the wall clock: it stops while a laptop sleeps (a tab left
// open for days), and does not follow the system clock being set. So when a trace starts, past a
// second apart, times follow the wall clock again (as Python's time.time_ns() does); within a
// trace they stay monotonic, so no child starts before its parent (OpenTelemetry's anchored clock).

const perf = (globalThis as { performance?: { now(): number; timeOrigin: number } }).performance;
const monotonic = perf && typeof perf.now === "function" && typeof perf.timeOrigin === "number" ? perf : undefined;
const DRIFT_MS = 1_000;
let origin = monotonic ? monotonic.timeOrigin : 0;

export const nowMs: () => number = monotonic ? () => origin + monotonic.now() : () => Date.now();

/** Called as a trace starts: re-anchors the monotonic clock to the wall clock when they drifted apart. */
export function followWallClock(): void {
  if (!monotonic) return;
  const mono = monotonic.now();
  const wall = Date.now();
  if (Math.abs(wall - (origin + mono)) > DRIFT_MS) origin = wall - mono;
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

/**
 * A time the user gave in epoch nanoseconds (`startTimeNs`, `endTimeNs`) as epoch ms, or
 * `undefined` with a warning when it is not one (NaN, a string, a negative number): the caller
 * then uses the current time, so a span is neither lost nor dated 1970.
 */
export function userTimeMs(ns: unknown, field: string): number | undefined {
  if (typeof ns === "bigint" ? ns >= 0n : typeof ns === "number" && Number.isFinite(ns) && ns >= 0) return nsToMs(ns as number | bigint);
  const shown = typeof ns === "number" || typeof ns === "bigint" ? String(ns) : typeof ns;
  warnOnce(`bad-time-${field}`, `${field} must be epoch nanoseconds (a number or bigint >= 0); got ${shown}, so the current time was used.`);
  return undefined;
}
