import type { ContextManager } from "./context/context-manager.js";
import { setSilent, warnOnce } from "./debug.js";
import type { Exporter } from "./export/exporter.js";
import { isRemoteParent } from "./model/remote-parent.js";
import { getTracer, setTracer, Tracer } from "./tracer.js";

/** The tracer settings every runtime shares (no destination-specific options). */
export interface TracerOptions {
  /** Where finished traces go: anything with `export(trace)`. */
  exporter?: Exporter;
  /** MLflow experiment id recorded in each trace's location. */
  experimentId?: string;
  /** How the active span is carried; defaults to AsyncLocalStorage where it exists, else a stack. */
  contextManager?: ContextManager;
  /** `red, red` → `red_1, red_2` within a trace (default true, as the brief documents). */
  dedupeSpanNames?: boolean;
  /** Cap on the JSON size of one captured value (inputs, outputs, an attribute); default 256 KiB. */
  maxValueBytes?: number;
  /** How long a finished root waits for children still open before exporting; default 120 s (`Infinity`: for ever). */
  openSpanTimeoutMs?: number;
  /** No console diagnostics at all. */
  silent?: boolean;
}

/** The longest delay a timer takes (2^31 - 1 ms, about 24.8 days): a longer one fires at once. */
export const MAX_TIMER_MS = 0x7fffffff;

/** Whether `v` is a delay of `min` ms or more that a timer honours (a longer one would fire at once). */
export const timerMs = (v: unknown, min = 0): v is number => typeof v === "number" && v >= min && v <= MAX_TIMER_MS;

/** Throws the TypeError for an option `field` of `fn` (init, initBrowser, instrument…) that is not `expected`. */
export function fail(field: string, expected: string, got: unknown, fn = "init"): never {
  // A number or boolean is shown (NaN, -1); a string only by its type: it may be a key or a password.
  const shown = got === null ? "null" : typeof got === "number" || typeof got === "boolean" ? String(got) : typeof got;
  throw new TypeError(`mlflow-edge ${fn}(): "${field}" must be ${expected}; got ${shown}.`);
}

/**
 * Throws for an option `fn` does not take: a misspelt one (`trackinguri`, `ingestkey`) would be
 * ignored, and every trace go nowhere without a word. Suggests the option it is closest to.
 */
export function checkKnownKeys(options: object, known: readonly string[], fn: string, unsupported: Record<string, string> = {}): void {
  const norm = (key: string) => key.toLowerCase().replace(/[-_]/g, "");
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    if (Object.hasOwn(unsupported, key)) throw new TypeError(`mlflow-edge ${fn}(): "${key}" is not supported: ${unsupported[key]}.`);
    // The nearest may be an option it does not take (a misspelt trackingUri in a Worker): say so too.
    const near = [...known, ...Object.keys(unsupported)].find((k) => norm(k) === norm(key) || (norm(key).length > 3 && (norm(k).startsWith(norm(key)) || norm(key).startsWith(norm(k)))));
    const hint = near === undefined ? "" : Object.hasOwn(unsupported, near) ? `; "${near}" is not supported either: ${unsupported[near]}.` : `; did you mean "${near}"?`;
    throw new TypeError(`mlflow-edge ${fn}(): unknown option "${key}"${hint} Options: ${known.join(", ")}.`);
  }
}

/** The TracerOptions keys, for checkKnownKeys. */
export const TRACER_KEYS = ["exporter", "experimentId", "contextManager", "dedupeSpanNames", "maxValueBytes", "openSpanTimeoutMs", "silent"] as const satisfies readonly (keyof TracerOptions)[];

/** Checks `options` and names the first bad field (`fn`: the function whose options they are). */
export function validateTracerOptions(options: TracerOptions, fn = "init"): void {
  const bad = (field: string, expected: string, got: unknown) => fail(field, expected, got, fn);
  if (typeof options !== "object" || options === null) bad("options", "an object", options);
  const { exporter, experimentId, contextManager, dedupeSpanNames, maxValueBytes, openSpanTimeoutMs, silent } = options;
  if (exporter !== undefined && (typeof exporter !== "object" || exporter === null || typeof exporter.export !== "function")) {
    bad("exporter", "an object with an export(trace) method", exporter);
  }
  if (experimentId !== undefined && (typeof experimentId !== "string" || experimentId === "")) bad("experimentId", "a non-empty string", experimentId);
  if (contextManager !== undefined && (typeof contextManager?.active !== "function" || typeof contextManager.with !== "function")) {
    bad("contextManager", "a ContextManager (active/with/bind)", contextManager);
  }
  if (dedupeSpanNames !== undefined && typeof dedupeSpanNames !== "boolean") bad("dedupeSpanNames", "a boolean", dedupeSpanNames);
  if (maxValueBytes !== undefined && !(Number.isInteger(maxValueBytes) && maxValueBytes >= 64)) bad("maxValueBytes", "an integer >= 64", maxValueBytes);
  if (openSpanTimeoutMs !== undefined && !(timerMs(openSpanTimeoutMs) || openSpanTimeoutMs === Infinity)) {
    bad("openSpanTimeoutMs", "a number of milliseconds from 0 to 2147483647 (a timer's limit), or Infinity to wait for ever", openSpanTimeoutMs);
  }
  if (silent !== undefined && typeof silent !== "boolean") bad("silent", "a boolean", silent);
}


/**
 * Installs a tracer with these settings, replacing the previous one (traces in progress finish under
 * the tracer that started them). The runtime presets (`init`, `initBrowser`) call this; it pulls in
 * no exporter, so a browser bundle carries no MLflow client.
 */
export function configure(options: TracerOptions): void {
  validateTracerOptions(options);
  setSilent(options.silent ?? false);
  const previous = getTracer();
  const open = previous.contextManager.active();
  if (open && !isRemoteParent(open)) {
    warnOnce(
      "configure-in-trace",
      `tracing was configured again (init) inside the open span "${open.name}": that trace finishes under the previous configuration, ` +
        "and spans started from here on begin new traces. Configure once, before tracing (in a Worker, pass the options to instrument()).",
    );
  } else if (previous.openTraceCount > 0) {
    warnOnce(
      "configure-open-traces",
      `tracing was configured again (init) while ${previous.openTraceCount} trace(s) were open: they finish under the previous configuration ` +
        "(flushTraces() waits for them). Configure once, before tracing (in a Worker, pass the options to instrument()).",
    );
  }
  const tracer = new Tracer(options); // its settings are the options of the same names
  tracer.replace(previous);
  setTracer(tracer);
}
