// The browser's fetch transport gives a large body the time a slow uplink needs: a trace that can
// only upload in more than the base timeout would otherwise be aborted, retried and never delivered.
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { createFetchTransport } from "../../browser/transport-fetch.js";
import { encodeIngestBatch } from "../../core/export/ingest-format.js";
import { MemoryQueue } from "../../core/export/memory-queue.js";
import { queuedTrace } from "../../core/export/queue.js";

let realFetch: typeof fetch;
beforeEach(() => {
  vi.useFakeTimers();
  realFetch = globalThis.fetch;
});
afterEach(() => {
  globalThis.fetch = realFetch;
  vi.useRealTimers();
});

/** A collector reached over a link that takes `ms` to carry the request. */
function slowCollector(ms: number) {
  globalThis.fetch = ((_url: string, init: RequestInit) =>
    new Promise<Response>((resolve, reject) => {
      const timer = setTimeout(() => resolve(new Response("{}", { status: 200, headers: { "content-type": "application/json" } })), ms);
      init.signal?.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(new DOMException("aborted", "AbortError"));
      });
    })) as typeof fetch;
}

it("a 600 KB batch that takes 45 s to upload is waited for; a small one that takes as long is aborted at 25 s", async () => {
  const send = createFetchTransport({ url: "https://collector.example/v1/ingest" });
  slowCollector(45_000);
  const big = send("x".repeat(10), { keepalive: false, bytes: 600_000 });
  await vi.advanceTimersByTimeAsync(45_000);
  expect(await big).toEqual({ status: 200 });
  const small = send("x".repeat(10), { keepalive: false, bytes: 1_000 });
  await vi.advanceTimersByTimeAsync(45_000);
  expect(await small).toEqual({ status: 0 });
});

it("a request that never answers is aborted while its lease still holds, so no other tab sends the same traces meanwhile", async () => {
  const queue = new MemoryQueue(); // the default lease, the clock the fake timers move
  const send = createFetchTransport({ url: "https://collector.example/v1/ingest" });
  for (const bytes of [1_000, 600_000]) {
    await queue.append([queuedTrace(`t${bytes}`, "x".repeat(bytes))]);
    const lease = (await queue.lease(1 << 20))!;
    const body = encodeIngestBatch(lease.items.map((i) => i.body));
    slowCollector(10 * 60_000); // hangs
    let settledAt = 0;
    const sent = send(body, { keepalive: false, bytes: body.length }).then((r) => ((settledAt = Date.now()), r));
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect(await sent).toEqual({ status: 0 });
    expect(settledAt).toBeLessThan(lease.expiresAt - 1_000); // aborted with time to spare
    await queue.nack(lease, Date.now());
    await queue.ack((await queue.lease(1 << 20))!);
  }
});

it("a 2xx is an acknowledgement only with the collector's JSON or no body: a page, a health check or a portal answering at the URL keeps the traces queued, warned once", async () => {
  const send = createFetchTransport({ url: "https://collector.example/v1/ingest" });
  const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
  const answer = async (status: number, body: string | null, type?: string) => {
    globalThis.fetch = (async () => new Response(body, { status, headers: type ? { "content-type": type } : {} })) as typeof fetch;
    return (await send("{}", { keepalive: false, bytes: 2 })).status;
  };
  try {
    expect(await answer(200, '{"accepted":1}', "application/json")).toBe(200);
    expect(await answer(200, '{"accepted":1}', "application/json; charset=utf-8")).toBe(200);
    expect(await answer(202, "{}", "application/vnd.collector+json")).toBe(202);
    expect(await answer(204, null)).toBe(204);
    expect(await answer(200, "")).toBe(200);
    expect(await answer(200, "<!doctype html><title>App</title>", "text/html; charset=utf-8")).toBe(0);
    expect(await answer(200, "ok", "text/plain")).toBe(0);
    expect(await answer(200, "{}", "text/plain; note=application/json")).toBe(0);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]![0])).toMatch(/answered 200 with a text\/html body, not the collector's JSON acknowledgement/);
  } finally {
    warn.mockRestore();
  }
});
