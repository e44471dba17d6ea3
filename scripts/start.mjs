#!/usr/bin/env node
// `npm start`: the demo Worker under `wrangler dev` on 127.0.0.1 (port 8787 unless PORT is set),
// with its Durable Object buffer persisted in .wrangler/state. With no configuration it is complete
// on its own; with MLFLOW_TRACKING_URI (and MLFLOW_EXPERIMENT_ID or MLFLOW_EXPERIMENT_NAME) in the
// environment, the buffer forwards every trace to that MLflow server. Secrets are passed to the
// Worker as variables here and never reach the browser.
import { spawn } from "node:child_process";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const port = Number(process.env.PORT ?? 8787);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error(`PORT must be a TCP port number; got ${JSON.stringify(process.env.PORT)}.`);
  process.exit(2);
}

// Passed through to the Worker when set in the environment: every variable of the README's
// "Worker and demo configuration" table (they override wrangler.toml's [vars]).
const PASS = [
  "MLFLOW_TRACKING_URI",
  "MLFLOW_EXPERIMENT_ID",
  "MLFLOW_EXPERIMENT_NAME",
  "MLFLOW_TRACKING_TOKEN",
  "MLFLOW_TRACKING_USERNAME",
  "MLFLOW_TRACKING_PASSWORD",
  "INGEST_KEYS",
  "COLLECTOR_SECRET",
  "TRACE_BUFFER_SHARDS",
  "FORWARD_DELAY_MS",
  "FORWARD_PARTIAL_DELAY_MS",
  "FORWARD_RETRY_BASE_MS",
  "FORWARD_RETRY_MAX_MS",
  "FORWARD_MAX_PERMANENT_FAILURES",
  "FORWARD_BATCH_SIZE",
  "TRACE_RETENTION_HOURS",
  "OPENAI_BASE_URL",
  "OPENAI_API_KEY",
];
if (process.env.MLFLOW_TRACKING_URI && !process.env.MLFLOW_EXPERIMENT_ID && !process.env.MLFLOW_EXPERIMENT_NAME) {
  process.env.MLFLOW_EXPERIMENT_NAME = "mlflow-edge-demo";
}
const vars = PASS.filter((k) => process.env[k]).flatMap((k) => ["--var", `${k}:${process.env[k]}`]);
const persist = process.env.MLFLOW_EDGE_STATE_DIR ?? join(root, ".wrangler", "state");

const args = ["dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", persist, "--show-interactive-dev-session=false", ...vars];
const child = spawn(join(root, "node_modules", ".bin", "wrangler"), args, {
  cwd: root,
  stdio: ["ignore", "pipe", "inherit"],
  env: { WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true", ...process.env },
});

let announced = false;
child.stdout.on("data", (data) => {
  process.stdout.write(data);
  if (!announced && /Ready on/.test(String(data))) {
    announced = true;
    const base = `http://127.0.0.1:${port}`;
    const target = process.env.MLFLOW_TRACKING_URI ? `forwarding to MLflow at ${process.env.MLFLOW_TRACKING_URI}` : "traces kept in the local buffer (set MLFLOW_TRACKING_URI to forward)";
    console.log(`\nmlflow-edge demo: ${base}\n  chat:   ${base}/\n  traces: ${base}/traces\n  ${target}\n`);
  }
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
