// The browser's fetch transport gives a large body the time a slow uplink needs: a trace that can
// only upload in more than the base timeout would otherwise be aborted, retried and never delivered.
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { createFetchTransport } from "../../browser/transport-fetch.js";

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
      const timer = setTimeout(() => resolve(new Response("{}", { status: 200 })), ms);
      init.signal?.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(new DOMException("aborted", "AbortError"));
      });
    })) as typeof fetch;
}

it("a 600 KB batch that takes 45 s to upload is waited for; a small one that takes as long is aborted at 30 s", async () => {
  const send = createFetchTransport({ url: "https://collector.example/v1/ingest" });
  slowCollector(45_000);
  const big = send("x".repeat(10), { keepalive: false, bytes: 600_000 });
  await vi.advanceTimersByTimeAsync(45_000);
  expect(await big).toEqual({ status: 200 });
  const small = send("x".repeat(10), { keepalive: false, bytes: 1_000 });
  await vi.advanceTimersByTimeAsync(45_000);
  expect(await small).toEqual({ status: 0 });
});
