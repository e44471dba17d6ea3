import { errorText } from "../core/debug.js";
import { backoffDelay, parseRetryAfter, verdictOf } from "../core/export/backoff.js";
import type { Exporter } from "../core/export/exporter.js";
import { encodeIngestBatch, ingestHeaders, INGEST_PATH } from "../core/export/ingest-format.js";
import type { Trace } from "../core/model/types.js";
import { isSecretBinding, readSecret, type SecretSetting } from "./buffer/config.js";
import type { TraceStore } from "./store.js";
import { redactSecrets, type RedactHook } from "../core/export/redact.js";
import { fitForIngest, ingestJson } from "../core/export/fit.js";
import { utf8Length } from "../core/serialize/safe-json.js";

// Where an instrumented Worker's finished traces go. All of them run inside ctx.waitUntil, after the
// response: the request never waits for tracing.

/**
 * Hands traces to a TraceStore (the TraceBuffer Durable Objects through their binding), retrying a
 * put the runtime marks retryable (a Durable Object reset by a deploy) twice, redacted
 * (default `redactSecrets`, as the collector does to what pages send) and cut to the ingest limits
 * first as every other way into the buffer is: a long streamed answer keeps every chunk as an
 * event, and a span over the buffer's row size would be refused whole.
 */
export function storeExporter(store: TraceStore, redact: RedactHook | false = redactSecrets): Exporter {
  return {
    async export(trace: Trace) {
      const kept = redact ? redact(trace) : trace;
      if (!kept) return;
      const batch = [fitForIngest(kept, utf8Length(JSON.stringify(kept)))];
      for (let attempt = 1; ; attempt++) {
        try {
          return void (await store.put(batch));
        } catch (error) {
          // Durable Objects mark passing failures `retryable` (reset by a deploy, a lost
          // connection); the store takes a new stub each call, and a put sent twice is stored once.
          // An overloaded object is not asked again: that would only add to its load.
          const flags = (error ?? {}) as { retryable?: unknown; overloaded?: unknown };
          if (flags.retryable !== true || flags.overloaded === true || attempt >= STORE_ATTEMPTS) throw error;
          await new Promise((r) => setTimeout(r, backoffDelay(attempt, { baseMs: 200, maxMs: 2_000 })));
        }
      }
    },
  };
}

/** Tries of one put through the binding, within the invocation's waitUntil time. */
const STORE_ATTEMPTS = 3;

export interface CollectorExporterOptions {
  /** Base URL of a mlflow-edge collector, e.g. `https://traces.example.com`. */
  url: string;
  /** The collector's server secret (a Worker secret, or a Secrets Store binding read at each export), sent as `Authorization: Bearer`. */
  secret?: SecretSetting;
  /** An ingest key instead of a secret. */
  ingestKey?: string;
  /** Attempts per trace on network errors, 408, 429 and 5xx (default 3). */
  attempts?: number;
  fetch?: typeof fetch;
}

/**
 * Posts each trace to a remote collector's `POST /v1/ingest`. Retries within the invocation's
 * waitUntil time; a trace still refused after that is reported, not kept (a Worker isolate has no
 * durable storage of its own: bind the TraceBuffer to keep traces through outages).
 */
export function collectorExporter(options: CollectorExporterOptions): Exporter {
  if (typeof options?.url !== "string" || !/^https?:\/\/[^/\s]+/i.test(options.url)) {
    throw new TypeError(`collectorExporter(): "url" must be an http(s) URL; got ${JSON.stringify(options?.url)}.`);
  }
  const endpoint = options.url.replace(/\/+$/, "") + INGEST_PATH;
  const attempts = options.attempts ?? 3;
  const doFetch = options.fetch ?? globalThis.fetch;
  const headers = ingestHeaders(options.ingestKey);
  const { secret } = options;
  if (secret !== undefined && typeof secret !== "string" && !isSecretBinding(secret)) {
    throw new TypeError(`collectorExporter(): "secret" must be text or a Secrets Store binding; got ${secret === null ? "null" : typeof secret}.`);
  }
  if (typeof secret === "string" && secret) headers.authorization = `Bearer ${secret}`;
  return {
    async export(trace: Trace) {
      const body = encodeIngestBatch([ingestJson(trace).json]);
      let last = "";
      for (let attempt = 1; attempt <= attempts; attempt++) {
        let wait: number | undefined;
        try {
          // A Secrets Store secret is read at each try: a rotated one is sent from then on, and a
          // read that fails is tried again as a failed request is.
          const stored = isSecretBinding(secret) ? await readSecret(secret, "the collector secret (MLFLOW_EDGE_COLLECTOR_SECRET, collectorExporter's secret)") : undefined;
          const res = await doFetch(endpoint, { method: "POST", headers: stored ? { ...headers, authorization: `Bearer ${stored}` } : headers, body });
          // The collector's answers read as the browser sender reads them (core/export/backoff.ts).
          const verdict = verdictOf(res.status);
          if (verdict === "ok") return;
          const text = (await res.text()).slice(0, 500);
          last = `HTTP ${res.status}: ${text}`;
          if (verdict === "reject") break;
          wait = parseRetryAfter(res.headers.get("retry-after"), Date.now());
        } catch (error) {
          last = errorText(error);
        }
        if (attempt < attempts) await new Promise((r) => setTimeout(r, Math.min(wait ?? backoffDelay(attempt, { baseMs: 200, maxMs: 5_000 }), 10_000)));
      }
      throw new Error(`collector ${endpoint} did not take trace ${trace.info.traceId}: ${last}`);
    },
  };
}
