import { shownValue } from "../debug.js";
import type { SpanData, Trace } from "../model/types.js";
import { traceDataToMlflowJson } from "../serialize/mlflow-json.js";
import { toOtlpExportRequest } from "../serialize/otlp.js";
import { wellFormedJson } from "../serialize/py-json.js";
import { parseStartTraceResponse, toStartTraceInfo, type ReturnedTraceInfo } from "../serialize/trace-info.js";
import { authHeaders, type MlflowAuth } from "./auth.js";
import { MlflowError, MlflowExperimentError, MlflowHttpError, MlflowResponseError, withoutCredentials } from "./errors.js";
import { sendWithRetry, type FetchLike, type HttpRequest, type HttpSettings } from "./http.js";
import { resolveRetryPolicy, type RetryPolicy } from "./retry.js";

// The MLflow REST calls a trace needs, in the order MLflow's Python SDK makes them against a 3.x
// server (mlflow/tracing/export/mlflow_v3.py): spans over OTLP, then StartTraceV3 with the
// TraceInfo, then the traces.json artifact only if the server did not keep the spans itself.

export interface MlflowClientOptions extends MlflowAuth {
  /** `http(s)://host[:port][/prefix]` of the tracking server. */
  trackingUri: string;
  /** Extra headers on every request (e.g. a proxy's). */
  headers?: Record<string, string>;
  /** Per-request timeout (default 30 s). */
  timeoutMs?: number;
  retry?: RetryPolicy;
  /** Defaults to the global `fetch`. */
  fetch?: FetchLike;
}

export const SPANS_LOCATION_TAG = "mlflow.trace.spansLocation";
export const ARTIFACT_LOCATION_TAG = "mlflow.artifactLocation";
const TRACKING_STORE = "TRACKING_STORE";

export interface SendTraceResult {
  traceId: string;
  /** Where the server keeps the spans: `TRACKING_STORE` (its database) or `ARTIFACT` (traces.json). */
  spansLocation: "TRACKING_STORE" | "ARTIFACT";
}

/** Every error status: an answer, not a failure, for a request that only checks. */
const ANY_ERROR: readonly number[] = Array.from({ length: 200 }, (_, i) => 400 + i);

/**
 * The tracking URI without its `user:password@` part, which becomes Basic credentials (as Python's
 * `requests` treats it) instead: a URL is printed in every error message, and those reach logs
 * and the buffer's `lastError`.
 */
function checkUri(trackingUri: unknown): { uri: string; username?: string; password?: string } {
  const bad = () => new TypeError(`trackingUri must be an http(s) URL such as "http://127.0.0.1:5000"; got ${shownValue(typeof trackingUri === "string" ? withoutCredentials(trackingUri) : trackingUri)}.`);
  if (typeof trackingUri !== "string" || !/^https?:\/\/[^/\s]+/i.test(trackingUri)) throw bad();
  const uri = trackingUri.replace(/\/+$/, "");
  const parts = /^(https?:\/\/)([^/?#]*)@([^/?#@]*(?:[/?#].*)?)$/is.exec(uri); // user info ends at the authority's last "@"
  if (!parts) {
    // An "@" after a "/", "?" or "#" with a "user:" before them that is no host and port: a
    // password holding one of them, not percent-encoded (a URL parser reads it as the path):
    // refused, before the password ends up in an error message.
    const authority = (/^https?:\/\/([^/?#]*)/i.exec(uri)?.[1] ?? "").replace(/^\[[^\]]*\]/, "");
    if (uri.includes("@") && /:(?!\d+$)/.test(authority)) {
      throw new TypeError(`trackingUri ${JSON.stringify(withoutCredentials(uri))} has an "@" after a "/", "?" or "#": percent-encode the user name and password (encodeURIComponent), or give them as username/password (MLFLOW_TRACKING_USERNAME/_PASSWORD).`);
    }
    return { uri };
  }
  const [user = "", pass = ""] = (parts[2] as string).split(/:(.*)/s);
  return { uri: `${parts[1]}${parts[3]}`, username: lenientDecode(user), password: lenientDecode(pass) };
}

/** `%`-escapes decoded where they are well-formed (a password `50%off` stays as written, as Python reads it). */
function lenientDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function parseJson(req: HttpRequest, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new MlflowResponseError(req.method, req.url, "not JSON", text);
  }
}

export class MlflowClient {
  readonly trackingUri: string;
  private readonly http: HttpSettings;

  constructor(options: MlflowClientOptions) {
    const { uri, ...inUri } = checkUri(options.trackingUri);
    this.trackingUri = uri;
    // The global fetch is called as a plain function: workerd throws "Illegal invocation" when
    // it is called as a method of another object.
    const fetchImpl: FetchLike | undefined = options.fetch ?? (typeof globalThis.fetch === "function" ? (input, init) => globalThis.fetch(input, init) : undefined);
    if (!fetchImpl) throw new TypeError("no fetch() in this runtime; pass options.fetch.");
    const timeoutMs = options.timeoutMs ?? 30_000;
    if (!(typeof timeoutMs === "number" && timeoutMs > 0)) throw new TypeError(`timeoutMs must be a number > 0; got ${String(timeoutMs)}.`);
    this.http = {
      fetch: fetchImpl,
      headers: { ...options.headers, ...(options.username || options.password || options.token ? authHeaders(options) : authHeaders(inUri, true)) },
      timeoutMs,
      retry: resolveRetryPolicy(options.retry),
      outage: {}, // one per client: an outage costs one retry budget, not one per trace
    };
  }

  private url(path: string): string {
    return this.trackingUri + path;
  }

  private async json(req: HttpRequest): Promise<{ status: number; body: unknown }> {
    const answer = await sendWithRetry(this.http, { ...req, headers: { "Content-Type": "application/json", ...req.headers } });
    return { status: answer.status, body: answer.text.trim() === "" ? {} : parseJson(req, answer.text) };
  }

  /** `POST /v1/traces`: the spans as OTLP JSON (the server stores them in its database). */
  async logSpans(experimentId: string, spans: readonly SpanData[]): Promise<void> {
    if (spans.length === 0) return;
    await sendWithRetry(this.http, {
      method: "POST",
      url: this.url("/v1/traces"),
      headers: { "Content-Type": "application/json", "x-mlflow-experiment-id": experimentId },
      body: wellFormedJson(toOtlpExportRequest(spans)),
    });
  }

  /** `POST /api/3.0/mlflow/traces` (StartTraceV3); resolves with the server's TraceInfo. */
  async startTrace(trace: Trace, experimentId: string): Promise<ReturnedTraceInfo> {
    const req: HttpRequest = {
      method: "POST",
      url: this.url("/api/3.0/mlflow/traces"),
      body: wellFormedJson({ trace: { trace_info: toStartTraceInfo(trace.info, experimentId, trace.data.spans) } }),
    };
    const { body } = await this.json(req);
    const info = parseStartTraceResponse(body);
    if (!info) throw new MlflowResponseError(req.method, req.url, "no trace.trace_info.trace_id", JSON.stringify(body));
    return info;
  }

  /** PUT traces.json to the artifact location the server named (proxied `mlflow-artifacts:` only). */
  async uploadTraceData(info: ReturnedTraceInfo, spans: readonly SpanData[]): Promise<void> {
    const location = info.tags[ARTIFACT_LOCATION_TAG];
    const match = location ? /^mlflow-artifacts:(?:\/\/[^/]*)?(\/.*)$/.exec(location) : null;
    if (!match) {
      throw new MlflowResponseError("PUT", this.url("/api/2.0/mlflow-artifacts/artifacts"), `cannot upload traces.json to artifact location ${JSON.stringify(location)}`, "");
    }
    const path = (match[1] as string).replace(/\/+$/, "").split("/").map(encodeURIComponent).join("/");
    await sendWithRetry(this.http, {
      method: "PUT",
      url: this.url(`/api/2.0/mlflow-artifacts/artifacts${path}/traces.json`),
      headers: { "Content-Type": "application/json" },
      body: traceDataToMlflowJson(spans),
    });
  }

  /**
   * Delivers one finished trace. Safe to repeat: the server upserts spans by id and merges a
   * second StartTraceV3 for the same trace id, so a retried or duplicated send leaves one trace.
   */
  async sendTrace(trace: Trace, experimentId: string): Promise<SendTraceResult> {
    // A part whose root has its parent elsewhere (a Worker's part of a page's trace, a remote
    // process's): MLflow's Python SDK logs only its spans, so the trace's name, previews and times
    // stay the caller's. Here its trace info is written too, but only while MLflow has none written
    // yet (the part came first, or alone), so that the trace is not left IN_PROGRESS; the caller's
    // part replaces it when it comes.
    // (Of several parts without the root whose caller never sends its own, the first writes the
    // info, its state included: as in Python, only the true root's part decides the trace's state.)
    const spansOnly = !trace.data.spans.some((s) => s.parentId === null) && (await this.infoWritten(trace.info.traceId));
    let refused: MlflowHttpError | undefined;
    try {
      await this.logSpans(experimentId, trace.data.spans);
    } catch (error) {
      if (!(error instanceof MlflowHttpError && spansGoToArtifacts(error))) throw error;
      refused = error;
    }
    const spansLogged = refused === undefined;
    if (spansOnly) {
      if (!refused) return { traceId: trace.info.traceId, spansLocation: TRACKING_STORE };
      // Its traces.json holds the caller's spans: sent whole, this part would replace them (Python's SDK drops it too).
      throw new MlflowError(
        `MLflow did not take the spans of a part of trace ${trace.info.traceId} from a remote process (${refused.message}), and the trace's traces.json holds ` +
          "the caller's spans, which this part would replace: not sent. (A tracking server of MLflow 3.x with a SQL backend takes such parts, unless it refuses their content.)",
      );
    }
    const info = await this.startTrace(trace, experimentId);
    if (spansLogged && info.tags[SPANS_LOCATION_TAG] === TRACKING_STORE) return { traceId: info.traceId, spansLocation: TRACKING_STORE };
    await this.uploadTraceData(info, trace.data.spans);
    return { traceId: info.traceId, spansLocation: "ARTIFACT" };
  }

  /**
   * Whether MLflow has the trace's info from a StartTraceV3 (not only made up from spans logged).
   * Only a check, tried once: any answer but a usable 200 (a 404, the auth plugin's 403 for a trace
   * it does not have, a server before 3.2 without the route, a gateway's refusal, a 5xx, no answer)
   * is a no, and the part is sent whole as before.
   */
  private async infoWritten(traceId: string): Promise<boolean> {
    try {
      const once: HttpSettings = { ...this.http, retry: { ...this.http.retry, maxAttempts: 1 }, outage: {} };
      const answer = await sendWithRetry(once, { method: "GET", url: this.url(`/api/3.0/mlflow/traces/${encodeURIComponent(traceId)}`), accept: ANY_ERROR });
      const info = answer.status === 200 ? (JSON.parse(answer.text) as { trace?: { trace_info?: { trace_metadata?: Record<string, unknown> } } }).trace?.trace_info : undefined;
      return info?.trace_metadata?.["mlflow.trace.infoFinalized"] === "true";
    } catch {
      return false;
    }
  }

  /** The experiment's id, or `undefined` if there is none by that name. */
  async getExperimentIdByName(name: string): Promise<string | undefined> {
    const req: HttpRequest = {
      method: "GET",
      url: this.url(`/api/2.0/mlflow/experiments/get-by-name?experiment_name=${encodeURIComponent(name)}`),
      accept: [404],
    };
    const { status, body } = await this.json(req);
    if (status === 404) return undefined;
    const experiment = (body as { experiment?: { experiment_id?: unknown; lifecycle_stage?: unknown } }).experiment;
    const id = experiment?.experiment_id;
    if (typeof id !== "string") throw new MlflowResponseError(req.method, req.url, "no experiment.experiment_id", JSON.stringify(body));
    // MLflow takes traces into a deleted experiment's /v1/traces and then refuses their trace info:
    // said up front instead, as Python's set_experiment says it.
    if (experiment?.lifecycle_stage === "deleted") {
      throw new MlflowExperimentError(`MLflow experiment ${JSON.stringify(name)} (id ${id}) is deleted: restore it, or trace to another experiment name.`);
    }
    return id;
  }

  /** Creates the experiment; resolves with its id. */
  async createExperiment(name: string): Promise<string> {
    const req: HttpRequest = { method: "POST", url: this.url("/api/2.0/mlflow/experiments/create"), body: JSON.stringify({ name }) };
    const { body } = await this.json(req);
    const id = (body as { experiment_id?: unknown }).experiment_id;
    if (typeof id !== "string") throw new MlflowResponseError(req.method, req.url, "no experiment_id", JSON.stringify(body));
    return id;
  }

  /** The id of the experiment named `name`, created if missing (a concurrent creator is fine). */
  async getOrCreateExperiment(name: string): Promise<string> {
    const existing = await this.getExperimentIdByName(name);
    if (existing !== undefined) return existing;
    try {
      return await this.createExperiment(name);
    } catch (error) {
      if (error instanceof MlflowHttpError && error.errorCode === "RESOURCE_ALREADY_EXISTS") {
        const raced = await this.getExperimentIdByName(name);
        if (raced !== undefined) return raced;
      }
      throw error;
    }
  }
}

/**
 * Whether the trace still goes to MLflow, its spans as traces.json, after `POST /v1/traces` failed
 * this way, as Python's exporter does. Servers without OTLP ingestion: < 3.4 answer 404, a file
 * store 501, < 3.12 refuse JSON with a 400. Spans the server cannot put in its tables: a 422 for
 * token usage or cost it cannot add up, a 400 for a `session.id` over 250 characters.
 */
function spansGoToArtifacts(error: MlflowHttpError): boolean {
  // A 404 with MLflow's error_code is about the experiment, not a missing route.
  return (error.status === 404 && error.errorCode === undefined) || error.status === 501 || error.status === 400 || error.status === 422;
}
