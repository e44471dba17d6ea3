// instrument() in real workerd (wrangler's unstable_startWorker): a trace whose export is not done
// by exportDeadlineMs is said to be lost, not lost in silence.
// Fixture: test/fixtures/workerd-instrument/handlers.ts.
import { afterEach, expect, it } from "vitest";
import { unstable_startWorker } from "wrangler";

let worker: Awaited<ReturnType<typeof unstable_startWorker>> | undefined;
afterEach(async () => {
  await worker?.dispose();
  worker = undefined;
});

async function start() {
  process.env.WRANGLER_SEND_METRICS = "false";
  process.env.CLOUDFLARE_CF_FETCH_ENABLED = "false";
  worker = await unstable_startWorker({
    config: "test/fixtures/workerd-instrument/wrangler.toml",
    name: "workerd-handlers",
    entrypoint: "test/fixtures/workerd-instrument/handlers.ts",
    compatibilityDate: "2026-04-01",
    compatibilityFlags: ["nodejs_als"],
    dev: { server: { hostname: "127.0.0.1", port: 0 }, inspector: false, persist: false, watch: false, logLevel: "none" },
  });
  await worker.ready;
  return worker;
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  let value = await read();
  for (let i = 0; i < 100 && !done(value); i++) {
    await new Promise((r) => setTimeout(r, 100));
    value = await read();
  }
  return value;
}

const warnings = async () => (await (await worker!.fetch("http://worker/warnings")).json()) as string[];

it("a trace whose export is not done by exportDeadlineMs is reported as lost, once", async () => {
  const w = await start();
  for (let i = 0; i < 2; i++) expect(await (await w.fetch("http://worker/stuck")).text()).toBe("ok");
  const said = await until(warnings, (ws) => ws.some((m) => m.includes("exportDeadlineMs")));
  expect(said.filter((m) => m.includes("exportDeadlineMs"))).toEqual([
    expect.stringMatching(/^\[mlflow-edge\] a trace was not handed on within exportDeadlineMs \(1000 ms\) after its invocation's response and is lost/),
  ]);
}, 60_000);
