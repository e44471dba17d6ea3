// Acceptance: an unreliable network or collector delays traces but never loses or duplicates them.
import { expect, test } from "@playwright/test";
import { addRawRows, expectDelivered, idbRows, openApp, stub } from "./helpers.js";

test.beforeEach(async ({ request }) => {
  await request.get("/stub/reset");
});

test("offline for a while, then online: every trace arrives once", async ({ page, context, request }) => {
  await openApp(page);
  await context.setOffline(true);
  const ids = await page.evaluate(() => (globalThis as any).app.traceMany(5, 0, "offline") as string[]);
  await expect.poll(async () => (await idbRows(page)).length).toBe(5);
  await page.evaluate(() => (globalThis as any).app.flush()); // an explicit flush while offline waits, it does not fail
  expect((await stub(request)).requests).toEqual([]);
  expect(await page.evaluate(() => (globalThis as any).app.stats())).toMatchObject({ queued: 5, sent: 0, rejected: 0 });
  await context.setOffline(false);
  const view = await expectDelivered(request, ids);
  for (const id of ids) expect(view.deliveries[id]).toBe(1);
  await expect.poll(async () => (await page.evaluate(() => (globalThis as any).app.stats())).queued).toBe(0);
});

test("collector answers 503 three times, then 200: every trace arrives once", async ({ page, request }) => {
  await request.get("/stub/fail?times=3&status=503");
  await openApp(page);
  const ids = await page.evaluate(() => (globalThis as any).app.traceMany(5, 0, "flaky") as string[]);
  const view = await expectDelivered(request, ids);
  for (const id of ids) expect(view.deliveries[id]).toBe(1);
  expect(view.requests.filter((r) => r.status === 503)).toHaveLength(3);
  expect(view.requests.every((r) => r.key === "site-key-1")).toBe(true);
});

for (const status of [302, 307]) {
  test(`collector answers ${status} to a page that answers 200: nothing is taken for delivered; the traces wait, with one warning`, async ({ page, request }) => {
    await request.get(`/stub/fail?times=2&status=${status}`);
    await openApp(page);
    const ids = await page.evaluate(() => (globalThis as any).app.traceMany(3, 0, "moved") as string[]);
    const view = await expectDelivered(request, ids);
    for (const id of ids) expect(view.deliveries[id]).toBe(1);
    expect(view.requests.filter((r) => r.status === status)).toHaveLength(2);
    const warnings = (await page.evaluate(() => (globalThis as any).app.warnings)) as string[];
    expect(warnings.filter((w) => /redirect/.test(w))).toHaveLength(1);
    // Counted once the page has its 200 and the ack is written, which may be after the stub has them.
    await expect.poll(() => page.evaluate(() => (globalThis as any).app.stats())).toMatchObject({ sent: 3, rejected: 0 });
  });
}

test("429 with Retry-After: the next attempt waits at least that long", async ({ page, request }) => {
  await request.get("/stub/fail?times=1&status=429&retryAfter=2");
  await openApp(page, "retryBase=50&retryMax=100"); // plain backoff alone would retry within 100 ms
  const id = await page.evaluate(() => (globalThis as any).app.traceOne("limited") as string);
  await page.evaluate(() => (globalThis as any).app.traceOne("arrives-during-the-wait"));
  const view = await expectDelivered(request, [id]);
  const [limited, ...after] = view.requests;
  expect(limited?.status).toBe(429);
  expect(after.length).toBeGreaterThan(0);
  for (const r of after) expect(r.at - (limited?.at ?? 0)).toBeGreaterThanOrEqual(1_990);
});

test("unreadable rows in IndexedDB are dropped with a warning; good traces still arrive", async ({ page, request }) => {
  await openApp(page);
  await page.evaluate(() => (globalThis as any).app.flush());
  await page.evaluate(
    () =>
      new Promise<void>((resolve, reject) => {
        const open = indexedDB.open("mlflow-edge");
        open.onsuccess = () => {
          const tx = open.result.transaction("traces", "readwrite");
          const store = tx.objectStore("traces");
          store.add({ id: "tr-garbage-1", body: "{not json", bytes: 10, attempts: 0, notBefore: 0 });
          store.add({ id: 42, body: null });
          store.add({ id: "tr-garbage-2", body: "[1,2]", bytes: 6, attempts: 0, notBefore: 0 });
          tx.oncomplete = () => (open.result.close(), resolve());
          tx.onerror = () => reject(tx.error);
        };
      }),
  );
  const id = await page.evaluate(() => (globalThis as any).app.traceOne("good") as string);
  const view = await expectDelivered(request, [id]);
  expect(Object.keys(view.deliveries)).toEqual([id]);
  expect(view.requests.every((r) => r.status === 200)).toBe(true);
  await expect.poll(async () => (await idbRows(page).catch(() => [{}])).length).toBe(0);
  expect(await page.evaluate(() => (globalThis as any).app.warnings as string[])).toContainEqual(expect.stringMatching(/unreadable entry/));
});

test("a row in IndexedDB whose size understates its body (another version, a script) goes as large as it is, alone: it and the traces behind it arrive", async ({ page, request }) => {
  await openApp(page);
  await page.evaluate(() => (globalThis as any).app.flush());
  // An 80 KB trace said to be 100 bytes: in a keepalive batch, over the browser's 64 KiB.
  const body = JSON.stringify({ info: { traceId: "tr-understated" }, data: { spans: [{ inputs: { label: "understated", pad: "p".repeat(80_000) } }] } });
  await addRawRows(page, [{ id: "tr-understated", body, bytes: 100, attempts: 0, notBefore: 0 }]);
  const id = await page.evaluate(() => (globalThis as any).app.traceOne("behind it") as string);
  // Before: it was batched as 100 bytes, sent with keepalive, refused by the browser (a network
  // error, not the collector's answer) on every try, and every trace behind it waited.
  const view = await expectDelivered(request, ["tr-understated", id]);
  expect(view.requests.find((r) => r.ids.includes("tr-understated"))?.ids).toEqual(["tr-understated"]);
  expect(view.requests.every((r) => r.status === 200)).toBe(true);
});

test("a row in IndexedDB whose size is text (another version, a script) does not make the next write empty the queue", async ({ page, request }) => {
  await openApp(page, "maxBytes=20000"); // (the same under the default 5 MB, once ~560 KB wait)
  await request.get("/stub/fail?times=100&status=429&retryAfter=60"); // traces wait in IndexedDB
  await page.evaluate(() => (globalThis as any).app.traceMany(5, 0, "waiting"));
  await page.evaluate(() => (globalThis as any).app.flush());
  expect(await idbRows(page)).toHaveLength(5);
  await addRawRows(page, [{ id: "tr-foreign", body: "{}", bytes: "3", attempts: 0, notBefore: 0 }]);
  await page.evaluate(() => (globalThis as any).app.traceOne("one more"));
  await page.evaluate(() => (globalThis as any).app.flush());
  // Before: the sizes were added up with the text among them ("…1503…"), a total far over the cap,
  // and the write dropped every trace; stats().queuedBytes was that text.
  const stats = await page.evaluate(() => (globalThis as any).app.stats());
  expect(stats.dropped).toBe(0); // 6 traces of ~1.5 KB, under the 20 KB cap
  expect(typeof stats.queuedBytes).toBe("number");
  const rows = (await page.evaluate(() => (globalThis as any).app.readIdb())) as { id: string }[];
  expect(rows.filter((r) => r.id !== "tr-foreign")).toHaveLength(6);
});

test("a database of the queue's name left empty (opened with no version by a debugging snippet or an extension before the site traced) is given the queue's store: traces are stored in it and sent", async ({ page, request }) => {
  await page.goto("/health");
  await page.evaluate(() => new Promise<void>((resolve, reject) => {
    const open = indexedDB.open("mlflow-edge"); // with no version: an empty version 1
    open.onsuccess = () => (open.result.close(), resolve());
    open.onerror = () => reject(open.error);
  }));
  // Before: version 1 opened without an upgrade, every transaction failed for want of the store,
  // and every page of the site kept its traces in memory, for good.
  for (const load of ["first", "next"]) {
    await openApp(page);
    const id = await page.evaluate(() => (globalThis as any).app.traceOne("x") as string);
    await expectDelivered(request, [id]);
    expect(await page.evaluate(async () => (await (globalThis as any).app.stats()).storage), `${load} page load`).toBe("indexeddb");
  }
  expect(((await page.evaluate(() => (globalThis as any).app.warnings)) as string[]).filter((w) => /IndexedDB/.test(w))).toEqual([]);
});

/** The queue database's version as the browser reports it (0: none). */
const dbVersion = (page: import("@playwright/test").Page) =>
  page.evaluate(async () => (await indexedDB.databases()).find((d) => d.name === "mlflow-edge")?.version ?? 0);

test("traces a page of the previous release stored (database version 1) are kept and sent, and the version stays 1, so that release's tabs still open it (after a rollback too)", async ({ page, request }) => {
  await page.goto("/health");
  const body = JSON.stringify({ info: { traceId: "tr-stored-by-v1" }, data: { spans: [{ inputs: { label: "v1" } }] } });
  await page.evaluate((body) => new Promise<void>((resolve, reject) => {
    const open = indexedDB.open("mlflow-edge", 1);
    open.onupgradeneeded = () => {
      const store = open.result.createObjectStore("traces", { keyPath: "seq", autoIncrement: true });
      store.createIndex("id", "id", { unique: true });
      store.createIndex("bytes", "bytes");
      store.add({ id: "tr-stored-by-v1", body, bytes: body.length + 1, attempts: 0, notBefore: 0 });
    };
    open.onsuccess = () => (open.result.close(), resolve());
    open.onerror = () => reject(open.error);
  }), body);
  await openApp(page);
  await expectDelivered(request, ["tr-stored-by-v1"]);
  expect(await page.evaluate(async () => (await (globalThis as any).app.stats()).storage)).toBe("indexeddb");
  // Before: raised to 2 with the same schema, which a tab of the previous release (opening version 1)
  // took for a full disk, keeping the origin's sending and with it this release's traces.
  expect(await dbVersion(page)).toBe(1);
});

test("a new origin's database is made at version 1, the version earlier releases open", async ({ page, request }) => {
  await openApp(page);
  const id = await page.evaluate(() => (globalThis as any).app.traceOne("x") as string);
  await expectDelivered(request, [id]);
  expect(await dbVersion(page)).toBe(1);
});

test("while traces are on their way to a slow collector, the app's own keepalive request still has room in the browser's 64 KB budget", async ({ page, context, request }) => {
  await request.get("/stub/delay?ms=3000");
  await openApp(page);
  await context.setOffline(true); // a backlog builds up, so the sender's first batch is as large as it may be
  const ids = await page.evaluate(() => (globalThis as any).app.traceMany(8, 8_500, "slow") as string[]); // ~19.6 KB each on the wire: 3 fit a 60 KB batch
  await expect.poll(async () => (await idbRows(page)).length).toBe(8);
  await context.setOffline(false);
  await expect.poll(async () => (await stub(request)).requests.length).toBeGreaterThan(0); // on the wire; answered 3 s later
  const status = await page.evaluate(async () => {
    try {
      return (await fetch("/echo-headers", { method: "POST", body: "b".repeat(10_000), keepalive: true })).status;
    } catch (error) {
      return String(error);
    }
  });
  expect(status).toBe(200); // before: a 58 KB batch in flight left the page 6 KB, and the browser refused the request
  await request.get("/stub/delay?ms=0");
  const view = await expectDelivered(request, ids, 60_000);
  for (const id of ids) expect(view.deliveries[id]).toBe(1);
});
