import type { Exporter } from "../core/export/exporter.js";
import { MlflowExporter } from "../core/mlflow/exporter.js";
import type { MlflowAuth } from "../core/mlflow/auth.js";
import type { Trace } from "../core/model/types.js";
import { bindsCredentials, byCredentials, readBufferConfig, secretVar, type BufferConfig } from "./buffer/config.js";
import { bufferStoreFromEnv } from "./buffer/shards.js";
import { collectorExporter, storeExporter } from "./exporters.js";
import { DEFAULT_EXPORT_DEADLINE_MS, holdMsFor } from "./request-span.js";

// The default destination of an instrumented Worker's traces, read from its env (bindings, vars
// and secrets), nearest first: the TraceBuffer Durable Object in the same account, a remote
// collector, MLflow itself.

type Env = Record<string, unknown>;

const stringVar = (env: Env, key: string): string | undefined => {
  const value = env[key];
  return typeof value === "string" && value !== "" ? value : undefined;
};

/**
 * `exportDeadlineMs`: how long instrument() waits for a trace's export after the response (default
 * 25 s); straight to MLflow, each send ends by the waitUntil hold within it (20 s by default), so a
 * trace MLflow does not take is reported with its last error before the invocation ends with it.
 */
export function destinationFromEnv(env: Env, options: { exportDeadlineMs?: number } = {}): Exporter | undefined {
  const buffer = bufferStoreFromEnv(env);
  if (buffer) return storeExporter(buffer);
  const collector = stringVar(env, "MLFLOW_EDGE_COLLECTOR_URL");
  if (collector) return collectorExporter({ url: collector, secret: secretVar(env, "MLFLOW_EDGE_COLLECTOR_SECRET") });
  const { mlflow } = readBufferConfig(env);
  if (mlflow) {
    // Each send on its own (no slots or outage budget shared with other invocations: see
    // MlflowExporter), and over before the Worker stops waiting for it.
    const deadline = options.exportDeadlineMs ?? DEFAULT_EXPORT_DEADLINE_MS;
    const { token: _t, username: _u, password: _p, ...where } = mlflow;
    const build = (auth: MlflowAuth) => new MlflowExporter({ ...where, ...auth, ...(deadline > 0 ? { sendDeadlineMs: holdMsFor(deadline) } : {}) });
    return bindsCredentials(mlflow) ? readingCredentials(mlflow, build) : build(mlflow as MlflowAuth);
  }
  return undefined;
}

/**
 * MLflow credentials from the Secrets Store are read at each export (`byCredentials`), the exporter
 * built again when one changed (rotated). A flush covers every export handed over so far: those
 * still reading the secret (a read ends within its timeout), and those an exporter from before a
 * rotation still sends (its own flush, which gives up on a send whose Worker invocation has ended).
 */
function readingCredentials(mlflow: NonNullable<BufferConfig["mlflow"]>, build: (auth: MlflowAuth) => MlflowExporter): Exporter {
  const exporters = new Set<MlflowExporter>();
  const exporterNow = byCredentials(mlflow, (auth) => {
    const exporter = build(auth);
    exporters.add(exporter);
    return exporter;
  });
  const reads = new Set<Promise<unknown>>();
  let latest: MlflowExporter | undefined;
  return {
    export(trace: Trace) {
      const read = exporterNow();
      const done = () => void reads.delete(read);
      reads.add(read);
      read.then(done, done);
      return read.then((exporter) => (latest = exporter).export(trace));
    },
    async flush() {
      await Promise.allSettled([...reads]);
      const flushed = [...exporters];
      await Promise.all(flushed.map((e) => e.flush()));
      // Those replaced since have nothing left to wait for: only the one in use is kept.
      for (const e of flushed) if (e !== latest) exporters.delete(e);
    },
  };
}
