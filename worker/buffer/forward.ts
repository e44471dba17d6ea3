import { MlflowClient } from "../../core/mlflow/client.js";
import { MlflowHttpError } from "../../core/mlflow/errors.js";
import type { Trace } from "../../core/model/types.js";
import type { BufferConfig } from "./config.js";

// Sends one trace to MLflow with core's client (OTLP spans, then StartTraceV3). Sending the same
// trace id again is safe and is how a trace that gained a part after forwarding is completed:
// measured against MLflow 3.18, a second send of the merged trace adds the new spans and replaces
// the TraceInfo (previews, tags), leaving one trace (test/worker/buffer-forward.test.ts).

export type ForwardOutcome =
  | { ok: true }
  | { ok: false; permanent: boolean; message: string; retryAfterMs?: number };

export class Forwarder {
  private readonly client: MlflowClient;
  private experimentId: string | undefined;

  constructor(private readonly config: NonNullable<BufferConfig["mlflow"]>) {
    this.client = new MlflowClient({
      trackingUri: config.trackingUri,
      token: config.token,
      username: config.username,
      password: config.password,
      // One try per alarm run: the buffer schedules retries itself, durably, with backoff.
      retry: { maxAttempts: 1 },
      timeoutMs: 20_000,
    });
    this.experimentId = config.experimentId;
  }

  async send(trace: Trace): Promise<ForwardOutcome> {
    try {
      this.experimentId ??= await this.client.getOrCreateExperiment(this.config.experimentName!);
      await this.client.sendTrace(trace, this.experimentId);
      return { ok: true };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (error instanceof MlflowHttpError) return { ok: false, permanent: !error.retryable, message, retryAfterMs: error.retryAfterMs };
      return { ok: false, permanent: false, message };
    }
  }
}
