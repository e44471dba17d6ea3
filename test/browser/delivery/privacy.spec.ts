// What a page must never leak or lose: secrets are masked before a trace is stored in IndexedDB
// (so neither the disk nor the collector sees them), sampled-out traces are never stored, and a
// browser whose IndexedDB is blocked (some private modes) still delivers, from memory, and says so.
import { chromium, expect, test } from "@playwright/test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
  for (const secret of ["sk-test-SECRET", "SECRET-api-key-value", "SECRET-bearer-token", "SECRET-hunter2", "SECRET-cookie"]) expect(stored).not.toContain(secret);
  expect(stored).toContain("[REDACTED]");
  expect(JSON.parse(stored).data.spans[0].inputs.label).toBe("secretive"); // the rest is intact
  await expectDelivered(request, [id]);
  const received = JSON.stringify(await stub(request));
  expect(received).not.toContain("SECRET");
});

test("site data blocked in Chromium's settings: traces are kept in memory and delivered, with one warning", async ({ request }, testInfo) => {
  // The real thing rather than a stub: a profile whose cookie setting blocks all site data, as a
  // user (or an enterprise policy) sets it. Chromium then fails indexedDB.open asynchronously
  // ("UnknownError: The user denied permission to access the database").
  const profile = mkdtempSync(join(tmpdir(), "mlflow-edge-blocked-"));
  mkdirSync(join(profile, "Default"));
  writeFileSync(join(profile, "Default", "Preferences"), JSON.stringify({ profile: { default_content_setting_values: { cookies: 2 } } }));
  const { launchOptions, baseURL } = testInfo.project.use;
  const context = await chromium.launchPersistentContext(profile, { ...launchOptions, headless: true, baseURL });
  try {
    const page = await openApp(await context.newPage());
    const ids = await page.evaluate(() => (globalThis as any).app.traceMany(3, 0, "blocked") as string[]);
    await expectDelivered(request, ids);
    // The collector has them; the page counts them once their answers are read.
    await expect.poll(() => page.evaluate(() => (globalThis as any).app.stats())).toMatchObject({ storage: "memory", queued: 0, sent: 3 });
    const warnings = await page.evaluate(() => (globalThis as any).app.warnings as string[]);
    expect(warnings.filter((w) => /IndexedDB is unavailable/.test(w))).toHaveLength(1);
    expect(warnings.find((w) => /IndexedDB is unavailable/.test(w))).toMatch(/denied permission/);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
});

test("after shutdown() (the user withdrew consent), traces are neither stored nor sent, and nothing warns", async ({ page, request }) => {
  await openApp(page);
  const before = await page.evaluate(() => (globalThis as any).app.traceOne("before") as string);
  await page.evaluate(() => (globalThis as any).app.shutdown());
  await expectDelivered(request, [before]);
  await page.evaluate(() => (globalThis as any).app.traceMany(3, 0, "after"));
  await page.waitForTimeout(500);
  expect(await idbRows(page)).toEqual([]);
  expect((await stub(request)).traces.map((t) => t.info.traceId)).toEqual([before]);
  expect(await page.evaluate(() => (globalThis as any).app.warnings)).toEqual([]);
});

test("a trace open at shutdown() is not sent later from the snapshot its hidden page stored", async ({ context, request }) => {
  await context.newPage(); // keeps the browser context open when the traced page closes
  const page = await openApp(await context.newPage());
  const id = await page.evaluate(() => (globalThis as any).app.startAnswer("open at shutdown") as Promise<string>);
  await page.evaluate(() => (globalThis as any).app.hide()); // hidden mid-answer: a snapshot is stored
  await expect.poll(async () => (await idbRows(page)).map((r) => r.id)).toEqual([id]);
  await page.evaluate(() => (globalThis as any).app.show());
  await page.evaluate(() => (globalThis as any).app.shutdown()); // consent withdrawn
  expect(await idbRows(page)).toEqual([]);
  await page.evaluate(() => (globalThis as any).app.finishAnswer()); // finished after shutdown: dropped
  await page.close();
  const next = await openApp(await context.newPage()); // a later page of the site sends what is left
  const probe = await next.evaluate(() => (globalThis as any).app.traceOne("later page") as string);
  await expectDelivered(request, [probe]);
  await next.waitForTimeout(1_000);
  expect((await stub(request)).traces.map((t) => t.info.traceId)).not.toContain(id);
});

test("the connection closes with no close event (WebKit closes a background page's so): the tab opens it again and stays on IndexedDB", async ({ page, request }) => {
  await page.addInitScript(() => {
    // Keeps the connections the page opens with a version (the SDK's), to close them behind its back.
    const open = IDBFactory.prototype.open;
    (globalThis as any).connections = [];
    IDBFactory.prototype.open = function (this: IDBFactory, ...args: [string, number?]) {
      const request = open.apply(this, args as [string, number]);
      if (args.length >= 2) request.addEventListener("success", () => (globalThis as any).connections.push(request.result));
      return request;
    };
  });
  await openApp(page);
  const first = await page.evaluate(() => (globalThis as any).app.traceOne("before") as string);
  await expectDelivered(request, [first]);
  await page.evaluate(() => (globalThis as any).connections.forEach((db: IDBDatabase) => db.close())); // no close event
  expect(await page.evaluate(async () => (await (globalThis as any).app.stats()).storage)).toBe("indexeddb");
  const after = await page.evaluate(() => (globalThis as any).app.traceOne("after") as string);
  await expectDelivered(request, [first, after]);
  expect(await page.evaluate(async () => (await (globalThis as any).app.stats()).storage)).toBe("indexeddb");
  expect(((await page.evaluate(() => (globalThis as any).app.warnings)) as string[]).filter((w) => /IndexedDB/.test(w))).toEqual([]);
});

test("site data cleared while the tab is writing traces: the tab opens the database again and stays on IndexedDB", async ({ page, request, baseURL }) => {
  await openApp(page);
  const first = await page.evaluate(() => (globalThis as any).app.traceOne("before") as string);
  await expectDelivered(request, [first]);
  // The app keeps finishing traces (a streaming UI, an agent loop) while the user clears the site's data.
  await page.evaluate(() => ((globalThis as any).ticker = setInterval(() => (globalThis as any).app.traceMany(3, 3_000, "busy"), 5)));
  await page.waitForTimeout(300);
  await page.evaluate(() => addEventListener("unhandledrejection", (e) => ((globalThis as any).unhandled ??= []).push(String(e.reason))));
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Storage.clearDataForOrigin", { origin: new URL(baseURL!).origin, storageTypes: "indexeddb" });
  await page.waitForTimeout(300);
  await page.evaluate(() => clearInterval((globalThis as any).ticker));
  const after = await page.evaluate(() => (globalThis as any).app.traceOne("after") as string);
  await expectDelivered(request, [after]);
  // Before: the write the browser aborted as it closed the connection was taken for a full disk,
  // and the tab kept its traces in memory for the rest of its life.
  expect(await page.evaluate(async () => (await (globalThis as any).app.stats()).storage)).toBe("indexeddb");
  expect(((await page.evaluate(() => (globalThis as any).app.warnings)) as string[]).filter((w) => /IndexedDB/.test(w))).toEqual([]);
  // Nor does the page see the aborted transactions as unhandled rejections (error monitors report those).
  expect(await page.evaluate(() => (globalThis as any).unhandled ?? [])).toEqual([]);
});

test("site data cleared while the queue opens (and makes) its database: no unhandled rejection reaches the page", async ({ page, baseURL }) => {
  await page.goto("/page/idb-open-churn");
  await page.waitForFunction(() => "churn" in globalThis);
  await page.evaluate(() => (globalThis as any).churn());
  const cdp = await page.context().newCDPSession(page);
  for (let i = 0; i < 30; i++) {
    await page.waitForTimeout(40);
    await cdp.send("Storage.clearDataForOrigin", { origin: new URL(baseURL!).origin, storageTypes: "indexeddb" });
  }
  await page.evaluate(() => (globalThis as any).stop());
  // Every open ran to its end, opened or given up (after this churn Chromium itself may not open
  // any database of the origin for a while, a plain indexedDB.open neither: the app's queue would
  // use memory then, with its warning).
  await expect.poll(() => page.evaluate(() => (globalThis as any).started - (globalThis as any).settled), { timeout: 30_000 }).toBe(0);
  expect(await page.evaluate(() => (globalThis as any).started)).toBeGreaterThan(0);
  await page.waitForTimeout(1_000);
  // Before: the upgrade transaction's aborts reached the page (and its error monitor) unhandled.
  expect(await page.evaluate(() => (globalThis as any).unhandled)).toEqual([]);
});

test("sampling rate 0: traces are neither stored nor sent", async ({ page, request }) => {
  await openApp(page, "sample=0");
  await page.evaluate(() => (globalThis as any).app.traceMany(3, 0, "unsampled"));
  await page.evaluate(() => (globalThis as any).app.flush());
  expect(await page.evaluate(() => (globalThis as any).app.stats())).toMatchObject({ sampledOut: 3, queued: 0, sent: 0 });
  expect(await idbRows(page)).toEqual([]);
  expect((await stub(request)).requests).toEqual([]);
});

test("a sampling function keeps only the traces it chooses, and the others never reach IndexedDB", async ({ page, request }) => {
  await request.get("/stub/fail?times=1000&status=503"); // nothing leaves until the rows were read
  await openApp(page, "sample=keep&retryBase=200&retryMax=500");
  const dropped = await page.evaluate(() => (globalThis as any).app.traceMany(2, 0, "drop") as string[]);
  const kept = await page.evaluate(() => (globalThis as any).app.traceMany(2, 0, "keep") as string[]);
  await expect.poll(async () => (await idbRows(page)).map((r) => r.id).sort()).toEqual([...kept].sort());
  await request.get("/stub/fail?times=0");
  await expectDelivered(request, kept);
  await page.evaluate(() => (globalThis as any).app.flush());
  expect(Object.keys((await stub(request)).deliveries).sort()).toEqual([...kept].sort());
  expect(dropped).toHaveLength(2);
  expect((await page.evaluate(() => (globalThis as any).app.stats())).sampledOut).toBe(2);
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

test("IndexedDB opens but refuses writes (quota): this tab keeps traces in memory and delivers them, with one warning", async ({ page, request }) => {
  await page.addInitScript(() => {
    // A full disk or an exhausted quota, or Safari losing its IndexedDB server: open works, writes fail.
    IDBObjectStore.prototype.add = function () {
      throw new DOMException("The quota has been exceeded.", "QuotaExceededError");
    };
  });
  await openApp(page);
  const ids = await page.evaluate(() => (globalThis as any).app.traceMany(3, 0, "quota") as string[]);
  await expectDelivered(request, ids);
  await expect.poll(() => page.evaluate(() => (globalThis as any).app.stats())).toMatchObject({ storage: "memory", queued: 0, sent: 3 });
  const warnings = await page.evaluate(() => (globalThis as any).app.warnings as string[]);
  expect(warnings.filter((w) => /IndexedDB/.test(w))).toHaveLength(1);
  expect(warnings.find((w) => /IndexedDB/.test(w))).toMatch(/QuotaExceededError|quota/i);
});

test("a disk that stays full: the backlog already in IndexedDB is still sent (and so deleted) by the page that cannot write", async ({ context, request }) => {
  test.setTimeout(60_000);
  // A backlog stored while the collector was down, by a page since closed.
  await request.get("/stub/down?on=1");
  // (Short retries: a batch it tried waits no longer than that, so the next page may send it at once.)
  const first = await openApp(await context.newPage(), "retryBase=100&retryMax=200");
  const backlog = await first.evaluate(() => (globalThis as any).app.traceMany(60, 2000, "backlog") as string[]);
  await expect.poll(async () => (await idbRows(first)).length).toBe(60);
  await first.close({ runBeforeUnload: true });
  await request.get("/stub/down?on=0");
  // The next page finds the disk full: its first write is refused.
  const page = await context.newPage();
  await page.addInitScript(() => {
    IDBObjectStore.prototype.add = function () {
      throw new DOMException("The quota has been exceeded.", "QuotaExceededError");
    };
  });
  await openApp(page);
  const own = await page.evaluate(() => (globalThis as any).app.traceOne("on-load") as string);
  // Before the fix: one batch of the backlog went, then the tab gave up being the sender, and
  // stats() said nothing was queued while the rest stayed on the disk.
  await expectDelivered(request, [own, ...backlog], 30_000);
  // The closing page leased the oldest batch for its unload flush: if that keepalive request got
  // through as the collector came back, the batch arrived, but its rows wait for the lease of a
  // page that is gone to be taken back (2 s) and the next look (5 s): they go again, then go.
  await expect.poll(async () => (await idbRows(page)).length, { timeout: 15_000 }).toBe(0);
  await expect.poll(() => page.evaluate(() => (globalThis as any).app.stats())).toMatchObject({ storage: "memory", queued: 0 });
});

test("initBrowser() called again (hot reload, a second bundle) returns the first setup, with one warning; after shutdown() it starts a new one", async ({ page, request }) => {
  await openApp(page);
  const open = await page.evaluate(() => (globalThis as any).app.openSpan("open across the second call"));
  expect(await page.evaluate(() => (globalThis as any).app.initAgain())).toBe(true); // the same handle: no second queue, lock or listeners
  const b = await page.evaluate(() => (globalThis as any).app.traceOne("after"));
  await expectDelivered(request, [b]);
  const warnings = await page.evaluate(() => (globalThis as any).app.warnings as string[]);
  expect(warnings.filter((w) => /initBrowser\(\) was called again/.test(w))).toHaveLength(1);
  expect(open).toMatch(/^tr-/);
  // Another app on the page, sending elsewhere, is told rather than sent to this collector.
  expect(await page.evaluate(() => (globalThis as any).app.initElsewhere())).toMatch(/already set up on this page for another collector/);
  // Consent withdrawn, then given again: a new setup that traces and delivers.
  await page.evaluate(() => (globalThis as any).app.shutdown());
  expect(await page.evaluate(() => (globalThis as any).app.initAgain())).toBe(false);
  const c = await page.evaluate(() => (globalThis as any).app.traceOne("after a new start"));
  await expectDelivered(request, [c]);
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

test("shutdown() not awaited and initBrowser() at once (React StrictMode's effect, cleanup, effect): traces of both setups arrive once, the page keeps one sender", async ({ page, request }) => {
  await openApp(page);
  const a = await page.evaluate(() => (globalThis as any).app.traceOne("before the remount"));
  expect(await page.evaluate(() => (globalThis as any).app.remount())).toBe(true);
  const b = await page.evaluate(() => (globalThis as any).app.traceOne("right after the remount"));
  await page.waitForTimeout(200);
  const c = await page.evaluate(() => (globalThis as any).app.traceOne("later"));
  const view = await expectDelivered(request, [a, b, c]);
  expect([a, b, c].map((id) => view.deliveries[id])).toEqual([1, 1, 1]);
  await expect.poll(() => page.evaluate(() => (globalThis as any).app.stats())).toMatchObject({ storage: "indexeddb", queued: 0, leader: true });
  const warnings = await page.evaluate(() => (globalThis as any).app.warnings as string[]);
  expect(warnings).toEqual([]);
});
