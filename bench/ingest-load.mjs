// The load generator for bench/ingest.ts, run as a second process so the sender does not share an
// event loop with what it measures. Reads a JSON job from argv[2]: { url, headers, bodies, concurrency }
// and prints { ok, failed, statuses, latencies (ms), wallMs } as JSON.
import { readFileSync } from "node:fs";

const job = JSON.parse(readFileSync(process.argv[2], "utf8"));
const latencies = [];
const statuses = {};
let ok = 0;
let failed = 0;
let next = 0;

async function worker() {
  while (next < job.bodies.length) {
    const body = job.bodies[next++];
    const started = performance.now();
    try {
      const res = await fetch(job.url, { method: "POST", headers: job.headers, body });
      await res.arrayBuffer();
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      if (res.ok) ok++;
      else failed++;
    } catch (error) {
      failed++;
      statuses[String(error?.cause?.code ?? error)] = (statuses[String(error?.cause?.code ?? error)] ?? 0) + 1;
    }
    latencies.push(performance.now() - started);
  }
}

const started = performance.now();
await Promise.all(Array.from({ length: job.concurrency }, worker));
console.log(JSON.stringify({ ok, failed, statuses, latencies, wallMs: performance.now() - started }));
