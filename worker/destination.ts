import type { Exporter } from "../core/export/exporter.js";
import { MlflowExporter } from "../core/mlflow/exporter.js";
import { readBufferConfig } from "./buffer/config.js";
import { bufferStoreFromEnv } from "./buffer/shards.js";
import { collectorExporter, storeExporter } from "./exporters.js";

// The default destination of an instrumented Worker's traces, read from its env (bindings, vars
// and secrets), nearest first: the TraceBuffer Durable Object in the same account, a remote
// collector, MLflow itself.

type Env = Record<string, unknown>;

const stringVar = (env: Env, key: string): string | undefined => {
  const value = env[key];
  return typeof value === "string" && value !== "" ? value : undefined;
};

export function destinationFromEnv(env: Env): Exporter | undefined {
  const buffer = bufferStoreFromEnv(env);
  if (buffer) return storeExporter(buffer);
  const collector = stringVar(env, "MLFLOW_EDGE_COLLECTOR_URL");
  if (collector) return collectorExporter({ url: collector, secret: stringVar(env, "MLFLOW_EDGE_COLLECTOR_SECRET") });
  const { mlflow } = readBufferConfig(env);
  if (mlflow) return new MlflowExporter(mlflow);
  return undefined;
}
