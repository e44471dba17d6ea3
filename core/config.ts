import type { ContextManager } from "./context/context-manager.js";
import { setSilent } from "./debug.js";
import type { Exporter } from "./export/exporter.js";
import { setTracer, Tracer } from "./tracer.js";
import { MlflowExporter, type MlflowExporterOptions } from "./mlflow/exporter.js";

export interface InitOptions {
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
  /** How long a finished root waits for children still open before exporting; default 120 s. */
  openSpanTimeoutMs?: number;
  /** No console diagnostics at all. */
  silent?: boolean;

  // --- MLflow client: send traces straight to a tracking server (MLflow TS SDK's init options). ---
  /** `http(s)://host:port` of an MLflow tracking server; falls back to `MLFLOW_TRACKING_URI`. */
  trackingUri?: string;
  /** Experiment by name, created if missing (instead of `experimentId`; `MLFLOW_EXPERIMENT_NAME`). */
  experimentName?: string;
  /** Basic auth (`mlflow server --app-name basic-auth`); falls back to `MLFLOW_TRACKING_USERNAME`/`PASSWORD`. */
  trackingServerUsername?: string;
  trackingServerPassword?: string;
  /** Bearer token; falls back to `MLFLOW_TRACKING_TOKEN`. */
  trackingServerToken?: string;
  /** Extra headers on every request to the tracking server. */
  headers?: Record<string, string>;
  /** Per-request timeout in ms (default 30 s). */
  timeoutMs?: number;
  /** Retry policy for deliveries (network errors, 429, 5xx). */
  retry?: MlflowExporterOptions["retry"];
}

function fail(field: string, expected: string, got: unknown): never {
  throw new TypeError(`mlflow-edge init(): "${field}" must be ${expected}; got ${got === null ? "null" : typeof got}.`);
}

/** Checks `options` and names the first bad field. */
export function validateInitOptions(options: InitOptions): void {
  if (typeof options !== "object" || options === null) fail("options", "an object", options);
  const { exporter, experimentId, contextManager, dedupeSpanNames, maxValueBytes, openSpanTimeoutMs, silent } = options;
  if (exporter !== undefined && (typeof exporter !== "object" || exporter === null || typeof exporter.export !== "function")) {
    fail("exporter", "an object with an export(trace) method", exporter);
  }
  if (experimentId !== undefined && (typeof experimentId !== "string" || experimentId === "")) fail("experimentId", "a non-empty string", experimentId);
  if (contextManager !== undefined && (typeof contextManager?.active !== "function" || typeof contextManager.with !== "function")) {
    fail("contextManager", "a ContextManager (active/with/bind)", contextManager);
  }
  if (dedupeSpanNames !== undefined && typeof dedupeSpanNames !== "boolean") fail("dedupeSpanNames", "a boolean", dedupeSpanNames);
  if (maxValueBytes !== undefined && !(Number.isInteger(maxValueBytes) && maxValueBytes >= 64)) fail("maxValueBytes", "an integer >= 64", maxValueBytes);
  if (openSpanTimeoutMs !== undefined && !(typeof openSpanTimeoutMs === "number" && openSpanTimeoutMs >= 0)) {
    fail("openSpanTimeoutMs", "a number >= 0", openSpanTimeoutMs);
  }
  if (silent !== undefined && typeof silent !== "boolean") fail("silent", "a boolean", silent);
  validateMlflowOptions(options);
}

// --- MLflow client options (core/mlflow) ---
function validateMlflowOptions(options: InitOptions): void {
  const { trackingUri, experimentName, trackingServerUsername, trackingServerPassword, trackingServerToken, headers, timeoutMs } = options;
  if (trackingUri !== undefined && (typeof trackingUri !== "string" || !/^https?:\/\/[^/\s]+/i.test(trackingUri))) {
    fail("trackingUri", 'an http(s) URL such as "http://127.0.0.1:5000"', trackingUri);
  }
  for (const [field, value] of Object.entries({ experimentName, trackingServerUsername, trackingServerPassword, trackingServerToken })) {
    if (value !== undefined && (typeof value !== "string" || value === "")) fail(field, "a non-empty string", value);
  }
  if (headers !== undefined && (typeof headers !== "object" || headers === null || Object.values(headers).some((v) => typeof v !== "string"))) {
    fail("headers", "an object of string values", headers);
  }
  if (timeoutMs !== undefined && !(typeof timeoutMs === "number" && timeoutMs > 0)) fail("timeoutMs", "a number > 0", timeoutMs);
  if (options.exporter !== undefined && trackingUri !== undefined) fail("exporter", "left out when trackingUri is given (one destination)", options.exporter);
}

type Env = Record<string, string | undefined>;
const processEnv = (): Env => (globalThis as { process?: { env?: Env } }).process?.env ?? {};

/**
 * The MLflow exporter `init()` builds from `trackingUri` (or `MLFLOW_TRACKING_URI`) when no
 * exporter is given, as MLflow's TS SDK does; `undefined` when there is no tracking URI.
 */
export function mlflowExporterFromOptions(options: InitOptions): MlflowExporter | undefined {
  if (options.exporter) return undefined;
  const env = processEnv();
  const trackingUri = options.trackingUri ?? env.MLFLOW_TRACKING_URI;
  if (trackingUri === undefined || trackingUri === "") return undefined;
  if (!/^https?:\/\/[^/\s]+/i.test(trackingUri)) fail("trackingUri", 'an http(s) URL such as "http://127.0.0.1:5000"', trackingUri);
  const byName = options.experimentName ?? (options.experimentId === undefined ? env.MLFLOW_EXPERIMENT_NAME : undefined);
  const experimentId = options.experimentId ?? (byName === undefined ? env.MLFLOW_EXPERIMENT_ID : undefined);
  if (experimentId === undefined && byName === undefined) {
    throw new TypeError('mlflow-edge init(): "experimentId" (or "experimentName", or MLFLOW_EXPERIMENT_ID) is required with trackingUri.');
  }
  return new MlflowExporter({
    trackingUri,
    experimentId,
    experimentName: experimentId === undefined ? byName : undefined,
    username: options.trackingServerUsername ?? env.MLFLOW_TRACKING_USERNAME,
    password: options.trackingServerPassword ?? env.MLFLOW_TRACKING_PASSWORD,
    token: options.trackingServerToken ?? env.MLFLOW_TRACKING_TOKEN,
    headers: options.headers,
    timeoutMs: options.timeoutMs,
    retry: options.retry,
  });
}
// --- end MLflow client options ---

/**
 * Configures tracing for this realm. Calling it again replaces the configuration; traces already
 * in progress finish under the tracer that started them.
 * @example
 * mlflow.init({ exporter: new InMemoryExporter() });
 */
export function init(options: InitOptions = {}): void {
  validateInitOptions(options);
  setSilent(options.silent ?? false);
  const mlflowExporter = mlflowExporterFromOptions(options); // MLflow client: trackingUri → exporter
  setTracer(
    new Tracer({
      exporter: options.exporter ?? mlflowExporter,
      experimentId: options.experimentId ?? (mlflowExporter ? processEnv().MLFLOW_EXPERIMENT_ID : undefined),
      contextManager: options.contextManager,
      dedupeSpanNames: options.dedupeSpanNames,
      maxValueBytes: options.maxValueBytes,
      openSpanTimeoutMs: options.openSpanTimeoutMs,
    }),
  );
}
