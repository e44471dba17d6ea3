import { INGEST_LIMITS } from "../../core/export/fit.js";
import { errorText } from "../../core/debug.js";
import type { MlflowAuth } from "../../core/mlflow/auth.js";
import { withoutCredentials } from "../../core/mlflow/errors.js";

// The TraceBuffer's settings, read from the Worker's env (vars and secrets) and checked once: a
// wrong value fails loudly at the first request with the variable's name, never silently.

export interface BufferConfig {
  mlflow:
    | {
        trackingUri: string;
        experimentId?: string;
        experimentName?: string;
        /** Credentials: text, or a Secrets Store binding read at each forward (`readSecret`). */
        token?: SecretSetting;
        username?: SecretSetting;
        password?: SecretSetting;
      }
    | undefined;
  /** Wait after the last part of a trace arrived before forwarding it (ms). */
  forwardDelayMs: number;
  /** A trace whose true root has not arrived is forwarded anyway after this long (ms). */
  partialDelayMs: number;
  /** Forwarding attempts refused with a permanent error before a trace is dead-lettered. */
  maxPermanentFailures: number;
  /** Backoff for retryable failures (ms): base doubles up to max, full jitter. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Traces forwarded per alarm run. */
  batchSize: number;
  /** How long traces stay viewable after forwarding (or, with no MLflow, after arrival) (ms). */
  retentionMs: number;
  /**
   * What one stored trace holds, all its parts merged: spans, and UTF-8 bytes of their JSON. A part
   * that would take a trace past either is refused (the collector answers 413), nothing stored lost.
   */
  maxTraceSpans: number;
  maxTraceBytes: number;
}

/**
 * What a TraceBuffer reads from its Worker's env. Every key is optional: with no
 * MLFLOW_TRACKING_URI traces stay in the buffer, viewable (`not-configured`). Numbers may be given
 * as strings (`[vars]` in wrangler.toml) or numbers.
 */
export interface TraceBufferEnv {
  MLFLOW_TRACKING_URI?: string;
  MLFLOW_EXPERIMENT_ID?: string;
  MLFLOW_EXPERIMENT_NAME?: string;
  /** These three: a Worker secret, or a Secrets Store secret binding. */
  MLFLOW_TRACKING_TOKEN?: string | SecretBinding;
  MLFLOW_TRACKING_USERNAME?: string | SecretBinding;
  MLFLOW_TRACKING_PASSWORD?: string | SecretBinding;
  FORWARD_DELAY_MS?: string | number;
  FORWARD_PARTIAL_DELAY_MS?: string | number;
  FORWARD_MAX_PERMANENT_FAILURES?: string | number;
  FORWARD_RETRY_BASE_MS?: string | number;
  FORWARD_RETRY_MAX_MS?: string | number;
  FORWARD_BATCH_SIZE?: string | number;
  TRACE_RETENTION_HOURS?: string | number;
  TRACE_MAX_SPANS?: string | number;
  TRACE_MAX_BYTES?: string | number;
}

type Env = Record<string, unknown>;

/**
 * The ingest limit of spans per trace (core/export/fit.ts), now for the trace merged from all its
 * parts. Bytes: each part is at most 1 MiB as sent (the request limit); the stored JSON can be
 * larger than what was sent (OTLP string values gain JSON escapes, inputs and outputs are kept as
 * attributes as well), and a browser's part and a Worker's part may each be near the limit.
 * Both keep one trace far below what a read (32 MiB per RPC) and a forward to MLflow can carry.
 */
export const DEFAULT_MAX_TRACE_SPANS = INGEST_LIMITS.maxSpansPerTrace;
export const DEFAULT_MAX_TRACE_BYTES = 4 * INGEST_LIMITS.maxBodyBytes;

/** A Worker variable with a value that cannot be used; the message names the variable. */
export class ConfigError extends TypeError {
  override name = "ConfigError";
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(message);
  }
}

function stringVar(env: Env, key: string): string | undefined {
  const value = env[key];
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string") throw new ConfigError(key, `${key} must be a string; got ${typeof value}.`);
  return value;
}

// The settings that are secrets (COLLECTOR_SECRET, MLFLOW_TRACKING_TOKEN, _USERNAME and _PASSWORD,
// MLFLOW_EDGE_COLLECTOR_SECRET) take a Worker secret (`wrangler secret put`: text in env) or a
// Cloudflare Secrets Store secret (`[[secrets_store_secrets]]` in wrangler.toml: a binding whose
// text comes from an async get()). A binding is read each time the secret is needed, so a secret
// rotated in the store is used from the next request or forward on, with no redeploy.

/** A Secrets Store secret binding (workers-types' `SecretsStoreSecret`). */
export interface SecretBinding {
  get(): Promise<string>;
}

/** What a secret setting holds: its text, or a Secrets Store binding to read it from. */
export type SecretSetting = string | SecretBinding;

export function isSecretBinding(value: unknown): value is SecretBinding {
  return typeof value === "object" && value !== null && typeof (value as { get?: unknown }).get === "function";
}

/** How long a Secrets Store read may take before it counts as failed (a hung read would hold the request, the alarm run or the export). */
const SECRET_READ_TIMEOUT_MS = 5_000;

/**
 * The text of a secret setting (`""` is none). A binding that cannot be read (a secret not in its
 * store, a binding of another kind, no answer in time) is a ConfigError naming the setting; the
 * binding's error names the secret, never its text.
 */
export async function readSecret(setting: SecretSetting | undefined, name: string): Promise<string | undefined> {
  if (!isSecretBinding(setting)) return setting || undefined;
  let text: unknown;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${SECRET_READ_TIMEOUT_MS / 1000} s`)), SECRET_READ_TIMEOUT_MS)));
    text = await Promise.race([setting.get(), late]);
  } catch (error) {
    throw new ConfigError(name, `${name} is a binding (a Secrets Store secret?) whose get() failed (${errorText(error)}): check the binding's store_id and secret_name, and that the secret exists in that store with the Workers scope.`);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
  if (typeof text !== "string") throw new ConfigError(name, `${name} is a binding whose get() gave ${text === null ? "null" : typeof text}, not text: bind a Secrets Store secret, or set it with wrangler secret put.`);
  return text || undefined;
}

/** A configuration's MLflow credentials as text, the Secrets Store bindings among them read. */
export async function readCredentials({ token, username, password }: NonNullable<BufferConfig["mlflow"]>): Promise<MlflowAuth> {
  const [t, u, p] = await Promise.all([
    readSecret(token, "MLFLOW_TRACKING_TOKEN"),
    readSecret(username, "MLFLOW_TRACKING_USERNAME"),
    readSecret(password, "MLFLOW_TRACKING_PASSWORD"),
  ]);
  return { token: t, username: u, password: p };
}

const sameCredentials = (a: MlflowAuth, b: MlflowAuth): boolean => a.token === b.token && a.username === b.username && a.password === b.password;

/**
 * `build(auth)` for the configuration's credentials as they are now, the Secrets Store bindings
 * among them read (calls under way at once share a read, so reads land in order, and a rotation is
 * never undone by a late one); built again only when a credential changed.
 */
export function byCredentials<T>(mlflow: NonNullable<BufferConfig["mlflow"]>, build: (auth: MlflowAuth) => T): () => Promise<T> {
  let current: { auth: MlflowAuth; value: T } | undefined;
  let reading: Promise<T> | undefined;
  return () =>
    (reading ??= readCredentials(mlflow)
      .then((auth) => {
        if (!current || !sameCredentials(auth, current.auth)) current = { auth, value: build(auth) };
        return current.value;
      })
      .finally(() => (reading = undefined)));
}

/** Whether any of a configuration's MLflow credentials is a Secrets Store binding (read at each use). */
export const bindsCredentials = ({ token, username, password }: NonNullable<BufferConfig["mlflow"]>): boolean => [token, username, password].some(isSecretBinding);

/** A setting read from env that may be a secret: text, a Secrets Store binding, or absent. */
export function secretVar(env: Record<string, unknown>, key: string): SecretSetting | undefined {
  const value = env[key];
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value === "string" || isSecretBinding(value)) return value;
  throw new ConfigError(key, `${key} must be text (a var or wrangler secret put) or a Secrets Store binding; got ${typeof value}.`);
}

/**
 * The longest time setting, about 31 years: every time the buffer computes from one stays inside
 * what a Durable Object alarm takes (dates before 2189), so a value meant as "for ever" is refused
 * by name instead of failing every write after it committed.
 */
const MAX_TIME_MS = 1e12;
const ANY = Number.MAX_SAFE_INTEGER;

/** A number from `min` to `max`. */
function numberVar(env: Env, key: string, fallback: number, min: number, max: number, integer = false): number {
  const raw = env[key];
  if (raw === undefined || raw === "") return fallback;
  const value = typeof raw === "number" ? raw : typeof raw === "string" ? Number(raw) : NaN;
  if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    const range = max === ANY ? `>= ${min}` : `from ${min} to ${max}`;
    throw new ConfigError(key, `${key} must be ${integer ? "an integer" : "a number"} ${range}; got ${JSON.stringify(raw)}.`);
  }
  return value;
}

function parses(url: string): boolean {
  try {
    new URL(url);
    return true;
  } catch {
    return false;
  }
}

export function readBufferConfig(settings: TraceBufferEnv | Env): BufferConfig {
  const env = settings as Env;
  const trackingUri = stringVar(env, "MLFLOW_TRACKING_URI");
  let mlflow: BufferConfig["mlflow"];
  if (trackingUri) {
    // Messages show the URI without whatever precedes its last "@" (a user name and password).
    if (!/^https?:\/\/[^/\s]+/i.test(trackingUri)) throw new ConfigError("MLFLOW_TRACKING_URI", `MLFLOW_TRACKING_URI must be an http(s) URL; got ${JSON.stringify(withoutCredentials(trackingUri))}.`);
    // A URL fetch() cannot parse would fail every forward, for ever, with the URI in the error
    // (a password holding an unencoded "/", "?" or "#" ends the host early): refuse it here.
    if (!parses(trackingUri)) {
      throw new ConfigError(
        "MLFLOW_TRACKING_URI",
        `MLFLOW_TRACKING_URI is not a URL that can be parsed: ${JSON.stringify(withoutCredentials(trackingUri))}; in a user name or password, percent-encode "/", "?", "#" and "@" (%2F, %3F, %23, %40), or use MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD.`,
      );
    }
    const experimentId = stringVar(env, "MLFLOW_EXPERIMENT_ID");
    const experimentName = experimentId ? undefined : stringVar(env, "MLFLOW_EXPERIMENT_NAME");
    if (!experimentId && !experimentName) throw new ConfigError("MLFLOW_EXPERIMENT_ID", "MLFLOW_TRACKING_URI is set, so MLFLOW_EXPERIMENT_ID or MLFLOW_EXPERIMENT_NAME must be too.");
    const username = secretVar(env, "MLFLOW_TRACKING_USERNAME");
    const password = secretVar(env, "MLFLOW_TRACKING_PASSWORD");
    // Half a Basic credential would be sent as no credential at all: say so instead.
    if ((username === undefined) !== (password === undefined)) {
      throw new ConfigError(
        username === undefined ? "MLFLOW_TRACKING_USERNAME" : "MLFLOW_TRACKING_PASSWORD",
        `${username === undefined ? "MLFLOW_TRACKING_PASSWORD" : "MLFLOW_TRACKING_USERNAME"} is set without ${username === undefined ? "MLFLOW_TRACKING_USERNAME" : "MLFLOW_TRACKING_PASSWORD"}; set both for Basic auth (or MLFLOW_TRACKING_TOKEN for a bearer token).`);
    }
    mlflow = {
      trackingUri,
      experimentId,
      experimentName,
      token: secretVar(env, "MLFLOW_TRACKING_TOKEN"),
      username,
      password,
    };
  }
  const retryBaseMs = numberVar(env, "FORWARD_RETRY_BASE_MS", 1_000, 1, MAX_TIME_MS);
  const retryMaxMs = numberVar(env, "FORWARD_RETRY_MAX_MS", 300_000, 1, MAX_TIME_MS);
  // Under the base, the cap would not hold: every wait is at least half the base.
  if (retryMaxMs < retryBaseMs) {
    const named = env.FORWARD_RETRY_MAX_MS !== undefined && env.FORWARD_RETRY_MAX_MS !== "" ? "FORWARD_RETRY_MAX_MS" : "FORWARD_RETRY_BASE_MS";
    throw new ConfigError(named, `FORWARD_RETRY_MAX_MS (${retryMaxMs}) must be at least FORWARD_RETRY_BASE_MS (${retryBaseMs}).`);
  }
  return {
    mlflow,
    forwardDelayMs: numberVar(env, "FORWARD_DELAY_MS", 2_000, 0, MAX_TIME_MS),
    partialDelayMs: numberVar(env, "FORWARD_PARTIAL_DELAY_MS", 30_000, 0, MAX_TIME_MS),
    maxPermanentFailures: numberVar(env, "FORWARD_MAX_PERMANENT_FAILURES", 3, 1, ANY, true),
    retryBaseMs,
    retryMaxMs,
    batchSize: numberVar(env, "FORWARD_BATCH_SIZE", 25, 1, ANY, true),
    retentionMs: numberVar(env, "TRACE_RETENTION_HOURS", 24, 0, MAX_TIME_MS / 3_600_000) * 3_600_000,
    maxTraceSpans: numberVar(env, "TRACE_MAX_SPANS", DEFAULT_MAX_TRACE_SPANS, 1, ANY, true),
    maxTraceBytes: numberVar(env, "TRACE_MAX_BYTES", DEFAULT_MAX_TRACE_BYTES, 1, ANY, true),
  };
}
