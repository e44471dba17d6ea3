import { checkKnownKeys, configure, fail, timerMs, TRACER_KEYS, validateTracerOptions, type TracerOptions } from "./config.js";
import { withoutCredentials } from "./mlflow/errors.js";
import { MlflowExporter, type MlflowExporterOptions } from "./mlflow/exporter.js";

/** `init()` options: the tracer settings plus, for sending straight to MLflow, the tracking server. */
export interface InitOptions extends TracerOptions {
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
  /** Retry policy for deliveries (network errors, 408, 429, 5xx). */
  retry?: MlflowExporterOptions["retry"];
  /** Runs on each trace before it is sent to MLflow; `null` drops it. Default `redactSecrets`; `false` sends traces as they are. */
  redact?: MlflowExporterOptions["redact"];
}

/** init()'s options for MLflow itself (the others are the tracer's). */
export const MLFLOW_INIT_KEYS = [
  "trackingUri", "experimentName", "trackingServerUsername", "trackingServerPassword", "trackingServerToken", "headers", "timeoutMs", "retry", "redact",
] as const satisfies readonly (keyof InitOptions)[];
const INIT_KEYS = [...TRACER_KEYS, ...MLFLOW_INIT_KEYS] as const satisfies readonly (keyof InitOptions)[];
// Every option is listed (a new one left out would be refused as unknown).
const allListed: [Exclude<keyof InitOptions, (typeof INIT_KEYS)[number]>] extends [never] ? true : never = true;

// Options of MLflow's TS SDK init that have no counterpart here (docs/mlflow-differences.md).
const DATABRICKS = "mlflow-edge sends to an MLflow tracking server over http(s) (trackingUri), not to Databricks";
const TS_SDK_ONLY: Record<string, string> = {
  host: DATABRICKS,
  databricksToken: DATABRICKS,
  databricksConfigPath: DATABRICKS,
  workspace: "MLflow workspaces are not supported; traces go to the experiment given",
  traceLocation: "traces go to the experiment given (experimentId or experimentName)",
};

/** Checks `options` and names the first bad field. */
export function validateInitOptions(options: InitOptions): void {
  validateTracerOptions(options);
  checkKnownKeys(options, INIT_KEYS, "init", TS_SDK_ONLY);
  validateMlflowOptions(options);
}

function validateMlflowOptions(options: InitOptions): void {
  const { trackingUri, experimentName, trackingServerUsername, trackingServerPassword, trackingServerToken, headers, timeoutMs } = options;
  if (trackingUri !== undefined && (typeof trackingUri !== "string" || !/^https?:\/\/[^/\s]+/i.test(trackingUri))) {
    fail("trackingUri", 'an http(s) URL such as "http://127.0.0.1:5000"', trackingUri);
  }
  for (const [field, value] of Object.entries({ experimentName, trackingServerUsername, trackingServerPassword, trackingServerToken })) {
    if (value !== undefined && (typeof value !== "string" || value === "")) fail(field, "a non-empty string", value);
  }
  if (headers !== undefined && (typeof headers !== "object" || headers === null || Object.values(headers).some((v) => typeof v !== "string") || !validHeaders(headers))) {
    fail("headers", "an object of valid HTTP header names and values (fetch refuses the others, on every request)", headers);
  }
  if (timeoutMs !== undefined && !(timerMs(timeoutMs) && timeoutMs > 0)) fail("timeoutMs", "a number of milliseconds above 0, at most 2147483647", timeoutMs);
  if (options.exporter !== undefined && trackingUri !== undefined) fail("exporter", "left out when trackingUri is given (one destination)", options.exporter);
  // The others configure the exporter built from trackingUri: beside the app's own exporter they
  // would be dropped unnoticed (a `redact` there would mask nothing).
  const unused = options.exporter === undefined ? undefined : MLFLOW_INIT_KEYS.find((key) => options[key] !== undefined);
  if (unused) fail(unused, "left out when exporter is given: it configures the MLflow exporter init() builds from trackingUri (apply it in your exporter)", options[unused]);
}

function validHeaders(headers: object): boolean {
  const { Headers } = globalThis as unknown as { Headers?: new (init: object) => unknown };
  try {
    if (Headers) new Headers(headers);
    return true;
  } catch {
    return false;
  }
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
  if (!/^https?:\/\/[^/\s]+/i.test(trackingUri)) {
    // Named as the user gave it: the option, or the variable it came from (its value masked).
    if (options.trackingUri !== undefined) fail("trackingUri", 'an http(s) URL such as "http://127.0.0.1:5000"', trackingUri);
    throw new TypeError(`mlflow-edge init(): MLFLOW_TRACKING_URI must be an http(s) URL such as "http://127.0.0.1:5000"; got ${JSON.stringify(withoutCredentials(trackingUri))}.`);
  }
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
    redact: options.redact,
  });
}

/**
 * Configures tracing for this realm, as MLflow's TS SDK's `init` does: with `trackingUri` (or
 * `MLFLOW_TRACKING_URI`) and an experiment, finished traces go straight to that MLflow server;
 * with `exporter`, they go there. Calling it again replaces the configuration.
 * @example
 * mlflow.init({ trackingUri: "http://127.0.0.1:5000", experimentId: "1" });
 * mlflow.init({ exporter: new mlflow.InMemoryExporter() });
 */
export function init(options: InitOptions = {}): void {
  validateInitOptions(options);
  const mlflowExporter = mlflowExporterFromOptions(options);
  configure({
    ...options,
    exporter: options.exporter ?? mlflowExporter,
    experimentId: options.experimentId ?? (mlflowExporter ? processEnv().MLFLOW_EXPERIMENT_ID : undefined),
  });
}
