// instrument()'s email and tail handlers in real workerd (wrangler's unstable_startWorker), each as
// the isolate's first traced invocation: code there (a withSpan) is exported under the
// invocation's root span, held open with waitUntil. Before, tracing was set up only by
// fetch/scheduled/queue, so such a trace was dropped without a word. And a trace whose export
// is not done by exportDeadlineMs is said to be lost, not lost in silence.
// Fixture: test/fixtures/workerd-instrument/handlers.ts.
import { afterEach, expect, it } from "vitest";
import { startFixtureWorker, type FixtureWorker } from "../e2e/fixture-worker.js";

let worker: FixtureWorker | undefined;
afterEach(async () => {
  await worker?.dispose();
  worker = undefined;
});

async function start() {
  worker = await startFixtureWorker({ name: "workerd-handlers", entrypoint: "handlers.ts" });
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

const traces = async () => (await (await worker!.fetch("http://worker/traces")).json()) as (string | null)[][][];
const warnings = async () => (await (await worker!.fetch("http://worker/warnings")).json()) as string[];

it("an email handler's withSpan, in the isolate's first invocation, is exported under an email root span named by the recipient's domain (a reply-by-email address's token stays out)", async () => {
  const w = await start();
  const to = "reply+AHNXK7S3TOKEN@example.com";
  const raw = `From: a@example.com\r\nTo: ${to}\r\nSubject: hi\r\nMessage-ID: <1@example.com>\r\n\r\nhello\r\n`;
  const res = await w.fetch(`http://worker/cdn-cgi/handler/email?from=a@example.com&to=${encodeURIComponent(to)}`, { method: "POST", body: raw });
  expect(res.status).toBeLessThan(300);
  const trees = await until(traces, (t) => t.length > 0);
  expect(trees).toEqual([[["email example.com", null], ["email-work", "email example.com"]]]);
}, 60_000);

it("a tail handler's withSpan, as the first traced invocation, is exported under a tail root span", async () => {
  const w = await start();
  expect(await (await w.fetch("http://worker/tail")).text()).toBe("ok");
  const trees = await until(traces, (t) => t.length > 0);
  expect(trees).toEqual([[["tail", null], ["tail-work", "tail"]]]);
}, 60_000);

it("a trace whose export is not done by exportDeadlineMs is reported as lost, once", async () => {
  const w = await start();
  for (let i = 0; i < 2; i++) expect(await (await w.fetch("http://worker/stuck")).text()).toBe("ok");
  const said = await until(warnings, (ws) => ws.some((m) => m.includes("exportDeadlineMs")));
  expect(said.filter((m) => m.includes("exportDeadlineMs"))).toEqual([
    expect.stringMatching(/^\[mlflow-edge\] a trace was not handed on within exportDeadlineMs \(1000 ms\) after its invocation's response and is lost/),
  ]);
}, 60_000);
