// The back/forward cache: a site whose pages all run initBrowser must not lose Chrome's instant
// back navigation. Chrome evicts a cached page that holds a Web Lock another page asks for (or
// queries), that gets a BroadcastChannel message, or that froze with an IndexedDB write open; so a
// page going into the cache lets go of its locks and channel and starts no snapshot write, and
// takes them back when it returns. Delivery carries on either way.
import { expect, test, type APIRequestContext, type Page } from "@playwright/test";
import config from "../../../playwright.config.js";
import { expectDelivered, offline, silentHolder, stub } from "./helpers.js";

// Playwright turns the back/forward cache off by default.
test.use({ launchOptions: { ...config.use!.launchOptions, ignoreDefaultArgs: ["--disable-back-forward-cache"] } });

test.beforeEach(async ({ request }) => {
  await request.get("/stub/reset");
});

const app = (page: Page) => page.waitForFunction(() => "app" in globalThis);
/** Whether the page on screen came back from the cache (the same document, `pageshow` persisted). */
const restored = (page: Page) => page.evaluate(() => (globalThis as { restored?: boolean }).restored === true);

async function openCacheable(page: Page, label: string, query = ""): Promise<void> {
  await page.addInitScript(() => addEventListener("pageshow", (e) => ((globalThis as { restored?: boolean }).restored = e.persisted)));
  await page.goto(`/page/delivery-app?cacheable=1&label=${label}${query}`);
  await app(page);
}

test("a page of a site whose pages all trace comes back from the cache, and goes on tracing and sending", async ({ page, request }) => {
  await openCacheable(page, "a");
  const before = await page.evaluate(() => (globalThis as any).app.traceOne("before"));
  const open = await page.evaluate(() => (globalThis as any).app.startAnswer("across"));
  await expectDelivered(request, [before]);
  // Its ack written first: a page frozen mid-transaction is evicted as soon as B writes.
  await expect.poll(() => page.evaluate(async () => (await (globalThis as any).app.stats()).queued)).toBe(0);

  // Page B of the same site traces too: it asks for the sender's lock, becomes the sender, writes and sends.
  await page.goto("/page/delivery-app?cacheable=1&label=b");
  await app(page);
  const onB = await page.evaluate(() => (globalThis as any).app.traceOne("on b"));
  await expectDelivered(request, [onB]);

  await page.goBack({ waitUntil: "commit" });
  await app(page);
  expect(await restored(page)).toBe(true); // evicted, it would have been loaded afresh

  // The answer left open across the cache finishes, and arrives finished: no snapshot of it was stored on the way out.
  await page.evaluate(() => (globalThis as any).app.finishAnswer());
  const after = await page.evaluate(() => (globalThis as any).app.traceOne("after"));
  const view = await expectDelivered(request, [open, after]);
  const answered = view.traces.find((t) => t.info.traceId === open)!;
  expect(JSON.stringify(answered)).not.toContain("cancelled");
  // With B in the cache in turn, A is the origin's sender again.
  await expect.poll(() => page.evaluate(async () => (await (globalThis as any).app.stats()).leader)).toBe(true);
  expect((await stub(request)).deliveries[before]).toBe(1);
});

test("a sending page goes into the cache while another tab waits for the sender's lock: sending goes on", async ({ page, context, request }) => {
  // Chromium 156 often keeps the lock of a page that let go of it on its way into the cache: the
  // browser never hears of the release, shows no holder, and grants the lock to no one. The tabs
  // waiting for it hear no answer from a sender and take the lock over.
  await openCacheable(page, "a");
  await page.goto("/page/delivery-app?cacheable=1&label=b"); // b becomes the sender
  await app(page);
  await expect.poll(() => page.evaluate(async () => (await (globalThis as any).app.stats()).leader)).toBe(true);
  const other = await context.newPage();
  await other.goto("/page/delivery-app?cacheable=1&label=other");
  await app(other);
  await page.goBack({ waitUntil: "commit" }); // b into the cache, a back (restored, or reloaded if evicted)
  await app(page);
  const ids = [
    await other.evaluate(() => (globalThis as any).app.traceOne("from the other tab")),
    await page.evaluate(() => (globalThis as any).app.traceOne("from a")),
  ];
  const view = await expectDelivered(request, ids);
  for (const id of ids) expect(view.deliveries[id]).toBe(1);
});

/** Waits until the page's sender is done (a queue transaction open at the freeze gets a page evicted). */
async function settle(page: Page, request: APIRequestContext): Promise<void> {
  await expectDelivered(request, [await page.evaluate(() => (globalThis as any).app.traceOne("before"))]);
  await expect.poll(() => page.evaluate(async () => (await (globalThis as any).app.stats()).queued)).toBe(0);
}

test("traces wait behind a sender that does not send: a page back from the cache asks, and takes over", async ({ page, context, request }) => {
  await openCacheable(page, "a");
  await settle(page, request);
  await page.goto("/health"); // a into the cache; it lets go of the sender's lock
  await silentHolder(await context.newPage());
  const gone = await context.newPage();
  await gone.goto("/page/delivery-app?label=gone");
  await app(gone);
  const ids = await gone.evaluate(() => (globalThis as any).app.traceMany(2, 0, "left") as string[]);
  await expect.poll(() => gone.evaluate(async () => (await (globalThis as any).app.stats()).queued)).toBe(2);
  await offline(gone); // its own last try at closing must not send them
  await gone.close(); // before its own 5 s wait for the sender's answer ends
  await page.goBack({ waitUntil: "commit" });
  await app(page);
  expect(await restored(page)).toBe(true);
  const view = await expectDelivered(request, ids);
  for (const id of ids) expect(view.deliveries[id]).toBe(1);
});

test("another tab of the site opens, traces and sends while a page is in the cache: the page comes back from the cache", async ({ page, context, request }) => {
  // Chrome evicts a cached page whose queue transaction, open when it was frozen, blocks another
  // page's write: a page going into the cache starts none (it used to lease stored traces to send).
  await openCacheable(page, "a");
  await settle(page, request);
  await page.goto("/health");
  const other = await context.newPage();
  await other.goto("/page/delivery-app?label=other");
  await app(other);
  await expectDelivered(request, [await other.evaluate(() => (globalThis as any).app.traceOne("other"))]);
  await page.goBack({ waitUntil: "commit" });
  await app(page);
  expect(await restored(page)).toBe(true);
});

/** Page a, the sender, waits out a backoff (up to 10 min) after a failure; returns a trace it stored meanwhile. */
async function storedNotSent(page: Page, request: APIRequestContext): Promise<string> {
  await openCacheable(page, "a", "&retryBase=600000&retryMax=600000");
  await settle(page, request);
  await request.get("/stub/fail?times=1000&status=503");
  await page.evaluate(() => (globalThis as any).app.traceOne("failed once"));
  await expect.poll(async () => (await stub(request)).requests.some((r) => r.status === 503)).toBe(true);
  const stored = await page.evaluate(() => (globalThis as any).app.traceOne("stored, not sent") as string);
  await expect.poll(() => page.evaluate(async () => (await (globalThis as any).app.stats()).queued)).toBe(2);
  await request.get("/stub/fail?times=0");
  return stored;
}

test("a trace stored but not yet sent when the page goes into the cache goes out then, from memory", async ({ page, request }) => {
  // The sender waits out a backoff (up to 10 min here) after a failure; a trace stored meanwhile
  // is in the queue, not on the wire, when the user leaves the site.
  const stored = await storedNotSent(page, request);
  await page.goto("/health"); // into the cache, where no queue lease may run
  await expectDelivered(request, [stored]); // while the page is away
  await page.goBack({ waitUntil: "commit" });
  await app(page);
  expect(await restored(page)).toBe(true);
});

test("a trace sent from memory by a page going into the cache is not sent at the same time by the next page of the site, the sender now", async ({ page, request }) => {
  const stored = await storedNotSent(page, request);
  await request.get("/stub/delay?ms=3000"); // the page's copy from memory is still on its way for 3 s
  await page.goto("/page/delivery-app?cacheable=1&label=b"); // page b takes the lock as a goes
  await app(page);
  await expect.poll(() => page.evaluate(async () => (await (globalThis as any).app.stats()).leader)).toBe(true);
  await expectDelivered(request, [stored]);
  await page.waitForTimeout(3_000); // b's queue holds the trace, unacknowledged, all this time
  // b left it alone while a's copy was out (without the mark it sent its own 0.1 s after a's).
  expect((await stub(request)).requests.filter((r) => r.ids.includes(stored))).toHaveLength(1);
});

test("a sender busy for a while, whose lock another tab took over, and who gets it back: into the cache it does not send again what that tab delivered", async ({ page, context, request }) => {
  const stored = await storedNotSent(page, request); // a, the sender, remembers it to send from memory
  // a's main thread is busy for 12 s: it cannot answer, so a tab with news takes its lock over.
  await page.evaluate(() => void setTimeout(() => { for (const end = Date.now() + 12_000; Date.now() < end; ); }));
  const other = await context.newPage();
  await other.goto("/page/delivery-app?label=other");
  await app(other);
  await expectDelivered(request, [stored]); // after its 5 s wait for an answer
  // Acknowledged (the trace that failed waits out a's backoff, set on it in the queue).
  await expect.poll(() => other.evaluate(async () => (await (globalThis as any).app.stats()).queued)).toBe(1);
  await other.close();
  await expect.poll(() => page.evaluate(async () => (await (globalThis as any).app.stats()).leader), { timeout: 15_000 }).toBe(true); // a is the sender again
  const fresh = await page.evaluate(() => (globalThis as any).app.traceOne("stored as the sender again") as string);
  await expect.poll(() => page.evaluate(async () => (await (globalThis as any).app.stats()).queued)).toBe(2);
  await page.goto("/health"); // into the cache: what a stored as the sender and has not sent goes from memory
  await expectDelivered(request, [fresh]);
  await page.goBack({ waitUntil: "commit" });
  await app(page);
  expect(await restored(page)).toBe(true);
  // The other tab's copy only: a forgot what it remembered from before its lock was taken.
  expect((await stub(request)).requests.filter((r) => r.ids.includes(stored))).toHaveLength(1);
});

test("a large trace's plain request, still on its way when the sender goes into the cache (where it carries on): the next page of the site does not send it at the same time", async ({ page, request }) => {
  await openCacheable(page, "a");
  await settle(page, request);
  await request.get("/stub/delay?ms=9000&dropAborted=1"); // the answer comes 9 s after the request
  // About 40 KB: over the keepalive share a page that stays may take, so a plain request.
  await page.evaluate(() => (globalThis as any).app.traceOne("large, leaving", { padBytes: 20_000 }) as string);
  const large = async () => (await stub(request)).requests.filter((r) => r.bytes > 35_000);
  await expect.poll(async () => (await large()).length).toBe(1);
  expect((await page.evaluate(() => (globalThis as any).app.stats())).keepaliveRequests).toBe(1); // settle's only
  await page.goto("/page/delivery-app?cacheable=1&label=b"); // b takes the lock; a's lease counts as a dead tab's
  await app(page);
  await expect.poll(() => page.evaluate(async () => (await (globalThis as any).app.stats()).leader)).toBe(true);
  await page.waitForTimeout(6_000);
  // Without the mark, b sent it again 5.2 s after a's copy, both answered 200.
  expect(await large()).toHaveLength(1);
  await page.goBack({ waitUntil: "commit" });
  await app(page);
  expect(await restored(page)).toBe(true); // a was in the cache, its request carrying on
  await expect.poll(async () => (await large()).map((r) => r.status), { timeout: 10_000 }).toEqual([200]);
});
