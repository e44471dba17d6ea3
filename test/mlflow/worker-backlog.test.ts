// Straight to MLflow from real workerd: a backlog whose invocations end (past exportDeadlineMs)
// while their traces wait for the exporter's send slot must not stop delivery for good. Before,
// the slot freed by a cut-off send went to the oldest waiter, whose invocation had ended and whose
// continuation workerd cancels: the slot was lost again, and again, and nothing more was sent.
import { afterAll, beforeAll, expect, it } from "vitest";
import { startFixtureWorker, type FixtureWorker } from "../e2e/fixture-worker.js";
import { FaultProxy } from "./fault-proxy.js";
import { mlflowUri, newExperiment, readViaRest, searchViaRest } from "./readback.js";

let proxy: FaultProxy;
let worker: FixtureWorker | undefined;
let experimentId: string;

beforeAll(async () => {
  proxy = new FaultProxy(mlflowUri());
  await proxy.start();
  experimentId = await newExperiment("worker-backlog");
  worker = await startFixtureWorker({ name: "worker-backlog", entrypoint: "backlog.ts", bindings: { MLFLOW_URL: proxy.url, EXPERIMENT_ID: experimentId } });
}, 120_000);

afterAll(async () => {
  await worker?.dispose();
  await proxy.stop();
});

const ask = async (path: string) => expect(await (await worker!.fetch(`http://worker${path}`)).text()).toBe("ok");
/** The names of the traces MLflow has in the experiment (the request spans': `GET /later/1`, …). */
const names = async () => Promise.all((await searchViaRest(experimentId, "")).map(async (id) => (await readViaRest(id)).info.tags["mlflow.traceName"]));

it("after MLflow stalled a send past the deadline of a burst of requests, later requests' traces are delivered again", async () => {
  proxy.inject(/^\/v1\/traces/, "stall"); // the first send hangs until its invocation is cut off
  await Promise.all([1, 2, 3, 4, 5].map((i) => ask(`/burst/${i}`))); // one sends, four wait for the slot
  await new Promise((r) => setTimeout(r, 2_600)); // every burst invocation has ended; the stalled slot is past 2 s
  expect(await names()).toEqual([]);
  for (let i = 1; i <= 4; i++) {
    await ask(`/later/${i}`);
    await new Promise((r) => setTimeout(r, 300));
  }
  const later = ["GET /later/1", "GET /later/2", "GET /later/3", "GET /later/4"];
  let delivered: (string | undefined)[] = [];
  for (let i = 0; i < 40 && !later.every((n) => delivered.includes(n)); i++) {
    delivered = await names();
    await new Promise((r) => setTimeout(r, 100));
  }
  // The later requests all arrive (the burst's, cut off with their invocations, may be lost: that
  // is what exportDeadlineMs means; the buffer is the durable path).
  expect(delivered.filter((n) => n?.startsWith("GET /later/")).sort()).toEqual(later);
}, 60_000);
