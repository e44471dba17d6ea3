// Trace and span ids are random hex, as OpenTelemetry's are. Random bytes come from a pooled
// `crypto.getRandomValues` buffer: one call per 512 spans keeps id generation off the hot path.

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
const randomPool = new Uint8Array(4096);
let poolCursor = randomPool.length;

function randomHex(bytes: number): string {
  for (;;) {
    if (poolCursor + bytes > randomPool.length) {
      crypto.getRandomValues(randomPool);
      poolCursor = 0;
    }
    let out = "";
    let nonZero = 0;
    for (let i = 0; i < bytes; i++) {
      const b = randomPool[poolCursor++] as number;
      nonZero |= b;
      out += HEX[b];
    }
    if (nonZero !== 0) return out; // all-zero ids are invalid in W3C trace context
  }
}

/** 32 lowercase hex characters: the OpenTelemetry trace id. */
export const newOtelTraceId = (): string => randomHex(16);
/** 16 lowercase hex characters: a span id. */
export const newSpanId = (): string => randomHex(8);

export const TRACE_ID_PREFIX = "tr-";

/** MLflow's trace id for an OpenTelemetry trace id: `tr-<32 hex>`. */
export const toMlflowTraceId = (otelTraceId: string): string => TRACE_ID_PREFIX + otelTraceId;

/** The OpenTelemetry trace id inside an MLflow trace id (`tr-abc…` → `abc…`). */
export const toOtelTraceId = (traceId: string): string =>
  traceId.startsWith(TRACE_ID_PREFIX) ? traceId.slice(TRACE_ID_PREFIX.length) : traceId;

export const isHex = (value: string, length: number): boolean =>
  value.length === length && /^[0-9a-f]+$/.test(value) && !/^0+$/.test(value);
