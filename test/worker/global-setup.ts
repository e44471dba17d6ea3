// For the workerd tests: the pinned MLflow server (scripts/mlflow-server.sh) behind a fault proxy
// on the fixed port that test/worker/fixture/wrangler.toml names. Code inside workerd drives the
// proxy over HTTP (/__proxy/*, see test/mlflow/fault-proxy.ts) and reads MLflow through it.
import type { TestProject } from "vitest/node";
import { FaultProxy } from "../mlflow/fault-proxy.js";
import { startServer, stopServer } from "../mlflow/global-setup.js";

export const PROXY_PORT = 18791;

declare module "vitest" {
  export interface ProvidedContext {
    /** The fault proxy in front of MLflow (what the test Worker's MLFLOW_TRACKING_URI names). */
    mlflowProxyUri: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const reuse = process.env.MLFLOW_TEST_URI?.replace(/\/+$/, "");
  const server = reuse ? undefined : await startServer();
  const proxy = new FaultProxy(reuse ?? server!.uri);
  await proxy.start(PROXY_PORT);
  project.provide("mlflowProxyUri", proxy.url);
  return async () => {
    await proxy.stop();
    if (server) await stopServer(server.dir);
  };
}
