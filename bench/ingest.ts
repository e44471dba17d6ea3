// Ingest throughput of the collector under `wrangler dev` (the demo Worker: Hono collector →
// TraceBuffer Durable Objects), beside MLflow's own OTLP ingest (`POST /v1/traces`) of the same
// spans, on the same machine in the same run. The load comes from a second process on loopback
// (bench/ingest-load.mjs). Prints accepted spans/s and p50/p99 request latency for each.
//
//   npm run bench ingest
//   MLFLOW_TEST_URI=http://127.0.0.1:5000 BENCH_BATCHES=300 BENCH_CONCURRENCY=8 npm run bench ingest
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import * as mlflow from "../core/index.js";
import { encodeIngestBatch } from "../core/export/ingest-format.js";
import { toOtlpExportRequest } from "../core/serialize/otlp.js";
import { startWranglerDev } from "../test/e2e/wrangler-dev.js";
import { agent, SPANS_PER_TRACE } from "./lib/agent.js";

const run = promisify(execFile);
// Run from the project root (npm run bench), wherever the bundle was written.
const root = `${process.cwd()}/`;
const BATCHES = Number(process.env.BENCH_BATCHES ?? 200);
const TRACES_PER_BATCH = Number(process.env.BENCH_TRACES_PER_BATCH ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const SECRET = "bench-secret";

function makeTraces(count: number): mlflow.Trace[] {
  const exporter = new mlflow.InMemoryExporter();
  mlflow.init({ exporter, silent: true });
  for (let i = 0; i < count; i++) agent(`What is 6 times 7? (${i})`, i);
  return exporter.drain();
}

interface LoadResult {
  ok: number;
  failed: number;
  statuses: Record<string, number>;
  latencies: number[];
  wallMs: number;
}

async function load(url: string, headers: Record<string, string>, bodies: string[]): Promise<LoadResult> {
  const file = join(mkdtempSync(join(tmpdir(), "bench-ingest-")), "job.json");
  writeFileSync(file, JSON.stringify({ url, headers, bodies, concurrency: CONCURRENCY }));
  const { stdout } = await run(process.execPath, [join(root, "bench", "ingest-load.mjs"), file], { maxBuffer: 64 << 20 });
  return JSON.parse(stdout) as LoadResult;
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

function report(label: string, r: LoadResult, spansPerRequest: number) {
  const sorted = [...r.latencies].sort((a, b) => a - b);
  const spansPerSec = (r.ok * spansPerRequest) / (r.wallMs / 1000);
  console.log(
    `${label.padEnd(34)} ${spansPerSec.toFixed(0).padStart(7)} spans/s  p50 ${pct(sorted, 50).toFixed(1).padStart(6)} ms  p99 ${pct(sorted, 99).toFixed(1).padStart(6)} ms  ` +
      `(${r.ok} ok, ${r.failed} failed ${JSON.stringify(r.statuses)})`,
  );
  if (r.failed > 0) throw new Error(`${label}: ${r.failed} requests failed`);
  return spansPerSec;
}

async function main(): Promise<void> {
  let uri = process.env.MLFLOW_TEST_URI?.replace(/\/+$/, "");
  let dir: string | undefined;
  if (!uri) {
    const { stdout } = await run("bash", [`${root}scripts/mlflow-server.sh`, "start"], { cwd: root });
    uri = /MLFLOW_TRACKING_URI=(\S+)/.exec(stdout)![1]!;
    dir = /MLFLOW_SERVER_DIR=(\S+)/.exec(stdout)![1]!;
  }
  // The collector only buffers here (no MLflow configured), so forwarding does not compete for the
  // two cores; bench:delivery measures the forwarding leg.
  const worker = await startWranglerDev({ vars: { COLLECTOR_SECRET: SECRET } });
  try {
    const res = await fetch(`${uri}/api/2.0/mlflow/experiments/create`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ name: `bench-ingest-${Date.now()}` }) });
    const experimentId = ((await res.json()) as { experiment_id: string }).experiment_id;
    // Fresh traces for each target: a collector resend would be a cheap duplicate, not an ingest.
    const batchesOf = (traces: mlflow.Trace[]) => Array.from({ length: BATCHES }, (_, b) => traces.slice(b * TRACES_PER_BATCH, (b + 1) * TRACES_PER_BATCH));
    const ingestBodies = batchesOf(makeTraces(BATCHES * TRACES_PER_BATCH)).map((batch) => encodeIngestBatch(batch.map((t) => JSON.stringify(t))));
    const otlpBodies = (traces: mlflow.Trace[]) => batchesOf(traces).map((batch) => JSON.stringify(toOtlpExportRequest(batch.flatMap((t) => t.data.spans))));
    const collectorOtlp = otlpBodies(makeTraces(BATCHES * TRACES_PER_BATCH));
    const mlflowOtlp = otlpBodies(makeTraces(BATCHES * TRACES_PER_BATCH));
    const warm = otlpBodies(makeTraces(CONCURRENCY * TRACES_PER_BATCH)).slice(0, CONCURRENCY);
    const auth = { "content-type": "application/json", authorization: `Bearer ${SECRET}` };
    const mlflowHeaders = { "content-type": "application/json", "x-mlflow-experiment-id": experimentId };
    await load(`${worker.url}/v1/traces`, auth, warm);
    await load(`${uri}/v1/traces`, mlflowHeaders, otlpBodies(makeTraces(CONCURRENCY * TRACES_PER_BATCH)).slice(0, CONCURRENCY));

    const spansPerRequest = TRACES_PER_BATCH * SPANS_PER_TRACE;
    console.log(`${BATCHES} requests x ${TRACES_PER_BATCH} traces x ${SPANS_PER_TRACE} spans, ${CONCURRENCY} concurrent, from a second process on loopback`);
    const edgeIngest = report("collector POST /v1/ingest", await load(`${worker.url}/v1/ingest`, auth, ingestBodies), spansPerRequest);
    const edgeOtlp = report("collector POST /v1/traces (OTLP)", await load(`${worker.url}/v1/traces`, auth, collectorOtlp), spansPerRequest);
    const mlflowRate = report("MLflow POST /v1/traces (OTLP)", await load(`${uri}/v1/traces`, mlflowHeaders, mlflowOtlp), spansPerRequest);
    console.log(`ratio collector /v1/ingest / MLflow: ${(edgeIngest / mlflowRate).toFixed(2)}x; collector OTLP / MLflow: ${(edgeOtlp / mlflowRate).toFixed(2)}x`);
  } finally {
    await worker.stop();
    if (dir) await run("bash", [`${root}scripts/mlflow-server.sh`, "stop", dir], { cwd: root });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
