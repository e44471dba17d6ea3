// Delivery rate to a local MLflow server: mlflow-edge's MlflowExporter beside MLflow's own Python
// SDK sending the same traces (a 5-span agent run: retriever, two chat-model calls, a tool) to the
// same server in the same run. Both are timed from the first span to "every trace delivered".
//
//   npm run bench:delivery             (starts a server with scripts/mlflow-server.sh)
//   MLFLOW_TEST_URI=http://127.0.0.1:5000 BENCH_TRACES=300 npm run bench:delivery
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import * as mlflow from "../core/index.js";
import { agent, SPANS_PER_TRACE } from "./lib/agent.js";

const run = promisify(execFile);
const root = `${process.cwd()}/`; // scripts/bench.mjs runs every bench from the repository root
const COUNT = Number(process.env.BENCH_TRACES ?? 200);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);

async function createExperiment(uri: string, name: string): Promise<string> {
  const res = await fetch(`${uri}/api/2.0/mlflow/experiments/create`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ name }) });
  return ((await res.json()) as { experiment_id: string }).experiment_id;
}

/** Traces stored in the experiment (SearchTracesV3, paged): the proof that every trace arrived. */
async function countTraces(uri: string, experimentId: string): Promise<number> {
  let total = 0;
  let pageToken: string | undefined;
  do {
    const res = await fetch(`${uri}/api/3.0/mlflow/traces/search`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ locations: [{ type: "MLFLOW_EXPERIMENT", mlflow_experiment: { experiment_id: experimentId } }], max_results: 500, page_token: pageToken }),
    });
    const body = (await res.json()) as { traces?: unknown[]; next_page_token?: string };
    total += body.traces?.length ?? 0;
    pageToken = body.next_page_token || undefined;
  } while (pageToken);
  return total;
}

async function edgeRound(uri: string, experimentId: string): Promise<number> {
  mlflow.init({ trackingUri: uri, experimentId, silent: true });
  agent("warm-up", -1);
  await mlflow.flushTraces();
  const started = performance.now();
  for (let i = 0; i < COUNT; i++) agent(`What is 6 times 7? (${i})`, i);
  await mlflow.flushTraces();
  return (performance.now() - started) / 1000;
}

async function pythonRound(uri: string, experimentId: string): Promise<number> {
  const { stdout } = await run(`${root}.venv/bin/python`, [`${root}bench/delivery_python.py`, uri, experimentId, String(COUNT)], {
    env: { ...process.env, MLFLOW_DISABLE_TELEMETRY: "true", DO_NOT_TRACK: "true" },
    maxBuffer: 16 << 20,
  });
  return (JSON.parse(stdout) as { seconds: number }).seconds;
}

async function main(): Promise<void> {
  let uri = process.env.MLFLOW_TEST_URI;
  let dir: string | undefined;
  if (!uri) {
    const { stdout } = await run("bash", [`${root}scripts/mlflow-server.sh`, "start"], { cwd: root });
    uri = /MLFLOW_TRACKING_URI=(\S+)/.exec(stdout)![1]!;
    dir = /MLFLOW_SERVER_DIR=(\S+)/.exec(stdout)![1]!;
  } else {
    await run("bash", [`${root}scripts/mlflow-server.sh`, "install"], { cwd: root });
  }
  try {
    const results: { edge: number; python: number }[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const stamp = `${Date.now()}-${round}`;
      const [edgeExp, pyExp] = [await createExperiment(uri, `bench-edge-${stamp}`), await createExperiment(uri, `bench-python-${stamp}`)];
      // Alternate who goes first so neither always gets the warmer server.
      const order = round % 2 ? (["edge", "python"] as const) : (["python", "edge"] as const);
      const r = { edge: 0, python: 0 };
      for (const who of order) r[who] = who === "edge" ? await edgeRound(uri, edgeExp) : await pythonRound(uri, pyExp);
      const [edgeCount, pyCount] = [await countTraces(uri, edgeExp), await countTraces(uri, pyExp)];
      if (edgeCount !== COUNT + 1 || pyCount !== COUNT + 1) throw new Error(`delivered edge=${edgeCount} python=${pyCount}, expected ${COUNT + 1} each`);
      results.push(r);
    }
    const best = (who: "edge" | "python") => Math.min(...results.map((r) => r[who]));
    const line = (label: string, s: number) =>
      `${label.padEnd(26)} ${(COUNT / s).toFixed(1).padStart(8)} traces/s ${((COUNT * SPANS_PER_TRACE) / s).toFixed(0).padStart(7)} spans/s  (${s.toFixed(2)} s best of ${ROUNDS})`;
    console.log(`delivery to MLflow ${uri}: ${COUNT} traces x ${SPANS_PER_TRACE} spans, every trace verified stored`);
    console.log(line("mlflow-edge MlflowExporter", best("edge")));
    console.log(line("MLflow Python SDK (async)", best("python")));
    console.log(`ratio mlflow-edge / Python: ${(best("python") / best("edge")).toFixed(2)}x`);
  } finally {
    if (dir) await run("bash", [`${root}scripts/mlflow-server.sh`, "stop", dir], { cwd: root });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
