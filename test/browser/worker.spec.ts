import { expect, test } from "@playwright/test";
import { expectDelivered, stub } from "./delivery/helpers.js";

test.beforeEach(async ({ request }) => {
  await request.get("/stub/reset");
});

test("in a dedicated Web Worker (no document), initBrowser queues and delivers traces", async ({ page, request }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto("/page/worker-host");
  await page.waitForFunction(() => "askWorker" in globalThis);
  const reply = await page.evaluate(() => (globalThis as any).askWorker("hello"));
  expect(reply.error).toBeUndefined();
  expect(reply.answer).toBe("local answer to hello");
  const view = await expectDelivered(request, [reply.traceId]);
  const trace = view.traces.find((t) => t.info.traceId === reply.traceId)! as unknown as { data: { spans: { name: string; outputs: unknown }[] } };
  expect(trace.data.spans.map((s) => [s.name, s.outputs])).toEqual([["generate", "local answer to hello"]]);
  expect(reply.stats.storage).toBe("indexeddb");
  expect(errors).toEqual([]);
  expect((await stub(request)).deliveries[reply.traceId]).toBe(1);
});
