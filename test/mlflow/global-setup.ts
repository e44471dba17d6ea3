// Starts the pinned MLflow server once per `vitest --project mlflow` run (scripts/mlflow-server.sh),
// hands its URL to the tests through provide()/inject(), and stops it afterwards. Set
// MLFLOW_TEST_URI to reuse a server that is already running.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { TestProject } from "vitest/node";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../..", import.meta.url));
const script = `${root}scripts/mlflow-server.sh`;

declare module "vitest" {
  export interface ProvidedContext {
    /** Base URL of the MLflow tracking server under test. */
    mlflowUri: string;
    /** The venv python that has the same pinned mlflow (for the Python SDK side of tests). */
    mlflowPython: string;
  }
}

/** Parses the KEY=VALUE lines `mlflow-server.sh start` prints. */
export function parseStartOutput(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split("\n")) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

export async function startServer(args: string[] = []): Promise<{ uri: string; dir: string; env: Record<string, string>; startMs: number }> {
  const started = Date.now();
  const { stdout } = await run("bash", [script, "start", ...args], { cwd: root, maxBuffer: 1 << 20 });
  const env = parseStartOutput(stdout);
  if (!env.MLFLOW_TRACKING_URI || !env.MLFLOW_SERVER_DIR) throw new Error(`mlflow-server.sh start printed no URL:\n${stdout}`);
  return { uri: env.MLFLOW_TRACKING_URI, dir: env.MLFLOW_SERVER_DIR, env, startMs: Date.now() - started };
}

export async function stopServer(dir: string): Promise<void> {
  await run("bash", [script, "stop", dir], { cwd: root });
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  project.provide("mlflowPython", `${root}.venv/bin/python`);
  const reuse = process.env.MLFLOW_TEST_URI;
  if (reuse) {
    await run("bash", [script, "install"], { cwd: root });
    project.provide("mlflowUri", reuse.replace(/\/+$/, ""));
    return async () => {};
  }
  const server = await startServer();
  console.log(`[mlflow] server ${server.uri} started in ${server.startMs} ms`);
  project.provide("mlflowUri", server.uri);
  return () => stopServer(server.dir);
}
