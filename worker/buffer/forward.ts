import { errorText } from "../../core/debug.js";
import { MlflowClient } from "../../core/mlflow/client.js";
import { MlflowExperimentError, MlflowHttpError, MlflowNetworkError, withoutCredentials } from "../../core/mlflow/errors.js";
import type { Trace } from "../../core/model/types.js";
import type { MlflowAuth } from "../../core/mlflow/auth.js";
import { bindsCredentials, byCredentials, type BufferConfig } from "./config.js";

// Sends one trace to MLflow with core's client: OTLP `POST /v1/traces` with the spans, then
// StartTraceV3 with the TraceInfo, as MLflow's Python SDK does.
//
// Sending the same trace id again is how a trace that gained a part after it was forwarded is
// completed, so what MLflow 3.18.0 does with a second send was measured against the real server
// (test/worker/buffer-resend.test.ts keeps asserting it):
// - OTLP: spans are upserted by span id. New span ids are added to the existing trace, a span id
//   sent again is overwritten with the new content; spans not in the second request stay.
// - StartTraceV3 for an existing trace id is not an error (200). It replaces request_time,
//   execution_duration, state and both previews with the new values, and merges tags and
//   metadata key by key: a key in the second request wins, a key only in the first stays.
//   `mlflow.trace.sizeStats` is replaced, so it counts only the spans of the second request.
// - The result is one trace. Since the buffer always sends the whole merged trace (all spans,
//   the root part's info, tags and metadata unioned), the second send leaves MLflow with every
//   span, the true root's previews/state/timing and correct size stats. The only thing a second
//   send cannot do is remove a tag or metadata key; the merge never removes one either. (A merged
//   trace still without its true root adds only its spans once MLflow has the trace's info, as
//   MLflow's Python SDK sends a remote part: client.ts sendTrace.)

export type ForwardOutcome =
  | { ok: true }
  /**
   * `deployment`: the answer refuses the deployment's settings (credentials, experiment), not this
   * trace. `server`: the server is overloaded or out of reach (429, 502–504, no answer): the next
   * trace would fare the same.
   */
  | { ok: false; permanent: boolean; message: string; retryAfterMs?: number; deployment?: boolean; server?: boolean };

/**
 * MLflow refusing the experiment rather than the trace: an id that names no experiment (a typo in
 * MLFLOW_EXPERIMENT_ID) or one deleted since. Every trace would be refused the same way until the
 * experiment is fixed or restored.
 */
function refusesExperiment(error: MlflowHttpError): boolean {
  const said = error.serverMessage;
  if (error.status === 404) return error.errorCode === "RESOURCE_DOES_NOT_EXIST" && /experiment/i.test(said);
  return error.status === 400 && /experiment .* must be in the 'active' state/i.test(said);
}

export class Forwarder {
  /** The client for the credentials last read. */
  private client: MlflowClient;
  /** With credentials from the Secrets Store: the client for them as they are now (read before each send). */
  private readonly clientNow: (() => Promise<MlflowClient>) | undefined;
  /** The experiment id, resolved once per object (and once for concurrent sends). */
  private experiment: Promise<string> | undefined;

  constructor(private readonly config: NonNullable<BufferConfig["mlflow"]>) {
    const bound = bindsCredentials(config);
    this.client = this.clientFor(bound ? {} : (config as MlflowAuth));
    if (bound) this.clientNow = byCredentials(config, (auth) => this.clientFor(auth));
    if (config.experimentId) this.experiment = Promise.resolve(config.experimentId);
  }

  private clientFor({ token, username, password }: MlflowAuth): MlflowClient {
    return new MlflowClient({
      trackingUri: this.config.trackingUri,
      token,
      username,
      password,
      // One try per alarm run: the buffer schedules retries itself, durably, with backoff.
      retry: { maxAttempts: 1 },
      timeoutMs: 20_000,
    });
  }

  private experimentId(): Promise<string> {
    const name = this.config.experimentName!;
    this.experiment ??= this.client.getOrCreateExperiment(name).catch((error: unknown) => {
      this.experiment = undefined; // try again on the next send
      const text = errorText(error);
      throw Object.assign(error instanceof Error ? error : new Error(text), { message: `MLFLOW_EXPERIMENT_NAME ${JSON.stringify(name)} could not be found or created: ${text}` });
    });
    return this.experiment;
  }

  /**
   * The client's messages name the URL they called. It takes a well-formed `user:password@` out of
   * the tracking URI, but a password with an unencoded `#`, `/` or `@` splits another way
   * (`https://alice:12#x@host` is the host `alice`, port 12; `https://alice:p@ss/x@host` the host
   * `ss`), and what is left of it is in every message: masked here, before it reaches `lastError`.
   */
  private masked(message: string): string {
    for (const uri of [this.config.trackingUri.replace(/\/+$/, ""), this.client.trackingUri]) {
      if (uri.includes("@")) message = message.split(uri).join(withoutCredentials(uri));
    }
    return message;
  }

  async send(trace: Trace): Promise<ForwardOutcome> {
    if (this.clientNow) {
      try {
        this.client = await this.clientNow(); // a secret rotated in the store is sent from this send on
      } catch (error) {
        // A secret not in its store: every trace would fare the same, so it waits until fixed.
        return { ok: false, permanent: false, message: errorText(error), deployment: true };
      }
    }
    try {
      await this.client.sendTrace(trace, await this.experimentId());
      return { ok: true };
    } catch (error) {
      const message = this.masked(errorText(error));
      // 401/403 refuse the deployment's credentials, not this trace: it waits for them to be fixed.
      if (error instanceof MlflowHttpError && (error.status === 401 || error.status === 403)) return { ok: false, permanent: false, message, deployment: true };
      if ((error instanceof MlflowHttpError && refusesExperiment(error)) || error instanceof MlflowExperimentError) {
        // So does a missing or deleted experiment. One found by name is looked up again next time
        // (it may have been re-created under a new id).
        if (!this.config.experimentId) this.experiment = undefined;
        return { ok: false, permanent: false, message: `${message} (the experiment is refused, not this trace: traces wait until it exists and is active)`, deployment: true };
      }
      if (error instanceof MlflowHttpError) {
        const server = error.status === 429 || (error.status >= 502 && error.status <= 504);
        return { ok: false, permanent: !error.retryable, message, retryAfterMs: error.retryAfterMs, server };
      }
      // Network errors and timeouts are retried. A 2xx the client cannot use (an HTML login page, a
      // server that is not MLflow), or a stored trace no request can be made of, will not improve
      // by itself: counted towards dead-lettering.
      if (error instanceof MlflowNetworkError) return { ok: false, permanent: false, message, server: true };
      return { ok: false, permanent: true, message };
    }
  }
}
