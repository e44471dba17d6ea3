// What a page must never leak or lose: secrets are masked before a trace is stored in IndexedDB
// (so neither the disk nor the collector sees them), sampled-out traces are never stored, and a
// browser whose IndexedDB is blocked (some private modes) still delivers, from memory, and says so.
import { expect, test } from "@playwright/test";
import { expectDelivered, idbRows, openApp, stub } from "./helpers.js";

test.beforeEach(async ({ request }) => {
  await request.get("/stub/reset");
});

test("secrets are masked before the trace is stored: not in IndexedDB, not at the collector", async ({ page, request }) => {
  await request.get("/stub/fail?times=2&status=503"); // keep the trace queued long enough to read the row
  await openApp(page);
  const id = await page.evaluate(() => (globalThis as any).app.traceOne("secretive", { secrets: true }) as string);
  let rows: { id: string; body: string }[] = [];
  await expect.poll(async () => (rows = await idbRows(page)).filter((r) => r.id === id).length).toBe(1);
  const stored = rows.find((r) => r.id === id)!.body;
  for (const secret of ["sk-test-SECRET", "SECRET-bearer-token", "SECRET-hunter2", "SECRET-cookie"]) expect(stored).not.toContain(secret);
  expect(stored).toContain("[REDACTED]");
  expect(JSON.parse(stored).data.spans[0].inputs.label).toBe("secretive"); // the rest is intact
  await expectDelivered(request, [id]);
  const received = JSON.stringify(await stub(request));
  expect(received).not.toContain("SECRET");
});

test("IndexedDB blocked: traces are kept in memory and still delivered, with one warning", async ({ page, request }) => {
  await page.addInitScript(() => {
    // What Firefox private windows and some locked-down profiles do.
    IDBFactory.prototype.open = function () {
      throw new DOMException("The operation is insecure.", "SecurityError");
    };
  });
  await openApp(page);
  const ids = await page.evaluate(() => (globalThis as any).app.traceMany(3, 0, "private") as string[]);
  await expectDelivered(request, ids);
  const stats = await page.evaluate(() => (globalThis as any).app.stats());
  expect(stats.storage).toBe("memory");
  const warnings = await page.evaluate(() => (globalThis as any).app.warnings as string[]);
  expect(warnings.filter((w) => /IndexedDB is unavailable/.test(w))).toHaveLength(1);
});

test("the queue cap drops the oldest traces, counts them and warns, in the browser", async ({ page, request }) => {
  await request.get("/stub/fail?times=100&status=503"); // nothing leaves while we fill the queue
  await openApp(page, "maxTraces=3&retryBase=60000&retryMax=60000");
  const ids = await page.evaluate(() => (globalThis as any).app.traceMany(5, 0, "cap") as string[]);
  await expect.poll(async () => (await page.evaluate(() => (globalThis as any).app.stats())).dropped).toBe(2);
  expect((await idbRows(page)).map((r) => r.id).sort()).toEqual(ids.slice(2).sort());
  const warnings = await page.evaluate(() => (globalThis as any).app.warnings as string[]);
  expect(warnings.some((w) => /queue is full/.test(w))).toBe(true);
});
