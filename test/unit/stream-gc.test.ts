// Traced streams and the garbage collector: what a stream leaves behind once read and exported (an
// app that keeps the stream objects it got, a chat's message history, must not keep their spans),
// and a stream whose consumer keeps only a pending promise. Run in child processes with
// --expose-gc and only the SDK loaded, where nothing else holds a span or a stream.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const dist = join(import.meta.dirname, "..", "..", "dist", "core", "index.js");

/** Runs `body` after the SDK is set up with an in-memory `exporter`; returns what it printed, parsed. */
function run(body: string): unknown {
  const script = `import * as mlflow from ${JSON.stringify(dist)};
const exporter = new mlflow.InMemoryExporter();
mlflow.init({ exporter, silent: true });
const collect = async () => { for (let i = 0; i < 10; i++) { gc(); await new Promise((r) => setTimeout(r, 10)); } };
${body}`;
  const r = spawnSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 30_000 });
  expect(r.stderr).toBe("");
  return JSON.parse(r.stdout);
}

describe("a stream object the app keeps after reading it", { timeout: 60_000 }, () => {
  it("holds none of its span (the span and its chunk events are the exported trace's, gone once that is)", () => {
    const printed = run(`
class Answer { async *[Symbol.asyncIterator]() { for (let i = 0; i < 50; i++) yield "x".repeat(10000) + i; } }
const spans = [];
const answer = mlflow.trace(function answer() { spans.push(new WeakRef(mlflow.getCurrentActiveSpan())); return new Answer(); });
const kept = [];
for (let n = 0; n < 5; n++) { const a = answer(); for await (const _ of a); kept.push(a); }
await mlflow.flushTraces();
const events = exporter.traces.reduce((sum, t) => sum + t.data.spans[0].events.length, 0);
exporter.traces.length = 0;
await collect();
console.log(JSON.stringify({ events, kept: kept.filter((a) => a instanceof Answer).length, alive: spans.filter((s) => s.deref()).length }));`);
    // (Before: every kept object's hook held its recorder, and through it the span with its 50
    // chunk events of 10 KB: half a megabyte per answer for as long as the app kept the object.)
    expect(printed).toEqual({ events: 250, kept: 5, alive: 0 });
  });
});

describe("a generator whose next() is pending, of which the consumer keeps only that promise", { timeout: 60_000 }, () => {
  it("is not ended as dropped before the promise settles: the chunk it gives is recorded", () => {
    const printed = run(`
const slow = mlflow.trace(async function* slow() { await new Promise((r) => setTimeout(r, 200)); yield "first"; yield "second"; });
const first = slow().next(); // "take the first item": nothing keeps the generator itself
await collect();
const value = (await first).value;
await collect(); // now it may go: its span ends at its last chunk
await mlflow.flushTraces();
const span = exporter.traces[0]?.data.spans[0];
console.log(JSON.stringify({ value, outputs: span?.outputs, events: span?.events.map((e) => e.name) }));`);
    // (Before: collected during the wait, its span ended with no chunk, outputs [].)
    expect(printed).toEqual({ value: "first", outputs: ["first"], events: ["mlflow.chunk.item.0", "cancelled"] });
  });
});
