// Epoch milliseconds with sub-millisecond precision where the runtime has a monotonic clock.
// (In Workers `performance.now()` only advances on I/O: that is the platform's timing model.)

const perf = (globalThis as { performance?: { now(): number; timeOrigin: number } }).performance;

export const nowMs: () => number =
  perf && typeof perf.now === "function" && typeof perf.timeOrigin === "number"
    ? () => perf.timeOrigin + perf.now()
    : () => Date.now();

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
