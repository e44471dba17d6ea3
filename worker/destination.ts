import type { Exporter } from "../core/export/exporter.js";
import { MlflowExporter } from "../core/mlflow/exporter.js";
import type { MlflowAuth } from "../core/mlflow/auth.js";
import type { Trace } from "../core/model/types.js";
import { bindsCredentials, readBufferConfig, readCredentials, sameCredentials, secretVar, type BufferConfig } from "./buffer/config.js";
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
 * MLflow credentials from the Secrets Store are read at each export (exports under way at once
 * share a read, so reads land in order); the exporter is built again only when one changed
 * (rotated). A flush covers every export handed over so far: those still reading the secret (a
 * read ends within its timeout), and those an exporter from before a rotation still sends (its own
 * flush, which gives up on a send whose Worker invocation has ended).
 */
function readingCredentials(mlflow: NonNullable<BufferConfig["mlflow"]>, build: (auth: MlflowAuth) => MlflowExporter): Exporter {
  let current: { auth: MlflowAuth; exporter: MlflowExporter } | undefined;
  let older: MlflowExporter[] = [];
  let reading: Promise<MlflowExporter> | undefined;
  const reads = new Set<Promise<unknown>>();
  const exporterNow = () =>
    (reading ??= readCredentials(mlflow)
      .then((auth) => {
        if (!current || !sameCredentials(auth, current.auth)) {
          if (current) older.push(current.exporter);
          current = { auth, exporter: build(auth) };
        }
        return current.exporter;
      })
      .finally(() => (reading = undefined)));
  return {
    export(trace: Trace) {
      const read = exporterNow();
      const done = () => void reads.delete(read);
      reads.add(read);
      read.then(done, done);
      return read.then((exporter) => exporter.export(trace));
    },
    async flush() {
      await Promise.allSettled([...reads]);
      const flushed = older;
      await Promise.all([...flushed, ...(current ? [current.exporter] : [])].map((e) => e.flush()));
      older = older.filter((e) => !flushed.includes(e)); // done with: nothing of theirs is left to wait for
    },
  };
}
